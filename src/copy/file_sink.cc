#include "copy/file_sink.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <fmt/format.h>

namespace v2r {

Result<std::unique_ptr<FileSink>> FileSink::Open(const std::string& path, uint64_t object_size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(Kind::kRefused, fmt::format("opening {} for writing", path), errno);
  std::unique_ptr<FileSink> sink(new FileSink());
  sink->fd_ = fd;
  sink->path_ = path;
  sink->object_size_ = object_size;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::FromErrno(Kind::kRefused, fmt::format("stat {}", path), errno);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return Status::Refused(fmt::format("{} is neither a regular file nor a block device", path));
  sink->block_ = S_ISBLK(st.st_mode);
  sink->size_ = static_cast<uint64_t>(st.st_size);
  if (sink->block_) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0)
      return Status::FromErrno(Kind::kRefused, fmt::format("reading the size of {}", path), errno);
    sink->size_ = bytes;
  }
  return sink;
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileSink::WriteAll(uint64_t offset, const void* buf, size_t length) {
  if (offset + length > size_)
    return Status::Internal(fmt::format("write of {} bytes at {} beyond the end of {}", length, offset, path_));
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd_, p + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::FromErrno(Kind::kFailed, fmt::format("writing {} at offset {}", path_, offset + done), errno);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

void FileSink::Write(uint64_t offset, const void* buf, size_t length, Completion done) {
  done(WriteAll(offset, buf, length));
}

// Punches (files) or zeroes out (devices) the range; EOPNOTSUPP and the
// like fall back to writing zeros.
Status FileSink::ZeroRange(uint64_t offset, uint64_t length) {
  if (offset + length > size_)
    return Status::Internal(fmt::format("zeroing {} bytes at {} beyond the end of {}", length, offset, path_));
  int rc;
  if (block_) {
    uint64_t range[2] = {offset, length};
    rc = ::ioctl(fd_, BLKZEROOUT, range);
  } else {
    rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(length));
  }
  if (rc == 0) return Status::Ok();
  if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
    return Status::FromErrno(Kind::kFailed, fmt::format("zeroing {} at offset {}", path_, offset), errno);
  static const std::vector<char> zeros(1 << 20, 0);
  for (uint64_t off = offset; off < offset + length; off += zeros.size()) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(zeros.size(), offset + length - off));
    V2R_RETURN_IF_ERROR(WriteAll(off, zeros.data(), len));
  }
  return Status::Ok();
}

void FileSink::WriteZeroes(uint64_t offset, uint64_t length, Completion done) { done(ZeroRange(offset, length)); }

void FileSink::Flush(Completion done) {
  if (::fdatasync(fd_) != 0) {
    done(Status::FromErrno(Kind::kFailed, fmt::format("syncing {}", path_), errno));
    return;
  }
  done(Status::Ok());
}

}  // namespace v2r
