// Progress counters shared between the engine (writers) and a renderer
// (reader). The engine only adds to atomics; rendering samples them. Bytes are
// counted when completed, never when issued.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace v2r {

struct ProgressCounters {
  std::atomic<uint64_t> total{0};    // bytes to process (disk sizes)
  std::atomic<uint64_t> done{0};     // bytes processed: written and acked, or skipped as zero
  std::atomic<uint64_t> written{0};  // data bytes written and acked (hashed, for a verify)
  std::atomic<uint64_t> zero{0};     // bytes skipped (or zeroed) as zero
};

// A phase that reads every disk byte twice (a verify reads the source and
// the image) counts each side apart and shows their mean: its total is then
// the disks' size and it ends there. (Both counted into one would show
// "2.0 GiB / 2.0 GiB" for a 1 GiB disk.) The sides' totals are not used;
// the caller sets the shown one.
class PairedProgress {
 public:
  explicit PairedProgress(ProgressCounters* shown) : shown_(shown) {}
  PairedProgress(const PairedProgress&) = delete;
  PairedProgress& operator=(const PairedProgress&) = delete;
  ProgressCounters* side(int i) { return &sides_[i & 1]; }
  // Recomputes the shown counters: call after a side moved (from any
  // thread). Under the lock, a later call reads later values, so the shown
  // counters never go back.
  void Sync() {
    std::lock_guard<std::mutex> lock(mu_);
    shown_->done = Mean(&ProgressCounters::done);
    shown_->written = Mean(&ProgressCounters::written);
    shown_->zero = Mean(&ProgressCounters::zero);
  }

 private:
  uint64_t Mean(std::atomic<uint64_t> ProgressCounters::*field) const {
    return ((sides_[0].*field).load() + (sides_[1].*field).load()) / 2;
  }
  ProgressCounters* shown_;
  ProgressCounters sides_[2];
  std::mutex mu_;
};

}  // namespace v2r
