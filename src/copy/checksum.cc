#include "copy/checksum.h"

#include <xxhash.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace v2r {

std::string Hash128::Hex() const { return fmt::format("{:016x}{:016x}", high, low); }

Hash128 HashBytes(const void* buf, size_t len) {
  XXH128_hash_t h = XXH3_128bits(buf, len);
  return {h.low64, h.high64};
}

Hash128 ZeroHash(size_t len) {
  static const Hash128 full = [] {
    auto zeros = std::make_unique<unsigned char[]>(kHashBlock);  // value-initialised: zeros
    return HashBytes(zeros.get(), kHashBlock);
  }();
  if (len == kHashBlock) return full;
  auto zeros = std::make_unique<unsigned char[]>(len ? len : 1);
  return HashBytes(zeros.get(), len);
}

BlockHashes::BlockHashes(uint64_t disk_size)
    : disk_size_(disk_size), hashes_((disk_size + kHashBlock - 1) / kHashBlock) {}

uint64_t BlockHashes::BlockLength(uint64_t index) const {
  uint64_t start = index * kHashBlock;
  return std::min(kHashBlock, disk_size_ - start);
}

void BlockHashes::SetZero(uint64_t first, uint64_t last) {
  for (uint64_t i = first; i < last && i < hashes_.size(); ++i) hashes_[i] = ZeroHash(BlockLength(i));
}

std::string BlockHashes::Digest() const {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  for (const Hash128& h : hashes_) {
    unsigned char b[16];
    for (int i = 0; i < 8; ++i) {
      b[i] = static_cast<unsigned char>(h.low >> (8 * i));
      b[8 + i] = static_cast<unsigned char>(h.high >> (8 * i));
    }
    XXH3_128bits_update(st, b, sizeof b);
  }
  XXH128_hash_t d = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return "xxh3-128-4m:" + Hash128{d.low64, d.high64}.Hex();
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
