// Page-aligned heap buffers (O_DIRECT needs aligned memory), pooled.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace v2r {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<unsigned char, FreeDeleter>;

inline AlignedBuffer AllocateAligned(size_t size, size_t align = 4096) {
  size_t rounded = (size + align - 1) / align * align;
  return AlignedBuffer(static_cast<unsigned char*>(std::aligned_alloc(align, rounded ? rounded : align)));
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

 private:
  const size_t size_;
  std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

}  // namespace v2r
