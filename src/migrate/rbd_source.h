// An RBD image in another pool or another Ceph cluster as a copy's source
// (issue 12): its cluster reached as the disk's definition says (the
// <host> monitors, <auth username> and the key in the libvirt secret it
// names), read at a snapshot virt2rbd takes so that the copy is consistent.
//
// The key is read from libvirt into SecretBytes and handed to librados in
// memory (CephOptions::key_bytes, rados_conf_set "key"): never argv, the
// environment, a file, a message, the journal or the state dir.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "ceph/cluster_api.h"
#include "ceph/options.h"
#include "copy/endpoint.h"
#include "virt/domain_xml.h"
#include "virt/hypervisor.h"

namespace v2r {

// Where an rbd disk's image is and how its cluster is reached.
struct RbdSourceRef {
  std::string pool, image;
  std::vector<std::pair<std::string, int>> hosts;  // <host name port>; empty: the operator's conf
  std::string user;                                // <auth username>; empty: the operator's identity
  std::string secret_uuid, secret_usage;           // <auth><secret uuid|usage>
  // In another cluster than the migration's (ClassifyRbdSource). On the same
  // cluster, a private secret (libvirt hands out no value of it) is no
  // obstacle: the image is read as the operator, through the operator's conf.
  bool other_cluster = true;
  std::string Name() const { return pool + "/" + image; }
};
// From the disk's definition ("pool/image"; no pool: librbd's "rbd").
RbdSourceRef RbdSourceRefOf(const DiskInfo& disk);
// From a source-snapshot record (migrate/records.h), for an abort.
RbdSourceRef RbdSourceRefFrom(const nlohmann::json& record);
// "host:port,[v6]:port,...", as librados' mon_host takes it.
std::string MonHostOption(const std::vector<std::pair<std::string, int>>& hosts);

// The connection's options, from the operator's (pure; the key is not set):
// with <host> elements, no conf file (/dev/null), no CEPH_ARGS options, and
// mon_host from them; with <auth>, that user and no keyring (the key comes
// from the secret).
struct RbdSourceCeph {
  CephOptions options;
  CephConfOverrides overrides;
};
RbdSourceCeph RbdSourceCephOptions(const CephOptions& operator_options, const RbdSourceRef& ref);

// The source's cluster and pool (the pool destroyed first).
struct RbdSourceConnection {
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<Pool> pool;
  RbdSourceConnection() = default;
  RbdSourceConnection(RbdSourceConnection&&) = default;
  RbdSourceConnection& operator=(RbdSourceConnection&&) = default;
  ~RbdSourceConnection() {
    pool.reset();
    cluster.reset();
  }
};
// Connects and opens the pool. The key (when the disk has <auth>) is read
// from the secret through `virt`; a secret that is missing or has no value,
// or a disk with <auth> but no <secret>, is kRefused; so is a cluster that
// cannot be reached or refuses the key, or a missing pool. Nothing changed.
Result<RbdSourceConnection> ConnectRbdSource(const ClusterOpener& opener, Hypervisor& virt,
                                             const CephOptions& operator_options, const RbdSourceRef& ref);

// The snapshot a migration takes of its RBD sources: named after the
// domain's uuid and the time it is taken ("virt2rbd-source-UUID-SECONDS"),
// so that a snapshot taken again (after the image changed) is another one.
std::string SourceSnapshotName(const std::string& domain_uuid, int64_t unix_seconds);
// Whether `snap` is one SourceSnapshotName gives for this domain.
bool IsSourceSnapshotOf(const std::string& snap, const std::string& domain_uuid);

// Reads the image at `snap`, its extents the allocated byte ranges (thin);
// owns the connection. A missing image or snapshot is an error.
Result<std::unique_ptr<Source>> OpenRbdSourceAtSnapshot(RbdSourceConnection conn, const std::string& image,
                                                        const std::string& snap);

}  // namespace v2r
