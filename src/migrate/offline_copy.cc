// The copy and verification of an offline migration's disks.
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <vector>

#include "base/fault.h"
#include "base/json_field.h"
#include "base/parallel.h"
#include "copy/checksum.h"
#include "copy/faulty_source.h"
#include "copy/file_source.h"
#include "migrate/disk_source.h"
#include "migrate/offline.h"
#include "migrate/rbd_source.h"
#include "qemu/export.h"
#include "migrate/steps.h"
#include "transfer/copy_to_rbd.h"

namespace v2r {

void OfflineMigration::DropReadbacks() {
  std::map<std::string, std::unique_ptr<Readback>> rbs;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    rbs.swap(readbacks_);
  }
  // After abandoned writes a read-back may hang on the same cluster: never
  // wait for one then (the process ends with _Exit).
  if (r_.abandonment().marked())
    for (auto& [t, rb] : rbs) rb.release()->Abandon();
}

Result<std::unique_ptr<CopyProgressFile>> OfflineMigration::ResumeDisk(const DiskPlan& disk, const std::string& progress_path,
                                                                const std::string& fingerprint, bool* resumed) {
  Pool& io = *r_.s.pool;
  const std::string& target = disk.disk.target;
  auto loaded = CopyProgressFile::Load(progress_path);
  auto image = io.OpenImage(disk.image, true);
  std::string why;
  if (!loaded.ok()) why = "no copy progress recorded";
  else if (!image.ok()) why = "the image is gone";
  else if (FingerprintIdentity((*loaded)->header().fingerprint) != FingerprintIdentity(fingerprint) ||
           (*loaded)->header().size != disk.size || (*loaded)->header().image != disk.image)
    why = "the source is another disk than the one the copy began from";
  else if ((*image)->size() != disk.size) why = "the image has another size";
  else {
    auto state = (*image)->GetMeta("virt2rbd.state");
    if (!state.ok() || !state->has_value() || (**state != "copying" && **state != "complete"))
      why = "the image is not marked as one being copied by virt2rbd";
  }
  if (why.empty()) {
    *resumed = true;
    V2R_RETURN_IF_ERROR(r_.Log(rec::CopyResume(target, (*loaded)->done_bytes(), recheck_)));
    return std::move(*loaded);
  }
  if (r_.observer()) r_.observer()->Warn(fmt::format("disk {}: copying again from the start: {}", target, why));
  if (image.ok()) image->reset();
  V2R_RETURN_IF_ERROR(RemoveOurImage(io, disk.image));
  V2R_RETURN_IF_ERROR(r_.Log(rec::ImageRemoved(target, disk.image, why)));
  return std::unique_ptr<CopyProgressFile>();
}

// Connections to an export: one per concurrent read of the engine's readers.
constexpr int kExportConnections = 4;

// The disk's source, journalled (OpenJournalledSource, steps.h).
Result<OpenedSource> OfflineMigration::OpenSource(const DiskPlan& disk, const DiskRecord* rec) {
  return OpenJournalledSource(r_, plan_.uuid, disk.disk, disk.read_path, rec, kExportConnections);
}

Result<OpenedSource> OfflineMigration::OpenRbdSource(const DiskPlan& disk, const DiskRecord* rec, std::string* snap) {
  const std::string& target = disk.disk.target;
  RbdSourceRef ref = RbdSourceRefOf(disk.disk);
  ref.other_cluster = disk.rbd_other_cluster;
  auto conn = ConnectRbdSource(r_.s.open_cluster, *r_.s.virt, r_.s.ceph, ref);
  if (!conn.ok()) return conn.status().Wrap(fmt::format("disk {}", target));
  {
    // Offline only: nothing may have it open read-write (the VM is stopped).
    auto head = conn->pool->OpenImage(ref.image, /*read_only=*/true);
    if (!head.ok()) return head.status().Wrap(fmt::format("disk {}", target));
    auto watchers = (*head)->Watchers();
    if (!watchers.ok()) return watchers.status();
    if (!watchers->empty())
      return Status::Refused(fmt::format("disk {}: RBD image {} is open read-write by {}: an RBD source is copied "
                                         "only while nothing uses it",
                                         target, ref.Name(), fmt::join(*watchers, ", ")),
                             "stop the VM or client that uses it, then migrate again");
  }
  if (rec && rec->source_snapshot) {
    *snap = JsonField<std::string>(rec->source_snapshot_at, "snap", "");
  } else {
    *snap = SourceSnapshotName(plan_.uuid, static_cast<int64_t>(::time(nullptr)));
    rec::SourceSnapshotAt at{target,   ref.Name(),      *snap, {}, ref.user, ref.secret_uuid, ref.secret_usage,
                             ref.other_cluster};
    for (const auto& h : ref.hosts) at.hosts.push_back(MonHostOption({h}));
    V2R_RETURN_IF_ERROR(r_.Log(rec::SourceSnapshot(at)));
  }
  {
    // A snapshot is metadata: the image's data is never written.
    auto rw = conn->pool->OpenImage(ref.image, /*read_only=*/false);
    if (!rw.ok()) return rw.status().Wrap(fmt::format("disk {}: taking a snapshot of {}", target, ref.Name()));
    V2R_RETURN_IF_ERROR((*rw)->CreateSnapshot(*snap));
  }
  auto src = OpenRbdSourceAtSnapshot(std::move(*conn), ref.image, *snap);
  if (!src.ok()) return src.status().Wrap(fmt::format("disk {}", target));
  OpenedSource o;
  o.fingerprint = fmt::format("rbd:{}@{}:size={}", ref.Name(), *snap, (*src)->size());
  o.read_path = disk.read_path;
  o.source = std::move(*src);
  return o;
}

Status OfflineMigration::FinishRbdSource(const DiskPlan& disk, const std::string& snap) {
  const std::string& target = disk.disk.target;
  RbdSourceRef ref = RbdSourceRefOf(disk.disk);
  ref.other_cluster = disk.rbd_other_cluster;
  auto conn = ConnectRbdSource(r_.s.open_cluster, *r_.s.virt, r_.s.ceph, ref);
  if (!conn.ok()) return conn.status().Wrap(fmt::format("disk {}", target));
  auto image = conn->pool->OpenImage(ref.image, /*read_only=*/false);
  if (!image.ok()) return image.status().Wrap(fmt::format("disk {}", target));
  auto changed = (*image)->ChangedBytesSince(snap);
  if (!changed.ok()) return changed.status().Wrap(fmt::format("disk {}: comparing {} with {}", target, ref.Name(), snap));
  V2R_RETURN_IF_ERROR((*image)->RemoveSnapshot(snap));
  V2R_RETURN_IF_ERROR(r_.Log(rec::SourceSnapshotRemoved(target, *changed ? "the image changed" : "copied")));
  if (*changed)
    return Status::SourceChanged(fmt::format("disk {}: RBD image {} was written during the copy ({} bytes since its "
                                             "snapshot): the copy is not switched to",
                                             target, ref.Name(), *changed),
                                 "stop whatever writes it and migrate again (the copy starts over)");
  return Status::Ok();
}

Result<OfflineMigration::DiskCopy> OfflineMigration::PrepareDisk(const DiskPlan& disk, const DiskRecord* rec) {
  const std::string& target = disk.disk.target;
  Pool& io = *r_.s.pool;
  std::string source_snapshot;
  auto opened = disk.disk.type == "network" ? OpenRbdSource(disk, rec, &source_snapshot) : OpenSource(disk, rec);
  if (!opened.ok()) return opened.status();
  auto& src = opened->source;
  if (src->size() != disk.size)
    return Status::Failed(fmt::format("source {} changed size since planning ({} -> {} bytes)", disk.disk.source,
                                      disk.size, src->size()));
  const std::string* fingerprint = &opened->fingerprint;
  std::string progress_path = r_.dir->DomainDir(plan_.uuid) + "/copy-" + target + ".progress";
  DiskCopy c;
  // Resume what an earlier run left, when it is safe to.
  if (rec && rec->created) {
    auto loaded = ResumeDisk(disk, progress_path, *fingerprint, &c.resumed);
    if (!loaded.ok()) return loaded.status();
    c.done = std::move(*loaded);
  } else if (rec && rec->create_intent) {
    // Created or not before a crash: start clean.
    V2R_RETURN_IF_ERROR(RemoveOurImage(io, disk.image));
    V2R_RETURN_IF_ERROR(r_.Log(rec::ImageRemoved(target, disk.image, "creation was interrupted")));
  }
  c.source = std::move(src);
  c.exported = opened->export_pid != 0;
  c.source_snapshot = source_snapshot;
  if (auto off = InjectedReadError(target)) c.source = std::make_unique<FaultySource>(std::move(c.source), *off);
  if (!c.resumed) {
    V2R_RETURN_IF_ERROR(r_.Log(rec::ImageCreate(target, disk.image)));
    V2R_RETURN_IF_ERROR(io.CreateImage(disk.image, disk.size));
    V2R_RETURN_IF_ERROR(r_.Log(rec::ImageCreated(target, disk.image)));
    V2R_RETURN_IF_ERROR(FaultPoint("after-image-create"));
  }
  auto image = c.resumed ? OpenOurImageForWriting(io, disk.image) : io.OpenImage(disk.image, false);
  if (!image.ok()) return image.status();
  c.sink = std::move(*image);
  if (c.resumed && recheck_ && rec->snapshot) {
    // The rollback point may be taken again of chunks the recheck rewrites.
    V2R_RETURN_IF_ERROR(c.sink->RemoveSnapshot(kSwitchSnapshot));
    V2R_RETURN_IF_ERROR(r_.Log(rec::SnapshotRemoved(target, "rechecked")));
  }
  if (!c.resumed) {
    V2R_RETURN_IF_ERROR(c.sink->SetMeta("virt2rbd.state", "copying"));
    V2R_RETURN_IF_ERROR(c.sink->SetMeta("virt2rbd.source", disk.disk.source));
    CopyProgressHeader h{disk.image, disk.disk.source, *fingerprint, disk.size,
                         std::max<uint64_t>(c.sink->object_size(), kHashBlock)};
    auto created = CopyProgressFile::Create(progress_path, h);
    if (!created.ok()) return created.status();
    c.done = std::move(*created);
  }
  return c;
}

// --verify full: the image is read back while it is copied, a range once
// flushed (and the chunks a resumed copy had done, at once, unless they are
// rechecked: then each once found unchanged or rewritten and flushed). The
// disks share four reader threads.
Result<std::unique_ptr<Readback>> OfflineMigration::StartReadback(const DiskPlan& disk, const DiskCopy& c) {
  auto rimage = r_.s.pool->OpenImage(disk.image, /*read_only=*/true);
  if (!rimage.ok()) return rimage.status();
  auto readback = std::make_unique<Readback>(std::move(*rimage), disk.size, c.done->header().chunk_size);
  std::vector<uint64_t> before;
  for (uint64_t i = 0; i < c.done->done().size() && !(c.resumed && recheck_); ++i)
    if (c.done->done()[i]) before.push_back(i);
  readback->frontier.MarkDone(before);
  int disks = std::max<int>(1, std::min<int>(opts_.parallel_disks, static_cast<int>(plan_.Moving().size())));
  readback->Start(std::max(1, 4 / disks), r_.cancel());
  return readback;
}

CopyOptions OfflineMigration::CopyOptionsFor(const std::string& target, const DiskCopy& c, Readback* readback) {
  CopyOptions copts;
  copts.chunk_size = c.done->header().chunk_size;
  copts.max_requests = opts_.in_flight;
  copts.max_bytes = opts_.in_flight_bytes;
  copts.cancel = r_.cancel();
  copts.halt = &halt_;
  copts.shared_window = &budget_->window;
  copts.buffer_pool = &budget_->buffers;
  copts.rate = budget_->rate.get();
  copts.target_fresh = !c.resumed;
  copts.done_chunks = &c.done->done();
  copts.initial_hashes = &c.done->hashes();
  copts.recheck_done = c.resumed && recheck_;
  copts.durable_interval_s = opts_.durable_interval_s;
  CopyProgressFile* file = c.done.get();
  DurableFrontier* frontier = readback ? &readback->frontier : nullptr;
  if (frontier) copts.on_unchanged = [frontier](uint64_t chunk) { frontier->MarkDone({chunk}); };
  std::atomic<int>* records = &progress_records_;
  copts.on_durable = [file, frontier, records](const std::vector<uint64_t>& chunks, const BlockHashes& hashes) {
    // Fault point between the flush and the record: "progress-record-N" is
    // the Nth record of this run (several disks count together).
    V2R_RETURN_IF_ERROR(FaultPoint(fmt::format("progress-record-{}", ++*records)));
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
  return copts;
}

// Copies one disk, resuming from its progress file when this migration
// created the image before and the source is the same disk: chunks recorded
// as durable are read again and rewritten only if they changed, every other
// chunk is written (zeros included: a resumed image is not fresh).
Status OfflineMigration::CopyOne(const DiskPlan& disk, ProgressCounters* progress) {
  const std::string& target = disk.disk.target;
  MigrationState ms = r_.State();
  const DiskRecord* rec = ms.Disk(target);
  if (rec && rec->copied && !recheck_) {
    progress->done += disk.size;
    return Status::Ok();
  }
  auto prepared = PrepareDisk(disk, rec);
  if (!prepared.ok()) return prepared.status();
  DiskCopy& c = *prepared;
  std::unique_ptr<Readback> readback;
  if (opts_.verify) {
    auto started = StartReadback(disk, c);
    if (!started.ok()) return started.status();
    readback = std::move(*started);
  }
  bool abandoned = false;
  auto copied = CopyDisk(*c.source, *c.sink, CopyOptionsFor(target, c, readback.get()), progress, &abandoned);
  if (abandoned) {
    // librbd still owns writes in flight: never close these handles.
    r_.abandonment().Mark();
    (void)c.sink.release();
    (void)c.done.release();
    (void)own_budget_.release();  // (their completions would put buffers back)
    if (readback) readback.release()->Abandon();
    r_.s.Abandon();
  }
  if (!copied.ok()) {
    // Another disk's writes abandoned: this read-back may hang on the same cluster.
    if (readback && r_.abandonment().marked()) readback.release()->Abandon();
    return copied.status().Wrap(fmt::format("disk {}", target));
  }
  V2R_RETURN_IF_ERROR(CloseJournalledSource(r_, target, &c.source, c.exported));
  if (!c.source_snapshot.empty()) {
    c.source.reset();  // the source's connection closes with it
    V2R_RETURN_IF_ERROR(FinishRbdSource(disk, c.source_snapshot));
  }
  V2R_RETURN_IF_ERROR(FaultPoint("after-copy"));
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

Status OfflineMigration::VerifyOne(const DiskPlan& disk, ProgressCounters* progress) {
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
    // What the read-back hashed, data and holes apart, then the disk as done.
    progress->written += readback->progress.written.load();
    progress->zero += readback->progress.zero.load();
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
  auto image = OpenOurImageForWriting(*r_.s.pool, disk.image);
  if (!image.ok()) return image.status();
  std::string digest = copied->hashes.Digest();
  V2R_RETURN_IF_ERROR((*image)->SetMeta("virt2rbd.digest", digest));
  V2R_RETURN_IF_ERROR((*image)->SetMeta("virt2rbd.state", "complete"));
  return r_.Log(rec::DiskCopiedRecord({.target = disk.disk.target, .image = disk.image, .digest = digest,
                                        .bytes_copied = copied->bytes_written, .bytes_zero = copied->bytes_zero,
                                        .seconds = copied->seconds, .verified = verified,
                                        .chunks_rechecked = copied->chunks_rechecked,
                                        .chunks_rewritten = copied->chunks_rewritten, .how = {}}));
}

// Runs on the control stream's reader thread: the limiter and the
// observers are thread-safe. A budget shared with other runs without a
// limiter cannot be slowed: said once.
RunControl::Listener OfflineMigration::ControlledRate() {
  return [this, warned = false](uint64_t bytes_per_s) mutable {
    Observer* obs = r_.observer();
    if (!budget_->rate) {
      if (!warned && obs) obs->Warn("the copy rate cannot be changed: this run shares an unlimited budget");
      warned = true;
      return;
    }
    budget_->rate->SetRate(bytes_per_s);
    if (obs) obs->BandwidthApplied(bytes_per_s);
  };
}

Status OfflineMigration::StepCopy() {
  std::vector<const DiskPlan*> disks = plan_.Moving();
  budget_ = r_.context().budget;
  RunControl* control = r_.context().control;
  if (!budget_) {
    own_budget_ = std::make_unique<CopyBudget>(opts_.in_flight, opts_.in_flight_bytes, opts_.bandwidth,
                                               kDefaultChunkSize, /*changeable_rate=*/control != nullptr);
    budget_ = own_budget_.get();
  }
  // The orchestrator's rate, from now until the copies and read-backs end.
  std::optional<RunControl::Listen> listen;
  if (control) listen.emplace(control, ControlledRate());
  ProgressCounters copy_progress, verify_progress;
  for (const DiskPlan* d : disks) copy_progress.total += d->size;
  verify_progress.total = copy_progress.total.load();
  Observer* obs = r_.observer();
  if (obs) obs->PhaseStarted("copy", copy_progress);
  Status st = ParallelFor(disks.size(), opts_.parallel_disks,
                          [&](size_t i) { return CopyOne(*disks[i], &copy_progress); });
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

}  // namespace v2r
