// The copy engine: Source -> Sink, thin, parallel, checksummed.
//
// Reader threads take chunks (aligned to the chunk size, itself a multiple of
// the sink's object size and of the 4 MiB hash block) in order, skip chunks
// the source's map says are holes, read the rest, hash them, split them into
// data and zero runs and issue asynchronous writes for the data. Zero runs
// follow the zero policy (skip on a fresh target, write zeroes otherwise).
// Work in flight is bounded by count and bytes. The first error wins: no new
// work starts, and everything in flight drains before CopyDisk returns.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/status.h"
#include "copy/checksum.h"
#include "copy/endpoint.h"
#include "copy/progress.h"
#include "copy/window.h"

namespace v2r {

struct CopyOptions {
  uint64_t chunk_size = 0;          // 0: max(sink object size, 4 MiB)
  size_t max_requests = 16;         // chunks in flight
  uint64_t max_bytes = 64ull << 20; // bytes in flight (buffers held)
  size_t zero_granularity = 64 << 10;
  int readers = 2;                  // threads reading the source
  bool target_fresh = true;         // see ZeroPolicy()
  const std::atomic<bool>* cancel = nullptr;  // set by a signal handler
  // Several disks copied at once share one budget: when set, a chunk needs
  // room in this window too (it outlives the call; thread-safe).
  InflightWindow* shared_window = nullptr;
};

struct CopyResult {
  uint64_t size = 0;
  uint64_t bytes_written = 0;   // data bytes written to the sink
  uint64_t bytes_zero = 0;      // bytes skipped (or zeroed) as zero
  double seconds = 0;
  BlockHashes hashes{0};        // of what was read from the source
};

// Checks and normalises options against the endpoints.
Status ResolveCopyOptions(const Source& src, const Sink& dst, CopyOptions* opts);

// `progress` (optional) is added to as bytes complete; its `total` is the
// caller's to set (several disks may share one set of counters).
Result<CopyResult> CopyDisk(Source& src, Sink& dst, CopyOptions opts,
                            ProgressCounters* progress);

}  // namespace v2r
