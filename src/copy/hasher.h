// Hashing a whole Source into BlockHashes, and comparing two of them.
//
// Used for verification: the image is read back (ranges its map reports as
// unallocated are known zeros and are not read) and its block hashes are
// compared with the ones computed from the source.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "copy/checksum.h"
#include "copy/endpoint.h"

namespace v2r {

struct HashOptions {
  int threads = 4;  // parallel reads
  const std::atomic<bool>* cancel = nullptr;
  // When set, nothing is read (extents included) beyond what durable(need)
  // returned: it blocks until at least the bytes below `need` may be read
  // and returns how far that is; less than `need` stops the hash
  // (kInterrupted). For following a copy still running
  // (DurableFrontier::WaitPast).
  std::function<uint64_t(uint64_t need)> durable;
  // When set, called after each update of `progress` (PairedProgress::Sync).
  std::function<void()> on_progress;
};

// `progress` as for CopyDisk: the caller sets `total`.
Result<BlockHashes> HashSource(Source& src, const HashOptions& opts, ProgressCounters* progress);

// Blocks whose hashes differ, as byte ranges (adjacent blocks merged).
std::vector<Extent> CompareHashes(const BlockHashes& expected, const BlockHashes& actual);

// "2 ranges differ: 4194304+4194304, 33554432+8388608" (at most `max` listed).
std::string DescribeMismatch(const std::vector<Extent>& ranges, size_t max = 5);

}  // namespace v2r
