// rollback, commit and status.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>

#include "base/fault.h"
#include "base/units.h"
#include "copy/clip_sink.h"
#include "copy/engine.h"
#include "copy/file_sink.h"
#include "copy/checksum.h"
#include "copy/file_source.h"
#include "copy/hash_sink.h"
#include "migrate/guard.h"
#include "migrate/live.h"
#include "migrate/migrate.h"
#include "migrate/runner.h"
#include "migrate/steps.h"
#include "transfer/copy_to_rbd.h"

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
  r.SetUndoPrelude(CancelLiveCopies);  // a live migration's copies end before its undo
  MigrationState ms = r.State();
  V2R_RETURN_IF_ERROR(RefuseFinished(ms, opts.domain));
  if (ms.rolled_back || ms.aborted) {
    report->state = ms;
    report->message = fmt::format("the migration of {} was already {}; nothing changed", opts.domain, ms.Phase());
    return true;
  }
  V2R_RETURN_IF_ERROR(OpenCeph(opts.ceph, ms.pool, &r.s));
  if (!r.s.pool) return Status::Refused(fmt::format("pool '{}' of the migration does not exist", ms.pool));
  return false;
}

namespace {

// Writes the extents of `image` that changed since the switch snapshot back
// to SINK, the original disk, through the copy engine (one engine for every
// byte that moves): chunks with no changed extent count as done, the rest are
// copied whole (unchanged bytes in them equal the source already), zero runs
// become zeroes on the source (FileSink keeps a file thin, an image export
// writes zero clusters). Flushed before it returns. Returns the data bytes
// written.
Result<uint64_t> CopyBack(Image& src, const std::vector<Extent>& changed, Sink& sink, const std::atomic<bool>* cancel,
                          const std::atomic<bool>* halt, ProgressCounters* progress) {
  if (sink.size() < src.size())
    return Status::Failed(fmt::format("original disk {} ({}) is smaller than its image {} ({})", sink.name(),
                                      FormatBytes(sink.size()), src.name(), FormatBytes(src.size())));
  CopyOptions opts;
  opts.target_fresh = false;
  opts.readers = 4;
  opts.cancel = cancel;
  opts.halt = halt;
  V2R_RETURN_IF_ERROR(ResolveCopyOptions(src, sink, &opts));
  std::vector<bool> unchanged((src.size() + opts.chunk_size - 1) / opts.chunk_size, true);
  for (const Extent& e : changed)
    for (uint64_t c = e.offset / opts.chunk_size; c * opts.chunk_size < e.end() && c < unchanged.size(); ++c)
      unchanged[c] = false;
  opts.done_chunks = &unchanged;
  auto copied = CopyDisk(src, sink, opts, progress);
  if (!copied.ok()) return copied.status();
  return copied->bytes_written;
}

// Connections to an export of an original image file (copy-back, verify).
constexpr int kImageConnections = 4;
// What of a chunk reaches an image file: the changed extents rounded out to
// this (qcow2's default cluster), so its active layer grows by what the VM
// wrote on RBD, not by whole chunks of what its backing files hold.
constexpr uint64_t kImageGranularity = 64 << 10;

// Copies one disk's changes back: into a raw original directly, into an
// image file through a writable export of its own format (journalled) that
// only the changed extents reach.
Result<uint64_t> CopyBackDisk(Runner& r, const MigrationState& ms, Image& image, const std::vector<Extent>& changed,
                              const DiskRecord& d, const std::atomic<bool>* cancel, const std::atomic<bool>* halt,
                              ProgressCounters* progress) {
  if (d.format == "raw") {
    auto sink = FileSink::Open(d.source, image.object_size());
    if (!sink.ok()) return sink.status();
    return CopyBack(image, changed, **sink, cancel, halt, progress);
  }
  MigrationState now = r.State();  // (Disk() points into it)
  auto opened = OpenJournalledSink(r, ms.uuid, DiskOfRecord(d.target, d.source, d.format), now.Disk(d.target),
                                   kImageConnections, image.object_size());
  if (!opened.ok()) return opened.status();
  opened->sink = std::make_unique<ClipSink>(std::move(opened->sink), changed, kImageGranularity);
  auto bytes = CopyBack(image, changed, *opened->sink, cancel, halt, progress);
  Status closed = CloseJournalledSink(r, d.target, &opened->sink);
  if (!bytes.ok()) return bytes.status();
  V2R_RETURN_IF_ERROR(closed);
  return bytes;
}

struct ChangedDisk {
  const DiskRecord* disk;
  std::unique_ptr<Image> image;
  std::vector<Extent> extents;  // changed since the switch snapshot
};

// The disks whose images changed since the switch, each with its changes.
Result<std::vector<ChangedDisk>> ChangedDisks(Runner& r, const MigrationState& ms) {
  std::vector<ChangedDisk> out;
  for (const DiskRecord& d : ms.disks) {
    auto image = r.s.pool->OpenImage(d.image, true);
    if (!image.ok()) return image.status();
    auto extents = (*image)->ChangedSince(kSwitchSnapshot);
    if (!extents.ok()) return extents.status();
    if (!extents->empty()) out.push_back({&d, std::move(*image), std::move(*extents)});
  }
  return out;
}

}  // namespace

// Raw originals take the bytes back directly, image files through a writable
// export in their own format (into the active layer of a chain: the guest
// sees the active layer over its backing files).
Status RefuseCopyBackInto(const DiskRecord& d) {
  if (d.slice_size > 0)
    return Status::Refused(
        fmt::format("disk {}'s original is a slice of {} ({} bytes at offset {}): copying changes back into a slice "
                    "is not supported yet",
                    d.target, d.source, d.slice_size, d.slice_offset),
        "keep the VM on RBD, or roll back with --discard-changes (what the VM wrote on RBD since the switch is lost)");
  if (d.protocol == "rbd")
    return Status::Refused(
        fmt::format("disk {}'s original, RBD image {}, is not a local disk: copying changes back into an RBD source "
                    "is not supported yet",
                    d.target, d.source),
        "keep the VM on RBD, or roll back with --discard-changes (what the VM wrote on RBD since the switch is lost)");
  if (d.format == "raw" || QemuReadsFormat(d.format)) return Status::Ok();
  return Status::Refused(
      fmt::format("disk {}'s original, {}, is a {} disk: copying changes back into it is not supported (raw files, "
                  "block devices and image files qemu writes take the bytes back)",
                  d.target, d.source, d.format),
      "keep the VM on RBD, or roll back with --discard-changes (what the VM wrote on RBD since the switch is lost)");
}

// Writes every changed extent back to the original disks, then verifies
// that each equals its image. The guard stops it when the VM starts.
Status CopyBackAndVerify(Runner& r, const CephOptions& ceph, DomainGuard* guard,
                         const std::atomic<bool>* halt, Observer* observer, const std::atomic<bool>* cancel) {
  MigrationState ms = r.State();
  auto disks = ChangedDisks(r, ms);
  if (!disks.ok()) return disks.status();
  for (const ChangedDisk& c : *disks) V2R_RETURN_IF_ERROR(RefuseCopyBackInto(*c.disk));
  ProgressCounters progress;  // whole disks: chunks without a change count as done at once
  for (const ChangedDisk& c : *disks) progress.total += c.image->size();
  if (observer) observer->PhaseStarted("copy-back", progress);
  Status st;
  for (ChangedDisk& c : *disks) {
    st = r.Log(rec::CopyBack(c.disk->target));
    if (st.ok()) st = FaultPoint("before-copy-back");
    if (!st.ok()) break;
    auto bytes = CopyBackDisk(r, ms, *c.image, c.extents, *c.disk, cancel, halt, &progress);
    c.image.reset();
    if (!bytes.ok()) { st = bytes.status(); break; }
    st = r.Log(rec::CopiedBack(c.disk->target, *bytes));
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
    // An image file as its copy read it: through a read-only export (journalled).
    DiskInfo disk = DiskOfRecord(d.target, d.source, d.format);
    auto a = HashJournalledSource(r, ms.uuid, disk, DescribeReadPath(disk, nullptr), kImageConnections, hopts,
                                  pair.side(0));
    if (!a.ok()) { st = a.status(); break; }
    auto b = HashImage(r.s.open_cluster, ceph, ImageSpec{ms.pool, d.image}, hopts, pair.side(1));
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
  (void)r.Log(rec::CopyBackStopped(st.message()));
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
  return r.Log(rec::DefinitionRestored());
}

void NoteKeptImages(const RollbackOptions& opts, const MigrationState& ms, std::vector<std::string>* done) {
  if (opts.remove_images) return;
  std::vector<std::string> kept;
  for (const DiskRecord& d : ms.disks) kept.push_back(ImagePath(ms.pool, d.image));
  done->push_back(fmt::format("kept image{} {} (--remove-images removes them)", kept.size() == 1 ? "" : "s",
                              fmt::join(kept, ", ")));
}

namespace {

// `rollback` of an offline migration (or of a live one, with the VM shut
// off): the VM stopped, the changes since the switch copied back (or
// discarded), the saved definition restored, the VM started on its original
// disks, what the migration created removed.
class OfflineRollback {
 public:
  OfflineRollback(const RollbackOptions& opts, const RunContext& ctx)
      : opts_(opts), observer_(ctx.observer), cancel_(ctx.cancel), r_(ctx) {}

  Result<RollbackReport> Run() {
    auto nothing_to_do = OpenForRollback(opts_, r_, &report_);
    if (!nothing_to_do.ok()) return nothing_to_do.status();
    if (*nothing_to_do) return report_;
    ms_ = r_.State();
    if (!ms_.switched && !ms_.switch_intent) return UndoUnfinished();
    V2R_RETURN_IF_ERROR(RefuseInexactSnapshots());
    V2R_RETURN_IF_ERROR(Measure());
    V2R_RETURN_IF_ERROR(RefuseChanged("since the switch"));
    if (opts_.copy_back)
      for (const auto& [target, bytes] : report_.changed) {
        const DiskRecord* d = ms_.Disk(target);
        if (bytes > 0 && d) V2R_RETURN_IF_ERROR(RefuseCopyBackInto(*d));
      }
    auto now = r_.s.domain->State();
    if (!now.ok()) return now.status();
    was_running_ = ToRunState(*now) == RunState::kRunning;
    if (ToRunState(*now) != RunState::kShutoff && !opts_.shutdown && !opts_.force_off)
      return Status::Refused(fmt::format("domain {} is {}: add --shutdown, --force-off, or both (or --live: "
                                         "copy it back without stopping it)",
                                         opts_.domain, RunStateName(ToRunState(*now))));
    V2R_RETURN_IF_ERROR(r_.Log(rec::RollbackBegin(opts_.copy_back, opts_.discard_changes)));
    start_ = opts_.start.value_or(was_running_);
    Phase failed = Phase::kStop;
    Status st = r_.RunSteps<OfflineRollback>(*this, kSteps, &failed);
    if (!st.ok()) return failed == Phase::kCopyBack ? GuardedFailure(r_, guard_.get(), st) : st;
    return Finish();
  }

 private:
  // The step table: stop, copy-back (when asked and anything changed),
  // restore, start (when asked, or the VM ran), clean-up. A failure of the
  // copy-back is judged with the guard (a VM started on RBD meanwhile);
  // every other failure is returned as is (nothing to undo: rerun).
  static const StepEntry<OfflineRollback> kSteps[5];
  friend class v2r::Runner;  // RunSteps asks the titles
  std::string StepTitle(Phase p) const {
    if (p == Phase::kStart) return "start the VM on its original disks";
    if (p == Phase::kCleanUp)
      return opts_.remove_images ? "remove the images, the secret and the user it created"
                                 : "remove the secret and the user it created";
    return PhaseTitle(p);
  }
  bool CopyBackApplies() const { return opts_.copy_back && AnyChanged(); }
  bool StartApplies() const { return start_; }

  Result<RollbackReport> UndoUnfinished() {
    auto undone = r_.Abort("rolled back by the operator before the switch");
    if (!undone.ok()) return undone.status();
    report_.state = r_.State();
    report_.message = fmt::format("unfinished migration of {} undone: {}", opts_.domain, *undone);
    return report_;
  }

  // After a live migration: the snapshots are exact only when taken in the
  // pivot's pause, and a cancelled `rollback --live` overwrote the originals.
  Status RefuseInexactSnapshots() const {
    for (const DiskRecord& d : ms_.disks) {
      if (ms_.live && d.snapshot && !d.live.snapshot_at_pivot)
        return Status::Refused(fmt::format("disk {}'s rollback snapshot was not taken at its pivot, so what the VM "
                                           "wrote between the two is on neither the original disk nor the snapshot",
                                           d.target),
                               fmt::format("start the VM and copy everything back: virt2rbd rollback {} --live",
                                           opts_.domain));
      if (d.live.back_started && opts_.discard_changes)
        return Status::Refused(fmt::format("the original disk of {} was partly overwritten by a cancelled "
                                           "`rollback --live`: --discard-changes would leave it inconsistent",
                                           d.target),
                               "use --copy-back (or `rollback --live` with the VM running)");
    }
    return Status::Ok();
  }

  // What changed on the images since the switch snapshot.
  Status Measure() {
    report_.changed.clear();
    for (const DiskRecord& d : r_.State().disks) {
      auto image = r_.s.pool->OpenImage(d.image, true);
      if (!image.ok()) return image.status().Wrap(fmt::format("disk {}", d.target));
      auto bytes = (*image)->ChangedBytesSince(kSwitchSnapshot);
      if (!bytes.ok()) return bytes.status().Wrap(fmt::format("disk {}", d.target));
      report_.changed.emplace_back(d.target, *bytes);
    }
    return Status::Ok();
  }
  bool AnyChanged() const {
    return std::any_of(report_.changed.begin(), report_.changed.end(), [](const auto& c) { return c.second > 0; });
  }
  std::string ChangedText() const {
    std::vector<std::string> parts;
    for (const auto& [t, b] : report_.changed) parts.push_back(fmt::format("{} {}", t, FormatBytes(b)));
    return fmt::format("{}", fmt::join(parts, ", "));
  }
  Status RefuseChanged(const std::string& when) const {
    if (!AnyChanged() || opts_.copy_back || opts_.discard_changes) return Status::Ok();
    return Status::Refused(
        fmt::format("the images of {} changed {} ({}): rolling back would lose those writes", opts_.domain, when,
                    ChangedText()),
        "--copy-back writes the changes back to the original disks first; --discard-changes drops them");
  }

  Status StepStop() { return r_.StopDomain(opts_.shutdown, opts_.force_off, opts_.shutdown_timeout_s); }

  // Stopped: the VM is watched from here until the definition names the
  // original disks again (a start, on RBD, would write what the copy-back
  // misses); what the guest wrote while shutting down is measured; autostart
  // is off until the end.
  Status AfterStop() {
    DomainGuard::Text text{
        "on RBD while its changes were being copied back to its original disks: the rollback stopped and left the "
        "VM as it is, on RBD",
        "once it is shut off again, rerun the same rollback: the changes are copied back again"};
    auto started = DomainGuard::Start(r_.s.open_hypervisor, r_.s.virt->uri(), ms_.uuid, opts_.domain, &halt_,
                                      observer_, std::move(text));
    if (!started.ok()) return started.status();
    guard_ = std::move(*started);
    V2R_RETURN_IF_ERROR(Measure());
    if (AnyChanged() && !opts_.copy_back && !opts_.discard_changes) {
      if (was_running_) (void)r_.s.domain->Start();
      V2R_RETURN_IF_ERROR(r_.Log(rec::RollbackCancelled()));
      return Status::Refused(
          fmt::format("the images of {} changed while it shut down ({}); it was started again on RBD", opts_.domain,
                      ChangedText()),
          "--copy-back writes the changes back to the original disks first; --discard-changes drops them");
    }
    return r_.DisableAutostart();
  }

  Status StepCopyBack() { return CopyBackAndVerify(r_, opts_.ceph, guard_.get(), &halt_, observer_, cancel_); }

  Status StepRestore() {
    V2R_RETURN_IF_ERROR(FaultPoint("before-restore"));
    return RestoreDefinitionGuarded(r_, guard_.get(), opts_);
  }
  Status AfterRestore() {
    guard_.reset();  // the definition names the original disks: the VM may start
    done_.push_back("restored the saved definition");
    if (opts_.copy_back && AnyChanged()) done_.push_back("copied back " + ChangedText());
    if (opts_.discard_changes && AnyChanged()) done_.push_back("discarded " + ChangedText());
    return Status::Ok();
  }

  Status StepStart() {
    V2R_RETURN_IF_ERROR(r_.s.domain->Start());
    return r_.Log(rec::VmStarted("original disks"));
  }
  Status AfterStart() {
    done_.push_back("started the VM on its original disks");
    return Status::Ok();
  }

  Status StepCleanUp() {
    V2R_RETURN_IF_ERROR(r_.RestoreAutostart());
    return r_.RemoveCreated(opts_.remove_images, &done_);
  }

  Result<RollbackReport> Finish() {
    NoteKeptImages(opts_, r_.State(), &done_);
    V2R_RETURN_IF_ERROR(r_.Log(rec::RolledBack()));
    report_.state = r_.State();
    report_.message = fmt::format("domain {} rolled back: {}", opts_.domain, fmt::join(done_, "; "));
    return report_;
  }

  const RollbackOptions& opts_;
  Observer* const observer_;
  const std::atomic<bool>* const cancel_;
  Runner r_;
  RollbackReport report_;
  MigrationState ms_;
  std::atomic<bool> halt_{false};  // set by the guard
  std::unique_ptr<DomainGuard> guard_;
  std::vector<std::string> done_;
  bool was_running_ = false;
  bool start_ = false;
};

const StepEntry<OfflineRollback> OfflineRollback::kSteps[5] = {
    {Phase::kStop, &OfflineRollback::StepStop, nullptr, &OfflineRollback::AfterStop},
    {Phase::kCopyBack, &OfflineRollback::StepCopyBack, &OfflineRollback::CopyBackApplies},
    {Phase::kRestore, &OfflineRollback::StepRestore, nullptr, &OfflineRollback::AfterRestore},
    {Phase::kStart, &OfflineRollback::StepStart, &OfflineRollback::StartApplies, &OfflineRollback::AfterStart},
    {Phase::kCleanUp, &OfflineRollback::StepCleanUp},
};

}  // namespace

Result<RollbackReport> RunRollback(const RollbackOptions& opts, const RunContext& ctx) {
  if (opts.live) return RunLiveRollback(opts, ctx);  // live_rollback.cc
  if (opts.copy_back && opts.discard_changes)
    return Status::Usage("--copy-back and --discard-changes are mutually exclusive");
  return OfflineRollback(opts, ctx).Run();
}

Result<MigrationState> RunCommit(const std::string& domain, const std::string& connect, const CephOptions& ceph,
                                 const std::string& state_dir, const RunContext& ctx) {
  Runner r(ctx);
  V2R_RETURN_IF_ERROR(r.Open(connect, domain, state_dir));
  MigrationState ms = r.State();
  V2R_RETURN_IF_ERROR(RefuseFinished(ms, domain));
  if (ms.rolled_back || ms.aborted)
    return Status::Refused(fmt::format("the migration of {} was {}: nothing to commit", domain, ms.Phase()));
  if (!ms.completed)
    return Status::Refused(fmt::format("the migration of {} is unfinished: finish it (rerun migrate) or roll it back",
                                       domain));
  V2R_RETURN_IF_ERROR(OpenCeph(ceph, ms.pool, &r.s));
  if (!r.s.pool) return Status::Refused(fmt::format("pool '{}' of the migration does not exist", ms.pool));
  r.PlanSteps(1);
  V2R_RETURN_IF_ERROR(r.RunStep(Phase::kRemoveSnapshots, PhaseTitle(Phase::kRemoveSnapshots), [&]() -> Status {
    for (const DiskRecord& d : ms.disks) {
      auto image = r.s.pool->OpenImage(d.image, false);
      if (!image.ok()) return image.status();
      V2R_RETURN_IF_ERROR((*image)->RemoveSnapshot(kSwitchSnapshot));
      V2R_RETURN_IF_ERROR((*image)->SetMeta("virt2rbd.state", "committed"));
      V2R_RETURN_IF_ERROR(r.Log(rec::SnapshotRemoved(d.target)));
    }
    return Status::Ok();
  }));
  V2R_RETURN_IF_ERROR(r.Log(rec::Committed()));
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
    Result<MigrationState> folded = records.ok() ? FoldJournal(*records) : Result<MigrationState>(records.status());
    if (!folded.ok()) {
      Status why = records.ok() ? folded.status().Wrap(dir->JournalPath(uuid)) : folded.status();
      // The domain asked for: its state cannot be told, say why (refused).
      if (!domain.empty() && (uuid == domain || uuid == wanted_uuid)) return why;
      warnings->push_back(why.message());
      continue;
    }
    StatusEntry e;
    e.state = std::move(*folded);
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
    if (live && s.cluster) {
      auto pool = s.cluster->OpenPool(e.state.pool);
      for (const DiskRecord& d : e.state.disks) {
        bool exists = false;
        if (pool.ok()) {
          auto ex = (*pool)->ImageExists(d.image);
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
