#include "migrate/runner.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "base/fault.h"
#include "base/json_field.h"
#include "migrate/rbd_source.h"

namespace v2r {

std::string ImagePath(const std::string& pool, const std::string& image) { return pool + "/" + image; }

Result<std::unique_ptr<Image>> OpenOurImageForWriting(Pool& pool, const std::string& image) {
  auto img = pool.OpenImage(image, false);
  if (!img.ok()) return img.status();
  auto broken = (*img)->BreakLocks();
  if (!broken.ok()) return broken.status();
  return img;
}

Status RemoveOurImage(Pool& io, const std::string& image) {
  auto exists = io.ImageExists(image);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    auto img = OpenOurImageForWriting(io, image);  // breaks a dead run's locks
    if (!img.ok()) return img.status();
  } else {
    // Not there, or a creation interrupted half way (by a crash while
    // another disk's thread was creating it): listed, yet it does not open,
    // and creating it again fails with EEXIST. rbd_remove clears that.
    auto listed = io.ImageListed(image);
    if (!listed.ok()) return listed.status();
    if (!*listed) return Status::Ok();
  }
  Status st;
  for (int i = 0; i < 60; ++i) {
    st = io.RemoveImage(image);
    if (st.ok() || st.cause() != Cause::kBusy) return st;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return st;
}

Runner::Runner(const RunContext& ctx) : ctx_(ctx), observer_(ctx.observer), cancel_(ctx.cancel) {
  s.open_hypervisor = ctx.open_hypervisor;
  s.open_cluster = ctx.open_cluster;
}

Status Runner::Open(const std::string& uri, const std::string& domain, const std::string& state_dir) {
  V2R_RETURN_IF_ERROR(OpenLibvirt(uri, domain, &s));
  // What this run creates is removed again if it records nothing (~Runner).
  const std::string ddir = StateDir::DomainDirOf(state_dir, s.domain->uuid());
  std::vector<std::string> missing;
  for (const std::string& p : {ddir.substr(0, ddir.rfind('/')), ddir, ddir + "/lock", ddir + "/journal"})
    if (::access(p.c_str(), F_OK) != 0) missing.push_back(p);
  auto d = StateDir::Open(state_dir);
  if (!d.ok()) return d.status();
  dir = std::make_unique<StateDir>(std::move(*d));
  auto lock = dir->LockDomain(s.domain->uuid(), s.domain->name());
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);
  auto j = Journal::Open(dir->JournalPath(s.domain->uuid()));
  if (!j.ok()) return j.status();
  journal_ = std::move(*j);
  created_ = std::move(missing);
  auto folded = FoldJournal(journal_->records());
  if (!folded.ok()) return folded.status().Wrap(journal_->path());
  state_ = std::move(*folded);
  if (observer_) observer_->DomainOpened(s.domain->name(), s.domain->uuid(), dir->DomainDir(s.domain->uuid()));
  s.ceph_log_file = dir->LogPath(s.domain->uuid());
  return Status::Ok();
}

Status Runner::RunStep(Phase phase, const std::string& title, const std::function<Status()>& work) {
  Step step{PhaseId(phase), title, ++steps_run_, std::max(steps_planned_, steps_run_)};
  if (observer_) observer_->StepStarted(step);
  const auto t0 = std::chrono::steady_clock::now();
  Status st = work();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (observer_) observer_->StepEnded(step, st, secs);
  return st;
}

Runner::~Runner() {
  if (!journal_ || !journal_->records().empty()) return;
  // Removes what Open created, newest first, while the lock is still held;
  // rmdir fails harmlessly on a directory that holds anything else.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    if (::unlink(it->c_str()) != 0 && errno == EISDIR) ::rmdir(it->c_str());
}

Status Runner::ArchiveJournal() {
  std::string path = journal_->path();
  std::string archived;
  for (int n = 1;; ++n) {
    archived = fmt::format("{}.{}", path, n);
    if (::access(archived.c_str(), F_OK) != 0) break;
  }
  if (std::rename(path.c_str(), archived.c_str()) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("archiving journal {}", path), errno);
  journal_.reset();
  auto j = Journal::Open(path);
  if (!j.ok()) return j.status();
  journal_ = std::move(*j);
  state_ = MigrationState();
  return Status::Ok();
}

Status Runner::Log(nlohmann::json record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!crashed_.ok()) return crashed_;
  nlohmann::json copy = ctx_.after_record ? record : nlohmann::json();
  V2R_RETURN_IF_ERROR(AppendRecord(*journal_, std::move(record)));  // the version record first in a new journal
  auto folded = FoldJournal(journal_->records());
  if (!folded.ok()) return folded.status().Wrap(journal_->path());
  state_ = std::move(*folded);
  if (ctx_.after_record) crashed_ = ctx_.after_record(copy);
  return crashed_;
}

MigrationState Runner::State() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

Status Runner::StopDomain(bool shutdown, bool force_off, int timeout_s) {
  auto st = s.domain->State();
  if (!st.ok()) return st.status();
  if (ToRunState(*st) == RunState::kShutoff) return Status::Ok();
  V2R_RETURN_IF_ERROR(Log(rec::VmStop(shutdown, force_off)));
  if (shutdown) {
    V2R_RETURN_IF_ERROR(s.domain->Shutdown());
    Status waited = s.domain->WaitForState(DomainState::kShutoff, timeout_s, cancel_);
    if (!waited.ok() && waited.kind() == Kind::kInterrupted) return waited;
    if (!waited.ok() && !force_off)
      return waited.As(Kind::kRefused)
          .WithHint("the guest did not power off; add --force-off to power it off after the timeout, "
                    "or raise --shutdown-timeout");
    if (!waited.ok() && observer_) observer_->Warn(waited.message() + "; forcing it off (--force-off)");
    if (waited.ok()) return Log(rec::VmStopped("shutdown"));
  }
  V2R_RETURN_IF_ERROR(s.domain->Destroy());
  V2R_RETURN_IF_ERROR(s.domain->WaitForState(DomainState::kShutoff, 30, nullptr));
  return Log(rec::VmStopped("force-off"));
}

Status Runner::ReconnectLibvirt(int timeout_s) {
  if (s.virt && s.virt->IsAlive()) return Status::Ok();
  const std::string uri = s.virt ? s.virt->uri() : std::string();
  const std::string uuid = s.domain ? s.domain->uuid() : std::string();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto backoff = std::chrono::milliseconds(250);
  Status last;
  while (true) {
    auto conn = s.open_hypervisor(uri);
    if (conn.ok()) {
      auto dom = (*conn)->LookupDomain(uuid);
      if (dom.ok()) {
        s.domain = std::move(*dom);  // the old handle first: it refers to the old connection
        s.virt = std::move(*conn);
        if (observer_) observer_->Warn(fmt::format("reconnected to libvirt at {}", uri));
        return Status::Ok();
      }
      last = dom.status();
    } else {
      last = conn.status();
    }
    if (Cancelled()) return Status::Interrupted("interrupted while reconnecting to libvirt");
    if (std::chrono::steady_clock::now() + backoff > deadline)
      return Status::Interrupted(
          fmt::format("lost the connection to libvirt at {} and it did not answer again within {} s: {}", uri,
                      timeout_s, last.message()),
          "start libvirtd (or wait for it), then rerun the same command to resume; nothing was undone");
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

Status Runner::DisableAutostart() {
  if (State().autostart_off) return Status::Ok();
  auto on = s.domain->Autostart();
  if (!on.ok()) return on.status();
  if (!*on) return Status::Ok();
  V2R_RETURN_IF_ERROR(Log(rec::AutostartDisable()));
  V2R_RETURN_IF_ERROR(s.domain->SetAutostart(false));
  if (observer_)
    observer_->Warn(fmt::format("autostart of {} is off while its disks are copied; it is turned on again after",
                                s.domain->name()));
  return Status::Ok();
}

Status Runner::RestoreAutostart() {
  if (!State().autostart_off) return Status::Ok();
  V2R_RETURN_IF_ERROR(s.domain->SetAutostart(true));
  return Log(rec::AutostartRestored());
}

namespace {

// The domains of the other migrations in `dir` that have not ended and use
// the secret or the cephx user of `st`. A journal that cannot be read is
// counted as using them (keeping a user is safe, removing one in use is not).
std::vector<std::string> OtherMigrationsUsing(const StateDir& dir, const MigrationState& st) {
  std::vector<std::string> out;
  auto uuids = dir.DomainUuids();
  if (!uuids.ok()) return out;
  for (const std::string& uuid : *uuids) {
    if (uuid == st.uuid) continue;
    auto records = Journal::ReadOnly(dir.JournalPath(uuid));
    Result<MigrationState> other = records.ok() ? FoldJournal(*records) : Result<MigrationState>(records.status());
    if (!other.ok()) {
      out.push_back(fmt::format("the migration in {} (its journal cannot be read)", dir.DomainDir(uuid)));
      continue;
    }
    if (!other->begun || other->Finished()) continue;
    bool same_secret = !st.secret_uuid.empty() && other->secret_uuid == st.secret_uuid;
    bool same_user = !st.user_entity.empty() && other->user_entity == st.user_entity;
    if (same_secret || same_user) out.push_back(other->domain + " (its migration has not ended)");
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> Runner::UsersOfSecret(const MigrationState& st) {
  std::vector<std::string> out;
  if (!st.secret_uuid.empty()) {
    auto users = s.virt->DomainsUsingSecret(st.secret_uuid);
    if (!users.ok()) return users.status();
    for (const std::string& n : *users)
      if (n != s.domain->name()) out.push_back(n);
  }
  if (dir)
    for (const std::string& other : OtherMigrationsUsing(*dir, st))
      if (std::find(out.begin(), out.end(), other) == out.end()) out.push_back(other);
  return out;
}

Status Runner::RemoveCreated(bool images, std::vector<std::string>* done) {
  MigrationState st = State();
  // Snapshots of RBD sources (migrate/rbd_source.h) a run left: removed when
  // their cluster answers, said otherwise (never a reason to keep the rest).
  for (const DiskRecord& d : st.disks) {
    if (!d.source_snapshot || !s.virt) continue;
    const RbdSourceRef ref = RbdSourceRefFrom(d.source_snapshot_at);
    const std::string snap = JsonField<std::string>(d.source_snapshot_at, "snap", "");
    Status removed = [&]() -> Status {
      auto conn = ConnectRbdSource(s.open_cluster, *s.virt, s.ceph, ref);
      if (!conn.ok()) return conn.status();
      auto img = conn->pool->OpenImage(ref.image, false);
      if (!img.ok()) return img.status();
      return (*img)->RemoveSnapshot(snap);
    }();
    if (removed.ok()) {
      V2R_RETURN_IF_ERROR(Log(rec::SourceSnapshotRemoved(d.target, "undone")));
      done->push_back(fmt::format("removed snapshot {} of {}", snap, ref.Name()));
    } else {
      done->push_back(fmt::format("could NOT remove snapshot {} of {} ({}): remove it with rbd snap rm {}@{}", snap,
                                  ref.Name(), removed.message(), ref.Name(), snap));
    }
  }
  if (images && s.pool) {
    // Lock breaking, the snapshot's and the image's removal only free space:
    // they must also work in a pool that is full or over quota.
    auto full_try = s.pool->FullTry();
    for (const DiskRecord& d : st.disks) {
      if (!(d.created || d.create_intent) || d.removed) continue;
      auto img = s.pool->OpenImage(d.image, false);
      if (img.ok()) {
        V2R_RETURN_IF_ERROR((*img)->RemoveSnapshot(kSwitchSnapshot));
        img->reset();
      }
      V2R_RETURN_IF_ERROR(FaultPoint("before-image-remove"));
      V2R_RETURN_IF_ERROR(RemoveOurImage(*s.pool, d.image));
      V2R_RETURN_IF_ERROR(Log(rec::ImageRemoved(d.target, d.image)));
      done->push_back("removed image " + ImagePath(st.pool, d.image));
    }
  }
  // Secret and user: only what this migration created, and only when no
  // other domain refers to the secret, and no other migration of this state
  // dir that has not ended uses them (it reused them, and has not switched its
  // domain to them yet: removing them would break its switch or its VM).
  auto users = UsersOfSecret(st);
  if (!users.ok()) return users.status();
  const std::vector<std::string>& users_of_secret = *users;
  bool shared = !users_of_secret.empty();
  if ((st.secret_created || st.secret_define_intent) && !st.secret_removed && !st.secret_uuid.empty()) {
    if (shared) {
      done->push_back(fmt::format("kept secret {} (used by {})", st.secret_uuid, fmt::join(users_of_secret, ", ")));
    } else {
      Status un = s.virt->UndefineSecret(st.secret_uuid);
      if (!un.ok() && un.kind() != Kind::kRefused) return un;  // refused: already gone
      V2R_RETURN_IF_ERROR(Log(rec::SecretRemoved(st.secret_uuid)));
      done->push_back("removed libvirt secret " + st.secret_uuid);
    }
  }
  if (s.cluster && (st.user_created || st.user_create_intent) && !st.user_removed) {
    if (shared) {
      done->push_back(fmt::format("kept cephx user {} (its secret is used by {})", st.user_entity,
                                  fmt::join(users_of_secret, ", ")));
    } else {
      V2R_RETURN_IF_ERROR(s.cluster->DeleteUser(st.user_entity));
      V2R_RETURN_IF_ERROR(Log(rec::UserRemoved(st.user_entity)));
      done->push_back("removed cephx user " + st.user_entity);
    }
  } else if (s.cluster && st.user_caps_updated && !st.user_removed && !shared) {
    V2R_RETURN_IF_ERROR(s.cluster->SetCaps(st.user_entity, st.user_old_caps));
    V2R_RETURN_IF_ERROR(Log(rec::UserCapsRestored(st.user_entity)));
    done->push_back("restored the caps of cephx user " + st.user_entity);
  }
  return Status::Ok();
}

Result<std::string> Runner::Abort(const std::string& reason) {
  std::string what;
  Status st = RunStep(Phase::kUndo, PhaseTitle(Phase::kUndo), [&]() -> Status {
    auto undone = Undo(reason);
    if (!undone.ok()) return undone.status();
    what = *undone;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return what;
}

Result<std::string> Runner::Undo(const std::string& reason) {
  // A live migration: end its block copies first (refused once a disk runs
  // on its image: removing that would lose data).
  if (undo_prelude_) V2R_RETURN_IF_ERROR(undo_prelude_(*this));
  std::vector<std::string> done;
  V2R_RETURN_IF_ERROR(Log(rec::AbortBegin(reason)));
  MigrationState st = State();
  if (st.switched || st.switch_intent) {
    // The VM may be running on RBD (a failed start check): stop it first.
    auto now = s.domain->State();
    if (now.ok() && ToRunState(*now) != RunState::kShutoff) {
      V2R_RETURN_IF_ERROR(s.domain->Destroy());
      V2R_RETURN_IF_ERROR(s.domain->WaitForState(DomainState::kShutoff, 30, nullptr));
    }
    auto saved = ReadFile(dir->DefinitionPath(st.uuid));
    if (!saved.ok()) return saved.status().WithHint("the saved definition is missing: restore the domain by hand");
    auto def = s.virt->DefineXml(*saved);
    if (!def.ok()) return def.status();
    V2R_RETURN_IF_ERROR(Log(rec::DefinitionRestored()));
    done.push_back("restored the saved definition");
  }
  V2R_RETURN_IF_ERROR(RemoveCreated(/*images=*/true, &done));
  if (State().autostart_off) {
    V2R_RETURN_IF_ERROR(RestoreAutostart());
    done.push_back("turned autostart on again");
  }
  st = State();
  if (st.original_state == RunState::kRunning && st.vm_stopped) {
    auto now = s.domain->State();
    if (now.ok() && ToRunState(*now) == RunState::kShutoff) {
      Status started = s.domain->Start();
      if (started.ok()) {
        V2R_RETURN_IF_ERROR(Log(rec::VmRestarted()));
        done.push_back("restarted the VM on its original disks");
      } else {
        done.push_back("could NOT restart the VM: " + started.message());
      }
    }
  }
  V2R_RETURN_IF_ERROR(Log(rec::Aborted(reason)));
  if (done.empty()) return std::string("nothing had been changed");
  return fmt::format("{}", fmt::join(done, "; "));
}

}  // namespace v2r
