// Bounds work in flight by request count and by bytes.
//
// Thread-safe. Acquire() blocks the producer; Release() is called from
// completion callbacks (it only updates counters and signals).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace v2r {

class InflightWindow {
 public:
  InflightWindow(size_t max_requests, uint64_t max_bytes)
      : max_requests_(max_requests ? max_requests : 1), max_bytes_(max_bytes) {}
  InflightWindow(const InflightWindow&) = delete;
  InflightWindow& operator=(const InflightWindow&) = delete;

  // Waits until a request of `bytes` fits (a request larger than the byte
  // budget is admitted alone). Returns false, without acquiring, once `stop`
  // is set.
  bool Acquire(uint64_t bytes, const std::atomic<bool>& stop) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!Fits(bytes)) {
      if (stop.load()) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (stop.load()) return false;
    ++requests_;
    bytes_ += bytes;
    return true;
  }

  void Release(uint64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --requests_;
      bytes_ -= bytes;
    }
    cv_.notify_all();
  }

  // Waits until nothing is in flight. With a timeout, returns false if work
  // is still in flight when it expires.
  bool WaitIdle(std::chrono::milliseconds timeout = std::chrono::milliseconds::max()) {
    std::unique_lock<std::mutex> lock(mu_);
    if (timeout == std::chrono::milliseconds::max()) {
      cv_.wait(lock, [&] { return requests_ == 0; });
      return true;
    }
    return cv_.wait_for(lock, timeout, [&] { return requests_ == 0; });
  }

  size_t in_flight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  bool Fits(uint64_t bytes) const {
    if (requests_ >= max_requests_) return false;
    return requests_ == 0 || bytes_ + bytes <= max_bytes_;
  }
  const size_t max_requests_;
  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t requests_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace v2r
