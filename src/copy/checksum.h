// Per-block checksums and the image digest.
//
// Data is hashed in fixed 4 MiB blocks at absolute offsets (the last block may
// be short) with XXH3-128. The digest of a whole disk is XXH3-128 over the
// sequence of block hashes (each as 16 little-endian bytes, low half first),
// printed as "xxh3-128-4m:<32 hex digits>". Blocks that read as zero have the
// hash of that many zero bytes, so a hole and written zeros hash the same and
// the digest depends only on the bytes, never on how they were stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "copy/endpoint.h"

namespace v2r {

constexpr uint64_t kHashBlock = 4ull << 20;

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
  std::string Hex() const;
};

Hash128 HashBytes(const void* buf, size_t len);
// The hash of `len` zero bytes (cached for the full block size).
Hash128 ZeroHash(size_t len);

// Block hashes of one disk. Blocks may be filled in any order, from any
// thread (each index is written by one thread only).
class BlockHashes {
 public:
  explicit BlockHashes(uint64_t disk_size);
  uint64_t disk_size() const { return disk_size_; }
  uint64_t count() const { return hashes_.size(); }
  uint64_t BlockLength(uint64_t index) const;
  void Set(uint64_t index, Hash128 h) { hashes_[index] = h; }
  const Hash128& Get(uint64_t index) const { return hashes_[index]; }
  // Marks every block in [first, last) as zero.
  void SetZero(uint64_t first, uint64_t last);
  std::string Digest() const;

 private:
  uint64_t disk_size_;
  std::vector<Hash128> hashes_;
};

// Blocks whose hashes differ, as byte ranges (adjacent blocks merged).
std::vector<Extent> CompareHashes(const BlockHashes& expected, const BlockHashes& actual);

// "2 ranges differ: 4194304+4194304, 33554432+8388608" (at most `max` listed).
std::string DescribeMismatch(const std::vector<Extent>& ranges, size_t max = 5);

}  // namespace v2r
