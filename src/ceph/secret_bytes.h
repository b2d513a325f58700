// SecretBytes: key material (a cephx key) held in memory only as long as
// needed, and wiped when it goes.
//
// Owns its bytes; zeroes them (explicit_bzero) on destruction, on Wipe() and
// when moved from. Copying is deleted and there is no operator<< or
// conversion to std::string on purpose: the bytes reach exactly one consumer
// (virSecretSetValue) through data()/size(). Never format, log or pass them
// on a command line or in the environment.
// Threads: a value type; not shared between threads.
#pragma once

#include <string.h>  // explicit_bzero

#include <cstddef>
#include <string>
#include <utility>

namespace v2r {

class SecretBytes {
 public:
  SecretBytes() = default;
  // Copies [data, data+size); the caller wipes its own buffer.
  SecretBytes(const char* data, size_t size) {
    bytes_.reserve(size);
    bytes_.assign(data, size);  // within capacity: no reallocation
  }
  ~SecretBytes() { Wipe(); }

  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.Wipe(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.Wipe();  // a short (in-object) string is copied, not stolen
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  const char* data() const { return bytes_.data(); }
  char* mutable_data() { return bytes_.data(); }
  const unsigned char* udata() const { return reinterpret_cast<const unsigned char*>(bytes_.data()); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Makes room for `n` bytes in total; the old buffer (if any) is wiped, so
  // appending within the reserved size leaves no copies behind.
  void Reserve(size_t n) {
    if (n <= bytes_.capacity()) return;
    std::string bigger;
    bigger.reserve(n);
    bigger.assign(bytes_);
    Wipe();
    bytes_.swap(bigger);  // `bigger` now holds the wiped old buffer
  }
  void PushBack(char c) {
    if (bytes_.size() == bytes_.capacity()) Reserve(bytes_.capacity() * 2 + 16);
    bytes_.push_back(c);
  }
  void Append(const char* data, size_t size) {
    Reserve(bytes_.size() + size);
    bytes_.append(data, size);
  }

  // Zeroes every byte of the buffer (its whole capacity) and empties it.
  void Wipe() noexcept {
    bytes_.resize(bytes_.capacity());  // within capacity: no reallocation
    explicit_bzero(bytes_.data(), bytes_.size());
    bytes_.clear();
  }

 private:
  std::string bytes_;
};

// Zeroes a std::string's whole buffer and empties it (for a buffer that held
// key material before it was parsed or decoded).
inline void WipeString(std::string& s) noexcept {
  s.resize(s.capacity());
  explicit_bzero(s.data(), s.size());
  s.clear();
}

}  // namespace v2r
