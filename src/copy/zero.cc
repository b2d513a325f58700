#include "copy/zero.h"

#include <algorithm>
#include <cstring>

namespace v2r {

bool IsZero(const void* buf, size_t len) {
  const auto* p = static_cast<const unsigned char*>(buf);
  // Check a short prefix byte by byte, then compare the buffer with itself
  // shifted by that prefix: memcmp is vectorised and this reads memory once.
  constexpr size_t kPrefix = 16;
  size_t head = std::min(len, kPrefix);
  for (size_t i = 0; i < head; ++i)
    if (p[i] != 0) return false;
  if (len <= kPrefix) return true;
  return std::memcmp(p, p + kPrefix, len - kPrefix) == 0;
}

std::vector<Extent> SplitZeroRuns(const void* buf, uint64_t base, size_t len,
                                  size_t granularity) {
  std::vector<Extent> runs;
  if (len == 0) return runs;
  if (granularity == 0) granularity = 4096;
  const auto* p = static_cast<const unsigned char*>(buf);
  uint64_t end = base + len;
  uint64_t pos = base;
  while (pos < end) {
    uint64_t block_end = std::min(end, (pos / granularity + 1) * granularity);
    bool zero = IsZero(p + (pos - base), block_end - pos);
    // A partial block at the buffer start counts as its own block; so does
    // one at the end. Both are aligned to absolute offsets.
    if (!runs.empty() && runs.back().zero == zero) {
      runs.back().length += block_end - pos;
    } else {
      runs.push_back({pos, block_end - pos, zero});
    }
    pos = block_end;
  }
  return runs;
}

}  // namespace v2r
