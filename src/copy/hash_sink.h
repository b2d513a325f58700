// Hashing a whole Source through the copy engine, for verification.
//
// The engine hashes every 4 MiB block it reads (CopyResult::hashes: the
// digest of copy/checksum.h). A read-back is a copy into a HashSink, a sink
// that keeps no bytes: what is left of the copy is exactly those hashes.
// Ranges the source's map reports as unallocated are known zeros and are not
// read; a block read is hashed as read (zeros found in it hash as zeros do),
// so the hashes and the digest never depend on how the bytes were stored.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "copy/checksum.h"
#include "copy/endpoint.h"

namespace v2r {

// The end of a read-back: every write and flush completes at once. It reads
// as zeros where nothing was written (nothing is kept) and wants no zero
// runs found: scanning for them would cost as much as the hashing.
class HashSink : public Sink {
 public:
  HashSink(std::string name, uint64_t size) : name_(std::move(name)), size_(size) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  uint64_t object_size() const override { return kHashBlock; }
  SinkCapabilities capabilities() const override { return {.fresh = true, .split_zeros = false}; }
  void Write(uint64_t, const void*, size_t, Completion done) override { done(Status::Ok()); }
  void WriteZeroes(uint64_t, uint64_t, Completion done) override { done(Status::Ok()); }
  void Flush(Completion done) override { done(Status::Ok()); }

 private:
  std::string name_;
  uint64_t size_;
};

struct HashOptions {
  int threads = 4;  // parallel reads (the engine's readers)
  const std::atomic<bool>* cancel = nullptr;
  // When set, nothing is read (extents included) beyond what durable(need)
  // returned: it blocks until at least the bytes below `need` may be read
  // and returns how far that is; less than `need` stops the hash
  // (kInterrupted). For following a copy still running
  // (DurableFrontier::WaitPast): CopyOptions::readable.
  std::function<uint64_t(uint64_t need)> durable;
  // When set, called after each update of `progress` (PairedProgress::Sync).
  std::function<void()> on_progress;
};

// The source's map is asked for this much at once (an extent query is a
// round trip for an RBD image, and librbd reads the whole object map each
// time).
inline constexpr uint64_t kHashMapWindow = 4096 * kHashBlock;  // 16 GiB

// Copies `src` into a HashSink and returns its block hashes. `progress` as
// for CopyDisk (the caller sets `total`): data blocks read count as
// `written`, holes as `zero`.
Result<BlockHashes> HashDisk(Source& src, const HashOptions& opts, ProgressCounters* progress);

}  // namespace v2r
