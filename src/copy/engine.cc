#include "copy/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "copy/buffer.h"
#include "copy/window.h"
#include "copy/zero.h"

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Shared by reader threads, completion callbacks, the flusher and the
// watchdog of one CopyDisk call. Heap-allocated; leaked on purpose when
// writes are abandoned (their callbacks still point here).
class CopyRun {
 public:
  CopyRun(Source& src, Sink& dst, const CopyOptions& opts, ProgressCounters* progress)
      : src_(src), dst_(dst), opts_(opts), progress_(progress), caps_(dst.capabilities()),
        ordered_(opts.readable || opts.map_window > opts.chunk_size),
        window_(opts.max_requests, opts.max_bytes),
        own_pool_(RoundUp(opts.chunk_size, 4096)),
        pool_(opts.buffer_pool && opts.buffer_pool->buffer_size() == RoundUp(opts.chunk_size, 4096)
                  ? opts.buffer_pool
                  : &own_pool_),
        chunks_((src.size() + opts.chunk_size - 1) / opts.chunk_size),
        result_{src.size(), 0, 0, 0, 0, 0, 0, BlockHashes(src.size())} {}

  Result<CopyResult> Run();
  bool abandoned() const { return abandoned_.load(); }

 private:
  // One chunk with writes in flight: owns its buffer until the last ends.
  struct Chunk {
    uint64_t index = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    AlignedBuffer buf;
    std::atomic<int> pending{0};
  };

  // A chunk read from the source: its zero/data runs, its data (none when
  // the source map says it is a hole) and the hashes of its blocks.
  struct ReadChunkData {
    uint64_t index = 0, offset = 0, length = 0;
    std::vector<Extent> runs;
    AlignedBuffer buf;
    std::vector<Hash128> hashes;  // of blocks first_block.. in order
  };

  void ReaderLoop();
  // The next chunk to work on; false when none is left. `ext` is set (the
  // chunk's map) when chunks are claimed in order (ordered_).
  Result<bool> Claim(uint64_t* index, std::vector<Extent>* ext);
  // Asks the source's map for the window from `off`, up to `limit`.
  Status QueryWindow(uint64_t off, uint64_t limit);
  std::vector<Extent> WindowSlice(uint64_t off, uint64_t len);
  // `ext`: the chunk's map if known already (else it is asked).
  Status ReadChunk(uint64_t index, const std::vector<Extent>* ext, ReadChunkData* c);
  Status CopyChunk(uint64_t index, const std::vector<Extent>* ext);
  Status RecheckChunk(uint64_t index, const std::vector<Extent>* ext);
  // Adds to the progress counters: `len` bytes done, data or zero (or
  // neither: a chunk resumed or found unchanged).
  enum class Counted { kData, kZero, kDoneOnly };
  void Count(uint64_t len, Counted as);
  // Writes a chunk read by ReadChunk (its hashes recorded already).
  void WriteChunk(ReadChunkData c);
  void SetHashes(const ReadChunkData& c);
  void Issue(const std::shared_ptr<Chunk>& chunk, const Extent& run, bool zero);
  void OpDone(const std::shared_ptr<Chunk>& chunk, uint64_t length, bool zero, Status st);
  void ChunkDone(const std::shared_ptr<Chunk>& chunk);
  void Fail(Status st);
  bool Stopping() const;
  void Progressed();  // for the watchdog: something completed now

  // Flushes the sink and reports the chunks completed before the flush.
  Status FlushAndReport();
  Status FlushSink();
  void FlusherLoop();
  void WatchdogLoop();

  Source& src_;
  Sink& dst_;
  const CopyOptions opts_;
  ProgressCounters* progress_;
  const SinkCapabilities caps_;  // asked once
  const bool ordered_;           // chunks claimed in order (Claim)
  InflightWindow window_;  // this disk's chunks in flight (drained before returning)
  BufferPool own_pool_;
  BufferPool* pool_;  // own_pool_, or the one shared by the disks of a run
  const uint64_t chunks_;
  std::atomic<uint64_t> next_chunk_{0};
  // Ordered claims: the map of [map_off_, map_end_), walked from map_pos_.
  std::mutex map_mu_;
  std::vector<Extent> map_;
  uint64_t map_off_ = 0, map_end_ = 0;
  size_t map_pos_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> abandoned_{false};
  std::mutex error_mu_;
  Status first_error_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> zero_{0};
  std::atomic<uint64_t> rechecked_{0}, rewritten_{0}, unchanged_bytes_{0};
  CopyResult result_;

  // Chunks whose writes all completed, not yet flushed and reported.
  std::mutex completed_mu_;
  std::vector<uint64_t> completed_;

  // For the flusher and watchdog threads.
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool readers_done_ = false;
  std::atomic<int64_t> last_progress_ns_{0};
};

bool CopyRun::Stopping() const {
  return stop_.load() || (opts_.cancel && opts_.cancel->load()) || (opts_.halt && opts_.halt->load());
}

void CopyRun::Fail(Status st) {
  std::lock_guard<std::mutex> lock(error_mu_);
  if (first_error_.ok()) first_error_ = std::move(st);
  stop_.store(true);
}

void CopyRun::Progressed() { last_progress_ns_.store(Clock::now().time_since_epoch().count()); }

void CopyRun::Count(uint64_t len, Counted as) {
  if (!progress_) return;
  progress_->done += len;
  if (as == Counted::kData) progress_->written += len;
  if (as == Counted::kZero) progress_->zero += len;
  if (opts_.on_progress) opts_.on_progress();
}

void CopyRun::ChunkDone(const std::shared_ptr<Chunk>& chunk) {
  uint64_t len = chunk->length;
  if (chunk->buf) pool_->Put(std::move(chunk->buf));
  {
    std::lock_guard<std::mutex> lock(completed_mu_);
    completed_.push_back(chunk->index);
  }
  window_.Release(len);
  if (opts_.shared_window) opts_.shared_window->Release(len);
}

void CopyRun::OpDone(const std::shared_ptr<Chunk>& chunk, uint64_t length, bool zero, Status st) {
  if (!st.ok()) {
    Fail(st);
    // A failed chunk is not complete: it must never be reported as durable.
    if (chunk->pending.fetch_sub(1) == 1) {
      if (chunk->buf) pool_->Put(std::move(chunk->buf));
      window_.Release(chunk->length);
      if (opts_.shared_window) opts_.shared_window->Release(chunk->length);
    }
    return;
  }
  (zero ? zero_ : written_) += length;
  Progressed();
  Count(length, zero ? Counted::kZero : Counted::kData);
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

Status CopyRun::ReadChunk(uint64_t index, const std::vector<Extent>* ext, ReadChunkData* c) {
  c->index = index;
  c->offset = index * opts_.chunk_size;
  c->length = std::min<uint64_t>(opts_.chunk_size, src_.size() - c->offset);
  const uint64_t off = c->offset, len = c->length;
  const uint64_t first_block = off / kHashBlock;
  const uint64_t last_block = (off + len + kHashBlock - 1) / kHashBlock;

  Result<std::vector<Extent>> extents = ext ? Result<std::vector<Extent>>(*ext) : src_.Extents(off, len);
  if (!extents.ok()) return extents.status();
  bool all_hole = std::all_of(extents->begin(), extents->end(), [](const Extent& e) { return e.zero; });
  if (all_hole) {
    for (uint64_t b = first_block; b < last_block; ++b) c->hashes.push_back(ZeroHash(result_.hashes.BlockLength(b)));
    c->runs.push_back({off, len, true});
    return Status::Ok();
  }
  c->buf = pool_->Get();
  Status st = src_.Read(off, c->buf.get(), len);
  if (!st.ok()) {
    pool_->Put(std::move(c->buf));
    return st;
  }
  if (caps_.split_zeros)
    c->runs = SplitZeroRuns(c->buf.get(), off, len, opts_.zero_granularity);
  else
    c->runs.push_back({off, len, false});
  // Hash each 4 MiB block; blocks inside one zero run need no hashing.
  for (uint64_t b = first_block; b < last_block; ++b) {
    uint64_t bstart = b * kHashBlock;
    uint64_t blen = result_.hashes.BlockLength(b);
    bool zero_block = std::any_of(c->runs.begin(), c->runs.end(), [&](const Extent& r) {
      return r.zero && r.offset <= bstart && r.end() >= bstart + blen;
    });
    c->hashes.push_back(zero_block ? ZeroHash(blen) : HashBytes(c->buf.get() + (bstart - off), blen));
  }
  return Status::Ok();
}

void CopyRun::SetHashes(const ReadChunkData& c) {
  uint64_t b = c.offset / kHashBlock;
  for (const Hash128& h : c.hashes) result_.hashes.Set(b++, h);
}

// Read (and scan and hash) before taking a place in the in-flight window:
// the read of the next chunk then overlaps the writes in flight instead of
// holding a place idle while the disk answers. Buffers alive stay bounded:
// the window's chunks plus one per reader.
Status CopyRun::CopyChunk(uint64_t index, const std::vector<Extent>* ext) {
  ReadChunkData c;
  V2R_RETURN_IF_ERROR(ReadChunk(index, ext, &c));
  SetHashes(c);
  WriteChunk(std::move(c));
  return Status::Ok();
}

Status CopyRun::RecheckChunk(uint64_t index, const std::vector<Extent>* ext) {
  ReadChunkData c;
  V2R_RETURN_IF_ERROR(ReadChunk(index, ext, &c));
  rechecked_ += 1;
  bool same = true;
  uint64_t b = c.offset / kHashBlock;
  for (const Hash128& h : c.hashes) same = same && opts_.initial_hashes->Get(b++) == h;
  if (!same) {
    rewritten_ += 1;
    SetHashes(c);
    WriteChunk(std::move(c));
    return Status::Ok();
  }
  if (c.buf) pool_->Put(std::move(c.buf));
  unchanged_bytes_ += c.length;
  Count(c.length, Counted::kDoneOnly);
  Progressed();
  if (opts_.on_unchanged) opts_.on_unchanged(index);
  return Status::Ok();
}

void CopyRun::WriteChunk(ReadChunkData c) {
  const uint64_t len = c.length;
  const ZeroAction zero_action = ZeroPolicy(opts_.target_fresh, caps_);
  std::vector<Extent>& runs = c.runs;
  AlignedBuffer& buf = c.buf;
  if (opts_.rate) {
    uint64_t data = 0;
    for (const Extent& r : runs)
      if (!r.zero) data += r.length;
    if (data && !opts_.rate->Acquire(data, stop_)) runs.clear();
  }
  auto give_back = [&] {
    if (buf) pool_->Put(std::move(buf));
  };
  if (runs.empty()) {  // stopped while waiting for the rate limiter
    give_back();
    Fail(Status::Interrupted("stopped"));
    return;
  }
  if (opts_.shared_window && !opts_.shared_window->Acquire(len, stop_)) {
    give_back();
    return;
  }
  if (!window_.Acquire(len, stop_)) {
    if (opts_.shared_window) opts_.shared_window->Release(len);
    give_back();
    return;
  }
  auto chunk = std::make_shared<Chunk>();
  chunk->index = c.index;
  chunk->offset = c.offset;
  chunk->length = len;
  chunk->buf = std::move(buf);
  chunk->pending = 1;  // held by this function until every op is issued

  bool issued_all = true;
  bool wrote = false;
  for (const Extent& run : runs) {
    if (Stopping()) {
      issued_all = false;
      break;
    }
    if (!run.zero) {
      Issue(chunk, run, false);
      wrote = true;
    } else if (zero_action == ZeroAction::kWriteZeroes) {
      Issue(chunk, run, true);
      wrote = true;
    } else {
      zero_ += run.length;
      Count(run.length, Counted::kZero);
    }
  }
  if (!issued_all) {
    // Stopped half way: this chunk must not count as complete.
    Fail(Status::Interrupted("stopped"));
    if (chunk->pending.fetch_sub(1) == 1) {
      if (chunk->buf) pool_->Put(std::move(chunk->buf));
      window_.Release(len);
      if (opts_.shared_window) opts_.shared_window->Release(len);
    }
    return;
  }
  // Only a chunk that needed no write is progress now; one that issued
  // writes progresses when they complete (issuing them while the writes
  // before hang would hide the stall for a whole in-flight window).
  if (!wrote) Progressed();
  if (chunk->pending.fetch_sub(1) == 1) ChunkDone(chunk);
}

void CopyRun::ReaderLoop() {
  while (!Stopping()) {
    uint64_t index = 0;
    std::vector<Extent> ext;
    Result<bool> claimed = Claim(&index, &ext);
    if (!claimed.ok()) return Fail(claimed.status());
    if (!*claimed) return;
    bool done = opts_.done_chunks && index < opts_.done_chunks->size() && (*opts_.done_chunks)[index];
    const std::vector<Extent>* known = ordered_ ? &ext : nullptr;
    Status st = done ? RecheckChunk(index, known) : CopyChunk(index, known);
    if (!st.ok()) return Fail(st);
  }
}

// Chunks come in order under map_mu_ when they must: a reader that follows
// a copy waits here (the next chunk is never readable before this one), and
// the window's map is asked once, by the reader that first needs it.
Result<bool> CopyRun::Claim(uint64_t* index, std::vector<Extent>* ext) {
  std::unique_lock<std::mutex> lock(map_mu_, std::defer_lock);
  if (ordered_) lock.lock();
  for (;;) {
    *index = next_chunk_.fetch_add(1);
    if (*index >= chunks_) return false;
    bool done = opts_.done_chunks && *index < opts_.done_chunks->size() && (*opts_.done_chunks)[*index];
    if (!done || opts_.recheck_done) break;
  }
  if (!ordered_) return true;
  const uint64_t off = *index * opts_.chunk_size;
  const uint64_t len = std::min<uint64_t>(opts_.chunk_size, src_.size() - off);
  uint64_t limit = src_.size();
  if (opts_.readable) {
    limit = opts_.readable(off + len);
    if (limit < off + len)
      return Status::Interrupted(fmt::format("reading {} back stopped: the copy did not complete", src_.name()));
  }
  if (off < map_off_ || off + len > map_end_) V2R_RETURN_IF_ERROR(QueryWindow(off, limit));
  *ext = WindowSlice(off, len);
  return true;
}

Status CopyRun::QueryWindow(uint64_t off, uint64_t limit) {
  const uint64_t size = src_.size();
  uint64_t end = std::min(size, off + RoundUp(std::max(opts_.map_window, opts_.chunk_size), opts_.chunk_size));
  if (limit < size) end = std::min(end, std::max(off + opts_.chunk_size, limit / opts_.chunk_size * opts_.chunk_size));
  Result<std::vector<Extent>> map = src_.Extents(off, end - off);
  if (!map.ok()) return map.status();
  map_ = std::move(*map);
  map_off_ = off;
  map_end_ = end;
  map_pos_ = 0;
  return Status::Ok();
}

// The window's extents within [off, off+len), cut to it (in order: the
// walk only moves forward).
std::vector<Extent> CopyRun::WindowSlice(uint64_t off, uint64_t len) {
  std::vector<Extent> out;
  while (map_pos_ < map_.size() && map_[map_pos_].end() <= off) ++map_pos_;
  for (size_t k = map_pos_; k < map_.size() && map_[k].offset < off + len; ++k) {
    uint64_t b = std::max(off, map_[k].offset), e = std::min(off + len, map_[k].end());
    if (e > b) out.push_back({b, e - b, map_[k].zero});
  }
  return out;
}

Status CopyRun::FlushSink() {
  auto status = std::make_shared<Status>();
  // The callback may outlive this frame if the flush is abandoned: it only
  // touches the shared status and, through `this`, the leaked run.
  auto state = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
  auto done_flag = std::make_shared<std::atomic<bool>>(false);
  dst_.Flush([status, state, done_flag](Status st) {
    std::lock_guard<std::mutex> lock(state->first);
    *status = std::move(st);
    done_flag->store(true);
    state->second.notify_all();
  });
  std::unique_lock<std::mutex> lock(state->first);
  while (!done_flag->load()) {
    if (abandoned_.load()) return Status::Interrupted("flush abandoned");
    state->second.wait_for(lock, std::chrono::milliseconds(100));
  }
  return *status;
}

Status CopyRun::FlushAndReport() {
  std::vector<uint64_t> chunks;
  {
    std::lock_guard<std::mutex> lock(completed_mu_);
    chunks.swap(completed_);
  }
  if (chunks.empty()) return Status::Ok();
  Status st = FlushSink();
  if (!st.ok()) return st.Wrap(fmt::format("flushing {}", dst_.name()));
  if (opts_.on_durable) return opts_.on_durable(chunks, result_.hashes);
  return Status::Ok();
}

void CopyRun::FlusherLoop() {
  auto interval = std::chrono::duration<double>(std::max(0.05, opts_.durable_interval_s));
  std::unique_lock<std::mutex> lock(bg_mu_);
  while (!readers_done_) {
    bg_cv_.wait_for(lock, interval);
    if (readers_done_ || abandoned_.load()) return;
    lock.unlock();
    Status st = FlushAndReport();
    if (!st.ok() && !abandoned_.load()) Fail(st);
    lock.lock();
  }
}

void CopyRun::WatchdogLoop() {
  bool warned = false;
  std::unique_lock<std::mutex> lock(bg_mu_);
  while (!readers_done_) {
    bg_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (readers_done_) return;
    double idle = std::chrono::duration<double>(Clock::now().time_since_epoch() -
                                                Clock::duration(last_progress_ns_.load()))
                      .count();
    if (window_.in_flight() == 0 && !opts_.rate) continue;  // nothing waiting on the cluster
    if (!warned && opts_.stall_warn_s > 0 && idle >= opts_.stall_warn_s) {
      warned = true;
      if (opts_.on_stall_warning) opts_.on_stall_warning(idle);
    }
    if (idle < opts_.stall_warn_s / 2) warned = false;
    if (opts_.stall_timeout_s > 0 && idle >= opts_.stall_timeout_s) {
      Fail(Status::Interrupted(
          fmt::format("no write to {} completed for {:.0f} s (is the pool full, over quota, or the cluster "
                      "unreachable?); stopped without waiting for the writes in flight",
                      dst_.name(), idle),
          "fix the cluster (ceph -s, ceph df), then rerun to resume: only flushed ranges were recorded"));
      abandoned_.store(true);
      return;
    }
  }
}

Result<CopyResult> CopyRun::Run() {
  auto start = Clock::now();
  last_progress_ns_.store(start.time_since_epoch().count());
  // Chunks done before this call: hashes and progress carried over.
  if (opts_.done_chunks) {
    for (uint64_t i = 0; i < chunks_ && i < opts_.done_chunks->size(); ++i) {
      if (!(*opts_.done_chunks)[i]) continue;
      uint64_t off = i * opts_.chunk_size;
      uint64_t len = std::min<uint64_t>(opts_.chunk_size, src_.size() - off);
      for (uint64_t b = off / kHashBlock; b < (off + len + kHashBlock - 1) / kHashBlock; ++b)
        if (opts_.initial_hashes) result_.hashes.Set(b, opts_.initial_hashes->Get(b));
      if (opts_.recheck_done) continue;  // counted once read again (RecheckChunk)
      result_.bytes_resumed += len;
      Count(len, Counted::kDoneOnly);
    }
  }
  std::thread flusher([this] { FlusherLoop(); });
  std::thread watchdog([this] { WatchdogLoop(); });
  int readers = std::max(1, opts_.readers);
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) threads.emplace_back([this] { ReaderLoop(); });
  for (auto& t : threads) t.join();
  // Drain: every issued op completes, unless the watchdog gives up on them.
  while (!window_.WaitIdle(std::chrono::milliseconds(100)))
    if (abandoned_.load()) break;
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    readers_done_ = true;
  }
  bg_cv_.notify_all();
  flusher.join();
  watchdog.join();
  if (abandoned_.load()) return first_error_;

  // Whatever completed is flushed and reported, also after an error or an
  // interruption: the journal keeps every range that is really done.
  Status final_flush = FlushAndReport();
  if (first_error_.ok() && ((opts_.cancel && opts_.cancel->load()) || (opts_.halt && opts_.halt->load())))
    first_error_ = Status::Interrupted(fmt::format("copy to {} interrupted", dst_.name()));
  if (first_error_.ok() && !final_flush.ok()) first_error_ = final_flush;
  if (!first_error_.ok()) return first_error_;

  result_.bytes_written = written_.load();
  result_.bytes_zero = zero_.load();
  result_.bytes_resumed += unchanged_bytes_.load();
  result_.chunks_rechecked = rechecked_.load();
  result_.chunks_rewritten = rewritten_.load();
  result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return std::move(result_);
}

}  // namespace

Status ResolveCopyOptions(const Source& src, const Sink& dst, CopyOptions* opts) {
  if (dst.size() != src.size())
    return Status::Refused(fmt::format("{} is {} bytes but {} is {} bytes", src.name(), src.size(),
                                       dst.name(), dst.size()));
  uint64_t obj = std::max<uint64_t>(dst.object_size(), 1);
  if (opts->chunk_size == 0) opts->chunk_size = std::max<uint64_t>(obj, kDefaultChunkSize);
  if (opts->chunk_size % kHashBlock != 0 || opts->chunk_size % obj != 0)
    return Status::Usage(fmt::format("chunk size {} must be a multiple of 4 MiB and of the object size {}",
                                     opts->chunk_size, obj));
  if (opts->zero_granularity == 0 || opts->zero_granularity % 512 != 0)
    return Status::Usage("zero granularity must be a positive multiple of 512 bytes");
  if (opts->max_requests == 0) return Status::Usage("in-flight request count must be at least 1");
  if (opts->readers < 1) return Status::Usage("reader thread count must be at least 1");
  if (opts->initial_hashes && opts->initial_hashes->disk_size() != src.size())
    return Status::Internal("resume hashes are for another disk size");
  if (opts->recheck_done && (!opts->initial_hashes || !opts->done_chunks || opts->target_fresh))
    return Status::Internal("a recheck needs the done chunks, their hashes and a target that is not fresh");
  return Status::Ok();
}

Result<CopyResult> CopyDisk(Source& src, Sink& dst, CopyOptions opts, ProgressCounters* progress, bool* abandoned) {
  V2R_RETURN_IF_ERROR(ResolveCopyOptions(src, dst, &opts));
  auto* run = new CopyRun(src, dst, opts, progress);
  Result<CopyResult> result = run->Run();
  if (run->abandoned()) {
    if (abandoned) *abandoned = true;
    return result;  // `run` is leaked: writes in flight still call back into it
  }
  delete run;
  return result;
}

}  // namespace v2r
