// A token bucket shared by every disk of a run: --bandwidth is a total.
// Thread-safe. Acquire() blocks the caller (a reader thread) until the bytes
// may go; a burst of at most one second's worth is allowed.
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
  uint64_t rate() const { return static_cast<uint64_t>(rate_); }

  // Returns false, without taking the bytes, once `stop` is set.
  bool Acquire(uint64_t bytes, const std::atomic<bool>& stop) {
    while (true) {
      double wait_s;
      {
        std::lock_guard<std::mutex> lock(mu_);
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
  const double rate_;
  std::mutex mu_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace v2r
