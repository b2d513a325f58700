// A token bucket shared by every disk of a run: --bandwidth is a total.
// Thread-safe. Acquire() blocks the caller (a reader thread) until the bytes
// may go; a burst of at most one second's worth is allowed. The rate can be
// changed at any time (SetRate, from any thread: the orchestrator's control
// stream); 0 is unlimited, then Acquire returns at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace v2r {

class RateLimiter {
 public:
  explicit RateLimiter(uint64_t bytes_per_s) : rate_(static_cast<double>(bytes_per_s)), tokens_(0) {
    last_ = std::chrono::steady_clock::now();
  }
  uint64_t rate() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<uint64_t>(rate_);
  }
  // Takes effect for every waiter within its next poll (<= 0.1 s). The
  // bucket restarts empty at a new limit (no burst saved up while the limit
  // was off), so the new rate holds from now on.
  void SetRate(uint64_t bytes_per_s) {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = static_cast<double>(bytes_per_s);
    tokens_ = 0;
    last_ = std::chrono::steady_clock::now();
  }

  // Returns false, without taking the bytes, once `stop` is set.
  bool Acquire(uint64_t bytes, const std::atomic<bool>& stop) {
    while (true) {
      double wait_s;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (rate_ <= 0) return true;  // unlimited
        auto now = std::chrono::steady_clock::now();
        double dt = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        tokens_ = std::min(rate_, tokens_ + dt * rate_);  // burst cap: one second
        if (tokens_ >= static_cast<double>(bytes) || (tokens_ >= rate_ && static_cast<double>(bytes) > rate_)) {
          tokens_ -= static_cast<double>(bytes);  // may go negative for a request above the burst
          return true;
        }
        wait_s = (static_cast<double>(bytes) - tokens_) / rate_;
      }
      if (stop.load()) return false;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait_s, 0.1)));
    }
  }

 private:
  mutable std::mutex mu_;
  double rate_;  // bytes/s; 0: unlimited
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace v2r
