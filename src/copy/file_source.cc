#include "copy/file_source.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include <algorithm>
#include <cerrno>

#include "copy/buffer.h"
#include "copy/checksum.h"

namespace v2r {

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("source {}", path), errno,
                             "give the path of a block device or raw image file");
  if (S_ISDIR(st.st_mode))
    return Status::Refused(fmt::format("source {} is a directory", path),
                           "give the path of a block device or raw image file");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return Status::Refused(fmt::format("source {} is neither a block device nor a regular file", path));

  std::unique_ptr<FileSource> src(new FileSource());
  src->path_ = path;
  src->block_ = S_ISBLK(st.st_mode);
  src->id_ = src->block_ ? fmt::format("blk:{}:{}", major(st.st_rdev), minor(st.st_rdev))
                         : fmt::format("file:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  // O_RDONLY always: a source is never written.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd >= 0) {
    src->direct_ = true;
  } else if (errno == EINVAL) {  // filesystem without O_DIRECT (tmpfs)
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return Status::FromErrno(Kind::kRefused, fmt::format("opening source {}", path), errno);
  src->fd_ = fd;

  if (src->block_) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0)
      return Status::FromErrno(Kind::kRefused, fmt::format("sizing block device {}", path), errno);
    int lbs = 0;
    if (::ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0) src->align_ = std::max<size_t>(lbs, 512);
    src->size_ = bytes;
    src->allocated_ = bytes;
  } else {
    src->size_ = static_cast<uint64_t>(st.st_size);
    src->allocated_ = static_cast<uint64_t>(st.st_blocks) * 512;
    src->align_ = 4096;
    // Probe once whether the filesystem reports holes; quietly fall back.
    src->seek_data_ = src->size_ == 0 || ::lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
  }
  return src;
}

Result<std::string> FileSource::Fingerprint() {
  constexpr uint64_t kSample = 1 << 20;
  AlignedBuffer buf = AllocateAligned(kSample);
  std::string fp = fmt::format("{}:size={}", id_, size_);
  for (uint64_t off : {uint64_t{0}, size_ > kSample ? (size_ - kSample) / 4096 * 4096 : uint64_t{0}}) {
    uint64_t len = std::min(kSample, size_ - off);
    if (len == 0) break;
    V2R_RETURN_IF_ERROR(Read(off, buf.get(), len));
    fp += ":" + HashBytes(buf.get(), len).Hex().substr(0, 16);
  }
  return fp;
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::vector<Extent>> FileSource::Extents(uint64_t offset, uint64_t length) {
  std::vector<Extent> out;
  const uint64_t end = std::min(offset + length, size_);
  if (!seek_data_ || block_) {
    out.push_back({offset, end - offset, false});
    return out;
  }
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) data = static_cast<off_t>(end);  // only a hole is left
    if (data < 0)
      return Status::FromErrno(Kind::kFailed, fmt::format("mapping {} at offset {}", path_, pos), errno);
    uint64_t dstart = std::min<uint64_t>(data, end);
    if (dstart > pos) out.push_back({pos, dstart - pos, true});
    if (dstart >= end) break;
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0)
      return Status::FromErrno(Kind::kFailed, fmt::format("mapping {} at offset {}", path_, data), errno);
    uint64_t dend = std::min<uint64_t>(hole, end);
    out.push_back({dstart, dend - dstart, false});
    pos = dend;
  }
  return out;
}

Status FileSource::Read(uint64_t offset, void* buf, size_t length) {
  if (offset + length > size_)
    return Status::Internal(fmt::format("read of {} past its end ({} + {} > {})", path_, offset, length, size_));
  // With O_DIRECT the length must be a multiple of the alignment; past the
  // end of a file the kernel returns a short read, which is what we want.
  size_t want = direct_ ? (length + align_ - 1) / align_ * align_ : length;
  auto* p = static_cast<unsigned char*>(buf);
  size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd_, p + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::FromErrno(Kind::kFailed,
                               fmt::format("reading source {} at offset {} (length {})", path_, offset + got,
                                           length - got),
                               errno);
    if (n == 0)
      return Status::Failed(fmt::format("reading source {} at offset {}: unexpected end of data (source shrank?)",
                                        path_, offset + got));
    got += static_cast<size_t>(n);
    if (direct_ && got < length && got % align_ != 0)
      return Status::Failed(fmt::format("reading source {} at offset {}: short read", path_, offset + got));
  }
  if (!direct_) ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
  return Status::Ok();
}

std::string FingerprintIdentity(const std::string& fingerprint) {
  std::vector<std::string> parts;
  for (size_t pos = 0;;) {
    size_t colon = fingerprint.find(':', pos);
    parts.push_back(fingerprint.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  std::string id;
  for (size_t i = 0; i < parts.size() && i < 3; ++i) id += (i ? ":" : "") + parts[i];
  for (const std::string& p : parts)
    if (p.rfind("size=", 0) == 0) id += ":" + p;
  return id;
}

}  // namespace v2r
