// A connection to a Ceph cluster (librados) and pool handles.
//
// Lifetime: an IoCtx must be destroyed before the RadosCluster it came from;
// so must every RbdImage opened through it (ceph/image.h).
// Threads: a connected RadosCluster and an IoCtx may be used from several
// threads at once (librados handles are thread-safe once connected); the
// objects themselves are not reassigned concurrently.
#pragma once

#include <rados/librados.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "ceph/options.h"

namespace v2r {

// Configuration values applied with rados_conf_set after everything else,
// e.g. {{"rbd_cache", "false"}} for a verifying reader.
using CephConfOverrides = std::vector<std::pair<std::string, std::string>>;

// A pool handle (rados_ioctx_t). Move-only; destroy before its cluster.
class IoCtx {
 public:
  IoCtx(rados_ioctx_t io, std::string pool) : io_(io), pool_(std::move(pool)) {}
  ~IoCtx();
  IoCtx(IoCtx&& other) noexcept;
  IoCtx& operator=(IoCtx&& other) noexcept;
  IoCtx(const IoCtx&) = delete;
  IoCtx& operator=(const IoCtx&) = delete;

  rados_ioctx_t handle() const { return io_; }
  const std::string& pool() const { return pool_; }

 private:
  rados_ioctx_t io_ = nullptr;
  std::string pool_;
};

// The client settings of every connection that copies or reads images:
// librbd's cache off. virt2rbd writes whole objects with its own bounded
// in-flight window and flushes before it records a range as done, so the
// cache would only add a copy of every byte and up to rbd_cache_size of
// memory per open image (four disks of a VM: four caches).
inline const CephConfOverrides kBulkIoConf = {{"rbd_cache", "false"}};

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

  ~RadosCluster();  // rados_shutdown
  RadosCluster(RadosCluster&& other) noexcept;
  RadosCluster& operator=(RadosCluster&& other) noexcept;
  RadosCluster(const RadosCluster&) = delete;
  RadosCluster& operator=(const RadosCluster&) = delete;

  rados_t handle() const { return cluster_; }
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
  RadosCluster(rados_t cluster, std::string entity, std::string mon_host)
      : cluster_(cluster), entity_(std::move(entity)), mon_host_(std::move(mon_host)) {}

  rados_t cluster_ = nullptr;
  std::string entity_;
  std::string mon_host_;
  int mon_timeout_s_ = 0;  // rados_mon_op_timeout set at connect, for messages
};

// kRefused unless the pool has the 'rbd' application enabled.
Status CheckRbdPool(IoCtx& io);

}  // namespace v2r
