// How far a copy is durable, for a reader that follows it.
//
// The copy engine reports chunks as durable (flushed) in any order; the
// frontier is the end of the longest durable prefix. A verifier reading the
// target back while the copy runs waits on it, so it never reads a range
// before that range has been written and flushed.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace v2r {

class DurableFrontier {
 public:
  DurableFrontier(uint64_t size, uint64_t chunk_size)
      : size_(size), chunk_(chunk_size ? chunk_size : 1), done_((size + chunk_ - 1) / chunk_, false) {}
  DurableFrontier(const DurableFrontier&) = delete;
  DurableFrontier& operator=(const DurableFrontier&) = delete;

  // Chunks (by index) that are flushed; out-of-range indices are ignored.
  void MarkDone(const std::vector<uint64_t>& chunks) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (uint64_t c : chunks)
        if (c < done_.size()) done_[c] = true;
      while (prefix_ < done_.size() && done_[prefix_]) ++prefix_;
    }
    cv_.notify_all();
  }
  // Everything is durable (the copy returned successfully).
  void MarkAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::fill(done_.begin(), done_.end(), true);
      prefix_ = done_.size();
    }
    cv_.notify_all();
  }
  // No more progress will come (the copy failed or was interrupted).
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

  // Blocks until every byte below `need` is durable, or Stop(); returns the
  // frontier then (below `need` only when stopped).
  uint64_t WaitPast(uint64_t need) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || FrontierLocked() >= std::min(need, size_); });
    return FrontierLocked();
  }

  // End of the durable prefix, in bytes.
  uint64_t frontier() const {
    std::lock_guard<std::mutex> lock(mu_);
    return FrontierLocked();
  }

 private:
  uint64_t FrontierLocked() const { return std::min(size_, prefix_ * chunk_); }

  const uint64_t size_;
  const uint64_t chunk_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> done_;
  uint64_t prefix_ = 0;  // chunks [0, prefix_) are done
  bool stopped_ = false;
};

}  // namespace v2r
