// In-memory Source and Sink for unit tests of the engine.
//
// MemorySource serves a byte vector, optionally with a hole map and a read
// error at a chosen offset. MemorySink applies writes to a byte vector and
// completes them asynchronously from two threads of its own (so completions
// arrive on other threads, and not always in issuing order), records
// every operation, the peak of bytes in flight, and can fail the Nth write.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "copy/endpoint.h"

namespace v2r::testing {

class MemorySource : public Source {
 public:
  explicit MemorySource(std::vector<unsigned char> data, std::vector<Extent> holes = {})
      : data_(std::move(data)), holes_(std::move(holes)) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return data_.size(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    std::vector<Extent> out;
    uint64_t pos = offset, end = offset + length;
    for (const Extent& h : holes_) {
      if (h.end() <= pos || h.offset >= end) continue;
      uint64_t hs = std::max(h.offset, pos), he = std::min(h.end(), end);
      if (hs > pos) out.push_back({pos, hs - pos, false});
      out.push_back({hs, he - hs, true});
      pos = he;
    }
    if (pos < end) out.push_back({pos, end - pos, false});
    return out;
  }
  Status Read(uint64_t offset, void* buf, size_t length) override {
    reads++;
    read_bytes += length;
    if (busy_probe && busy_probe->load() > 0) reads_while_busy++;
    if (fail_at != UINT64_MAX && fail_at >= offset && fail_at < offset + length)
      return Status::FromErrno(Kind::kFailed, "reading mem at offset " + std::to_string(fail_at), EIO);
    std::memcpy(buf, data_.data() + offset, length);
    return Status::Ok();
  }
  std::atomic<int> reads{0};
  std::atomic<uint64_t> read_bytes{0};
  uint64_t fail_at = UINT64_MAX;
  // Counts reads made while *busy_probe > 0 (e.g. a sink's writes outstanding).
  const std::atomic<int>* busy_probe = nullptr;
  std::atomic<int> reads_while_busy{0};

 private:
  std::string name_ = "mem";
  std::vector<unsigned char> data_;
  std::vector<Extent> holes_;
};

class MemorySink : public Sink {
 public:
  struct Op {
    char kind;  // 'w' write, 'z' zeroes, 'f' flush
    uint64_t offset, length;
  };
  MemorySink(uint64_t size, uint64_t object_size, unsigned char fill = 0)
      : data_(size, fill), object_size_(object_size) {
    for (int i = 0; i < 2; ++i) workers_.emplace_back([this] { Loop(); });
  }
  ~MemorySink() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return data_.size(); }
  uint64_t object_size() const override { return object_size_; }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override {
    Enqueue({'w', offset, length}, buf, std::move(done));
  }
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override {
    Enqueue({'z', offset, length}, nullptr, std::move(done));
  }
  void Flush(Completion done) override { Enqueue({'f', 0, 0}, nullptr, std::move(done)); }

  std::vector<unsigned char> data() {
    std::lock_guard<std::mutex> l(mu_);
    return data_;
  }
  std::vector<Op> ops() {
    std::lock_guard<std::mutex> l(mu_);
    return ops_;
  }
  int fail_write_n = -1;                       // 1-based index of the write to fail
  bool hang = false;                           // ops never complete (a full pool)
  std::chrono::microseconds delay{0};          // per completion
  std::atomic<uint64_t> peak_bytes{0};
  std::atomic<int> outstanding{0};
  std::atomic<int> issued_after_failure{0};  // after the failing write completed

 private:
  struct Pending {
    Op op;
    const void* buf;
    Completion done;
  };
  void Enqueue(Op op, const void* buf, Completion done) {
    std::lock_guard<std::mutex> l(mu_);
    if (failed_ && op.kind != 'f') issued_after_failure++;
    if (hang) {  // never completes: the op is dropped when the sink dies
      ops_.push_back(op);
      hung_.push_back(std::move(done));
      return;
    }
    ops_.push_back(op);
    if (op.kind == 'w') {
      ++writes_;
      if (writes_ == fail_write_n) op.kind = 'e';
    }
    outstanding++;
    cur_bytes_ += op.length;
    if (cur_bytes_ > peak_bytes) peak_bytes = cur_bytes_;
    queue_.push_back({op, buf, std::move(done)});
    cv_.notify_all();
  }
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [&] { return quit_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      if (delay.count()) {
        l.unlock();
        std::this_thread::sleep_for(delay);
        l.lock();
      }
      Status st;
      if (p.op.kind == 'w') std::memcpy(data_.data() + p.op.offset, p.buf, p.op.length);
      if (p.op.kind == 'z') std::memset(data_.data() + p.op.offset, 0, p.op.length);
      if (p.op.kind == 'e') {
        st = Status::FromErrno(Kind::kFailed, "writing mem at offset " + std::to_string(p.op.offset), EIO);
        failed_ = true;  // ops enqueued from now on count as issued after the failure
      }
      cur_bytes_ -= p.op.length;
      l.unlock();
      outstanding--;
      p.done(st);
      l.lock();
    }
  }
  std::string name_ = "memsink";
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<unsigned char> data_;
  uint64_t object_size_;
  std::vector<Op> ops_;
  std::deque<Pending> queue_;
  std::vector<Completion> hung_;
  uint64_t cur_bytes_ = 0;
  int writes_ = 0;
  bool failed_ = false;
  bool quit_ = false;
  std::vector<std::thread> workers_;
};

// Deterministic test data: `size` bytes, data islands at the given ranges
// (pseudo-random, never all-zero), zeros elsewhere.
inline std::vector<unsigned char> MakeData(uint64_t size, const std::vector<Extent>& islands, uint32_t seed = 1) {
  std::vector<unsigned char> d(size, 0);
  std::mt19937 rng(seed);
  for (const Extent& e : islands)
    for (uint64_t i = e.offset; i < e.end() && i < size; ++i) d[i] = static_cast<unsigned char>(rng() | 1);
  return d;
}

}  // namespace v2r::testing
