// A connection to a Ceph cluster (librados) and pool handles.
//
// Lifetime: an IoCtx must be destroyed before the RadosCluster it came from;
// so must every RbdImage opened through it (ceph/image.h).
// Threads: a connected RadosCluster and an IoCtx may be used from several
// threads at once (librados handles are thread-safe once connected); the
// objects themselves are not reassigned concurrently.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/owned_handle.h"
#include "base/status.h"
#include "ceph/options.h"

namespace v2r {

// librados' handles (rados_t, rados_ioctx_t) are typedefs of void*: kept
// opaque here so that only ceph/*.cc include librados (static_asserts there).
using RadosHandle = void*;
using IoCtxHandle = void*;

// Configuration values applied with rados_conf_set after everything else,
// e.g. {{"rbd_cache", "false"}} for a verifying reader.
using CephConfOverrides = std::vector<std::pair<std::string, std::string>>;

// rados_shutdown and rados_ioctx_destroy, for OwnedHandle (ceph/cluster.cc).
void ShutdownRados(RadosHandle cluster);
void DestroyIoCtx(IoCtxHandle io);

// A pool handle (rados_ioctx_t). Move-only; destroy before its cluster.
class IoCtx {
 public:
  IoCtx(IoCtxHandle io, std::string pool) : io_(io), pool_(std::move(pool)) {}
  // Move-only (rados_ioctx_destroy on destruction); a move zeroes the
  // source's PoolFullTry count too.
  IoCtx(IoCtx&& other) noexcept;
  IoCtx& operator=(IoCtx&& other) noexcept;

  IoCtxHandle handle() const { return io_; }
  const std::string& pool() const { return pool_; }

 private:
  friend class PoolFullTry;
  OwnedHandle<IoCtxHandle, DestroyIoCtx> io_;
  std::string pool_;
  int full_try_ = 0;  // PoolFullTry scopes alive
};

// While alive, operations through `io`, and through images opened on it
// meanwhile, proceed even when the pool is full or over its quota
// (rados_set_pool_full_try); the OSDs still refuse, with EDQUOT or ENOSPC,
// any that would store more. For removing what virt2rbd created: an operator
// rolls back exactly when a migration filled the pool, and without it every
// removal would block until the pool had room again. Scopes nest.
class PoolFullTry {
 public:
  explicit PoolFullTry(IoCtx& io);
  ~PoolFullTry();
  PoolFullTry(const PoolFullTry&) = delete;
  PoolFullTry& operator=(const PoolFullTry&) = delete;

 private:
  IoCtx& io_;
};

// The client settings of every connection that copies or reads images:
// - librbd's cache off: virt2rbd writes whole objects with its own bounded
//   in-flight window and flushes before it records a range as done, so the
//   cache would only add a copy of every byte and up to rbd_cache_size of
//   memory per open image (four disks of a VM: four caches);
// - zero-copy writes: librbd sends the engine's buffer instead of copying it
//   (its default copies, for the cache's sake) and completes a write only
//   once it holds no reference to the buffer, which the engine reuses only
//   then. Saves a copy of every byte and the in-flight window's worth of
//   memory (2 GiB dense copy, --verify full: peak RSS 161-198 MiB against
//   280-289, 15-25 % less CPU).
inline const CephConfOverrides kBulkIoConf = {{"rbd_cache", "false"}, {"rbd_disable_zero_copy_writes", "false"}};

class RadosCluster {
 public:
  // Connects as resolved.EntityName() (use ResolveCephOptions first):
  //  1. rados_create2 with the cluster name ("ceph" by default);
  //  2. the conf file (resolved.conf, else librados' default search, which
  //     honours $CEPH_CONF; a missing default file is tolerated, a missing
  //     explicit one is kRefused);
  //  3. resolved.extra_args (rados_conf_parse_argv), then the keyring
  //     (checked to be readable first), then client_mount_timeout =
  //     connect_timeout_s and, unless configured already, rados_mon_op_timeout
  //     = connect_timeout_s (bounds monitor operations: pool lookups, mon
  //     commands; never data I/O. rados_osd_op_timeout is left as configured);
  //  4. conf_overrides;
  //  5. rados_connect, run on its own thread and abandoned after
  //     connect_timeout_s + 5 s (the handle is then leaked on purpose: a
  //     rados_t another thread still uses is never destroyed).
  // Every failure is kRefused (nothing has been changed), with a hint.
  static Result<std::unique_ptr<RadosCluster>> Connect(const CephOptions& resolved,
                                                       const CephConfOverrides& conf_overrides = {});

  // Move-only; rados_shutdown on destruction.

  RadosHandle handle() const { return cluster_; }
  // The monitors as configured ("v2:10.0.0.1:3300/0,..."), for messages.
  std::string mon_host() const { return mon_host_; }
  // "client.ID"
  std::string entity() const { return entity_; }

  // Sends one JSON monitor command ({"prefix": "...", "format": "json", ...}).
  // On success *outbuf (if not null) gets the command's output (the JSON
  // answer) and the value holds the monitor's status text (outs), one entry
  // per non-empty line. A failure is kRefused and names the command, the
  // errno and the monitor's explanation; -EACCES hints at the caps.
  Result<std::vector<std::string>> MonCommand(const std::string& json_cmd, std::string* outbuf);

  // Opens a pool. A missing pool is kRefused with the commands creating it.
  Result<IoCtx> OpenPool(const std::string& pool);

 private:
  RadosCluster(RadosHandle cluster, std::string entity, std::string mon_host)
      : cluster_(cluster), entity_(std::move(entity)), mon_host_(std::move(mon_host)) {}

  OwnedHandle<RadosHandle, ShutdownRados> cluster_;
  std::string entity_;
  std::string mon_host_;
  int mon_timeout_s_ = 0;  // rados_mon_op_timeout set at connect, for messages
};

// kRefused unless the pool has the 'rbd' application enabled.
Status CheckRbdPool(IoCtx& io);

}  // namespace v2r
