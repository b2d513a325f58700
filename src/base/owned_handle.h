// An owning handle to a C library's object (rados_t, rbd_image_t,
// virConnectPtr, ...), so that the classes holding one need no hand-written
// destructor or move operations.
#pragma once

#include <utility>

namespace v2r {

// Move-only; a move leaves the source empty; Release(handle) on destruction
// when not empty. Converts to the raw handle, for the C calls.
template <class Handle, void (*Release)(Handle)>
class OwnedHandle {
 public:
  OwnedHandle() = default;
  explicit OwnedHandle(Handle h) : h_(h) {}
  ~OwnedHandle() { Reset(); }
  OwnedHandle(OwnedHandle&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  OwnedHandle& operator=(OwnedHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;

  operator Handle() const { return h_; }  // NOLINT(google-explicit-constructor): used as the raw handle

 private:
  void Reset() {
    if (h_ != nullptr) Release(std::exchange(h_, nullptr));
  }

  Handle h_ = nullptr;
};

}  // namespace v2r
