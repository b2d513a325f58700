// The copy engine: Source -> Sink, thin, parallel, checksummed, resumable.
//
// Reader threads take chunks (aligned to the chunk size, itself a multiple of
// the sink's object size and of the 4 MiB hash block) in order, skip chunks
// the source's map says are holes, read the rest, hash them, split them into
// data and zero runs and issue asynchronous writes for the data. Zero runs
// follow the zero policy (skip on a fresh target, write zeroes otherwise).
// Work in flight is bounded by count and bytes. The first error wins: no new
// work starts, and everything in flight drains before CopyDisk returns.
//
// Durability: every `durable_interval_s` the engine flushes the sink and then
// reports the chunks that had completed before the flush (on_durable), so a
// journal only ever records flushed ranges. Completions arrive out of order:
// the unit is a set of chunks, never a high-water mark.
//
// Stalls: librbd blocks forever on a full or over-quota pool. Without a
// completed byte for stall_warn_s the engine warns; for stall_timeout_s it
// stops and returns kInterrupted WITHOUT waiting for writes in flight
// (CopyResult::abandoned): the caller must then leak the sink and exit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "copy/buffer.h"
#include "copy/checksum.h"
#include "copy/endpoint.h"
#include "copy/rate_limiter.h"
#include "copy/window.h"

namespace v2r {

inline constexpr uint64_t kDefaultChunkSize = kHashBlock;  // 4 MiB: the default RBD object size

struct CopyOptions {
  uint64_t chunk_size = 0;          // 0: max(sink object size, kDefaultChunkSize)
  size_t max_requests = 16;         // chunks in flight
  uint64_t max_bytes = 64ull << 20; // bytes in flight (buffers held)
  size_t zero_granularity = 64 << 10;
  int readers = 2;                  // threads reading the source
  bool target_fresh = true;         // see ZeroPolicy()
  const std::atomic<bool>* cancel = nullptr;  // set by a signal handler
  const std::atomic<bool>* halt = nullptr;    // a second reason to stop (the source guard): the same as cancel
  // Several disks copied at once share one budget: when set, a chunk needs
  // room in this window too (it outlives the call; thread-safe).
  InflightWindow* shared_window = nullptr;
  RateLimiter* rate = nullptr;      // --bandwidth, shared by every disk
  // Buffers kept for reuse, shared by the disks of a run (used when its
  // buffer size is this copy's chunk size): without it each disk keeps the
  // buffers of its busiest moment, and four disks keep four windows' worth.
  BufferPool* buffer_pool = nullptr;

  // Resume: chunks already durable on the target are skipped; their block
  // hashes come from `initial_hashes` (same disk size).
  const std::vector<bool>* done_chunks = nullptr;
  const BlockHashes* initial_hashes = nullptr;
  // Resume of a copy whose source may have changed since its chunks were
  // recorded (the VM ran, or nobody watched it between two runs): every done
  // chunk is read again and its block hashes compared with initial_hashes;
  // only chunks that differ are written again (a resumed target is not
  // fresh: zeros are written as zeroes). Reading is far cheaper than writing.
  bool recheck_done = false;
  // With recheck_done: called (from reader threads) with each done chunk
  // found unchanged (it is durable on the target already).
  std::function<void(uint64_t chunk)> on_unchanged;

  // Called (never concurrently) after a flush, with the chunks that had
  // completed before it and the hashes so far. An error stops the copy.
  double durable_interval_s = 1.0;
  std::function<Status(const std::vector<uint64_t>& chunks, const BlockHashes& hashes)> on_durable;

  // Following a copy still running (a read-back of its target): before a
  // chunk is read or its map asked, readable(end of the chunk) blocks until
  // the source may be read that far and returns how far it may (the
  // DurableFrontier); less than asked stops the copy (kInterrupted).
  std::function<uint64_t(uint64_t need)> readable;
  // The source's map is asked for up to this many bytes at once (0: chunk
  // by chunk), never past what readable() returned. For a source whose
  // query is a round trip (an RBD image: librbd reads its whole object map
  // for each). Chunks are then claimed in order.
  uint64_t map_window = 0;
  // Called (from any thread) after each update of `progress`
  // (PairedProgress::Sync).
  std::function<void()> on_progress;

  double stall_warn_s = 30;
  double stall_timeout_s = 0;       // 0: wait for ever
  std::function<void(double seconds_without_progress)> on_stall_warning;
};

struct CopyResult {
  uint64_t size = 0;
  uint64_t bytes_written = 0;   // data bytes written to the sink by this call
  uint64_t bytes_zero = 0;      // bytes skipped (or zeroed) as zero by this call
  uint64_t bytes_resumed = 0;   // bytes of chunks already done before this call (and, rechecked, unchanged)
  uint64_t chunks_rechecked = 0;  // recheck_done: done chunks read again
  uint64_t chunks_rewritten = 0;  // ... of which differed from their record and were written again
  double seconds = 0;
  BlockHashes hashes{0};        // of what was read from the source
};

// Checks and normalises options against the endpoints.
Status ResolveCopyOptions(const Source& src, const Sink& dst, CopyOptions* opts);

// `progress` (optional) is added to as bytes complete; its `total` is the
// caller's to set (several disks may share one set of counters).
// When the copy had to abandon writes in flight (a stall), `*abandoned` is set
// and the sink must not be closed or destroyed: librbd still owns requests.
Result<CopyResult> CopyDisk(Source& src, Sink& dst, CopyOptions opts, ProgressCounters* progress,
                            bool* abandoned = nullptr);

}  // namespace v2r
