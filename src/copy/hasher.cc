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

  // Blocks are handed out in spans whose extents are asked for once: an
  // extent query is a round trip for an RBD image, and a thin 1 TiB image
  // has 262144 blocks. Spans stay small enough to keep every thread busy.
  const int nthreads = std::max(1, opts.threads);
  const uint64_t span_blocks = std::clamp<uint64_t>(hashes.count() / (8 * static_cast<uint64_t>(nthreads)), 1, 256);
  auto worker = [&] {
    AlignedBuffer buf = AllocateAligned(kHashBlock);
    while (!stop.load()) {
      uint64_t first = next.fetch_add(span_blocks);
      if (first >= hashes.count()) return;
      uint64_t last = std::min(hashes.count(), first + span_blocks);  // exclusive
      uint64_t span_off = first * kHashBlock;
      uint64_t span_len = (last - 1) * kHashBlock + hashes.BlockLength(last - 1) - span_off;
      if (opts.ready && !opts.ready(span_off + span_len))
        return fail(Status::Interrupted(fmt::format("reading {} back stopped: the copy did not complete", src.name())));
      Result<std::vector<Extent>> ext = src.Extents(span_off, span_len);
      if (!ext.ok()) return fail(ext.status());
      for (uint64_t b = first; b < last && !stop.load(); ++b) {
        if (opts.cancel && opts.cancel->load()) {
          fail(Status::Interrupted(fmt::format("hashing {} interrupted", src.name())));
          return;
        }
        uint64_t off = b * kHashBlock;
        uint64_t len = hashes.BlockLength(b);
        bool hole = std::none_of(ext->begin(), ext->end(), [&](const Extent& e) {
          return !e.zero && e.offset < off + len && off < e.end();
        });
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
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < nthreads; ++i) threads.emplace_back(worker);
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
