#include "ops/copy_to_rbd.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>

#include "base/units.h"
#include "base/abandon.h"
#include "ceph/admin.h"
#include "ceph/cluster.h"
#include "ceph/image.h"
#include "copy/file_source.h"
#include "copy/rate_limiter.h"
#include "ops/readback.h"
#include "copy/hasher.h"

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
Status CheckRoom(RadosCluster& cluster, const std::string& pool, const FileSource& source,
                 Observer* observer) {
  auto space = GetPoolSpace(cluster, pool);
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

Result<BlockHashes> HashImage(const CephOptions& ceph, const ImageSpec& target, const HashOptions& hopts,
                              ProgressCounters* progress) {
  auto cluster = RadosCluster::Connect(ceph, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  auto ioctx = (*cluster)->OpenPool(target.pool);
  if (!ioctx.ok()) return ioctx.status();
  auto image = RbdImage::Open(*ioctx, target.image, /*read_only=*/true);
  if (!image.ok()) return image.status();
  RbdSource source(std::move(*image));
  return HashSource(source, hopts, progress);
}

Result<CopyReport> CopyToRbd(const CopyRequest& req, Observer* observer) {
  // Everything that can refuse runs before the image exists.
  auto source = FileSource::Open(req.source);
  if (!source.ok()) return source.status();
  auto cluster = RadosCluster::Connect(req.ceph, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  auto ioctx = (*cluster)->OpenPool(req.target.pool);
  if (!ioctx.ok()) return ioctx.status();
  V2R_RETURN_IF_ERROR(CheckRbdPool(*ioctx));
  auto exists = ImageExists(*ioctx, req.target.image);
  if (!exists.ok()) return exists.status();
  if (*exists)
    return Status::Refused(fmt::format("image {} already exists", req.target.ToString()),
                           fmt::format("choose another name, or remove it first: rbd rm {}", req.target.ToString()));
  V2R_RETURN_IF_ERROR(CheckRoom(**cluster, req.target.pool, **source, observer));
  if (req.cancel && req.cancel->load())
    return Status::Interrupted("interrupted before anything was created");

  V2R_RETURN_IF_ERROR(CreateImage(*ioctx, req.target.image, (*source)->size()));
  // From here on, a failure removes the image this call created.
  auto cleanup = [&](const Status& st) -> Status {
    Status rm = RemoveImage(*ioctx, req.target.image);
    std::string what = rm.ok() ? fmt::format("the partial image {} was removed", req.target.ToString())
                               : fmt::format("removing the partial image {} failed too ({}): remove it with: rbd rm {}",
                                             req.target.ToString(), rm.message(), req.target.ToString());
    Kind kind = st.kind() == Kind::kInterrupted ? Kind::kInterrupted : Kind::kFailed;
    std::string hint = st.kind() == Kind::kInterrupted ? "rerun the same command to copy again" : st.hint();
    return st.As(kind).Wrap(fmt::format("copy of {} to {}", req.source, req.target.ToString()))
        .WithHint(hint.empty() ? what : what + "; " + hint);
  };

  auto image = RbdImage::Open(*ioctx, req.target.image, /*read_only=*/false);
  if (!image.ok()) return cleanup(image.status());
  auto sink = std::make_unique<RbdSink>(std::move(*image));

  CopyOptions copts = req.copy;
  copts.cancel = req.cancel;
  copts.target_fresh = true;  // created just now
  if (Status st = ResolveCopyOptions(**source, *sink, &copts); !st.ok()) return cleanup(st);
  // Verification follows the copy: a read-only handle hashes what the OSDs
  // hold, a span once the copy has flushed it, while later chunks are still
  // being written. What is left after the copy is about its last second.
  std::unique_ptr<Readback> readback;
  if (req.verify) {
    auto rimage = RbdImage::Open(*ioctx, req.target.image, /*read_only=*/true);
    if (!rimage.ok()) return cleanup(rimage.status());
    readback = std::make_unique<Readback>(std::move(*rimage), (*source)->size(), copts.chunk_size);
    Readback* rb = readback.get();
    copts.on_durable = [rb](const std::vector<uint64_t>& chunks, const BlockHashes&) {
      rb->frontier.MarkDone(chunks);
      return Status::Ok();
    };
    rb->Start(req.verify_threads, req.cancel);
  }
  std::unique_ptr<RateLimiter> rate;
  if (req.bandwidth) {
    rate = std::make_unique<RateLimiter>(req.bandwidth);
    copts.rate = rate.get();
  }
  copts.on_stall_warning = [observer, &req](double s) {
    if (observer)
      observer->Warn(fmt::format("no write to {} completed for {:.0f} s: is the pool full or over quota, or the "
                                 "cluster unreachable? (ceph -s; ceph df)", req.target.ToString(), s));
  };
  ProgressCounters copy_progress;
  copy_progress.total = (*source)->size();
  bool abandoned = false;
  Result<CopyResult> copied = InPhase(observer, "copy", copy_progress, [&] {
    return CopyDisk(**source, *sink, copts, &copy_progress, &abandoned);
  });
  if (abandoned) {
    // librbd still owns writes in flight: the handles are never closed (that
    // would wait for ever) and the image cannot be removed now.
    MarkAbandoned();
    if (readback) readback.release()->Abandon();
    (void)sink.release();
    (void)new IoCtx(std::move(*ioctx));  // leaked on purpose, with the cluster handle
    (void)(*cluster).release();
    (void)rate.release();
    return copied.status()
        .As(Kind::kInterrupted)
        .Wrap(fmt::format("copy of {} to {}", req.source, req.target.ToString()))
        .WithHint(fmt::format("the partial image {} is left (its writes were abandoned); once the cluster is "
                              "healthy remove it (rbd rm {}) and copy again",
                              req.target.ToString(), req.target.ToString()));
  }
  sink.reset();
  if (!copied.ok()) {
    readback.reset();  // stopped, and its handle closed before the image goes
    return cleanup(copied.status());
  }

  CopyReport report;
  report.source = req.source;
  report.image = req.target.ToString();
  report.size = copied->size;
  report.bytes_copied = copied->bytes_written;
  report.bytes_zero = copied->bytes_zero;
  report.seconds = copied->seconds;
  report.digest = copied->hashes.Digest();
  if (!req.verify) return report;

  auto vstart = std::chrono::steady_clock::now();
  Result<BlockHashes> read = InPhase(observer, "verify", readback->progress, [&] {
    return readback->Finish();
  });
  readback.reset();
  if (!read.ok()) return cleanup(read.status());
  report.verify_seconds = Since(vstart);
  std::vector<Extent> diff = CompareHashes(copied->hashes, *read);
  if (!diff.empty())
    return Status::Mismatch(
        fmt::format("verification of {} against {} failed: {}", req.target.ToString(), req.source,
                    DescribeMismatch(diff)),
        fmt::format("the image was kept for inspection; remove it with: rbd rm {}", req.target.ToString()));
  report.verified = true;
  return report;
}

Status VerifyAgainstRbd(const VerifyRequest& req, Observer* observer, VerifyReport* report) {
  auto vstart = std::chrono::steady_clock::now();
  auto source = FileSource::Open(req.source);
  if (!source.ok()) return source.status();
  auto cluster = RadosCluster::Connect(req.ceph, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  auto ioctx = (*cluster)->OpenPool(req.target.pool);
  if (!ioctx.ok()) return ioctx.status();
  auto image = RbdImage::Open(*ioctx, req.target.image, /*read_only=*/true);
  if (!image.ok()) return image.status();
  report->source = req.source;
  report->image = req.target.ToString();
  report->size = (*source)->size();
  RbdSource image_source(std::move(*image));
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
    auto from_image = std::async(std::launch::async, [&] { return HashSource(image_source, hopts, pair.side(1)); });
    Result<BlockHashes> from_source = HashSource(**source, hopts, pair.side(0));
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
