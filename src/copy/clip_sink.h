// A sink that passes on only the parts of each write inside a set of ranges
// (rounded out to a granularity, e.g. a qcow2 cluster), and completes the
// rest at once: the copy-back into an image file writes whole chunks, but
// only the extents that changed reach the image, so a layer above a backing
// file stays as thin as the guest's own writes would have left it. The bytes
// outside the ranges must equal what the target holds already (they are the
// unchanged part of the chunk).
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "copy/endpoint.h"

namespace v2r {

class ClipSink : public Sink {
 public:
  // RANGES: sorted by offset (their zero flag is ignored).
  ClipSink(std::unique_ptr<Sink> inner, const std::vector<Extent>& ranges, uint64_t granularity)
      : inner_(std::move(inner)) {
    for (const Extent& e : ranges) {
      if (e.length == 0) continue;
      uint64_t b = e.offset / granularity * granularity;
      uint64_t x = std::min(inner_->size(), (e.end() + granularity - 1) / granularity * granularity);
      if (!ranges_.empty() && b <= ranges_.back().end())
        ranges_.back().length = std::max(ranges_.back().end(), x) - ranges_.back().offset;
      else
        ranges_.push_back({b, x - b, false});
    }
  }
  SinkCapabilities capabilities() const override { return inner_->capabilities(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t size() const override { return inner_->size(); }
  uint64_t object_size() const override { return inner_->object_size(); }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override {
    Split(offset, length, std::move(done), [&](uint64_t o, uint64_t l, Completion c) {
      inner_->Write(o, static_cast<const char*>(buf) + (o - offset), l, std::move(c));
    });
  }
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override {
    Split(offset, length, std::move(done),
          [&](uint64_t o, uint64_t l, Completion c) { inner_->WriteZeroes(o, l, std::move(c)); });
  }
  void Flush(Completion done) override { inner_->Flush(std::move(done)); }
  // The bytes passed on so far (data and zeroes).
  uint64_t passed() const { return passed_.load(); }

 private:
  // One completion for the pieces of [offset, offset+length) inside the
  // ranges: the first error, or OK once every piece ended.
  template <typename F>
  void Split(uint64_t offset, uint64_t length, Completion done, F issue) {
    std::vector<Extent> pieces;
    const uint64_t end = offset + length;
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), offset,
                               [](uint64_t o, const Extent& r) { return o < r.end(); });
    for (; it != ranges_.end() && it->offset < end; ++it) {
      uint64_t b = std::max(offset, it->offset), x = std::min(end, it->end());
      if (x > b) pieces.push_back({b, x - b, false});
    }
    if (pieces.empty()) {
      done(Status::Ok());
      return;
    }
    struct Join {
      std::mutex mu;
      size_t left;
      Status st;
      Completion done;
    };
    auto j = std::make_shared<Join>();
    j->left = pieces.size();
    j->done = std::move(done);
    for (const Extent& p : pieces) {
      passed_ += p.length;
      issue(p.offset, p.length, [j](Status st) {
        Completion finish;
        Status out;
        {
          std::lock_guard<std::mutex> lock(j->mu);
          if (!st.ok() && j->st.ok()) j->st = st;
          if (--j->left > 0) return;
          finish = std::move(j->done);
          out = j->st;
        }
        finish(out);
      });
    }
  }

  std::unique_ptr<Sink> inner_;
  std::vector<Extent> ranges_;  // merged, rounded out
  std::atomic<uint64_t> passed_{0};
};

}  // namespace v2r
