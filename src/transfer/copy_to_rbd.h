// `virt2rbd copy` and `virt2rbd verify` without the CLI: a local disk into a
// new RBD image, verified by reading back; and the check on its own.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "base/abandon.h"
#include "base/status.h"
#include "ceph/cluster_api.h"
#include "ceph/options.h"
#include "copy/checksum.h"
#include "copy/engine.h"
#include "copy/hash_sink.h"
#include "ceph/image_spec.h"
#include "base/observer.h"

namespace v2r {

struct CopyRequest {
  std::string source;
  ImageSpec target;
  CephOptions ceph;        // already resolved (CEPH_ARGS applied)
  CopyOptions copy;               // copy.stall_*: the watchdog (on_stall_warning is set here)
  uint64_t bandwidth = 0;         // bytes/s, 0: unlimited
  bool verify = true;
  int verify_threads = 4;
  const std::atomic<bool>* cancel = nullptr;
  // Marked when writes in flight to a stalled cluster are abandoned (the
  // caller must then end the process with _Exit); required.
  Abandonment* abandonment = nullptr;
};

struct CopyReport {
  std::string source;
  std::string image;
  uint64_t size = 0;
  uint64_t bytes_copied = 0;
  uint64_t bytes_zero = 0;
  double seconds = 0;
  std::string digest;
  bool verified = false;
  double verify_seconds = 0;  // what verifying added after the copy (it reads back while copying)
};

// Creates the image at the source's exact size, copies, flushes, verifies.
// Refused (nothing created) when the source is unusable, the cluster
// unreachable, the pool missing or not RBD, or the image exists. On any later
// failure or interruption the image this call created is removed; the status
// says so. A verification mismatch keeps the image for inspection.
// Ceph is reached through `open_cluster` (RadosOpener() outside tests).
Result<CopyReport> CopyToRbd(const CopyRequest& req, Observer* observer, const ClusterOpener& open_cluster);

// Reads an image back through its own connection with librbd's cache off,
// so what is hashed is what the OSDs hold.
Result<BlockHashes> HashImage(const ClusterOpener& open_cluster, const CephOptions& ceph, const ImageSpec& target,
                              const HashOptions& hopts, ProgressCounters* progress);

struct VerifyRequest {
  std::string source;
  ImageSpec target;
  CephOptions ceph;
  int threads = 4;
  const std::atomic<bool>* cancel = nullptr;
};

struct VerifyReport {
  std::string source;
  std::string image;
  uint64_t size = 0;
  std::string digest;             // of the source
  std::string image_digest;
  std::vector<Extent> mismatches; // empty when identical
  double seconds = 0;
};

// Reads both sides and compares them block by block. A difference (in size
// or data) is a kMismatch status; the report is returned through `report`
// in every case where both sides could be read.
Status VerifyAgainstRbd(const VerifyRequest& req, Observer* observer, const ClusterOpener& open_cluster,
                        VerifyReport* report);

}  // namespace v2r
