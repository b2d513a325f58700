// The engine's endpoints over an NBD export (nbd/export.h), through libnbd:
// NbdSource reads a disk in any format qemu reads, with the export's
// base:allocation block status as its extent map (holes and zero clusters
// are never read as data); NbdSink writes one back (zeroes as NBD
// WRITE_ZEROES, so a qcow2 stays thin).
//
// Each endpoint keeps a few connections, one per concurrent request, since
// one libnbd handle serialises its calls.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "copy/endpoint.h"

struct nbd_handle;

namespace v2r {

class NbdConnections {
 public:
  // Connects COUNT handles to the Unix socket PATH; NAME is the endpoint's
  // name in messages (the disk's target or source).
  static Result<std::unique_ptr<NbdConnections>> Open(const std::string& path, const std::string& name, int count,
                                                      bool want_allocation);
  ~NbdConnections();
  NbdConnections(const NbdConnections&) = delete;
  NbdConnections& operator=(const NbdConnections&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  bool has_allocation() const { return has_allocation_; }
  bool read_only() const { return read_only_; }
  bool can_zero() const { return can_zero_; }
  uint64_t max_request() const { return max_request_; }

  // One handle for the time of a call.
  class Lease {
   public:
    Lease(NbdConnections& c);
    ~Lease();
    nbd_handle* get() const { return h_; }
   private:
    NbdConnections& c_;
    nbd_handle* h_;
  };

  // Flushes every connection, once no call is running on any.
  Status FlushAll();

  Status Error(const std::string& what, uint64_t offset, uint64_t length) const;

 private:
  NbdConnections() = default;
  std::string name_;
  uint64_t size_ = 0;
  bool has_allocation_ = false;
  bool read_only_ = true;
  bool can_zero_ = false;
  uint64_t max_request_ = 32ull << 20;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nbd_handle*> all_;
  std::vector<nbd_handle*> free_;
};

class NbdSource : public Source {
 public:
  explicit NbdSource(std::unique_ptr<NbdConnections> c) : c_(std::move(c)) {}
  const std::string& name() const override { return c_->name(); }
  uint64_t size() const override { return c_->size(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override;
  Status Read(uint64_t offset, void* buf, size_t length) override;

 private:
  std::unique_ptr<NbdConnections> c_;
};

class NbdSink : public Sink {
 public:
  // Refused when the export is read-only.
  static Result<std::unique_ptr<NbdSink>> Make(std::unique_ptr<NbdConnections> c, uint64_t object_size);
  const std::string& name() const override { return c_->name(); }
  uint64_t size() const override { return c_->size(); }
  uint64_t object_size() const override { return object_size_; }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override;
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override;
  void Flush(Completion done) override;

 private:
  NbdSink(std::unique_ptr<NbdConnections> c, uint64_t object_size) : c_(std::move(c)), object_size_(object_size) {}
  Status ZeroRange(uint64_t offset, uint64_t length);
  std::unique_ptr<NbdConnections> c_;
  uint64_t object_size_;
};

}  // namespace v2r
