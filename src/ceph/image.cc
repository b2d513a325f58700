#include "ceph/image.h"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace v2r {

static_assert(std::is_same_v<RbdImageHandle, rbd_image_t>);
namespace {

std::string ImagePath(const IoCtx& io, const std::string& name) { return io.pool() + "/" + name; }

// rbd_read2 returns ssize_t and librbd refuses lengths beyond INT_MAX: read
// large buffers in pieces.
constexpr size_t kMaxReadChunk = size_t{64} << 20;

constexpr int kReadFlags = LIBRADOS_OP_FLAG_FADVISE_DONTNEED | LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL;

// One asynchronous sink operation: owned by its rbd completion's callback
// argument from submission until the callback runs.
struct AioRequest {
  enum class Op { kWrite, kZero, kFlush };
  Op op;
  const std::string* image_name;  // the RbdImage outlives its operations
  uint64_t offset;
  uint64_t length;
  Completion done;
};

Status AioError(const AioRequest& req, int ret) {
  std::string what;
  switch (req.op) {
    case AioRequest::Op::kWrite:
      what = fmt::format("writing {} at offset {} (length {})", *req.image_name, req.offset, req.length);
      break;
    case AioRequest::Op::kZero:
      what = fmt::format("zeroing {} at offset {} (length {})", *req.image_name, req.offset, req.length);
      break;
    case AioRequest::Op::kFlush:
      what = fmt::format("flushing {}", *req.image_name);
      break;
  }
  return Status::FromErrno(Kind::kFailed, what, ret);
}

// Runs on a librbd thread: records the result and hands it on, never blocks.
void AioCallback(rbd_completion_t c, void* arg) {
  std::unique_ptr<AioRequest> req(static_cast<AioRequest*>(arg));
  ssize_t ret = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  req->done(ret < 0 ? AioError(*req, static_cast<int>(ret)) : Status::Ok());
}

// Creates the completion and calls start(c). If either fails synchronously the
// request's Completion runs here with the error.
template <typename Start>
void Submit(std::unique_ptr<AioRequest> req, Start start) {
  rbd_completion_t c = nullptr;
  int r = rbd_aio_create_completion(req.get(), AioCallback, &c);
  if (r < 0) {
    req->done(AioError(*req, r));
    return;
  }
  AioRequest* raw = req.release();
  r = start(c);
  if (r < 0) {
    // Not queued: the callback will not run.
    rbd_aio_release(c);
    std::unique_ptr<AioRequest> back(raw);
    back->done(AioError(*back, r));
  }
}

// State of one rbd_diff_iterate2 call. librbd may call back from its own
// threads, so the ranges are collected under a lock and sorted afterwards.
struct DiffState {
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint64_t>> data;  // offset, length
};

int DiffCallback(uint64_t offset, size_t length, int exists, void* arg) {
  if (exists != 0 && length > 0) {
    auto* st = static_cast<DiffState*>(arg);
    std::lock_guard<std::mutex> lock(st->mu);
    st->data.emplace_back(offset, length);
  }
  return 0;
}

}  // namespace

Result<bool> ImageExists(IoCtx& io, const std::string& name) {
  rbd_image_t image = nullptr;
  int r = rbd_open_read_only(io.handle(), name.c_str(), &image, nullptr);
  if (r == -ENOENT) return false;
  if (r < 0) {
    return Status::FromErrno(Kind::kRefused,
                             fmt::format("checking whether image {} exists", ImagePath(io, name)), r);
  }
  rbd_close(image);
  return true;
}

Result<bool> ImageNameListed(IoCtx& io, const std::string& name) {
  std::vector<rbd_image_spec_t> specs(64);
  size_t n = specs.size();
  int r;
  while ((r = rbd_list2(io.handle(), specs.data(), &n)) == -ERANGE) specs.resize(n);
  if (r < 0) return Status::FromErrno(Kind::kFailed, fmt::format("listing the images of pool '{}'", io.pool()), r);
  bool found = false;
  for (size_t i = 0; i < n; ++i)
    if (specs[i].name != nullptr && name == specs[i].name) found = true;
  rbd_image_spec_list_cleanup(specs.data(), n);
  return found;
}

Status CreateImage(IoCtx& io, const std::string& name, uint64_t size) {
  const std::string path = ImagePath(io, name);
  rbd_image_options_t opts;
  rbd_image_options_create(&opts);
  int r = rbd_create4(io.handle(), name.c_str(), size, opts);
  rbd_image_options_destroy(opts);
  if (r == -EEXIST) {
    return Status::Refused(fmt::format("image {} already exists", path),
                           fmt::format("choose another image name, or remove it if it is not needed: rbd rm {}",
                                       path));
  }
  if (r < 0) {
    return Status::FromErrno(Kind::kFailed, fmt::format("creating image {} ({} bytes)", path, size), r);
  }
  return Status::Ok();
}

Status RemoveImage(IoCtx& io, const std::string& name) {
  const std::string path = ImagePath(io, name);
  int r;
  {
    PoolFullTry full_try(io);  // a full pool must not keep its space
    r = rbd_remove(io.handle(), name.c_str());
  }
  if (r == 0 || r == -ENOENT) {
    // librbd removes through the pool's trash; where that cannot be recorded
    // (a full pool that never had an image removed: its trash object would
    // have to be created) it may answer ENOENT and leave the image.
    auto still = ImageNameListed(io, name);  // by name: a half-created image does not open
    if (!still.ok()) return still.status();
    if (!*still) return Status::Ok();
    return Status::Failed(fmt::format("removing image {}: it is still there", path),
                          fmt::format("the pool may be full or over quota: give it room (ceph df; ceph osd pool "
                                      "set-quota {} max_bytes N), then retry; or remove it by hand: rbd rm {}",
                                      io.pool(), path));
  }
  std::string hint;
  switch (-r) {
    case EBUSY:
      hint = fmt::format("a client still has it open (see rbd status {}); stop it and retry", path);
      break;
    case ENOTEMPTY:
      hint = fmt::format("it has snapshots: rbd snap purge {}", path);
      break;
    case EMLINK:
      hint = fmt::format("it has clones: rbd children {}", path);
      break;
    default:
      break;
  }
  return Status::FromErrno(Kind::kFailed, fmt::format("removing image {}", path), r, hint);
}

Result<std::unique_ptr<RbdImage>> RbdImage::Open(IoCtx& io, const std::string& name, bool read_only) {
  const std::string path = ImagePath(io, name);
  rbd_image_t image = nullptr;
  int r = read_only ? rbd_open_read_only(io.handle(), name.c_str(), &image, nullptr)
                    : rbd_open(io.handle(), name.c_str(), &image, nullptr);
  if (r == -ENOENT) {
    return Status::Refused(fmt::format("image {} does not exist", path),
                           fmt::format("check the name: rbd ls {}", io.pool()));
  }
  if (r < 0) return Status::FromErrno(Kind::kRefused, fmt::format("opening image {}", path), r);

  rbd_image_info_t info{};
  r = rbd_stat(image, &info, sizeof(info));
  if (r < 0) {
    rbd_close(image);
    return Status::FromErrno(Kind::kRefused, fmt::format("reading the size of image {}", path), r);
  }
  uint64_t object_size = info.obj_size != 0 ? info.obj_size : (uint64_t{1} << info.order);
  return std::unique_ptr<RbdImage>(new RbdImage(image, path, info.size, object_size, read_only));
}

void CloseRbdImage(RbdImageHandle image) { rbd_close(image); }

// librbd silently truncates I/O that crosses the end of the image: refuse it.
bool RbdSink::CheckRange(uint64_t offset, uint64_t length, const Completion& done) const {
  if (offset <= size() && length <= size() - offset) return true;
  done(Status::Internal(
      fmt::format("writing {} at offset {} (length {}): beyond its size {}", name(), offset, length, size())));
  return false;
}

void RbdSink::Write(uint64_t offset, const void* buf, size_t length, Completion done) {
  if (!CheckRange(offset, length, done)) return;
  auto req = std::unique_ptr<AioRequest>(
      new AioRequest{AioRequest::Op::kWrite, &image_->name(), offset, length, std::move(done)});
  rbd_image_t image = image_->handle();
  Submit(std::move(req), [&](rbd_completion_t c) {
    return rbd_aio_write(image, offset, length, static_cast<const char*>(buf), c);
  });
}

void RbdSink::WriteZeroes(uint64_t offset, uint64_t length, Completion done) {
  if (!CheckRange(offset, length, done)) return;
  auto req = std::unique_ptr<AioRequest>(
      new AioRequest{AioRequest::Op::kZero, &image_->name(), offset, length, std::move(done)});
  rbd_image_t image = image_->handle();
  Submit(std::move(req), [&](rbd_completion_t c) {
    return rbd_aio_write_zeroes(image, offset, static_cast<size_t>(length), c, 0, 0);
  });
}

void RbdSink::Flush(Completion done) {
  auto req =
      std::unique_ptr<AioRequest>(new AioRequest{AioRequest::Op::kFlush, &image_->name(), 0, 0, std::move(done)});
  rbd_image_t image = image_->handle();
  Submit(std::move(req), [&](rbd_completion_t c) { return rbd_aio_flush(image, c); });
}

Status RbdSource::Read(uint64_t offset, void* buf, size_t length) {
  if (offset > size() || length > size() - offset) {
    return Status::Internal(
        fmt::format("reading {} at offset {} (length {}): beyond its size {}", name(), offset, length, size()));
  }
  char* p = static_cast<char*>(buf);
  while (length > 0) {
    size_t chunk = std::min(length, kMaxReadChunk);
    ssize_t r = rbd_read2(image_->handle(), offset, chunk, p, kReadFlags);
    if (r < 0) {
      return Status::FromErrno(Kind::kFailed, fmt::format("reading {} at offset {}", name(), offset),
                               static_cast<int>(r));
    }
    if (r == 0) {
      return Status::Failed(fmt::format("reading {} at offset {}: unexpected end of image (size {})", name(),
                                        offset, size()));
    }
    p += r;
    offset += static_cast<uint64_t>(r);
    length -= static_cast<size_t>(r);
  }
  return Status::Ok();
}

Result<std::vector<Extent>> RbdSource::Extents(uint64_t offset, uint64_t length) {
  if (offset > size() || length > size() - offset) {
    return Status::Internal(fmt::format("extents of {} asked for [{}, +{}) beyond its size {}", name(), offset,
                                        length, size()));
  }
  std::vector<Extent> out;
  if (length == 0) return out;

  DiffState st;
  int r = rbd_diff_iterate2(image_->handle(), nullptr, offset, length, /*include_parent=*/1,
                            /*whole_object=*/exact_ ? 0 : 1, DiffCallback, &st);
  if (r < 0) {
    return Status::FromErrno(Kind::kFailed,
                             fmt::format("listing allocated extents of {} at offset {} (length {})", name(),
                                         offset, length),
                             r);
  }
  std::sort(st.data.begin(), st.data.end());

  const uint64_t end = offset + length;
  uint64_t pos = offset;  // everything before pos is covered in `out`
  for (const auto& [data_off, data_len] : st.data) {
    uint64_t b = std::max(data_off, pos);
    uint64_t e = std::min(data_off + data_len, end);
    if (e <= b) continue;  // outside the range or already covered
    if (b > pos) out.push_back({pos, b - pos, true});
    if (!out.empty() && !out.back().zero && out.back().end() == b) {
      out.back().length += e - b;
    } else {
      out.push_back({b, e - b, false});
    }
    pos = e;
  }
  if (pos < end) out.push_back({pos, end - pos, true});
  return out;
}

}  // namespace v2r
