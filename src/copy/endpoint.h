// The two ends of a copy, behind one small interface each.
//
// The copy engine, the hasher and the verifier only see these interfaces: a
// local file or block device, an RBD image, or an in-memory endpoint in tests.
// Nothing under copy/ includes librbd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r {

// A byte range. `zero` means the range is known to read as zeros without
// reading it (a hole in a file, an unallocated extent of an image).
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;
  uint64_t end() const { return offset + length; }
  bool operator==(const Extent&) const = default;
};

// Something to read from. Implementations must allow read() and extents()
// from several threads at once (pread-like, no shared cursor).
class Source {
 public:
  virtual ~Source() = default;
  // For messages: "/dev/loop3", "libvirt/vm-vda".
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Required alignment of buffers, offsets and lengths passed to read()
  // (except a final short read at end of source). 1 if none.
  virtual size_t alignment() const { return 1; }
  // Data and zero extents covering [offset, offset+length), in order, without
  // gaps. A source without an allocation map returns one data extent.
  virtual Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) {
    return std::vector<Extent>{{offset, length, false}};
  }
  // Reads exactly `length` bytes at `offset`. The error names source and offset.
  virtual Status Read(uint64_t offset, void* buf, size_t length) = 0;
};

// Called exactly once, from any thread, when an asynchronous operation ends.
// Must only record and signal: never block, never call back into the sink.
using Completion = std::function<void(Status)>;

// What a sink is, asked once per copy (as nbdcopy asks an NBD server
// before it starts): the engine plans its zero handling from it.
struct SinkCapabilities {
  // Reads as zeros wherever nothing was written, whatever the caller says
  // (a sink that keeps no bytes): zero runs never need a write.
  bool fresh = false;
  // Zero runs are worth finding in what is read. False for a sink that only
  // hashes: scanning for zeros would cost as much as hashing and save no
  // write; every byte read then goes to the sink as data (holes in the
  // source's map are still skipped).
  bool split_zeros = true;
};

// Something to write to, asynchronously.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual SinkCapabilities capabilities() const { return {}; }
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Writes should be aligned to this (the RBD object size).
  virtual uint64_t object_size() const = 0;
  // `buf` must stay valid until `done` runs.
  virtual void Write(uint64_t offset, const void* buf, size_t length, Completion done) = 0;
  // Makes [offset, offset+length) read as zeros (for ranges that must be
  // overwritten, e.g. on a target that is not fresh).
  virtual void WriteZeroes(uint64_t offset, uint64_t length, Completion done) = 0;
  // Everything completed before this call is durable when `done` runs.
  virtual void Flush(Completion done) = 0;
};

}  // namespace v2r
