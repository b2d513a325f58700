// How to reach a Ceph cluster: conf file, cluster name, cephx identity and
// keyring, plus raw Ceph options (e.g. "--mon-host X") for librados.
//
// Pure logic, no librados: validation and the rbd CLI's precedence rules
// (command line over CEPH_ARGS over the conf file). The conf file itself is
// read by librados later (ceph/cluster.h), which is what puts it last.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/secret_bytes.h"

namespace v2r {

struct CephOptions {
  std::string conf;     // --conf/-c: conf file; empty = librados defaults ($CEPH_CONF, /etc/ceph/$cluster.conf, ...)
  std::string cluster;  // --cluster: empty = "ceph"
  std::string id;       // --id/-i: "admin" (without "client.")
  std::string name;     // --name/-n: "client.admin"; exclusive with id
  std::string keyring;  // --keyring/-k: empty = from the conf file / defaults
  // Further Ceph options in argv form, applied after the conf file with
  // rados_conf_parse_argv, in order (later ones win): "--mon-host", "X", ...
  std::vector<std::string> extra_args;
  int connect_timeout_s = 30;
  // The raw cephx key of the entity (a libvirt 'ceph' secret's value), held
  // in memory only: RadosCluster::Connect base64-encodes it and gives it to
  // librados as its "key" option (rados_conf_set), never through a file,
  // argv or the environment. Null: the keyring is used.
  std::shared_ptr<const SecretBytes> key_bytes;
  // Where librados' own log goes (its log_file, and what it writes to
  // std::cerr, such as "unable to get monitor info from DNS SRV"): a file
  // appended to, or empty = discarded. Never the screen: virt2rbd says what
  // failed in its own words. CEPH_ARGS='--log-to-stderr=true' turns Ceph's
  // log back on for debugging.
  std::string ceph_log_file;

  // "client.ID". After ResolveCephOptions `name` holds it and `id` is empty;
  // on unresolved options it also works from `id`. Default "client.admin".
  std::string EntityName() const;
  // The entity without "client." ("admin"): what libvirt's <auth username> takes.
  std::string EntityId() const;
  // Cluster name with the default applied ("ceph").
  std::string ClusterName() const;
};

// Checks one level of options on its own: --id and --name together, a --name
// not starting with "client.", an --id starting with it, a timeout <= 0.
// Returns a kUsage status naming the option.
Status ValidateCephOptions(const CephOptions& opts);

// Merges command-line options with CEPH_ARGS (`ceph_args_env` may be null or
// empty), the way the rbd CLI does:
//  - each of conf, cluster, keyring: the command line's value if non-empty,
//    else the last one in CEPH_ARGS;
//  - identity (--id/--name) is taken whole from one level: the command line's
//    if it gives either, else CEPH_ARGS' (both there at once: kUsage);
//  - CEPH_ARGS tokens other than those options go to extra_args in order,
//    followed by the command line's extra_args (so the command line wins).
// CEPH_ARGS is split on whitespace; options take "--opt value" or
// "--opt=value"; short forms -c, -i, -n, -k take "-k value".
// The result has `name` set to the single resolved entity and `id` empty.
Result<CephOptions> ResolveCephOptions(const CephOptions& cli, const char* ceph_args_env);

}  // namespace v2r
