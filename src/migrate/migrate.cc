#include "migrate/migrate.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "base/fault.h"
#include "ceph/admin.h"
#include "ceph/image.h"
#include "ceph/snapshots.h"
#include "copy/engine.h"
#include "copy/faulty_source.h"
#include "copy/file_source.h"
#include "copy/hasher.h"
#include "migrate/runner.h"
#include "ops/copy_to_rbd.h"
#include "copy/checksum.h"

namespace v2r {

namespace {

std::string RunStateText(RunState s) { return RunStateName(s); }

std::vector<std::string> CandidateImageNames(const MigrateOptions& opts, const DomainInfo& info) {
  std::vector<std::string> names;
  for (const DiskInfo& d : info.disks) {
    auto n = ExpandImageName(opts.image_template, info.name, d.target, info.uuid);
    if (n.ok()) names.push_back(*n);
  }
  return names;
}

std::string XmlDigest(const std::string& xml) { return HashBytes(xml.data(), xml.size()).Hex(); }

// Facts, adjusted for a migration being resumed: the VM's state is the one
// journalled before we stopped it, and images this migration created are
// ours, not "taken".
Result<Plan> PlanWith(Session& s, const MigrateOptions& opts, const MigrationState* resumed) {
  std::string usage = "client." + opts.client_user + " secret";
  auto domain = GatherDomainFacts(s, usage);
  if (!domain.ok()) return domain.status();
  auto info = ParseDomainXml(domain->xml);
  if (!info.ok()) return info.status();
  auto sources = GatherSourceFacts(s, *info);
  auto cluster = GatherClusterFacts(s, opts.pool, "client." + opts.client_user, CandidateImageNames(opts, *info));
  if (!cluster.ok()) return cluster.status();
  if (resumed && resumed->begun) {
    if (resumed->vm_stopped) domain->state = resumed->original_state;
    for (const DiskRecord& d : resumed->disks)
      if (d.created || d.create_intent) cluster->existing_images.erase(d.image);
  }
  MigrateOptions o = opts;
  if (resumed && resumed->begun && resumed->vm_stopped && !o.start.has_value())
    o.start = resumed->start_after;
  return MakePlan(o, *domain, sources, *cluster);
}

Status RefusePlan(const Plan& plan) {
  std::string msg = fmt::format("migration of {} refused ({} reason{}):", plan.domain, plan.refusals.size(),
                                plan.refusals.size() == 1 ? "" : "s");
  for (const std::string& r : plan.refusals) msg += "\n  - " + r;
  return Status::Refused(msg, "nothing was changed; `virt2rbd plan` shows the whole plan");
}

class Migration {
 public:
  Migration(const MigrateOptions& opts, PhaseObserver* observer, const std::atomic<bool>* cancel)
      : opts_(opts), r_(observer, cancel) {}
  Result<MigrateReport> Run();

 private:
  Status StepUser();
  Status StepSecret();
  Status StepSaveDefinition();
  Status StepCopy();
  Status CopyOne(const DiskPlan& disk, InflightWindow* window, ProgressCounters* progress);
  Status VerifyOne(const DiskPlan& disk, ProgressCounters* progress);
  Status StepSnapshots();
  Status StepSwitch();
  Status StepStart();
  Status ConfirmStarted();
  // Turns a failure into the documented outcome: interrupted stays
  // resumable; anything else aborts (undoes) the migration.
  Status Fail(Status st);

  const MigrateOptions& opts_;
  Runner r_;
  Plan plan_;
  std::mutex results_mu_;
  std::map<std::string, CopyResult> copied_;  // this run's copies, by target
};

Status Migration::Fail(Status st) {
  if (st.kind() == Kind::kInterrupted || r_.Cancelled()) {
    MigrationState ms = r_.State();
    std::string vm = ms.vm_stopped ? fmt::format("; the VM is shut off (it was {})", RunStateText(ms.original_state))
                                   : "";
    return Status::Interrupted(
        fmt::format("migration of {} interrupted{}", plan_.domain, vm),
        fmt::format("rerun the same command to resume, or undo with: virt2rbd rollback {} --state-dir {}",
                    plan_.domain, opts_.state_dir));
  }
  auto undone = r_.Abort(st.message());
  if (!undone.ok())
    return Status::Failed(fmt::format("migration of {} failed: {}; undoing it failed too: {}", plan_.domain,
                                      st.message(), undone.status().message()),
                          "see `virt2rbd status` and fix by hand; rerun `virt2rbd rollback` to retry the undo");
  Kind kind = st.kind() == Kind::kRefused && r_.State().disks.empty() ? Kind::kRefused : Kind::kFailed;
  return Status(st.As(kind))
      .Wrap(fmt::format("migration of {} failed", plan_.domain))
      .WithHint(fmt::format("undone: {}", *undone));
}

Status Migration::StepUser() {
  MigrationState ms = r_.State();
  if (ms.user_created || ms.user_caps_updated) return Status::Ok();
  RadosCluster& c = *r_.s.rados;
  switch (plan_.user_action) {
    case UserAction::kReuse:
      if (ms.user_create_intent) {  // we created it before a crash
        return r_.Log({{"event", "user-created"}, {"entity", plan_.user_entity}});
      }
      return r_.Log({{"event", "user-reused"}, {"entity", plan_.user_entity}});
    case UserAction::kCreate:
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "user-create"}, {"entity", plan_.user_entity}, {"caps", plan_.user_caps_after}}));
      V2R_RETURN_IF_ERROR(FaultPoint("before-user-create"));
      V2R_RETURN_IF_ERROR(CreateUser(c, plan_.user_entity, plan_.user_caps_after));
      V2R_RETURN_IF_ERROR(FaultPoint("after-user-create"));
      return r_.Log({{"event", "user-created"}, {"entity", plan_.user_entity}});
    case UserAction::kUpdateCaps:
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "user-caps-update"}, {"entity", plan_.user_entity},
                                  {"old_caps", plan_.user_caps_before}}));
      V2R_RETURN_IF_ERROR(SetCaps(c, plan_.user_entity, plan_.user_caps_after));
      return r_.Log({{"event", "user-caps-updated"}, {"entity", plan_.user_entity}, {"old_caps", plan_.user_caps_before}});
  }
  return Status::Ok();
}

Status Migration::StepSecret() {
  MigrationState ms = r_.State();
  std::string uuid = ms.secret_uuid;
  if (uuid.empty()) {
    auto existing = r_.s.virt->FindCephSecret(plan_.secret_usage);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      uuid = **existing;
      // Defined by us before a crash, or the operator's own.
      V2R_RETURN_IF_ERROR(r_.Log({{"event", ms.secret_define_intent ? "secret-defined" : "secret-reused"}, {"uuid", uuid}}));
    } else {
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "secret-define"}, {"usage", plan_.secret_usage}}));
      auto defined = r_.s.virt->DefineCephSecret(plan_.secret_usage,
                                                 "cephx key of " + plan_.user_entity + " (virt2rbd)");
      if (!defined.ok()) return defined.status();
      uuid = *defined;
      V2R_RETURN_IF_ERROR(FaultPoint("after-secret-define"));
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "secret-defined"}, {"uuid", uuid}}));
    }
  }
  // Always (re)set the value: idempotent, and a private secret cannot be
  // read back to compare. The key stays in memory only, and is wiped.
  auto key = GetKeyBytes(*r_.s.rados, plan_.user_entity);
  if (!key.ok()) return key.status();
  V2R_RETURN_IF_ERROR(r_.s.virt->SetSecretValue(uuid, std::string(key->data(), key->size())));
  V2R_RETURN_IF_ERROR(FaultPoint("after-secret-value"));
  return r_.Log({{"event", "secret-value-set"}, {"uuid", uuid}});
}

Status Migration::StepSaveDefinition() {
  if (r_.State().definition_saved) return Status::Ok();
  std::string path = r_.dir->DefinitionPath(plan_.uuid);
  V2R_RETURN_IF_ERROR(WriteFileDurably(path, plan_.old_xml, 0600));
  return r_.Log({{"event", "definition-saved"}, {"path", path}, {"xml_digest", XmlDigest(plan_.old_xml)}});
}

Status Migration::CopyOne(const DiskPlan& disk, InflightWindow* window, ProgressCounters* progress) {
  MigrationState ms = r_.State();
  const DiskRecord* rec = ms.Disk(disk.disk.target);
  if (rec && rec->copied) {
    progress->done += disk.size;
    return Status::Ok();
  }
  IoCtx& io = *r_.s.io;
  // An image this migration created but did not finish is copied again from
  // the start (range-level resume is the journal's next step).
  if (rec && (rec->created || rec->create_intent)) {
    V2R_RETURN_IF_ERROR(RemoveImage(io, disk.image));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-removed"}, {"target", disk.disk.target}, {"image", disk.image},
                                {"why", "unfinished copy, copying again"}}));
  }
  auto src = FileSource::Open(disk.disk.source);
  if (!src.ok()) return src.status();
  if ((*src)->size() != disk.size)
    return Status::Failed(fmt::format("source {} changed size since planning ({} → {} bytes)", disk.disk.source,
                                      disk.size, (*src)->size()));
  std::unique_ptr<Source> source = std::move(*src);
  if (auto off = InjectedReadError(disk.disk.target)) source = std::make_unique<FaultySource>(std::move(source), *off);

  V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-create"}, {"target", disk.disk.target}, {"image", disk.image}}));
  V2R_RETURN_IF_ERROR(CreateImage(io, disk.image, disk.size));
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-created"}, {"target", disk.disk.target}, {"image", disk.image}}));
  V2R_RETURN_IF_ERROR(FaultPoint("after-image-create"));
  auto image = RbdImage::Open(io, disk.image, false);
  if (!image.ok()) return image.status();
  RbdSink sink(std::move(*image));
  V2R_RETURN_IF_ERROR(SetMeta(sink.image(), "virt2rbd.state", "copying"));
  V2R_RETURN_IF_ERROR(SetMeta(sink.image(), "virt2rbd.source", disk.disk.source));

  CopyOptions copts;
  copts.max_requests = opts_.in_flight;
  copts.max_bytes = opts_.in_flight_bytes;
  copts.cancel = r_.cancel();
  copts.shared_window = window;
  copts.target_fresh = true;
  auto copied = CopyDisk(*source, sink, copts, progress);
  if (!copied.ok()) return copied.status().Wrap(fmt::format("disk {}", disk.disk.target));
  V2R_RETURN_IF_ERROR(FaultPoint("after-copy"));
  std::lock_guard<std::mutex> lock(results_mu_);
  copied_[disk.disk.target] = std::move(*copied);
  return Status::Ok();
}

Status Migration::VerifyOne(const DiskPlan& disk, ProgressCounters* progress) {
  CopyResult* copied = nullptr;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    auto it = copied_.find(disk.disk.target);
    if (it == copied_.end()) return Status::Ok();  // copied and journalled by an earlier run
    copied = &it->second;
  }
  bool verified = false;
  if (opts_.verify) {
    auto back = HashImage(opts_.ceph, ImageSpec{opts_.pool, disk.image}, 4, r_.cancel(), progress);
    if (!back.ok()) return back.status().Wrap(fmt::format("verifying disk {}", disk.disk.target));
    std::vector<Extent> diff = CompareHashes(copied->hashes, *back);
    if (!diff.empty())
      return Status::Mismatch(fmt::format("disk {}: image {} differs from {} after the copy: {}", disk.disk.target,
                                          ImagePath(opts_.pool, disk.image), disk.disk.source, DescribeMismatch(diff)));
    verified = true;
  } else {
    progress->done += disk.size;
  }
  auto image = RbdImage::Open(*r_.s.io, disk.image, false);
  if (!image.ok()) return image.status();
  std::string digest = copied->hashes.Digest();
  V2R_RETURN_IF_ERROR(SetMeta(**image, "virt2rbd.digest", digest));
  V2R_RETURN_IF_ERROR(SetMeta(**image, "virt2rbd.state", "complete"));
  return r_.Log({{"event", "disk-copied"},     {"target", disk.disk.target},
                 {"image", disk.image},        {"digest", digest},
                 {"bytes_copied", copied->bytes_written}, {"bytes_zero", copied->bytes_zero},
                 {"seconds", copied->seconds}, {"verified", verified}});
}

// Runs `fn` for every moving disk, up to opts_.parallel_disks at once; the
// first error wins (the others finish: they drain their own writes).
template <typename F>
Status ForEachDisk(const std::vector<const DiskPlan*>& disks, int parallel, F fn) {
  std::mutex mu;
  Status first;
  size_t next = 0;
  auto worker = [&] {
    while (true) {
      const DiskPlan* d;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= disks.size() || !first.ok()) return;
        d = disks[next++];
      }
      Status st = fn(*d);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && first.ok()) first = st;
    }
  };
  std::vector<std::thread> threads;
  int n = std::max(1, std::min<int>(parallel, static_cast<int>(disks.size())));
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return first;
}

Status Migration::StepCopy() {
  std::vector<const DiskPlan*> disks = plan_.Moving();
  InflightWindow window(opts_.in_flight, opts_.in_flight_bytes);  // shared by every disk
  ProgressCounters copy_progress, verify_progress;
  for (const DiskPlan* d : disks) copy_progress.total += d->size;
  verify_progress.total = copy_progress.total.load();
  PhaseObserver* obs = r_.observer();
  if (obs) obs->PhaseStarted("copy", copy_progress);
  Status st = ForEachDisk(disks, opts_.parallel_disks,
                          [&](const DiskPlan& d) { return CopyOne(d, &window, &copy_progress); });
  if (obs) obs->PhaseEnded();
  V2R_RETURN_IF_ERROR(st);
  if (obs) obs->PhaseStarted(opts_.verify ? "verify" : "record", verify_progress);
  st = ForEachDisk(disks, opts_.parallel_disks, [&](const DiskPlan& d) { return VerifyOne(d, &verify_progress); });
  if (obs) obs->PhaseEnded();
  return st;
}

Status Migration::StepSnapshots() {
  for (const DiskPlan* d : plan_.Moving()) {
    MigrationState ms = r_.State();
    if (ms.Disk(d->disk.target) && ms.Disk(d->disk.target)->snapshot) continue;
    auto image = RbdImage::Open(*r_.s.io, d->image, false);
    if (!image.ok()) return image.status();
    V2R_RETURN_IF_ERROR(CreateSnapshot(**image, kSwitchSnapshot));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "snapshot-created"}, {"target", d->disk.target}, {"snap", kSwitchSnapshot}}));
  }
  return Status::Ok();
}

Status Migration::StepSwitch() {
  MigrationState ms = r_.State();
  if (ms.switched) return Status::Ok();
  std::vector<RbdDiskRewrite> rewrites;
  for (const DiskPlan* d : plan_.Moving()) rewrites.push_back({d->disk.target, opts_.pool, d->image});
  RbdRewriteOptions ro;
  ro.hosts = plan_.hosts;
  ro.auth_username = plan_.user_id;
  ro.secret_uuid = ms.secret_uuid;
  ro.cache = opts_.cache;
  auto rw = RewriteDisksToRbd(plan_.old_xml, rewrites, ro);
  if (!rw.ok()) return rw.status();
  V2R_RETURN_IF_ERROR(FaultPoint("before-switch"));
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "switch"}, {"xml_digest", XmlDigest(rw->xml)}}));
  auto defined = r_.s.virt->DefineXml(rw->xml);
  if (!defined.ok()) return defined.status().Wrap("defining the switched domain");
  auto now = r_.s.domain->InactiveSecureXml();
  if (!now.ok()) return now.status();
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "switched"}, {"xml_sha256", XmlDigest(*now)}}));
  return FaultPoint("after-switch");
}

Status Migration::ConfirmStarted() {
  // qemu must have opened every image: the live XML names it and the image
  // has a watcher (checked through a read-only handle, which is not one).
  auto live = r_.s.domain->LiveXml();
  if (!live.ok()) return live.status();
  auto info = ParseDomainXml(*live);
  if (!info.ok()) return info.status();
  for (const DiskPlan* d : plan_.Moving()) {
    bool found = false;
    for (const DiskInfo& disk : info->disks)
      if (disk.target == d->disk.target && disk.protocol == "rbd" && disk.source == ImagePath(opts_.pool, d->image))
        found = true;
    if (!found)
      return Status::Failed(fmt::format("the running VM's disk {} is not {}", d->disk.target,
                                        ImagePath(opts_.pool, d->image)));
    bool watched = false;
    for (int i = 0; i < 50 && !watched; ++i) {
      auto image = RbdImage::Open(*r_.s.io, d->image, true);
      if (!image.ok()) return image.status();
      auto w = Watchers(**image);
      if (!w.ok()) return w.status();
      watched = !w->empty();
      if (!watched) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!watched)
      return Status::Failed(fmt::format("qemu did not open image {} (no watcher after 10 s)",
                                        ImagePath(opts_.pool, d->image)));
  }
  return Status::Ok();
}

Status Migration::StepStart() {
  MigrationState ms = r_.State();
  if (!plan_.start_after || ms.started) return Status::Ok();
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "vm-start"}}));
  V2R_RETURN_IF_ERROR(FaultPoint("before-start"));
  auto state = r_.s.domain->State();
  if (state.ok() && ToRunState(*state) == RunState::kShutoff) V2R_RETURN_IF_ERROR(r_.s.domain->Start());
  V2R_RETURN_IF_ERROR(ConfirmStarted());
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "vm-started"}}));
  return FaultPoint("after-start");
}

Result<MigrateReport> Migration::Run() {
  V2R_RETURN_IF_ERROR(r_.Open(opts_.connect, opts_.domain, opts_.state_dir));
  MigrateReport report;
  MigrationState ms = r_.State();
  if (ms.begun && (ms.completed || ms.committed) && !ms.Finished()) {
    report.nothing_to_do = true;
    report.state = ms;
    report.message = fmt::format("domain {} was already migrated to RBD on {} ({}); nothing changed",
                                 ms.domain, ms.completed_at, ms.Phase());
    return report;
  }
  if (ms.begun && ms.Finished()) {
    V2R_RETURN_IF_ERROR(r_.ArchiveJournal());
    ms = r_.State();
  }
  bool resuming = ms.begun;
  V2R_RETURN_IF_ERROR(OpenCeph(opts_.ceph, opts_.pool, &r_.s));
  if (resuming && (ms.switched || ms.switch_intent)) {
    // The definition may be switched already: finish from there.
    auto now = r_.s.domain->InactiveSecureXml();
    if (!now.ok()) return now.status();
    auto info = ParseDomainXml(*now);
    if (!info.ok()) return info.status();
    bool on_rbd = !info->disks.empty();
    for (const DiskRecord& d : ms.disks) {
      bool found = false;
      for (const DiskInfo& di : info->disks)
        if (di.target == d.target && di.protocol == "rbd") found = true;
      on_rbd = on_rbd && found;
    }
    if (on_rbd && !ms.switched)
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "switched"}, {"xml_sha256", XmlDigest(*now)}, {"recovered", true}}));
    if (!on_rbd) ms.switch_intent = false;  // the define never happened: go through the steps again
    else {
      plan_.domain = ms.domain;
      plan_.uuid = ms.uuid;
      plan_.pool = ms.pool;
      plan_.start_after = ms.start_after;
      for (const DiskRecord& d : ms.disks) {
        DiskPlan dp;
        dp.disk.target = d.target;
        dp.disk.source = d.source;
        dp.image = d.image;
        dp.size = d.size;
        dp.decision = DiskDecision::kMove;
        plan_.disks.push_back(dp);
      }
      Status st = StepStart();
      if (!st.ok()) return Fail(st);
      V2R_RETURN_IF_ERROR(r_.Log({{"event", "completed"}}));
      report.plan = plan_;
      report.state = r_.State();
      report.message = fmt::format("domain {} resumed and finished: it runs on RBD", ms.domain);
      return report;
    }
  }

  auto plan = PlanWith(r_.s, opts_, resuming ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  plan_ = std::move(*plan);
  if (!plan_.ok()) {
    if (!resuming) return RefusePlan(plan_);
    return Fail(RefusePlan(plan_));
  }
  if (!resuming) {
    nlohmann::json disks = nlohmann::json::array();
    for (const DiskPlan* d : plan_.Moving())
      disks.push_back({{"target", d->disk.target}, {"source", d->disk.source}, {"image", d->image}, {"size", d->size}});
    nlohmann::json hosts = nlohmann::json::array();
    for (const MonHost& h : plan_.hosts) hosts.push_back(fmt::format("{}:{}", h.host, h.port));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "begin"},
                                {"domain", plan_.domain},
                                {"uuid", plan_.uuid},
                                {"uri", r_.s.virt->uri()},
                                {"pool", opts_.pool},
                                {"user", plan_.user_entity},
                                {"secret_usage", plan_.secret_usage},
                                {"cache", opts_.cache},
                                {"state", RunStateName(plan_.state)},
                                {"start_after", plan_.start_after},
                                {"hosts", hosts},
                                {"disks", disks}}));
  }
  Status st = FaultPoint("after-preflight");
  if (st.ok()) {
    Status stop = r_.StopDomain(opts_.shutdown, opts_.force_off, opts_.shutdown_timeout_s);
    if (!stop.ok() && stop.kind() == Kind::kRefused) {
      // Shutdown timed out without --force-off: nothing else was changed.
      auto undone = r_.Abort(stop.message());
      return stop.WithHint(stop.hint() + (undone.ok() ? "" : "; recording the abort failed: " + undone.status().message()));
    }
    st = stop;
  }
  if (st.ok()) st = StepUser();
  if (st.ok()) st = StepSecret();
  if (st.ok()) st = StepSaveDefinition();
  if (st.ok()) st = StepCopy();
  if (st.ok() && r_.Cancelled()) st = Status::Interrupted("interrupted");
  if (st.ok()) st = StepSnapshots();
  if (st.ok()) st = StepSwitch();
  if (st.ok()) st = StepStart();
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "completed"}}));
  report.plan = plan_;
  report.state = r_.State();
  report.message = fmt::format("domain {} migrated to RBD ({} disk{})", plan_.domain, plan_.Moving().size(),
                               plan_.Moving().size() == 1 ? "" : "s");
  return report;
}

}  // namespace

Result<Plan> RunPlan(const MigrateOptions& opts) {
  Session s;
  V2R_RETURN_IF_ERROR(OpenLibvirt(opts.connect, opts.domain, &s));
  V2R_RETURN_IF_ERROR(OpenCeph(opts.ceph, opts.pool, &s));
  // An unfinished migration in the state dir (read only: plan changes nothing).
  auto dir = StateDir::OpenExisting(opts.state_dir);
  if (!dir.ok()) return dir.status();
  std::string jpath = dir->JournalPath(s.domain->uuid());
  MigrationState ms;
  if (::access(jpath.c_str(), R_OK) == 0) {
    auto j = Journal::Open(jpath);
    if (!j.ok()) return j.status();
    ms = FoldJournal((*j)->records());
  }
  auto plan = PlanWith(s, opts, ms.begun && !ms.Finished() ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  if (ms.begun && (ms.completed || ms.committed) && !ms.Finished())
    plan->warnings.push_back(fmt::format("domain {} was already migrated on {}: migrate would change nothing",
                                         ms.domain, ms.completed_at));
  else if (ms.begun && !ms.Finished())
    plan->warnings.push_back("an unfinished migration of this domain is recorded: migrate resumes it");
  return plan;
}

Result<MigrateReport> RunMigrate(const MigrateOptions& opts, PhaseObserver* observer, const std::atomic<bool>* cancel) {
  Migration m(opts, observer, cancel);
  return m.Run();
}

}  // namespace v2r
