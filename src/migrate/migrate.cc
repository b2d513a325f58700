#include "migrate/migrate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "base/fault.h"
#include "base/parallel.h"
#include "ceph/admin.h"
#include "ceph/image.h"
#include "ceph/snapshots.h"
#include "copy/engine.h"
#include "copy/faulty_source.h"
#include "copy/file_source.h"
#include "copy/hasher.h"
#include "base/abandon.h"
#include "journal/copy_progress.h"
#include "migrate/guard.h"
#include "migrate/live.h"
#include "migrate/runner.h"
#include "migrate/steps.h"
#include "ops/copy_to_rbd.h"
#include "ops/readback.h"
#include "copy/checksum.h"

namespace v2r {

namespace {

std::string RunStateText(RunState s) { return RunStateName(s); }

class Migration {
 public:
  Migration(const MigrateOptions& opts, PhaseObserver* observer, const std::atomic<bool>* cancel)
      : opts_(opts), r_(observer, cancel) {}
  Result<MigrateReport> Run();

 private:
  Status StepCopy();
  // StepCopy, then again (rechecking every disk) while the source guard lost
  // sight of the domain during it: until the copy can be trusted.
  Status CopyUntilTrusted();
  Status CopyOne(const DiskPlan& disk, InflightWindow* window, ProgressCounters* progress);
  // Resumes a disk whose image this migration created: its progress file, if
  // it may be used, else the image removed. `resumed` says which.
  Result<std::unique_ptr<CopyProgressFile>> ResumeDisk(const DiskPlan& disk, const std::string& progress_path,
                                                       const std::string& fingerprint, bool* resumed);
  Status StartGuard();
  Status GuardCheck() { return guard_ ? guard_->Check() : Status::Ok(); }
  // The last look before the definition is switched: the guard watches now
  // and has not lost sight of the domain since the copy was trusted.
  Status GuardBeforeSwitch();
  // A rerun finds the VM running (started since the migration stopped it)
  // and may not stop it: refused, nothing undone.
  Status RefuseRunningOnResume(const std::string& domain);
  Status VerifyOne(const DiskPlan& disk, ProgressCounters* progress);
  Status StepStart();
  Status Steps(bool resuming);
  Result<bool> FinishSwitched(const MigrationState& ms, MigrateReport* report);
  // Turns a failure into the documented outcome: interrupted stays
  // resumable; anything else aborts (undoes) the migration.
  Status Fail(Status st);

  const MigrateOptions& opts_;
  Runner r_;
  Plan plan_;
  std::unique_ptr<DomainGuard> guard_;  // from the VM shut off until the switch
  std::atomic<bool> halt_{false};       // set by the guard when the VM runs: the copy stops
  // Every chunk recorded by an earlier run (or before libvirt went away) is
  // read again and compared with its record: the VM may have run unseen.
  bool recheck_ = false;
  std::mutex results_mu_;
  std::map<std::string, CopyResult> copied_;  // this run's copies, by target
  std::unique_ptr<RateLimiter> rate_;         // --bandwidth: one limit for every disk
  std::unique_ptr<BufferPool> buffers_;       // chunk buffers, shared by every disk
  // Read-backs that follow each disk's copy (--verify full), by target; under
  // results_mu_. Dropped (stopped, handles closed) when StepCopy returns.
  std::map<std::string, std::unique_ptr<Readback>> readbacks_;
  void DropReadbacks();
};

void Migration::DropReadbacks() {
  std::map<std::string, std::unique_ptr<Readback>> rbs;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    rbs.swap(readbacks_);
  }
  // After abandoned writes a read-back may hang on the same cluster: never
  // wait for one then (the process ends with _Exit).
  if (Abandoned())
    for (auto& [t, rb] : rbs) rb.release()->Abandon();
}

Status Migration::Fail(Status st) {
  // The copy stopped because the VM ran: the guard's finding is the reason.
  if (guard_ && guard_->Tripped()) st = guard_->Check();
  if (st.kind() == Kind::kSourceChanged) {
    // Nothing is undone: the copy is kept so that a rerun converges on the
    // disks' new content, rewriting only what changed.
    Status logged = r_.Log({{"event", "copy-untrusted"}, {"reason", st.message()}});
    if (!logged.ok()) return st.WithHint(st.hint() + "; recording this in the journal failed: " + logged.message());
    return st;
  }
  // Environment faults stop resumable, never undo: the cluster out of reach
  // (monitors down, network cut) after the copy began, libvirt gone
  // (libvirtd restarted and not back), the state dir full or failing.
  bool unreachable = st.err() == ETIMEDOUT;
  bool libvirt_lost = r_.LibvirtLost();
  if (libvirt_lost && st.kind() != Kind::kInterrupted)
    st = Status::Interrupted(st.message() + " (the connection to libvirt is lost)",
                             "start libvirtd (or wait for it), then rerun the same command to resume");
  if (st.kind() == Kind::kInterrupted || r_.Cancelled() || unreachable) {
    MigrationState ms = r_.State();
    std::string vm = ms.vm_stopped ? fmt::format("; the VM is shut off (it was {})", RunStateText(ms.original_state))
                                   : "";
    // No signal: the copy stopped on its own (the stall watchdog): keep its reason and advice.
    bool own = !r_.Cancelled() && !st.message().empty();
    std::string why = own ? ": " + st.message() : "";
    std::string fix = own && !st.hint().empty() ? st.hint() : "rerun the same command to resume";
    return Status::Interrupted(
        fmt::format("migration of {} interrupted{}{}", plan_.domain, why, vm),
        fmt::format("{}, or undo with: virt2rbd rollback {} --state-dir {}", fix, plan_.domain, opts_.state_dir));
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

Result<std::unique_ptr<CopyProgressFile>> Migration::ResumeDisk(const DiskPlan& disk, const std::string& progress_path,
                                                                const std::string& fingerprint, bool* resumed) {
  IoCtx& io = *r_.s.io;
  const std::string& target = disk.disk.target;
  auto loaded = CopyProgressFile::Load(progress_path);
  auto image = RbdImage::Open(io, disk.image, true);
  std::string why;
  if (!loaded.ok()) why = "no copy progress recorded";
  else if (!image.ok()) why = "the image is gone";
  else if (FingerprintIdentity((*loaded)->header().fingerprint) != FingerprintIdentity(fingerprint) ||
           (*loaded)->header().size != disk.size || (*loaded)->header().image != disk.image)
    why = "the source is another disk than the one the copy began from";
  else if ((*image)->size() != disk.size) why = "the image has another size";
  else {
    auto state = GetMeta(**image, "virt2rbd.state");
    if (!state.ok() || !state->has_value() || (**state != "copying" && **state != "complete"))
      why = "the image is not marked as one being copied by virt2rbd";
  }
  if (why.empty()) {
    *resumed = true;
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "copy-resume"}, {"target", target}, {"done_bytes", (*loaded)->done_bytes()},
                                {"recheck", recheck_}}));
    return std::move(*loaded);
  }
  if (r_.observer()) r_.observer()->Warn(fmt::format("disk {}: copying again from the start: {}", target, why));
  if (image.ok()) image->reset();
  V2R_RETURN_IF_ERROR(RemoveOurImage(io, disk.image));
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-removed"}, {"target", target}, {"image", disk.image}, {"why", why}}));
  return std::unique_ptr<CopyProgressFile>();
}

// Copies one disk, resuming from its progress file when this migration
// created the image before and the source is unchanged: only chunks not
// recorded as durable are written again (zeros included: a resumed image is
// not fresh).
Status Migration::CopyOne(const DiskPlan& disk, InflightWindow* window, ProgressCounters* progress) {
  const std::string& target = disk.disk.target;
  MigrationState ms = r_.State();
  const DiskRecord* rec = ms.Disk(target);
  if (rec && rec->copied && !recheck_) {
    progress->done += disk.size;
    return Status::Ok();
  }
  IoCtx& io = *r_.s.io;
  auto src = FileSource::Open(disk.disk.source);
  if (!src.ok()) return src.status();
  if ((*src)->size() != disk.size)
    return Status::Failed(fmt::format("source {} changed size since planning ({} -> {} bytes)", disk.disk.source,
                                      disk.size, (*src)->size()));
  auto fingerprint = (*src)->Fingerprint();
  if (!fingerprint.ok()) return fingerprint.status();
  std::string progress_path = r_.dir->DomainDir(plan_.uuid) + "/copy-" + target + ".progress";

  // Resume what an earlier run left, when it is safe to.
  std::unique_ptr<CopyProgressFile> done;
  bool resumed = false;
  if (rec && rec->created) {
    auto loaded = ResumeDisk(disk, progress_path, *fingerprint, &resumed);
    if (!loaded.ok()) return loaded.status();
    done = std::move(*loaded);
  } else if (rec && rec->create_intent) {
    // Created or not before a crash: start clean.
    V2R_RETURN_IF_ERROR(RemoveOurImage(io, disk.image));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-removed"}, {"target", target}, {"image", disk.image},
                                {"why", "creation was interrupted"}}));
  }

  std::unique_ptr<Source> source = std::move(*src);
  if (auto off = InjectedReadError(target)) source = std::make_unique<FaultySource>(std::move(source), *off);

  if (!resumed) {
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-create"}, {"target", target}, {"image", disk.image}}));
    V2R_RETURN_IF_ERROR(CreateImage(io, disk.image, disk.size));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "image-created"}, {"target", target}, {"image", disk.image}}));
    V2R_RETURN_IF_ERROR(FaultPoint("after-image-create"));
  }
  auto image = resumed ? OpenOurImageForWriting(io, disk.image) : RbdImage::Open(io, disk.image, false);
  if (!image.ok()) return image.status();
  auto sink = std::make_unique<RbdSink>(std::move(*image));
  if (!resumed) {
    V2R_RETURN_IF_ERROR(SetMeta(sink->image(), "virt2rbd.state", "copying"));
    V2R_RETURN_IF_ERROR(SetMeta(sink->image(), "virt2rbd.source", disk.disk.source));
    CopyProgressHeader h{disk.image, disk.disk.source, *fingerprint, disk.size,
                         std::max<uint64_t>(sink->object_size(), kHashBlock)};
    auto created = CopyProgressFile::Create(progress_path, h);
    if (!created.ok()) return created.status();
    done = std::move(*created);
  }

  // --verify full: the image is read back while it is copied, a range once
  // flushed (and the chunks a resumed copy had done, at once). The disks
  // share four reader threads.
  std::unique_ptr<Readback> readback;
  if (opts_.verify) {
    auto rimage = RbdImage::Open(io, disk.image, /*read_only=*/true);
    if (!rimage.ok()) return rimage.status();
    readback = std::make_unique<Readback>(std::move(*rimage), disk.size, done->header().chunk_size);
    // Chunks done before are read back at once, unless they are rechecked:
    // then each once found unchanged (or rewritten and flushed).
    std::vector<uint64_t> before;
    for (uint64_t i = 0; i < done->done().size() && !(resumed && recheck_); ++i)
      if (done->done()[i]) before.push_back(i);
    readback->frontier.MarkDone(before);
    int disks = std::max<int>(1, std::min<int>(opts_.parallel_disks, static_cast<int>(plan_.Moving().size())));
    readback->Start(std::max(1, 4 / disks), r_.cancel());
  }

  CopyOptions copts;
  copts.chunk_size = done->header().chunk_size;
  copts.max_requests = opts_.in_flight;
  copts.max_bytes = opts_.in_flight_bytes;
  copts.cancel = r_.cancel();
  copts.halt = &halt_;
  copts.shared_window = window;
  copts.buffer_pool = buffers_.get();
  copts.rate = rate_.get();
  copts.target_fresh = !resumed;
  copts.done_chunks = &done->done();
  copts.initial_hashes = &done->hashes();
  copts.recheck_done = resumed && recheck_;
  copts.durable_interval_s = opts_.durable_interval_s;
  CopyProgressFile* file = done.get();
  DurableFrontier* frontier = readback ? &readback->frontier : nullptr;
  if (frontier) copts.on_unchanged = [frontier](uint64_t chunk) { frontier->MarkDone({chunk}); };
  copts.on_durable = [file, frontier](const std::vector<uint64_t>& chunks, const BlockHashes& hashes) {
    // Fault point between the flush and the record: "progress-record-N" is
    // the Nth record of this process (several disks count together).
    static std::atomic<int> records{0};
    V2R_RETURN_IF_ERROR(FaultPoint(fmt::format("progress-record-{}", ++records)));
    if (frontier) frontier->MarkDone(chunks);  // flushed: the read-back may follow
    return file->Record(chunks, hashes);
  };
  copts.stall_warn_s = opts_.stall_warn_s;
  copts.stall_timeout_s = opts_.stall_timeout_s;
  copts.on_stall_warning = [this, target](double s) {
    if (r_.observer())
      r_.observer()->Warn(fmt::format("disk {}: no write completed for {:.0f} s: is the pool full or over quota, or "
                                      "the cluster unreachable? (ceph -s; ceph df)", target, s));
  };
  bool abandoned = false;
  auto copied = CopyDisk(*source, *sink, copts, progress, &abandoned);
  if (abandoned) {
    // librbd still owns writes in flight: never close these handles.
    MarkAbandoned();
    (void)sink.release();
    (void)done.release();
    (void)buffers_.release();  // (their completions would put buffers back)
    if (readback) readback.release()->Abandon();
    r_.s.Abandon();
  }
  if (!copied.ok()) {
    // Another disk's writes abandoned: this read-back may hang on the same cluster.
    if (readback && Abandoned()) readback.release()->Abandon();
    return copied.status().Wrap(fmt::format("disk {}", target));
  }
  V2R_RETURN_IF_ERROR(FaultPoint("after-copy"));
  if (copied->chunks_rewritten > 0 && rec && rec->snapshot) {
    // The rollback point was taken of what is now rewritten: take it again.
    auto img = OpenOurImageForWriting(io, disk.image);
    if (!img.ok()) return img.status();
    V2R_RETURN_IF_ERROR(RemoveSnapshot(**img, kSwitchSnapshot));
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "snapshot-removed"}, {"target", target}, {"why", "chunks rewritten"}}));
  }
  if (copied->chunks_rechecked > 0 && r_.observer())
    r_.observer()->Warn(fmt::format("disk {}: {} chunk{} checked against the source again, {} had changed and "
                                    "{} rewritten", target, copied->chunks_rechecked,
                                    copied->chunks_rechecked == 1 ? "" : "s", copied->chunks_rewritten,
                                    copied->chunks_rewritten == 1 ? "was" : "were"));
  std::lock_guard<std::mutex> lock(results_mu_);
  copied_[target] = std::move(*copied);
  if (readback) readbacks_[target] = std::move(readback);
  return Status::Ok();
}

Status Migration::VerifyOne(const DiskPlan& disk, ProgressCounters* progress) {
  CopyResult* copied = nullptr;
  Readback* readback = nullptr;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    auto it = copied_.find(disk.disk.target);
    if (it == copied_.end()) return Status::Ok();  // copied and journalled by an earlier run
    copied = &it->second;
    auto rb = readbacks_.find(disk.disk.target);
    if (rb != readbacks_.end()) readback = rb->second.get();
  }
  bool verified = false;
  if (opts_.verify) {
    // What the read-back that followed the copy (through the session's
    // connection, librbd cache off, a read-only handle) still has to read.
    if (!readback) return Status::Internal(fmt::format("disk {}: no read-back", disk.disk.target));
    auto back = readback->Finish();
    progress->done += disk.size;
    if (!back.ok()) return back.status().Wrap(fmt::format("verifying disk {}", disk.disk.target));
    std::vector<Extent> diff = CompareHashes(copied->hashes, *back);
    if (!diff.empty())
      return Status::Mismatch(fmt::format("disk {}: image {} differs from {} after the copy: {}", disk.disk.target,
                                          ImagePath(opts_.pool, disk.image), disk.disk.source, DescribeMismatch(diff)));
    verified = true;
  } else {
    progress->done += disk.size;
  }
  auto image = OpenOurImageForWriting(*r_.s.io, disk.image);
  if (!image.ok()) return image.status();
  std::string digest = copied->hashes.Digest();
  V2R_RETURN_IF_ERROR(SetMeta(**image, "virt2rbd.digest", digest));
  V2R_RETURN_IF_ERROR(SetMeta(**image, "virt2rbd.state", "complete"));
  return r_.Log({{"event", "disk-copied"},     {"target", disk.disk.target},
                 {"image", disk.image},        {"digest", digest},
                 {"bytes_copied", copied->bytes_written}, {"bytes_zero", copied->bytes_zero},
                 {"seconds", copied->seconds}, {"verified", verified},
                 {"chunks_rechecked", copied->chunks_rechecked}, {"chunks_rewritten", copied->chunks_rewritten}});
}

Status Migration::StepCopy() {
  std::vector<const DiskPlan*> disks = plan_.Moving();
  InflightWindow window(opts_.in_flight, opts_.in_flight_bytes);  // shared by every disk
  buffers_ = std::make_unique<BufferPool>(kDefaultChunkSize);     // and so are the buffers
  if (opts_.bandwidth) rate_ = std::make_unique<RateLimiter>(opts_.bandwidth);
  ProgressCounters copy_progress, verify_progress;
  for (const DiskPlan* d : disks) copy_progress.total += d->size;
  verify_progress.total = copy_progress.total.load();
  PhaseObserver* obs = r_.observer();
  if (obs) obs->PhaseStarted("copy", copy_progress);
  Status st = ParallelFor(disks.size(), opts_.parallel_disks,
                          [&](size_t i) { return CopyOne(*disks[i], &window, &copy_progress); });
  if (obs) obs->PhaseEnded();
  if (!st.ok()) {
    DropReadbacks();
    return st;
  }
  if (obs) obs->PhaseStarted(opts_.verify ? "verify" : "record", verify_progress);
  st = ParallelFor(disks.size(), opts_.parallel_disks, [&](size_t i) { return VerifyOne(*disks[i], &verify_progress); });
  if (obs) obs->PhaseEnded();
  DropReadbacks();
  return st;
}

Status Migration::StepStart() {
  MigrationState ms = r_.State();
  if (!plan_.start_after || ms.started) return Status::Ok();
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "vm-start"}}));
  V2R_RETURN_IF_ERROR(FaultPoint("before-start"));
  auto state = r_.s.domain->State();
  if (state.ok() && ToRunState(*state) == RunState::kShutoff) V2R_RETURN_IF_ERROR(r_.s.domain->Start());
  V2R_RETURN_IF_ERROR(ConfirmOnRbd(r_, plan_));
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "vm-started"}}));
  return FaultPoint("after-start");
}

Status Migration::StartGuard() {
  DomainGuard::Text text{
      "on its original disks while they were being copied: what it wrote may be missing from the copy, so nothing "
      "was switched and the VM was left as it is",
      fmt::format("once {0} is shut off again, rerun the same command: every disk is checked against its source and "
                  "only the chunks that changed are copied again (or undo with virt2rbd rollback {0})",
                  plan_.domain)};
  auto g = DomainGuard::Start(r_.s.virt->uri(), plan_.uuid, plan_.domain, &halt_, r_.observer(), std::move(text));
  if (!g.ok()) return g.status();
  guard_ = std::move(*g);
  return guard_->Check();
}

Status Migration::GuardBeforeSwitch() {
  V2R_RETURN_IF_ERROR(guard_->WaitConnected(opts_.libvirt_timeout_s, r_.cancel()));
  V2R_RETURN_IF_ERROR(guard_->Check());
  if (guard_->TakeOutage())
    return Status::Interrupted(
        fmt::format("libvirt went away after the copy of {}: a start of the VM meanwhile would have gone unseen, so "
                    "nothing was switched", plan_.domain),
        "rerun the same command: every disk is checked against its source again before the switch");
  return Status::Ok();
}

Status Migration::RefuseRunningOnResume(const std::string& domain) {
  auto now = r_.s.domain->State();
  if (!now.ok()) return now.status();
  RunState rs = ToRunState(*now);
  if (rs == RunState::kShutoff || opts_.shutdown || opts_.force_off) return Status::Ok();
  return Status::Refused(
      fmt::format("domain {} is {}: it was started after this migration began, on its original disks", domain,
                  RunStateName(rs)),
      fmt::format("shut it down (virsh shutdown {}) and rerun, or rerun with --shutdown (and --force-off): every "
                  "disk is then checked against its source and only what changed is copied again; nothing was "
                  "undone", domain));
}

Status Migration::CopyUntilTrusted() {
  bool rechecked = recheck_;
  for (int pass = 0;; ++pass) {
    V2R_RETURN_IF_ERROR(StepCopy());
    V2R_RETURN_IF_ERROR(GuardCheck());
    if (!guard_->TakeOutage()) break;
    if (pass == 3)
      return Status::Interrupted("libvirt kept going away while the disks were copied",
                                 "rerun the same command once libvirtd is stable: the copy resumes");
    V2R_RETURN_IF_ERROR(guard_->WaitConnected(opts_.libvirt_timeout_s, r_.cancel()));
    if (r_.observer())
      r_.observer()->Warn("libvirt was away during the copy, so a start of the VM may have gone unseen: checking "
                          "every disk against its source again");
    recheck_ = rechecked = true;
  }
  if (!rechecked) return Status::Ok();
  return r_.Log({{"event", "rechecked"}});
}

// The steps of an offline migration once the VM is shut off; every failure
// goes through Fail.
Status Migration::Steps(bool resuming) {
  // From here until the switch, any start of the domain is noticed.
  V2R_RETURN_IF_ERROR(StartGuard());
  V2R_RETURN_IF_ERROR(r_.DisableAutostart());
  V2R_RETURN_IF_ERROR(EnsureUser(r_, plan_));
  V2R_RETURN_IF_ERROR(EnsureSecret(r_, plan_));
  V2R_RETURN_IF_ERROR(SaveDefinition(r_, plan_));
  V2R_RETURN_IF_ERROR(GuardCheck());
  recheck_ = resuming;
  V2R_RETURN_IF_ERROR(CopyUntilTrusted());
  if (r_.Cancelled()) return Status::Interrupted("interrupted");
  V2R_RETURN_IF_ERROR(r_.ReconnectLibvirt(opts_.libvirt_timeout_s));
  // Offline, before the switch, only our own runs wrote the images: a lock
  // still held is a killed run's, and would make the snapshot wait ~30 s.
  for (const DiskPlan* d : plan_.Moving()) {
    auto img = OpenOurImageForWriting(*r_.s.io, d->image);
    if (!img.ok()) return img.status();
  }
  V2R_RETURN_IF_ERROR(SnapshotImages(r_, plan_));
  V2R_RETURN_IF_ERROR(SwitchDefinition(r_, plan_, [this] { return GuardBeforeSwitch(); }));
  guard_.reset();  // switched: the VM may start now (we start it ourselves)
  V2R_RETURN_IF_ERROR(StepStart());
  return r_.RestoreAutostart();
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
    auto finished = FinishSwitched(ms, &report);
    if (!finished.ok() || *finished) return finished.ok() ? Result<MigrateReport>(report) : finished.status();
    ms.switch_intent = false;  // the define never happened: go through the steps again
  }

  if (resuming) V2R_RETURN_IF_ERROR(RefuseRunningOnResume(ms.domain));
  auto plan = PlanWith(r_.s, opts_, resuming ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  plan_ = std::move(*plan);
  if (!plan_.ok()) {
    // A resumed migration keeps what it did: the operator fixes the cause
    // and reruns, or rolls back.
    Status refused = RefusePlan(plan_);
    if (!resuming) return refused;
    return refused.WithHint(fmt::format("nothing was undone: fix it and rerun the same command, or undo with "
                                        "virt2rbd rollback {} --state-dir {}", ms.domain, opts_.state_dir));
  }
  if (!resuming) V2R_RETURN_IF_ERROR(r_.Log(BeginRecord(r_, plan_, opts_, /*live=*/false)));
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
  if (st.ok()) st = Steps(resuming);
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "completed"}}));
  report.plan = plan_;
  report.state = r_.State();
  report.message = fmt::format("domain {} migrated to RBD ({} disk{})", plan_.domain, plan_.Moving().size(),
                               plan_.Moving().size() == 1 ? "" : "s");
  return report;
}

// A rerun after a crash around the switch: when the definition is on RBD,
// finish from there (start, confirm) and return true.
Result<bool> Migration::FinishSwitched(const MigrationState& ms, MigrateReport* report) {
  V2R_RETURN_IF_ERROR(r_.ReconnectLibvirt(opts_.libvirt_timeout_s));
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
  if (!on_rbd) return false;
  if (!ms.switched)
    V2R_RETURN_IF_ERROR(r_.Log({{"event", "switched"}, {"xml_sha256", XmlDigest(*now)}, {"recovered", true}}));
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
  if (st.ok()) st = r_.RestoreAutostart();
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log({{"event", "completed"}}));
  report->plan = plan_;
  report->state = r_.State();
  report->message = fmt::format("domain {} resumed and finished: it runs on RBD", ms.domain);
  return true;
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
    auto records = Journal::ReadOnly(jpath);
    if (!records.ok()) return records.status();
    ms = FoldJournal(*records);
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
  if (opts.live) return RunLiveMigrate(opts, observer, cancel);  // live.cc
  Migration m(opts, observer, cancel);
  return m.Run();
}

}  // namespace v2r
