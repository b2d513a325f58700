// Aligned heap buffers (O_DIRECT needs aligned memory), pooled.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace v2r {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<unsigned char, FreeDeleter>;

// Buffers of 2 MiB or more are 2 MiB-aligned and asked to be backed by huge
// pages (transparent huge pages, madvise mode): an O_DIRECT read into a 4 MiB
// buffer then pins 2 pages instead of 1024, which made the scan of a block
// device's zeros about 1.5x faster here (docs/benchmarks.md). Where THP is
// off the advice is ignored and nothing else changes.
inline constexpr size_t kHugePage = size_t{2} << 20;

inline AlignedBuffer AllocateAligned(size_t size, size_t align = 4096) {
  if (size >= kHugePage) align = std::max(align, kHugePage);
  size_t rounded = (size + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded ? rounded : align);
  if (p && align >= kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);
  return AlignedBuffer(static_cast<unsigned char*>(p));
}

// A pool of equal-sized buffers; Get() allocates when the pool is empty, so
// the number alive is bounded by the caller (the in-flight window).
class BufferPool {
 public:
  explicit BufferPool(size_t buffer_size) : size_(buffer_size) {}
  AlignedBuffer Get() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        AlignedBuffer b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    return AllocateAligned(size_);
  }
  void Put(AlignedBuffer b) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(b));
  }
  size_t buffer_size() const { return size_; }
  size_t idle() const {  // buffers back in the pool
    std::lock_guard<std::mutex> lock(mu_);
    return free_.size();
  }

 private:
  const size_t size_;
  mutable std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

}  // namespace v2r
