#include "qemu/nbd_endpoint.h"

#include <libnbd.h>

#include <fmt/format.h>

#include <algorithm>

namespace v2r {

namespace {

constexpr uint64_t kStatusRequest = 1ull << 30;  // block status asked per call (the protocol's count is 32-bit)

struct ExtentCollector {
  uint64_t offset;
  uint64_t end;
  std::vector<Extent>* out;
};

int CollectExtents(void* user, const char* context, uint64_t offset, uint32_t* entries, size_t n, int* error) {
  auto* c = static_cast<ExtentCollector*>(user);
  if (std::string(context) != LIBNBD_CONTEXT_BASE_ALLOCATION) return 0;
  uint64_t at = offset;
  for (size_t i = 0; i + 1 < n && at < c->end; i += 2) {
    uint64_t len = std::min<uint64_t>(entries[i], c->end - at);
    bool zero = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0;
    if (!c->out->empty() && c->out->back().zero == zero && c->out->back().end() == at)
      c->out->back().length += len;
    else
      c->out->push_back({at, len, zero});
    at += len;
  }
  c->offset = at;
  return 0;
}

}  // namespace

Status NbdConnections::Error(const std::string& what, uint64_t offset, uint64_t length) const {
  const char* msg = nbd_get_error();
  int err = nbd_get_errno();
  Status st = Status::Failed(fmt::format("{} {} bytes at offset {} of {} through NBD: {}", what, length, offset,
                                         name_, msg ? msg : "unknown error"));
  return err ? st.WithErr(err) : st;
}

Result<std::unique_ptr<NbdConnections>> NbdConnections::Open(const std::string& path, const std::string& name,
                                                             int count, bool want_allocation) {
  std::unique_ptr<NbdConnections> c(new NbdConnections());
  c->name_ = name;
  for (int i = 0; i < std::max(count, 1); ++i) {
    nbd_handle* h = nbd_create();
    if (!h) return Status::Failed(fmt::format("libnbd: {}", nbd_get_error()));
    c->all_.push_back(h);
    if ((want_allocation && nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1) ||
        nbd_connect_unix(h, path.c_str()) == -1)
      return Status::Failed(fmt::format("cannot connect to the NBD export of {} at {}: {}", name, path,
                                        nbd_get_error()))
          .WithCause(Cause::kConnectionLost);
    if (i > 0) continue;
    int64_t size = nbd_get_size(h);
    if (size < 0) return c->Error("sizing", 0, 0);
    c->size_ = static_cast<uint64_t>(size);
    c->has_allocation_ = want_allocation && nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
    c->read_only_ = nbd_is_read_only(h) != 0;
    c->can_zero_ = nbd_can_zero(h) == 1;
    int64_t max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
    if (max > 0) c->max_request_ = std::min<uint64_t>(c->max_request_, static_cast<uint64_t>(max));
  }
  c->free_ = c->all_;
  return c;
}

NbdConnections::~NbdConnections() {
  for (nbd_handle* h : all_) {
    nbd_shutdown(h, 0);
    nbd_close(h);
  }
}

NbdConnections::Lease::Lease(NbdConnections& c) : c_(c) {
  std::unique_lock<std::mutex> lock(c.mu_);
  c.cv_.wait(lock, [&] { return !c.free_.empty(); });
  h_ = c.free_.back();
  c.free_.pop_back();
}

NbdConnections::Lease::~Lease() {
  {
    std::lock_guard<std::mutex> lock(c_.mu_);
    c_.free_.push_back(h_);
  }
  c_.cv_.notify_one();
}

Result<std::vector<Extent>> NbdSource::Extents(uint64_t offset, uint64_t length) {
  std::vector<Extent> out;
  if (!c_->has_allocation()) return std::vector<Extent>{{offset, length, false}};
  ExtentCollector col{offset, offset + length, &out};
  NbdConnections::Lease h(*c_);
  while (col.offset < col.end) {
    uint64_t at = col.offset;
    uint64_t count = std::min(kStatusRequest, col.end - at);
    if (nbd_block_status(h.get(), count, at, nbd_extent_callback{CollectExtents, &col, nullptr}, 0) == -1)
      return c_->Error("mapping", at, count);
    if (col.offset == at) return Status::Failed(fmt::format("the NBD export of {} gave no block status at {}",
                                                            c_->name(), at));
  }
  return out;
}

Status NbdSource::Read(uint64_t offset, void* buf, size_t length) {
  NbdConnections::Lease h(*c_);
  auto* p = static_cast<char*>(buf);
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(length - done, c_->max_request());
    if (nbd_pread(h.get(), p + done, n, offset + done, 0) == -1) return c_->Error("reading", offset + done, n);
    done += n;
  }
  return Status::Ok();
}

Result<std::unique_ptr<NbdSink>> NbdSink::Make(std::unique_ptr<NbdConnections> c, uint64_t object_size) {
  if (c->read_only())
    return Status::Internal(fmt::format("the NBD export of {} is read-only: it cannot be written back", c->name()));
  return std::unique_ptr<NbdSink>(new NbdSink(std::move(c), object_size));
}

void NbdSink::Write(uint64_t offset, const void* buf, size_t length, Completion done) {
  NbdConnections::Lease h(*c_);
  auto* p = static_cast<const char*>(buf);
  for (uint64_t n, at = 0; at < length; at += n) {
    n = std::min<uint64_t>(length - at, c_->max_request());
    if (nbd_pwrite(h.get(), p + at, n, offset + at, 0) == -1) return done(c_->Error("writing", offset + at, n));
  }
  done(Status::Ok());
}

Status NbdSink::ZeroRange(uint64_t offset, uint64_t length) {
  NbdConnections::Lease h(*c_);
  if (!c_->can_zero()) {
    std::vector<char> zeros(std::min<uint64_t>(length, c_->max_request()), 0);
    for (uint64_t n, at = 0; at < length; at += n) {
      n = std::min<uint64_t>(length - at, zeros.size());
      if (nbd_pwrite(h.get(), zeros.data(), n, offset + at, 0) == -1) return c_->Error("zeroing", offset + at, n);
    }
    return Status::Ok();
  }
  for (uint64_t n, at = 0; at < length; at += n) {
    n = std::min<uint64_t>(length - at, kStatusRequest);
    if (nbd_zero(h.get(), n, offset + at, 0) == -1) return c_->Error("zeroing", offset + at, n);
  }
  return Status::Ok();
}

void NbdSink::WriteZeroes(uint64_t offset, uint64_t length, Completion done) { done(ZeroRange(offset, length)); }

// Every connection: a flush is only sure to cover the writes made on its own
// connection unless the server promises multi-conn consistency.
Status NbdConnections::FlushAll() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return free_.size() == all_.size(); });
  for (nbd_handle* h : all_)
    if (nbd_flush(h, 0) == -1) return Error("flushing", 0, size_);
  return Status::Ok();
}

void NbdSink::Flush(Completion done) { done(c_->FlushAll()); }

}  // namespace v2r
