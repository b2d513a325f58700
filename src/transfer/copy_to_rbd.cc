#include "transfer/copy_to_rbd.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>

#include "base/units.h"
#include "ceph/cluster_api.h"
#include "copy/file_source.h"
#include "copy/rate_limiter.h"
#include "copy/readback.h"
#include "copy/hash_sink.h"

namespace v2r {

namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Runs one phase with its counters announced to the observer.
template <typename F>
auto InPhase(Observer* observer, const std::string& label, ProgressCounters& counters, F&& f) {
  if (observer) observer->PhaseStarted(label, counters);
  auto result = f();
  if (observer) observer->PhaseEnded();
  return result;
}

// Room, by the rule of migrate's plan: a file's data (its allocated bytes)
// must fit in the pool's free space and what its quota leaves, or the copy
// would block half way (librbd waits for ever on a full or over-quota pool).
// A block device's allocation is only an upper bound (its size, zeros are
// not copied): too big only warns.
Status CheckRoom(Cluster& cluster, const std::string& pool, const FileSource& source, Observer* observer) {
  auto space = cluster.GetPoolSpace(pool);
  if (!space.ok()) return space.status();
  uint64_t avail = space->usage_known ? space->max_avail : UINT64_MAX;  // no mgr: unknown, not "none"
  if (space->quota_max_bytes) {
    uint64_t left = space->quota_max_bytes > space->stored ? space->quota_max_bytes - space->stored : 0;
    avail = std::min(avail, left);
  }
  const char* what = space->quota_max_bytes ? "quota and free space" : "free space";
  if (!source.is_block_device() && source.allocated_bytes() > avail)
    return Status::Refused(
        fmt::format("pool '{}' has room for {} ({}) but {} holds {} of data", pool, FormatBytes(avail), what,
                    source.name(), FormatBytes(source.allocated_bytes())),
        space->quota_max_bytes
            ? fmt::format("raise the quota (ceph osd pool set-quota {} max_bytes N) or free space in the pool", pool)
            : "free space in the pool, or add OSDs");
  if (source.is_block_device() && source.size() > avail && observer)
    observer->Warn(fmt::format("pool '{}' has room for {} ({}); {} is {} (zeros are not copied, so it may well fit)",
                               pool, FormatBytes(avail), what, source.name(), FormatBytes(source.size())));
  return Status::Ok();
}

}  // namespace

Result<BlockHashes> HashImage(const ClusterOpener& open_cluster, const CephOptions& ceph, const ImageSpec& target,
                              const HashOptions& hopts, ProgressCounters* progress) {
  auto cluster = open_cluster(ceph, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  auto pool = (*cluster)->OpenPool(target.pool);
  if (!pool.ok()) return pool.status();
  auto image = (*pool)->OpenImage(target.image, /*read_only=*/true);
  if (!image.ok()) return image.status();
  return HashDisk(**image, hopts, progress);
}

namespace {

// One `virt2rbd copy`. Everything that can refuse runs before the image
// exists; from its creation on, a failure removes it (Cleanup), unless
// writes had to be abandoned (Abandon: nothing may be closed then).
class CopyToRbdRun {
 public:
  CopyToRbdRun(const CopyRequest& req, Observer* observer, const ClusterOpener& open_cluster)
      : req_(req), observer_(observer), open_cluster_(open_cluster) {}

  Result<CopyReport> Run() {
    V2R_RETURN_IF_ERROR(Preflight());
    V2R_RETURN_IF_ERROR(pool_->CreateImage(req_.target.image, source_->size()));
    CopyOptions copts = req_.copy;
    if (Status st = Prepare(&copts); !st.ok()) return Cleanup(st);
    ProgressCounters copy_progress;
    copy_progress.total = source_->size();
    bool abandoned = false;
    Result<CopyResult> copied = InPhase(observer_, "copy", copy_progress, [&] {
      return CopyDisk(*source_, *sink_, copts, &copy_progress, &abandoned);
    });
    if (abandoned) return Abandon(copied.status());
    sink_.reset();
    if (!copied.ok()) {
      readback_.reset();  // stopped, and its handle closed before the image goes
      return Cleanup(copied.status());
    }
    CopyReport report;
    report.source = req_.source;
    report.image = req_.target.ToString();
    report.size = copied->size;
    report.bytes_copied = copied->bytes_written;
    report.bytes_zero = copied->bytes_zero;
    report.seconds = copied->seconds;
    report.digest = copied->hashes.Digest();
    if (!req_.verify) return report;
    return Verify(copied->hashes, std::move(report));
  }

 private:
  Status Preflight() {
    auto source = FileSource::Open(req_.source);
    if (!source.ok()) return source.status();
    source_ = std::move(*source);
    auto cluster = open_cluster_(req_.ceph, kBulkIoConf);
    if (!cluster.ok()) return cluster.status();
    cluster_ = std::move(*cluster);
    auto pool = cluster_->OpenPool(req_.target.pool);
    if (!pool.ok()) return pool.status();
    pool_ = std::move(*pool);
    V2R_RETURN_IF_ERROR(pool_->CheckRbd());
    auto exists = pool_->ImageExists(req_.target.image);
    if (!exists.ok()) return exists.status();
    const std::string name = req_.target.ToString();
    if (*exists)
      return Status::Refused(fmt::format("image {} already exists", name),
                             fmt::format("choose another name, or remove it first: rbd rm {}", name))
          .WithCause(Cause::kExists);
    V2R_RETURN_IF_ERROR(CheckRoom(*cluster_, req_.target.pool, *source_, observer_));
    if (req_.cancel && req_.cancel->load()) return Status::Interrupted("interrupted before anything was created");
    return Status::Ok();
  }

  // The sink, the read-back that follows the copy, the rate limit.
  Status Prepare(CopyOptions* copts) {
    auto image = pool_->OpenImage(req_.target.image, /*read_only=*/false);
    if (!image.ok()) return image.status();
    sink_ = std::move(*image);
    copts->cancel = req_.cancel;
    copts->target_fresh = true;  // created just now
    V2R_RETURN_IF_ERROR(ResolveCopyOptions(*source_, *sink_, copts));
    // Verification follows the copy: a read-only handle hashes what the OSDs
    // hold, a span once the copy has flushed it, while later chunks are still
    // being written. What is left after the copy is about its last second.
    if (req_.verify) {
      auto rimage = pool_->OpenImage(req_.target.image, /*read_only=*/true);
      if (!rimage.ok()) return rimage.status();
      readback_ = std::make_unique<Readback>(std::move(*rimage), source_->size(), copts->chunk_size);
      Readback* rb = readback_.get();
      copts->on_durable = [rb](const std::vector<uint64_t>& chunks, const BlockHashes&) {
        rb->frontier.MarkDone(chunks);
        return Status::Ok();
      };
      rb->Start(req_.verify_threads, req_.cancel);
    }
    if (req_.bandwidth) {
      rate_ = std::make_unique<RateLimiter>(req_.bandwidth);
      copts->rate = rate_.get();
    }
    copts->on_stall_warning = [this](double s) {
      if (observer_)
        observer_->Warn(fmt::format("no write to {} completed for {:.0f} s: is the pool full or over quota, or the "
                                    "cluster unreachable? (ceph -s; ceph df)", req_.target.ToString(), s));
    };
    return Status::Ok();
  }

  Status Cleanup(const Status& st) {
    const std::string name = req_.target.ToString();
    Status rm = pool_->RemoveImage(req_.target.image);
    std::string what = rm.ok() ? fmt::format("the partial image {} was removed", name)
                               : fmt::format("removing the partial image {} failed too ({}): remove it with: rbd rm {}",
                                             name, rm.message(), name);
    Kind kind = st.kind() == Kind::kInterrupted ? Kind::kInterrupted : Kind::kFailed;
    std::string hint = st.kind() == Kind::kInterrupted ? "rerun the same command to copy again" : st.hint();
    return st.As(kind).Wrap(fmt::format("copy of {} to {}", req_.source, name))
        .WithHint(hint.empty() ? what : what + "; " + hint);
  }

  // librbd still owns writes in flight: the handles are never closed (that
  // would wait for ever) and the image cannot be removed now.
  Status Abandon(const Status& st) {
    req_.abandonment->Mark();
    if (readback_) readback_.release()->Abandon();
    (void)sink_.release();
    (void)pool_.release();  // leaked on purpose, with the cluster handle
    (void)cluster_.release();
    (void)rate_.release();
    const std::string name = req_.target.ToString();
    return st.As(Kind::kInterrupted)
        .Wrap(fmt::format("copy of {} to {}", req_.source, name))
        .WithHint(fmt::format("the partial image {} is left (its writes were abandoned); once the cluster is "
                              "healthy remove it (rbd rm {}) and copy again", name, name));
  }

  Result<CopyReport> Verify(const BlockHashes& copied, CopyReport report) {
    auto vstart = std::chrono::steady_clock::now();
    Result<BlockHashes> read = InPhase(observer_, "verify", readback_->progress, [&] { return readback_->Finish(); });
    readback_.reset();
    if (!read.ok()) return Cleanup(read.status());
    report.verify_seconds = Since(vstart);
    std::vector<Extent> diff = CompareHashes(copied, *read);
    if (!diff.empty())
      return Status::Mismatch(
          fmt::format("verification of {} against {} failed: {}", req_.target.ToString(), req_.source,
                      DescribeMismatch(diff)),
          fmt::format("the image was kept for inspection; remove it with: rbd rm {}", req_.target.ToString()));
    report.verified = true;
    return report;
  }

  const CopyRequest& req_;
  Observer* const observer_;
  const ClusterOpener& open_cluster_;
  // Destroyed in reverse: the rate limiter, read-back and sink before the
  // pool, the pool before the cluster.
  std::unique_ptr<FileSource> source_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<Image> sink_;
  std::unique_ptr<Readback> readback_;
  std::unique_ptr<RateLimiter> rate_;
};

}  // namespace

Result<CopyReport> CopyToRbd(const CopyRequest& req, Observer* observer, const ClusterOpener& open_cluster) {
  if (!req.abandonment) return Status::Internal("copy request without an abandonment flag");
  return CopyToRbdRun(req, observer, open_cluster).Run();
}

Status VerifyAgainstRbd(const VerifyRequest& req, Observer* observer, const ClusterOpener& open_cluster,
                        VerifyReport* report) {
  auto vstart = std::chrono::steady_clock::now();
  auto source = FileSource::Open(req.source);
  if (!source.ok()) return source.status();
  auto cluster = open_cluster(req.ceph, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  auto pool = (*cluster)->OpenPool(req.target.pool);
  if (!pool.ok()) return pool.status();
  auto image = (*pool)->OpenImage(req.target.image, /*read_only=*/true);
  if (!image.ok()) return image.status();
  report->source = req.source;
  report->image = req.target.ToString();
  report->size = (*source)->size();
  Image& image_source = **image;
  if (image_source.size() != (*source)->size()) {
    report->mismatches.push_back({0, std::max(image_source.size(), (*source)->size()), false});
    return Status::Mismatch(fmt::format("{} is {} bytes but {} is {} bytes", req.source, (*source)->size(),
                                        req.target.ToString(), image_source.size()));
  }

  // Both sides are read at once, each with its own threads; the phase shows
  // their mean, so it goes to the disk's size.
  ProgressCounters progress;
  progress.total = image_source.size();
  PairedProgress pair(&progress);
  HashOptions hopts;
  hopts.threads = req.threads;
  hopts.cancel = req.cancel;
  hopts.on_progress = [&pair] { pair.Sync(); };
  auto [src_hashes, img_hashes] = InPhase(observer, "verify", progress, [&] {
    auto from_image = std::async(std::launch::async, [&] { return HashDisk(image_source, hopts, pair.side(1)); });
    Result<BlockHashes> from_source = HashDisk(**source, hopts, pair.side(0));
    return std::make_pair(std::move(from_source), from_image.get());
  });
  if (!src_hashes.ok()) return src_hashes.status();
  if (!img_hashes.ok()) return img_hashes.status();
  report->digest = src_hashes->Digest();
  report->image_digest = img_hashes->Digest();
  report->mismatches = CompareHashes(*src_hashes, *img_hashes);
  report->seconds = Since(vstart);
  if (!report->mismatches.empty())
    return Status::Mismatch(fmt::format("{} differs from {}: {}", req.target.ToString(), req.source,
                                        DescribeMismatch(report->mismatches)));
  return Status::Ok();
}

}  // namespace v2r
