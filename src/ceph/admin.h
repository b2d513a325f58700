// Cluster facts and cephx users, through monitor commands.
//
// Everything here is one or a few RadosCluster::MonCommand calls with
// "format":"json", parsed with nlohmann::json; parse failures are kInternal
// with the command named. Monitor errors are kRefused (nothing was changed
// by the failing command), as RadosCluster::MonCommand reports them.
//
// Secrets: the only function that returns key material is GetKeyBytes, as
// SecretBytes. Every monitor answer that carries a key (auth get,
// auth get-key, auth get-or-create) is received into a buffer that is wiped
// before it is freed and parsed with allocations that are wiped too; no key
// ever reaches a Status, a log line, argv or the environment. (librados'
// own internal copies of the answer are beyond our reach.)
// Threads: as RadosCluster (a connected cluster may be shared).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/cluster.h"
#include "ceph/secret_bytes.h"

namespace v2r {

// ---------------------------------------------------------------- monitors

// One monitor's legacy (msgr v1) address: what libvirt's <host name port>
// and qemu's mon_host take. `host` has no port and no brackets ("::1").
struct MonAddress {
  std::string host;
  int port = 0;
  std::string name;  // the mon's name ("a")
  bool operator==(const MonAddress&) const = default;
};

// Every monitor of the monmap ("mon dump"), in rank order: for each, the
// "v1" entry of public_addrs.addrvec, else the legacy "addr" field.
// A monitor with neither is kRefused (a msgr2-only cluster cannot be reached
// by the port given in libvirt XML without a v1 address).
Result<std::vector<MonAddress>> MonitorAddresses(RadosCluster& cluster);

// The parsing half of MonitorAddresses, for tests: the JSON of "mon dump".
Result<std::vector<MonAddress>> ParseMonDump(const std::string& json);

// "host:port" / "[v6]:port" / "host:port/nonce" split into host and port.
// Returns false if there is no valid port.
bool SplitHostPort(const std::string& addr, std::string* host, int* port);

// -------------------------------------------------------------------- pools

struct PoolSpace {
  uint64_t max_avail = 0;          // bytes that can still be stored (mgr's estimate)
  uint64_t stored = 0;             // bytes stored (before replication)
  uint64_t quota_max_bytes = 0;    // 0 = no quota
  uint64_t quota_max_objects = 0;  // 0 = no quota
  bool full = false;               // pool flag full or full_quota: writes block
  // False when no ceph-mgr is active: the cluster then reports 0 for
  // max_avail and stored, which means "unknown", not "no room".
  bool usage_known = true;
};

// "df", "osd pool get-quota" and "osd pool ls detail" (flags), and
// "mgr stat" for usage_known. A missing pool is kRefused.
Result<PoolSpace> GetPoolSpace(RadosCluster& cluster, const std::string& pool);

// (Whether a pool is an RBD pool: CheckRbdPool in ceph/cluster.h.)

// -------------------------------------------------------------- cephx users

// A cephx user without its key: entity ("client.libvirt") and caps by
// service ("mon" -> "profile rbd", "osd" -> "profile rbd pool=libvirt").
struct CephUser {
  std::string entity;
  std::map<std::string, std::string> caps;
};

// "auth get": the user's caps; nullopt if it does not exist. The key in the
// answer is wiped, never kept.
Result<std::optional<CephUser>> GetUser(RadosCluster& cluster, const std::string& entity);

// "auth get-key", base64-decoded: the raw bytes a libvirt 'ceph' secret holds
// (for an AES cephx key, 28 bytes: type, creation time, length, 16-byte
// secret). A missing user is kRefused; a malformed key is kInternal.
Result<SecretBytes> GetKeyBytes(RadosCluster& cluster, const std::string& entity);

// "auth get-or-create" with these caps. Idempotent: an existing user with the
// same caps is fine; one with other caps is kRefused (see SetCaps). The
// answer (it holds the new key) is wiped.
Status CreateUser(RadosCluster& cluster, const std::string& entity,
                  const std::map<std::string, std::string>& caps);

// "auth caps": replaces ALL of the user's caps with `caps` (services left out
// lose their caps: pass the complete map, e.g. from AddPoolGrant).
Status SetCaps(RadosCluster& cluster, const std::string& entity,
               const std::map<std::string, std::string>& caps);

// "auth del". A user that does not exist is not an error.
Status DeleteUser(RadosCluster& cluster, const std::string& entity);

// The base64 decoder used by GetKeyBytes (strict: standard alphabet, '='
// padding, length a multiple of 4 after trimming surrounding whitespace).
// Returns false on bad input, leaving *out empty. Never echo the input.
bool Base64Decode(const char* text, size_t length, SecretBytes* out);

}  // namespace v2r
