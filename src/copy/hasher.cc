#include "copy/hasher.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "copy/buffer.h"

namespace v2r {

namespace {

// One HashSource call: this thread walks the allocation map, hashing holes
// as zeros at once and queueing data blocks; reader threads read and hash
// those in parallel. The first error stops everything.
class HashRun {
 public:
  HashRun(Source& src, const HashOptions& opts, ProgressCounters* progress)
      : src_(src), opts_(opts), progress_(progress), hashes_(src.size()) {}

  Result<BlockHashes> Run() {
    std::vector<std::thread> threads;
    for (int i = 0; i < std::max(1, opts_.threads); ++i) threads.emplace_back([this] { ReaderLoop(); });
    Produce();
    {
      std::lock_guard<std::mutex> lock(mu_);
      producing_ = false;
    }
    work_cv_.notify_all();
    for (auto& t : threads) t.join();
    if (!first_error_.ok()) return first_error_;
    return std::move(hashes_);
  }

 private:
  // The allocation map is asked once per window of up to kMaxQueryBlocks (an
  // extent query is a round trip for an RBD image, and librbd reads the
  // whole object map for each). Following a copy, a window reaches only as
  // far as the copy is durable.
  static constexpr uint64_t kMaxQueryBlocks = 4096;  // 16 GiB
  static constexpr size_t kMaxQueued = 1024;

  void Fail(Status st) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (first_error_.ok()) first_error_ = std::move(st);
      stop_ = true;
    }
    work_cv_.notify_all();
    room_cv_.notify_all();
  }
  bool Cancelled() const { return opts_.cancel && opts_.cancel->load(); }
  Status InterruptedStatus() const { return Status::Interrupted(fmt::format("hashing {} interrupted", src_.name())); }

  void ReaderLoop() {
    AlignedBuffer buf = AllocateAligned(kHashBlock);
    for (;;) {
      uint64_t b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return stop_.load() || !queue_.empty() || !producing_; });
        if (stop_.load() || queue_.empty()) return;
        b = queue_.front();
        queue_.pop_front();
      }
      room_cv_.notify_one();
      if (Cancelled()) return Fail(InterruptedStatus());
      uint64_t len = hashes_.BlockLength(b);
      Status st = src_.Read(b * kHashBlock, buf.get(), len);
      if (!st.ok()) return Fail(st);
      hashes_.Set(b, HashBytes(buf.get(), len));
      if (progress_) {
        progress_->written += len;
        progress_->done += len;
        if (opts_.on_progress) opts_.on_progress();
      }
    }
  }

  // The end (exclusive) of the next window from block `pos`, or 0 when the
  // copy being followed stopped short of it.
  uint64_t WindowEnd(uint64_t pos) {
    const uint64_t count = hashes_.count();
    uint64_t last = std::min(count, pos + kMaxQueryBlocks);
    if (!opts_.durable) return last;
    const uint64_t need = pos * kHashBlock + hashes_.BlockLength(pos);
    const uint64_t avail = opts_.durable(need);
    if (avail < need) return 0;
    return std::min(last, avail >= src_.size() ? count : avail / kHashBlock);
  }

  void Produce() {
    const uint64_t count = hashes_.count();
    for (uint64_t pos = 0; pos < count && !stop_.load();) {
      if (Cancelled()) return Fail(InterruptedStatus());
      uint64_t last = WindowEnd(pos);
      if (last == 0)
        return Fail(Status::Interrupted(fmt::format("reading {} back stopped: the copy did not complete", src_.name())));
      const uint64_t off = pos * kHashBlock;
      const uint64_t len = (last - 1) * kHashBlock + hashes_.BlockLength(last - 1) - off;
      Result<std::vector<Extent>> ext = src_.Extents(off, len);
      if (!ext.ok()) return Fail(ext.status());
      if (!QueueWindow(pos, last, *ext)) return;
      pos = last;
    }
  }

  // Extents are sorted and cover the window: walk them with the blocks.
  bool QueueWindow(uint64_t pos, uint64_t last, const std::vector<Extent>& ext) {
    size_t e = 0;
    for (uint64_t b = pos; b < last && !stop_.load(); ++b) {
      uint64_t boff = b * kHashBlock;
      uint64_t blen = hashes_.BlockLength(b);
      while (e < ext.size() && ext[e].end() <= boff) ++e;
      bool data = false;
      for (size_t k = e; k < ext.size() && ext[k].offset < boff + blen; ++k)
        if (!ext[k].zero) data = true;
      if (!data) {
        hashes_.Set(b, ZeroHash(blen));
        if (progress_) {
          progress_->zero += blen;
          progress_->done += blen;
          if (opts_.on_progress) opts_.on_progress();
        }
        continue;
      }
      {
        std::unique_lock<std::mutex> lock(mu_);
        room_cv_.wait(lock, [&] { return stop_.load() || queue_.size() < kMaxQueued; });
        if (stop_.load()) return false;
        queue_.push_back(b);
      }
      work_cv_.notify_one();
    }
    return !stop_.load();
  }

  Source& src_;
  const HashOptions& opts_;
  ProgressCounters* const progress_;
  BlockHashes hashes_;
  std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::deque<uint64_t> queue_;  // data blocks to read, in order
  bool producing_ = true;
  std::atomic<bool> stop_{false};
  Status first_error_;
};

}  // namespace

Result<BlockHashes> HashSource(Source& src, const HashOptions& opts, ProgressCounters* progress) {
  return HashRun(src, opts, progress).Run();
}

std::vector<Extent> CompareHashes(const BlockHashes& expected, const BlockHashes& actual) {
  std::vector<Extent> out;
  if (expected.disk_size() != actual.disk_size()) {
    out.push_back({0, std::max(expected.disk_size(), actual.disk_size()), false});
    return out;
  }
  for (uint64_t b = 0; b < expected.count(); ++b) {
    if (expected.Get(b) == actual.Get(b)) continue;
    uint64_t off = b * kHashBlock;
    uint64_t len = expected.BlockLength(b);
    if (!out.empty() && out.back().end() == off)
      out.back().length += len;
    else
      out.push_back({off, len, false});
  }
  return out;
}

std::string DescribeMismatch(const std::vector<Extent>& ranges, size_t max) {
  std::string s = fmt::format("{} range{} differ{}:", ranges.size(), ranges.size() == 1 ? "" : "s",
                              ranges.size() == 1 ? "s" : "");
  for (size_t i = 0; i < ranges.size() && i < max; ++i)
    s += fmt::format(" {}bytes {}..{}", i ? ", " : "", ranges[i].offset, ranges[i].end());
  if (ranges.size() > max) s += fmt::format(", and {} more", ranges.size() - max);
  return s;
}

}  // namespace v2r
