// The Cluster seam: everything above ceph/ talks to RADOS and RBD through
// these interfaces, never through librados/librbd or the wrappers of
// ceph/cluster.h and ceph/image.h. RadosOpener() gives the real ones
// (ceph/rados_api.cc, over those wrappers); tests/unit/fake_cluster.h an
// in-memory cluster for unit tests.
//
// Contracts (the real implementation's, which a fake keeps):
// - Queries that fail are kRefused unless stated otherwise (nothing changed);
//   changes that fail are kFailed, naming the pool, image, snapshot, key or
//   user. An unreachable cluster is cause kTimeout (an environment fault:
//   callers stop resumable, never undo); a missing pool or image kNotFound.
// - Lifetime: an Image must be destroyed before the Pool it came from, a Pool
//   before its Cluster. An Image used as a Sink must not be destroyed while
//   one of its writes is in flight (the engine drains everything first).
// - Threads: a Cluster and a Pool may be used from several threads at once;
//   so may an Image's Source and Sink calls (the engine's readers and
//   completions). Completions may run on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/admin.h"  // MonAddress, PoolSpace, CephUser
#include "ceph/cluster.h"  // CephConfOverrides, kBulkIoConf (opaque handles only)
#include "ceph/options.h"
#include "ceph/secret_bytes.h"
#include "copy/endpoint.h"

namespace v2r {

// An open RBD image, also the engine's Source (reads, allocated extents) and
// Sink (asynchronous writes; an image opened read-only refuses them). Its
// name() is "pool/image"; its size is the one when opened.
class Image : public Source, public Sink {
 public:
  ~Image() override = default;
  const std::string& name() const override = 0;
  uint64_t size() const override = 0;
  uint64_t object_size() const override = 0;

  // Snapshots. Creating one that exists is fine (its contents are not
  // checked); removing a missing one is fine (a protected one is
  // unprotected first). Names in creation order.
  virtual Status CreateSnapshot(const std::string& snap) = 0;
  // Without asking the image's clients to quiesce (for an image whose only
  // writer is paused and drained already).
  virtual Status CreateSnapshotSkipQuiesce(const std::string& snap) = 0;
  virtual Status RemoveSnapshot(const std::string& snap) = 0;
  virtual Result<std::vector<std::string>> SnapshotNames() = 0;
  // The extents written since `snap`, sorted, adjacent ones of a kind merged;
  // `zero` where the range was discarded or zeroed since. Empty: unchanged.
  // A missing snapshot is kFailed (cause not-found).
  virtual Result<std::vector<Extent>> ChangedSince(const std::string& snap) = 0;
  // The total length of ChangedSince.
  virtual Result<uint64_t> ChangedBytesSince(const std::string& snap) = 0;
  // The clients that have the image open read-write (qemu does; so does a
  // handle of ours opened writable, this one included: open read-only to see
  // only the others), as addresses.
  virtual Result<std::vector<std::string>> Watchers() = 0;
  // Image metadata (rbd image-meta); nullopt when the key is not set.
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  // Deallocates every run of zeros of at least `sparse_size` bytes.
  virtual Status Sparsify(size_t sparse_size) = 0;
  // Breaks the exclusive lock another (dead) client holds; returns how many
  // owners lost theirs. Only for an image whose last writer is known dead.
  virtual Result<int> BreakLocks() = 0;
};

// While alive, removals in the pool proceed even when it is full or over its
// quota (the OSDs still refuse what would store more). Scopes nest.
class FullTryScope {
 public:
  virtual ~FullTryScope() = default;
};

// One pool (a rados_ioctx_t).
class Pool {
 public:
  virtual ~Pool() = default;
  virtual const std::string& name() const = 0;
  // kRefused unless the pool has the 'rbd' application enabled.
  virtual Status CheckRbd() = 0;
  // Whether the image exists (opens it read-only to find out).
  virtual Result<bool> ImageExists(const std::string& image) = 0;
  // Whether the pool's directory lists it: also true for an image whose
  // creation was interrupted (listed, but it does not open).
  virtual Result<bool> ImageListed(const std::string& image) = 0;
  // A new image of exactly `size` bytes; an existing one is kRefused (cause
  // exists), other errors kFailed.
  virtual Status CreateImage(const std::string& image, uint64_t size) = 0;
  // Removing a missing image is not an error. Busy (still open by a client,
  // cause busy), with snapshots, ...: kFailed.
  virtual Status RemoveImage(const std::string& image) = 0;
  // A missing image is kRefused (cause not-found); so is any failure to open.
  virtual Result<std::unique_ptr<Image>> OpenImage(const std::string& image, bool read_only) = 0;
  // Read-only, reading the image as it was at `snap` (a missing snapshot is
  // kFailed).
  virtual Result<std::unique_ptr<Image>> OpenAtSnapshot(const std::string& image, const std::string& snap) = 0;
  // The same, for reading a source image: its Extents are the allocated byte
  // ranges (not whole objects), so that a copy stays as thin as the source.
  virtual Result<std::unique_ptr<Image>> OpenSourceAtSnapshot(const std::string& image, const std::string& snap) = 0;
  // See FullTryScope: covers this pool and the images opened on it meanwhile.
  virtual std::unique_ptr<FullTryScope> FullTry() = 0;
};

// A connection to a cluster, as the operator (cephx users are changed with
// the operator's caps).
class Cluster {
 public:
  virtual ~Cluster() = default;
  // The monitors of the monmap, each with its msgr v1 address.
  virtual Result<std::vector<MonAddress>> MonitorAddresses() = 0;
  // A missing pool is kRefused.
  virtual Result<PoolSpace> GetPoolSpace(const std::string& pool) = 0;
  // The user's caps; nullopt if it does not exist.
  virtual Result<std::optional<CephUser>> GetUser(const std::string& entity) = 0;
  // The raw bytes of the user's key (what a libvirt 'ceph' secret holds);
  // the only call that hands out key material. A missing user is kRefused.
  virtual Result<SecretBytes> KeyBytes(const std::string& entity) = 0;
  // Idempotent with the same caps; an existing user with other caps is kRefused.
  virtual Status CreateUser(const std::string& entity, const std::map<std::string, std::string>& caps) = 0;
  // Replaces ALL of the user's caps.
  virtual Status SetCaps(const std::string& entity, const std::map<std::string, std::string>& caps) = 0;
  // A user that does not exist is not an error.
  virtual Status DeleteUser(const std::string& entity) = 0;
  // A missing pool is kRefused with cause not-found.
  virtual Result<std::unique_ptr<Pool>> OpenPool(const std::string& pool) = 0;
};

// Connects as resolved.EntityName() (options already resolved), with
// `overrides` applied last (kBulkIoConf for a connection that copies).
using ClusterOpener =
    std::function<Result<std::unique_ptr<Cluster>>(const CephOptions& resolved, const CephConfOverrides& overrides)>;

// The real cluster: RadosCluster::Connect (ceph/cluster.h) and librbd.
ClusterOpener RadosOpener();

}  // namespace v2r
