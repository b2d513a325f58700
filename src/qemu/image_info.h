// What qemu-img says about an image and its backing chain, for the plan and
// for the fingerprint that tells whether any layer changed since the copy
// began. The top layer's format is always the caller's (libvirt's
// definition): never probed. A backing layer whose format its parent does
// not record would be probed by qemu, so it is refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r {

struct ImageLayer {
  std::string filename;  // as qemu resolved it
  std::string format;    // qcow2, raw, vmdk, ...
  uint64_t virtual_size = 0;
  uint64_t actual_size = 0;  // bytes allocated on the host
  std::vector<std::string> snapshots;  // internal snapshots (qcow2)
  bool encrypted = false;
  bool corrupt = false;
  bool dirty = false;  // qcow2 with lazy refcounts not closed cleanly
};

struct ImageChain {
  std::vector<ImageLayer> layers;  // [0] = the active layer
  uint64_t virtual_size() const { return layers.empty() ? 0 : layers[0].virtual_size; }
  // "qcow2", "qcow2 <- qcow2 <- raw" (active first)
  std::string Describe() const;
};

// Runs `qemu-img info -U --backing-chain --output=json -f FORMAT PATH`.
// Refused (with qemu's reason) for a missing or unreadable image, a missing
// backing file, a corrupt or encrypted image, a format qemu cannot read, and a
// backing layer without a recorded format.
Result<ImageChain> ProbeImageChain(const std::string& path, const std::string& format);

// Parses that JSON (for tests); PATH names the image in messages.
Result<ImageChain> ParseImageChain(const std::string& json, const std::string& path);

// Identity and modification times of every file of the chain: changes when
// any layer is written, replaced or rebased.
Result<std::string> ChainFingerprint(const ImageChain& chain);

// Runs ARGV (argv[0] looked up in PATH) and returns its standard output;
// a non-zero exit is an error carrying its standard error.
Result<std::string> RunTool(const std::vector<std::string>& argv);

}  // namespace v2r
