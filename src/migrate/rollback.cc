// rollback, commit and status.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>

#include "base/fault.h"
#include "base/units.h"
#include "ceph/image.h"
#include "ceph/snapshots.h"
#include "copy/engine.h"
#include "copy/file_sink.h"
#include "copy/checksum.h"
#include "copy/file_source.h"
#include "copy/hasher.h"
#include "migrate/guard.h"
#include "migrate/live.h"
#include "migrate/migrate.h"
#include "migrate/runner.h"
#include "ops/copy_to_rbd.h"

namespace v2r {

namespace {

Status RefuseFinished(const MigrationState& ms, const std::string& domain) {
  if (!ms.begun) return Status::Refused(fmt::format("no migration of domain {} is recorded", domain),
                                        "check --state-dir (virt2rbd status lists what is recorded)");
  if (ms.committed)
    return Status::Refused(fmt::format("the migration of {} was committed on {}: there is no rollback point",
                                       domain, ms.committed_at));
  return Status::Ok();
}

}  // namespace

Result<bool> OpenForRollback(const RollbackOptions& opts, Runner& r, RollbackReport* report) {
  V2R_RETURN_IF_ERROR(r.Open(opts.connect, opts.domain, opts.state_dir));
  MigrationState ms = r.State();
  V2R_RETURN_IF_ERROR(RefuseFinished(ms, opts.domain));
  if (ms.rolled_back || ms.aborted) {
    report->state = ms;
    report->message = fmt::format("the migration of {} was already {}; nothing changed", opts.domain, ms.Phase());
    return true;
  }
  V2R_RETURN_IF_ERROR(OpenCeph(opts.ceph, ms.pool, &r.s));
  if (!r.s.io) return Status::Refused(fmt::format("pool '{}' of the migration does not exist", ms.pool));
  return false;
}

namespace {

// Writes the extents of `image` that changed since the switch snapshot back
// to the original source through the copy engine (one engine for every byte
// that moves): chunks with no changed extent count as done, the rest are
// copied whole (unchanged bytes in them equal the source already), zero runs
// become zeroes on the source (FileSink keeps a file thin). Flushed before
// it returns. Returns the data bytes written.
Result<uint64_t> CopyBack(std::unique_ptr<RbdImage> image, const std::vector<Extent>& changed, const std::string& source,
                          const std::atomic<bool>* cancel, const std::atomic<bool>* halt, ProgressCounters* progress) {
  uint64_t object_size = image->object_size();
  RbdSource src(std::move(image));
  auto sink = FileSink::Open(source, object_size);
  if (!sink.ok()) return sink.status();
  if ((*sink)->size() < src.size())
    return Status::Failed(fmt::format("original disk {} ({}) is smaller than its image {} ({})", source,
                                      FormatBytes((*sink)->size()), src.name(), FormatBytes(src.size())));
  CopyOptions opts;
  opts.target_fresh = false;
  opts.readers = 4;
  opts.cancel = cancel;
  opts.halt = halt;
  V2R_RETURN_IF_ERROR(ResolveCopyOptions(src, **sink, &opts));
  std::vector<bool> unchanged((src.size() + opts.chunk_size - 1) / opts.chunk_size, true);
  for (const Extent& e : changed)
    for (uint64_t c = e.offset / opts.chunk_size; c * opts.chunk_size < e.end() && c < unchanged.size(); ++c)
      unchanged[c] = false;
  opts.done_chunks = &unchanged;
  auto copied = CopyDisk(src, **sink, opts, progress);
  if (!copied.ok()) return copied.status();
  return copied->bytes_written;
}

struct ChangedDisk {
  const DiskRecord* disk;
  std::unique_ptr<RbdImage> image;
  std::vector<Extent> extents;  // changed since the switch snapshot
};

// The disks whose images changed since the switch, each with its changes.
Result<std::vector<ChangedDisk>> ChangedDisks(Runner& r, const MigrationState& ms) {
  std::vector<ChangedDisk> out;
  for (const DiskRecord& d : ms.disks) {
    auto image = RbdImage::Open(*r.s.io, d.image, true);
    if (!image.ok()) return image.status();
    auto extents = ChangedSince(**image, kSwitchSnapshot);
    if (!extents.ok()) return extents.status();
    if (!extents->empty()) out.push_back({&d, std::move(*image), std::move(*extents)});
  }
  return out;
}

}  // namespace

// Writes every changed extent back to the original disks, then verifies
// that each equals its image. The guard stops it when the VM starts.
Status CopyBackAndVerify(Runner& r, const CephOptions& ceph, DomainGuard* guard,
                         const std::atomic<bool>* halt, Observer* observer, const std::atomic<bool>* cancel) {
  MigrationState ms = r.State();
  auto disks = ChangedDisks(r, ms);
  if (!disks.ok()) return disks.status();
  ProgressCounters progress;  // whole disks: chunks without a change count as done at once
  for (const ChangedDisk& c : *disks) progress.total += c.image->size();
  if (observer) observer->PhaseStarted("copy-back", progress);
  Status st;
  for (ChangedDisk& c : *disks) {
    st = r.Log({{"event", "copy-back"}, {"target", c.disk->target}});
    if (st.ok()) st = FaultPoint("before-copy-back");
    if (!st.ok()) break;
    auto bytes = CopyBack(std::move(c.image), c.extents, c.disk->source, cancel, halt, &progress);
    if (!bytes.ok()) { st = bytes.status(); break; }
    st = r.Log({{"event", "copied-back"}, {"target", c.disk->target}, {"bytes", *bytes}});
    if (!st.ok()) break;
  }
  if (observer) observer->PhaseEnded();
  if (st.ok()) st = guard->Check();
  if (!st.ok())
    return st.As(st.kind() == Kind::kFailed || st.kind() == Kind::kRefused ? Kind::kFailed : st.kind())
        .WithHint(st.hint().empty() ? "the VM is shut off and still defined on RBD; rerun the rollback to copy back again"
                                    : st.hint());
  // Verify: every original disk now equals its image.
  ProgressCounters vp;  // the mean of the two sides: goes to the disks' size
  for (const DiskRecord& d : ms.disks) vp.total += d.size;
  PairedProgress pair(&vp);
  const HashOptions hopts{4, cancel, {}, [&pair] { pair.Sync(); }};
  if (observer) observer->PhaseStarted("verify", vp);
  for (const DiskRecord& d : ms.disks) {
    auto src = FileSource::Open(d.source);
    if (!src.ok()) { st = src.status(); break; }
    auto a = HashSource(**src, hopts, pair.side(0));
    if (!a.ok()) { st = a.status(); break; }
    auto b = HashImage(ceph, ImageSpec{ms.pool, d.image}, hopts, pair.side(1));
    if (!b.ok()) { st = b.status(); break; }
    auto diff = CompareHashes(*a, *b);
    if (!diff.empty()) {
      st = Status::Mismatch(fmt::format("after copy-back, {} differs from {}: {}", d.source,
                                        ImagePath(ms.pool, d.image), DescribeMismatch(diff)));
      break;
    }
  }
  if (observer) observer->PhaseEnded();
  if (st.ok()) st = guard->Check();
  if (!st.ok()) return st.WithHint(st.hint().empty() ? "the VM is shut off and still defined on RBD; nothing was lost" : st.hint());
  return Status::Ok();
}

// A rollback stopped by the guard (the VM was started on RBD) leaves the VM
// as it is, on RBD, with its autostart as before; anything else is returned.
Status GuardedFailure(Runner& r, DomainGuard* guard, Status st) {
  if (guard && guard->Tripped()) st = guard->Check();
  if (st.kind() != Kind::kSourceChanged) return st;
  (void)r.Log({{"event", "copy-back-stopped"}, {"reason", st.message()}});
  Status autostart = r.RestoreAutostart();
  if (!autostart.ok()) return st.WithHint(st.hint() + "; turning its autostart on again failed: " + autostart.message());
  return st;
}

// Puts the saved definition back; when the VM started between the guard's
// last look and the define, the RBD definition is put back instead.
Status RestoreDefinitionGuarded(Runner& r, DomainGuard* guard, const RollbackOptions& opts) {
  MigrationState ms = r.State();
  auto saved = ReadFile(r.dir->DefinitionPath(ms.uuid));
  if (!saved.ok()) return saved.status();
  V2R_RETURN_IF_ERROR(guard->WaitConnected(opts.libvirt_timeout_s, nullptr));
  V2R_RETURN_IF_ERROR(GuardedFailure(r, guard, guard->Check()));
  if (guard->TakeOutage())
    return Status::Interrupted("libvirt went away during the rollback: a start of the VM meanwhile would have gone "
                               "unseen, so the definition was not restored",
                               "rerun the rollback: the changes are copied back again");
  auto on_rbd = r.s.domain->InactiveSecureXml();
  if (!on_rbd.ok()) return on_rbd.status();
  auto def = r.s.virt->DefineXml(*saved);
  if (!def.ok()) return def.status();
  if (Status late = guard->Check(); !late.ok()) {
    auto back = r.s.virt->DefineXml(*on_rbd);
    if (!back.ok()) return back.status().Wrap(late.message() + "; putting the RBD definition back failed");
    return GuardedFailure(r, guard, late);
  }
  return r.Log({{"event", "definition-restored"}});
}

Result<RollbackReport> RunRollback(const RollbackOptions& opts, Observer* observer,
                                   const std::atomic<bool>* cancel) {
  if (opts.live) return RunLiveRollback(opts, observer, cancel);  // live_rollback.cc
  if (opts.copy_back && opts.discard_changes)
    return Status::Usage("--copy-back and --discard-changes are mutually exclusive");
  Runner r(observer, cancel);
  RollbackReport report;
  auto nothing_to_do = OpenForRollback(opts, r, &report);
  if (!nothing_to_do.ok()) return nothing_to_do.status();
  if (*nothing_to_do) return report;
  MigrationState ms = r.State();

  if (!ms.switched && !ms.switch_intent) {
    // Unfinished before the switch: undo it.
    auto undone = r.Abort("rolled back by the operator before the switch");
    if (!undone.ok()) return undone.status();
    report.state = r.State();
    report.message = fmt::format("unfinished migration of {} undone: {}", opts.domain, *undone);
    return report;
  }

  // After a live migration: the snapshots are exact only when taken in the
  // pivot's pause, and a cancelled `rollback --live` overwrote the originals.
  for (const DiskRecord& d : ms.disks) {
    if (ms.live && d.snapshot && !d.live.snapshot_at_pivot)
      return Status::Refused(fmt::format("disk {}'s rollback snapshot was not taken at its pivot, so what the VM wrote "
                                         "between the two is on neither the original disk nor the snapshot",
                                         d.target),
                             fmt::format("start the VM and copy everything back: virt2rbd rollback {} --live",
                                         opts.domain));
    if (d.live.back_started && opts.discard_changes)
      return Status::Refused(fmt::format("the original disk of {} was partly overwritten by a cancelled "
                                         "`rollback --live`: --discard-changes would leave it inconsistent",
                                         d.target),
                             "use --copy-back (or `rollback --live` with the VM running)");
  }

  // What changed on the images since the switch snapshot.
  auto measure = [&]() -> Status {
    report.changed.clear();
    for (const DiskRecord& d : r.State().disks) {
      auto image = RbdImage::Open(*r.s.io, d.image, true);
      if (!image.ok()) return image.status().Wrap(fmt::format("disk {}", d.target));
      auto bytes = ChangedBytesSince(**image, kSwitchSnapshot);
      if (!bytes.ok()) return bytes.status().Wrap(fmt::format("disk {}", d.target));
      report.changed.emplace_back(d.target, *bytes);
    }
    return Status::Ok();
  };
  auto changed_text = [&] {
    std::vector<std::string> parts;
    for (const auto& [t, b] : report.changed) parts.push_back(fmt::format("{} {}", t, FormatBytes(b)));
    return fmt::format("{}", fmt::join(parts, ", "));
  };
  auto any_changed = [&] {
    return std::any_of(report.changed.begin(), report.changed.end(), [](const auto& c) { return c.second > 0; });
  };
  V2R_RETURN_IF_ERROR(measure());
  bool keep_going = opts.copy_back || opts.discard_changes;
  if (any_changed() && !keep_going)
    return Status::Refused(
        fmt::format("the images of {} changed since the switch ({}): rolling back would lose those writes",
                    opts.domain, changed_text()),
        "--copy-back writes the changes back to the original disks first; --discard-changes drops them");

  auto now = r.s.domain->State();
  if (!now.ok()) return now.status();
  bool was_running = ToRunState(*now) == RunState::kRunning;
  if (ToRunState(*now) != RunState::kShutoff && !opts.shutdown && !opts.force_off)
    return Status::Refused(fmt::format("domain {} is {}: add --shutdown, --force-off, or both (or --live: "
                                       "copy it back without stopping it)",
                                       opts.domain, RunStateName(ToRunState(*now))));
  V2R_RETURN_IF_ERROR(r.Log({{"event", "rollback-begin"}, {"copy_back", opts.copy_back},
                             {"discard_changes", opts.discard_changes}}));
  const bool copy_back = opts.copy_back && any_changed();
  const bool start = opts.start.value_or(was_running);
  r.PlanSteps(3 + copy_back + start);
  V2R_RETURN_IF_ERROR(r.RunStep("stop", "stop the VM", [&] {
    return r.StopDomain(opts.shutdown, opts.force_off, opts.shutdown_timeout_s);
  }));
  // From here until the definition names the original disks again, a start
  // of the VM (on RBD, writing what the copy-back would miss) is noticed.
  std::atomic<bool> halt{false};
  DomainGuard::Text text{
      "on RBD while its changes were being copied back to its original disks: the rollback stopped and left the "
      "VM as it is, on RBD",
      "once it is shut off again, rerun the same rollback: the changes are copied back again"};
  auto started = DomainGuard::Start(r.s.open_hypervisor, r.s.virt->uri(), ms.uuid, opts.domain, &halt, observer,
                                    std::move(text));
  if (!started.ok()) return started.status();
  std::unique_ptr<DomainGuard> guard = std::move(*started);
  V2R_RETURN_IF_ERROR(measure());  // the guest may have written while shutting down
  if (any_changed() && !keep_going) {
    if (was_running) (void)r.s.domain->Start();
    V2R_RETURN_IF_ERROR(r.Log({{"event", "rollback-cancelled"}}));
    return Status::Refused(
        fmt::format("the images of {} changed while it shut down ({}); it was started again on RBD", opts.domain,
                    changed_text()),
        "--copy-back writes the changes back to the original disks first; --discard-changes drops them");
  }
  V2R_RETURN_IF_ERROR(r.DisableAutostart());

  if (opts.copy_back && any_changed()) {
    Status st = r.RunStep("copy-back", "copy the changes back to the original disks and verify", [&] {
      return CopyBackAndVerify(r, opts.ceph, guard.get(), &halt, observer, cancel);
    });
    if (!st.ok()) return GuardedFailure(r, guard.get(), st);
  }

  std::vector<std::string> done;
  V2R_RETURN_IF_ERROR(r.RunStep("restore", "restore the saved definition", [&]() -> Status {
    V2R_RETURN_IF_ERROR(FaultPoint("before-restore"));
    return RestoreDefinitionGuarded(r, guard.get(), opts);
  }));
  guard.reset();  // the definition names the original disks: the VM may start
  done.push_back("restored the saved definition");
  if (opts.copy_back && any_changed()) done.push_back("copied back " + changed_text());
  if (opts.discard_changes && any_changed()) done.push_back("discarded " + changed_text());
  if (start) {
    V2R_RETURN_IF_ERROR(r.RunStep("start", "start the VM on its original disks", [&]() -> Status {
      V2R_RETURN_IF_ERROR(r.s.domain->Start());
      return r.Log({{"event", "vm-started"}, {"on", "original disks"}});
    }));
    done.push_back("started the VM on its original disks");
  }
  V2R_RETURN_IF_ERROR(r.RunStep("clean-up", opts.remove_images ? "remove the images, the secret and the user it created"
                                                                : "remove the secret and the user it created",
                                [&]() -> Status {
                                  V2R_RETURN_IF_ERROR(r.RestoreAutostart());
                                  return r.RemoveCreated(opts.remove_images, &done);
                                }));
  if (!opts.remove_images) {
    std::vector<std::string> kept;
    for (const DiskRecord& d : r.State().disks) kept.push_back(ImagePath(ms.pool, d.image));
    done.push_back(fmt::format("kept image{} {} (--remove-images removes them)", kept.size() == 1 ? "" : "s",
                               fmt::join(kept, ", ")));
  }
  V2R_RETURN_IF_ERROR(r.Log({{"event", "rolled-back"}}));
  report.state = r.State();
  report.message = fmt::format("domain {} rolled back: {}", opts.domain, fmt::join(done, "; "));
  return report;
}

Result<MigrationState> RunCommit(const std::string& domain, const std::string& connect, const CephOptions& ceph,
                                 const std::string& state_dir, Observer* observer) {
  Runner r(observer, nullptr);
  V2R_RETURN_IF_ERROR(r.Open(connect, domain, state_dir));
  MigrationState ms = r.State();
  V2R_RETURN_IF_ERROR(RefuseFinished(ms, domain));
  if (ms.rolled_back || ms.aborted)
    return Status::Refused(fmt::format("the migration of {} was {}: nothing to commit", domain, ms.Phase()));
  if (!ms.completed)
    return Status::Refused(fmt::format("the migration of {} is unfinished: finish it (rerun migrate) or roll it back",
                                       domain));
  V2R_RETURN_IF_ERROR(OpenCeph(ceph, ms.pool, &r.s));
  if (!r.s.io) return Status::Refused(fmt::format("pool '{}' of the migration does not exist", ms.pool));
  r.PlanSteps(1);
  V2R_RETURN_IF_ERROR(r.RunStep("remove-snapshots", "remove the rollback snapshots", [&]() -> Status {
    for (const DiskRecord& d : ms.disks) {
      auto image = RbdImage::Open(*r.s.io, d.image, false);
      if (!image.ok()) return image.status();
      V2R_RETURN_IF_ERROR(RemoveSnapshot(**image, kSwitchSnapshot));
      V2R_RETURN_IF_ERROR(SetMeta(**image, "virt2rbd.state", "committed"));
      V2R_RETURN_IF_ERROR(r.Log({{"event", "snapshot-removed"}, {"target", d.target}}));
    }
    return Status::Ok();
  }));
  V2R_RETURN_IF_ERROR(r.Log({{"event", "committed"}}));
  return r.State();
}

Result<std::vector<StatusEntry>> RunStatus(const std::string& domain, const std::string& connect,
                                           const CephOptions& ceph, const std::string& state_dir,
                                           std::vector<std::string>* warnings) {
  auto dir = StateDir::OpenExisting(state_dir);
  if (!dir.ok()) return dir.status();
  auto uuids = dir->DomainUuids();
  if (!uuids.ok()) return uuids.status();
  Session s;
  auto conn = s.open_hypervisor(connect);
  if (conn.ok()) s.virt = std::move(*conn);
  else warnings->push_back("libvirt not reachable, definitions not checked: " + conn.status().message());

  // The uuid of the domain asked for, so that its journal is found even
  // when it is corrupted (its content then cannot name the domain).
  std::string wanted_uuid;
  if (!domain.empty() && s.virt) {
    auto dom = s.virt->LookupDomain(domain);
    if (dom.ok()) wanted_uuid = (*dom)->uuid();
  }

  std::vector<StatusEntry> out;
  bool ceph_tried = false;
  for (const std::string& uuid : *uuids) {
    auto records = Journal::ReadOnly(dir->JournalPath(uuid));
    if (!records.ok()) {
      // The domain asked for: its state cannot be told, say why (refused).
      if (!domain.empty() && (uuid == domain || uuid == wanted_uuid)) return records.status();
      warnings->push_back(records.status().message());
      continue;
    }
    StatusEntry e;
    e.state = FoldJournal(*records);
    if (!e.state.begun) continue;
    if (!domain.empty() && e.state.domain != domain && e.state.uuid != domain) continue;
    bool live = e.state.switched && !e.state.Finished();
    if (live && s.virt) {
      auto dom = s.virt->LookupDomain(uuid);
      if (!dom.ok()) {
        e.drift.push_back("the domain is no longer defined");
      } else {
        auto xml = (*dom)->InactiveSecureXml();
        if (xml.ok() && !e.state.switched_xml_sha256.empty() &&
            HashBytes(xml->data(), xml->size()).Hex() != e.state.switched_xml_sha256)
          e.drift.push_back("the definition was edited since the switch");
      }
    }
    if (live && !ceph_tried) {
      ceph_tried = true;
      Status st = OpenCeph(ceph, e.state.pool, &s);
      if (!st.ok()) warnings->push_back("Ceph not reachable, images not checked: " + st.message());
    }
    if (live && s.rados) {
      auto io = s.rados->OpenPool(e.state.pool);
      for (const DiskRecord& d : e.state.disks) {
        bool exists = false;
        if (io.ok()) {
          auto ex = ImageExists(*io, d.image);
          exists = ex.ok() && *ex;
        }
        if (!exists) e.drift.push_back(fmt::format("image {} is missing", ImagePath(e.state.pool, d.image)));
      }
    }
    out.push_back(std::move(e));
  }
  if (!domain.empty() && out.empty())
    return Status::Refused(fmt::format("no migration of domain {} is recorded in {}", domain, state_dir));
  return out;
}

}  // namespace v2r
