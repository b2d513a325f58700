// A local raw file or block device as a copy source. Read-only, always.
//
// Reads bypass the page cache (O_DIRECT where the filesystem allows it,
// otherwise buffered reads followed by POSIX_FADV_DONTNEED), so copying a
// disk does not evict the running VMs' cache. Regular files report their
// holes (SEEK_DATA/SEEK_HOLE); block devices have no map and report data.
// Thread-safe after Open(): reads use pread.
#pragma once

#include <memory>
#include <string>

#include "copy/endpoint.h"

namespace v2r {

class FileSource : public Source {
 public:
  // Refused with a clear message when the path is missing, a directory,
  // neither a regular file nor a block device, or unreadable.
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const std::string& name() const override { return path_; }
  uint64_t size() const override { return size_; }
  size_t alignment() const override { return direct_ ? align_ : 1; }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override;
  // Buffers must be aligned to alignment() and hold `length` rounded up to it.
  Status Read(uint64_t offset, void* buf, size_t length) override;

  bool is_block_device() const { return block_; }
  // Bytes allocated on disk (st_blocks) for files; the size for devices.
  uint64_t allocated_bytes() const { return allocated_; }
  // Identifies the source and its content cheaply, to tell on resume that
  // it is the same disk, unchanged: kind, device/inode, size, mtime (files)
  // and a hash of its first and last MiB.
  Result<std::string> Fingerprint();

 private:
  FileSource() = default;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t allocated_ = 0;
  size_t align_ = 4096;
  bool direct_ = false;
  bool block_ = false;
  bool seek_data_ = false;
  std::string id_;  // device numbers or inode, and mtime
};

// Which disk a Fingerprint() names, without what may change while it is the
// same disk (a file's mtime, the content samples): "blk:MAJ:MIN:size=N" or
// "file:DEV:INO:size=N". A resume that rechecks every chunk needs no more.
std::string FingerprintIdentity(const std::string& fingerprint);

}  // namespace v2r
