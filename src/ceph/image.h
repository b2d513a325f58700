// RBD images (librbd): existence, creation, removal, an open-image handle,
// and the Sink / Source implementations the copy engine writes and reads.
// Internals of the real Cluster seam (ceph/rados_api.cc): code above ceph/
// uses ceph/cluster_api.h.
//
// Lifetime: every object here that refers to an IoCtx must be destroyed
// before it (and the IoCtx before its RadosCluster). An RbdImage, RbdSink or
// RbdSource must not be destroyed while one of its asynchronous operations is
// in flight (the engine drains everything first).
// Threads: librbd image handles are thread-safe: Read/Extents on an RbdSource
// and Write/WriteZeroes/Flush on an RbdSink may be called from several threads
// at once. Completions run on librbd threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "ceph/cluster.h"
#include "copy/endpoint.h"

namespace v2r {

// librbd's rbd_image_t is a typedef of void*: opaque here (see cluster.h).
using RbdImageHandle = void*;

// rbd_close, for OwnedHandle (ceph/image.cc).
void CloseRbdImage(RbdImageHandle image);

// Whether image `name` exists in the pool (opens it read-only to find out).
Result<bool> ImageExists(IoCtx& io, const std::string& name);

// Creates a new image with the cluster's default format, features and object
// size. An existing image is kRefused with a hint; other errors are kFailed.
Status CreateImage(IoCtx& io, const std::string& name, uint64_t size);

// Removes an image; one that does not exist is not an error. Failures are
// kFailed (still open by a client, has snapshots, ...), with a hint.
Status RemoveImage(IoCtx& io, const std::string& name);
// Whether the pool's directory lists `name`; unlike ImageExists also true for
// an image whose creation was interrupted (listed, but it does not open).
Result<bool> ImageNameListed(IoCtx& io, const std::string& name);

// An open image (rbd_image_t). Move-only; rbd_close on destruction.
class RbdImage {
 public:
  // A missing image is kRefused; so is any other failure to open.
  static Result<std::unique_ptr<RbdImage>> Open(IoCtx& io, const std::string& name, bool read_only);

  RbdImageHandle handle() const { return image_; }
  // "pool/image", for messages.
  const std::string& name() const { return name_; }
  // Size when opened (the image is not resized behind our back).
  uint64_t size() const { return size_; }
  uint64_t object_size() const { return object_size_; }
  bool read_only() const { return read_only_; }

 private:
  RbdImage(RbdImageHandle image, std::string name, uint64_t size, uint64_t object_size, bool read_only)
      : image_(image), name_(std::move(name)), size_(size), object_size_(object_size), read_only_(read_only) {}

  OwnedHandle<RbdImageHandle, CloseRbdImage> image_;
  std::string name_;
  uint64_t size_ = 0;
  uint64_t object_size_ = 0;
  bool read_only_ = false;
};

// What RbdSink and RbdSource share: the image they go through (not owned:
// it must outlive them), whose name and size they answer.
template <class Endpoint>
class OnRbdImage : public Endpoint {
 public:
  explicit OnRbdImage(RbdImage& image) : image_(&image) {}
  OnRbdImage(const OnRbdImage&) = delete;
  OnRbdImage& operator=(const OnRbdImage&) = delete;

  const std::string& name() const override { return image_->name(); }
  uint64_t size() const override { return image_->size(); }

 protected:
  RbdImage* image_;
};

// Asynchronous writes into an image opened read-write. Each operation's
// Completion runs exactly once: on a librbd thread, or on the calling thread
// if librbd refused to queue the request. Errors are kFailed and name the
// image, offset and length; a range beyond the image's size (which librbd
// would silently truncate) is kInternal, reported on the calling thread.
class RbdSink : public OnRbdImage<Sink> {
 public:
  using OnRbdImage::OnRbdImage;

  uint64_t object_size() const override { return image_->object_size(); }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override;
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override;
  void Flush(Completion done) override;


 private:
  bool CheckRange(uint64_t offset, uint64_t length, const Completion& done) const;
};

// Reads from an image (normally opened read-only). Read errors are kFailed
// and name the image and offset.
class RbdSource : public OnRbdImage<Source> {
 public:
  using OnRbdImage::OnRbdImage;
  // exact: Extents lists the allocated byte ranges (whole_object=false),
  // for a source image whose copy must stay as thin as it is.
  RbdSource(RbdImage& image, bool exact) : OnRbdImage(image), exact_(exact) {}

  // Data extents are the allocated objects (rbd_diff_iterate2, whole objects
  // unless exact, parent included); everything else reads as zeros. The range
  // must lie within the image.
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override;
  Status Read(uint64_t offset, void* buf, size_t length) override;

 private:
  bool exact_ = false;
};

}  // namespace v2r
