// A Source that fails with EIO when a read covers one chosen offset; wraps
// another. For fault-injection tests (base/fault.h).
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <memory>

#include "copy/endpoint.h"

namespace v2r {

class FaultySource : public Source {
 public:
  FaultySource(std::unique_ptr<Source> inner, uint64_t fail_at) : inner_(std::move(inner)), fail_at_(fail_at) {}
  const std::string& name() const override { return inner_->name(); }
  uint64_t size() const override { return inner_->size(); }
  size_t alignment() const override { return inner_->alignment(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return inner_->Extents(offset, length);
  }
  Status Read(uint64_t offset, void* buf, size_t length) override {
    if (fail_at_ >= offset && fail_at_ < offset + length)
      return Status::FromErrno(Kind::kFailed,
                               fmt::format("reading source {} at offset {} (length {})", name(), offset, length), EIO);
    return inner_->Read(offset, buf, length);
  }

 private:
  std::unique_ptr<Source> inner_;
  uint64_t fail_at_;
};

}  // namespace v2r
