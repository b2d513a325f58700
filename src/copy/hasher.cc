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

Result<BlockHashes> HashSource(Source& src, const HashOptions& opts, ProgressCounters* progress) {
  BlockHashes hashes(src.size());
  const uint64_t count = hashes.count();
  const int nthreads = std::max(1, opts.threads);
  std::mutex mu;
  std::condition_variable work_cv, room_cv;
  std::deque<uint64_t> queue;  // data blocks to read, in order
  bool producing = true;
  std::atomic<bool> stop{false};
  Status first_error;
  auto fail = [&](Status st) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = std::move(st);
      stop = true;
    }
    work_cv.notify_all();
    room_cv.notify_all();
  };
  auto cancelled = [&] { return opts.cancel && opts.cancel->load(); };

  // Readers: data blocks, read and hashed in parallel.
  auto reader = [&] {
    AlignedBuffer buf = AllocateAligned(kHashBlock);
    while (true) {
      uint64_t b;
      {
        std::unique_lock<std::mutex> lock(mu);
        work_cv.wait(lock, [&] { return stop.load() || !queue.empty() || !producing; });
        if (stop.load() || queue.empty()) return;
        b = queue.front();
        queue.pop_front();
      }
      room_cv.notify_one();
      if (cancelled()) return fail(Status::Interrupted(fmt::format("hashing {} interrupted", src.name())));
      uint64_t off = b * kHashBlock;
      uint64_t len = hashes.BlockLength(b);
      Status st = src.Read(off, buf.get(), len);
      if (!st.ok()) return fail(st);
      hashes.Set(b, HashBytes(buf.get(), len));
      if (progress) {
        progress->written += len;
        progress->done += len;
        if (opts.on_progress) opts.on_progress();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < nthreads; ++i) threads.emplace_back(reader);

  // This thread: the allocation map, asked once per window of up to
  // kMaxQueryBlocks (an extent query is a round trip for an RBD image, and
  // librbd reads the whole object map for each), holes hashed as zeros at
  // once, data blocks queued. Following a copy, a window reaches only as far
  // as the copy is durable.
  constexpr uint64_t kMaxQueryBlocks = 4096;  // 16 GiB
  constexpr size_t kMaxQueued = 1024;
  uint64_t pos = 0;
  while (pos < count && !stop.load()) {
    if (cancelled()) {
      fail(Status::Interrupted(fmt::format("hashing {} interrupted", src.name())));
      break;
    }
    uint64_t last = std::min(count, pos + kMaxQueryBlocks);  // exclusive
    if (opts.durable) {
      const uint64_t need = pos * kHashBlock + hashes.BlockLength(pos);
      const uint64_t avail = opts.durable(need);
      if (avail < need) {
        fail(Status::Interrupted(fmt::format("reading {} back stopped: the copy did not complete", src.name())));
        break;
      }
      last = std::min(last, avail >= src.size() ? count : avail / kHashBlock);
    }
    const uint64_t off = pos * kHashBlock;
    const uint64_t len = (last - 1) * kHashBlock + hashes.BlockLength(last - 1) - off;
    Result<std::vector<Extent>> ext = src.Extents(off, len);
    if (!ext.ok()) {
      fail(ext.status());
      break;
    }
    // Extents are sorted and cover [off, off+len): walk them with the blocks.
    size_t e = 0;
    for (uint64_t b = pos; b < last && !stop.load(); ++b) {
      uint64_t boff = b * kHashBlock;
      uint64_t blen = hashes.BlockLength(b);
      while (e < ext->size() && (*ext)[e].end() <= boff) ++e;
      bool data = false;
      for (size_t k = e; k < ext->size() && (*ext)[k].offset < boff + blen; ++k)
        if (!(*ext)[k].zero) data = true;
      if (!data) {
        hashes.Set(b, ZeroHash(blen));
        if (progress) {
          progress->zero += blen;
          progress->done += blen;
          if (opts.on_progress) opts.on_progress();
        }
        continue;
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        room_cv.wait(lock, [&] { return stop.load() || queue.size() < kMaxQueued; });
        if (stop.load()) break;
        queue.push_back(b);
      }
      work_cv.notify_one();
    }
    pos = last;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    producing = false;
  }
  work_cv.notify_all();
  for (auto& t : threads) t.join();
  if (!first_error.ok()) return first_error;
  return hashes;
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
