#include "copy/hasher.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "copy/buffer.h"

namespace v2r {

Result<BlockHashes> HashSource(Source& src, const HashOptions& opts, ProgressCounters* progress) {
  BlockHashes hashes(src.size());
  std::atomic<uint64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status first_error;
  auto fail = [&](Status st) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok()) first_error = std::move(st);
    stop = true;
  };

  auto worker = [&] {
    AlignedBuffer buf = AllocateAligned(kHashBlock);
    while (!stop.load()) {
      if (opts.cancel && opts.cancel->load()) {
        fail(Status::Interrupted(fmt::format("hashing {} interrupted", src.name())));
        return;
      }
      uint64_t b = next.fetch_add(1);
      if (b >= hashes.count()) return;
      uint64_t off = b * kHashBlock;
      uint64_t len = hashes.BlockLength(b);
      Result<std::vector<Extent>> ext = src.Extents(off, len);
      if (!ext.ok()) return fail(ext.status());
      bool hole = std::all_of(ext->begin(), ext->end(), [](const Extent& e) { return e.zero; });
      if (hole) {
        hashes.Set(b, ZeroHash(len));
        if (progress) progress->zero += len;
      } else {
        Status st = src.Read(off, buf.get(), len);
        if (!st.ok()) return fail(st);
        hashes.Set(b, HashBytes(buf.get(), len));
        if (progress) progress->written += len;
      }
      if (progress) progress->done += len;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, opts.threads); ++i) threads.emplace_back(worker);
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
