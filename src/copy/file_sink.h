// A local raw file or block device as a copy target: the original disk a
// rollback copies changes back to. Opened for writing without O_CREAT or
// O_TRUNC: it must exist, and only the ranges the engine writes change.
//
// Writes are synchronous pwrite()s on the calling (reader) thread, completed
// before Write returns; the engine's readers give the parallelism. Zero
// ranges keep a file thin and a device's zeroes cheap: a regular file's are
// punched (FALLOC_FL_PUNCH_HOLE, reads as zeros), a block device's zeroed
// with BLKZEROOUT; where either is refused, zeros are written as data. Flush
// is fdatasync. Thread-safe after Open().
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "copy/endpoint.h"

namespace v2r {

class FileSink : public Sink {
 public:
  // `object_size` sets the engine's chunk alignment (the RBD image's object
  // size when copying back from one). Refused when the path is missing,
  // neither a regular file nor a block device, or not writable.
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path, uint64_t object_size);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  const std::string& name() const override { return path_; }
  uint64_t size() const override { return size_; }
  uint64_t object_size() const override { return object_size_; }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override;
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override;
  void Flush(Completion done) override;

 private:
  FileSink() = default;
  Status WriteAll(uint64_t offset, const void* buf, size_t length);
  Status ZeroRange(uint64_t offset, uint64_t length);
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t object_size_ = 0;
  bool block_ = false;
};

}  // namespace v2r
