// What the copies of a run share, and what several runs in one process may
// share: one in-flight window (requests and bytes, across every disk), one
// rate limit (--bandwidth is a total) and one pool of chunk buffers.
//
// A run is given one through its RunContext (shared with other runs) or
// makes its own from its options. Thread-safe (each member is). Its
// lifetime must cover every copy that uses it; after abandoned writes it is
// leaked with them (their completions would still touch it).
#pragma once

#include <cstdint>
#include <memory>

#include "copy/buffer.h"
#include "copy/rate_limiter.h"
#include "copy/window.h"

namespace v2r {

struct CopyBudget {
  // `changeable_rate`: a limiter even when `bandwidth` is 0 (unlimited), so
  // that the rate can be set later (RateLimiter::SetRate).
  CopyBudget(size_t max_requests, uint64_t max_bytes, uint64_t bandwidth, size_t chunk_size,
             bool changeable_rate = false)
      : window(max_requests, max_bytes),
        rate(bandwidth || changeable_rate ? std::make_unique<RateLimiter>(bandwidth) : nullptr),
        buffers(chunk_size) {}
  CopyBudget(const CopyBudget&) = delete;
  CopyBudget& operator=(const CopyBudget&) = delete;

  InflightWindow window;
  std::unique_ptr<RateLimiter> rate;  // null: unlimited, for good
  BufferPool buffers;
};

}  // namespace v2r
