#include "copy/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "copy/buffer.h"
#include "copy/window.h"
#include "copy/zero.h"

namespace v2r {

namespace {

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Shared by reader threads and completion callbacks of one CopyDisk call.
class CopyRun {
 public:
  CopyRun(Source& src, Sink& dst, const CopyOptions& opts, ProgressCounters* progress)
      : src_(src), dst_(dst), opts_(opts), progress_(progress),
        window_(opts.max_requests, opts.max_bytes),
        pool_(RoundUp(opts.chunk_size, 4096)),
        chunks_((src.size() + opts.chunk_size - 1) / opts.chunk_size),
        result_{src.size(), 0, 0, 0, BlockHashes(src.size())} {}

  Result<CopyResult> Run();

 private:
  // One chunk with writes in flight: owns its buffer until the last ends.
  struct Chunk {
    uint64_t offset = 0;
    uint64_t length = 0;
    AlignedBuffer buf;
    std::atomic<int> pending{0};
  };

  void ReaderLoop();
  Status CopyChunk(uint64_t index);
  void Issue(const std::shared_ptr<Chunk>& chunk, const Extent& run, bool zero);
  void OpDone(const std::shared_ptr<Chunk>& chunk, uint64_t length, bool zero, Status st);
  void ChunkDone(const std::shared_ptr<Chunk>& chunk);
  void Fail(Status st);
  bool Stopping() const;

  Source& src_;
  Sink& dst_;
  const CopyOptions opts_;
  ProgressCounters* progress_;
  InflightWindow window_;  // this disk's chunks in flight (drained before returning)
  BufferPool pool_;
  const uint64_t chunks_;
  std::atomic<uint64_t> next_chunk_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mu_;
  Status first_error_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> zero_{0};
  CopyResult result_;
};

bool CopyRun::Stopping() const {
  return stop_.load() || (opts_.cancel && opts_.cancel->load());
}

void CopyRun::Fail(Status st) {
  std::lock_guard<std::mutex> lock(error_mu_);
  if (first_error_.ok()) first_error_ = std::move(st);
  stop_.store(true);
}

void CopyRun::ChunkDone(const std::shared_ptr<Chunk>& chunk) {
  uint64_t len = chunk->length;
  if (chunk->buf) pool_.Put(std::move(chunk->buf));
  window_.Release(len);
  if (opts_.shared_window) opts_.shared_window->Release(len);
}

void CopyRun::OpDone(const std::shared_ptr<Chunk>& chunk, uint64_t length, bool zero, Status st) {
  if (!st.ok()) {
    Fail(st);
  } else {
    (zero ? zero_ : written_) += length;
    if (progress_) {
      progress_->done += length;
      (zero ? progress_->zero : progress_->written) += length;
    }
  }
  if (chunk->pending.fetch_sub(1) == 1) ChunkDone(chunk);
}

void CopyRun::Issue(const std::shared_ptr<Chunk>& chunk, const Extent& run, bool zero) {
  chunk->pending.fetch_add(1);
  auto done = [this, chunk, len = run.length, zero](Status st) { OpDone(chunk, len, zero, std::move(st)); };
  if (zero) {
    dst_.WriteZeroes(run.offset, run.length, std::move(done));
  } else {
    dst_.Write(run.offset, chunk->buf.get() + (run.offset - chunk->offset), run.length, std::move(done));
  }
}

Status CopyRun::CopyChunk(uint64_t index) {
  const uint64_t off = index * opts_.chunk_size;
  const uint64_t len = std::min<uint64_t>(opts_.chunk_size, src_.size() - off);
  const ZeroAction zero_action = ZeroPolicy(opts_.target_fresh);
  const uint64_t first_block = off / kHashBlock;
  const uint64_t last_block = (off + len + kHashBlock - 1) / kHashBlock;

  Result<std::vector<Extent>> extents = src_.Extents(off, len);
  if (!extents.ok()) return extents.status();
  bool all_hole = std::all_of(extents->begin(), extents->end(), [](const Extent& e) { return e.zero; });

  if (opts_.shared_window && !opts_.shared_window->Acquire(len, stop_)) return Status::Ok();
  if (!window_.Acquire(len, stop_)) {
    if (opts_.shared_window) opts_.shared_window->Release(len);
    return Status::Ok();
  }
  auto chunk = std::make_shared<Chunk>();
  chunk->offset = off;
  chunk->length = len;
  chunk->pending = 1;  // held by this function until every op is issued

  std::vector<Extent> runs;
  if (all_hole) {
    result_.hashes.SetZero(first_block, last_block);
    runs.push_back({off, len, true});
  } else {
    chunk->buf = pool_.Get();
    Status st = src_.Read(off, chunk->buf.get(), len);
    if (!st.ok()) {
      ChunkDone(chunk);
      return st;
    }
    runs = SplitZeroRuns(chunk->buf.get(), off, len, opts_.zero_granularity);
    // Hash each 4 MiB block; blocks inside one zero run need no hashing.
    for (uint64_t b = first_block; b < last_block; ++b) {
      uint64_t bstart = b * kHashBlock;
      uint64_t blen = result_.hashes.BlockLength(b);
      bool zero_block = std::any_of(runs.begin(), runs.end(), [&](const Extent& r) {
        return r.zero && r.offset <= bstart && r.end() >= bstart + blen;
      });
      result_.hashes.Set(b, zero_block ? ZeroHash(blen)
                                       : HashBytes(chunk->buf.get() + (bstart - off), blen));
    }
  }

  for (const Extent& run : runs) {
    if (Stopping()) break;
    if (!run.zero) {
      Issue(chunk, run, false);
    } else if (zero_action == ZeroAction::kWriteZeroes) {
      Issue(chunk, run, true);
    } else {
      zero_ += run.length;
      if (progress_) {
        progress_->done += run.length;
        progress_->zero += run.length;
      }
    }
  }
  if (chunk->pending.fetch_sub(1) == 1) ChunkDone(chunk);
  return Status::Ok();
}

void CopyRun::ReaderLoop() {
  while (!Stopping()) {
    uint64_t index = next_chunk_.fetch_add(1);
    if (index >= chunks_) return;
    Status st = CopyChunk(index);
    if (!st.ok()) {
      Fail(st);
      return;
    }
  }
}

Result<CopyResult> CopyRun::Run() {
  auto start = std::chrono::steady_clock::now();
  int readers = std::max(1, opts_.readers);
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) threads.emplace_back([this] { ReaderLoop(); });
  for (auto& t : threads) t.join();
  window_.WaitIdle();  // drain: every issued op has completed

  if (first_error_.ok() && opts_.cancel && opts_.cancel->load())
    first_error_ = Status::Interrupted(fmt::format("copy to {} interrupted", dst_.name()));
  if (first_error_.ok()) {
    // Make it durable before reporting success.
    std::mutex mu;
    std::condition_variable cv;
    bool flushed = false;
    Status flush_status;
    dst_.Flush([&](Status st) {
      std::lock_guard<std::mutex> lock(mu);
      flush_status = std::move(st);
      flushed = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return flushed; });
    if (!flush_status.ok()) first_error_ = flush_status;
  }
  if (!first_error_.ok()) return first_error_;

  result_.bytes_written = written_.load();
  result_.bytes_zero = zero_.load();
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::move(result_);
}

}  // namespace

Status ResolveCopyOptions(const Source& src, const Sink& dst, CopyOptions* opts) {
  if (dst.size() != src.size())
    return Status::Refused(fmt::format("{} is {} bytes but {} is {} bytes", src.name(), src.size(),
                                       dst.name(), dst.size()));
  uint64_t obj = std::max<uint64_t>(dst.object_size(), 1);
  if (opts->chunk_size == 0) opts->chunk_size = std::max<uint64_t>(obj, kHashBlock);
  if (opts->chunk_size % kHashBlock != 0 || opts->chunk_size % obj != 0)
    return Status::Usage(fmt::format("chunk size {} must be a multiple of 4 MiB and of the object size {}",
                                     opts->chunk_size, obj));
  if (opts->zero_granularity == 0 || opts->zero_granularity % 512 != 0)
    return Status::Usage("zero granularity must be a positive multiple of 512 bytes");
  if (opts->max_requests == 0) return Status::Usage("in-flight request count must be at least 1");
  if (opts->readers < 1) return Status::Usage("reader thread count must be at least 1");
  return Status::Ok();
}

Result<CopyResult> CopyDisk(Source& src, Sink& dst, CopyOptions opts, ProgressCounters* progress) {
  V2R_RETURN_IF_ERROR(ResolveCopyOptions(src, dst, &opts));
  CopyRun run(src, dst, opts, progress);
  return run.Run();
}

}  // namespace v2r
