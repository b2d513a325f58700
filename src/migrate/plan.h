// Planning: a pure function from facts to a plan.
//
// The facts (the domain's XML and state, each source's size, the cluster's
// pool, monitors and users) are gathered elsewhere; MakePlan() only decides.
// The same Plan drives `virt2rbd plan` output and `virt2rbd migrate`, so what
// the dry run shows is what migrate does. Every reason to refuse is collected
// (never just the first).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "migrate/caps.h"
#include "migrate/options.h"
#include "virt/domain_xml.h"
#include "virt/volume.h"

namespace v2r {

enum class RunState { kShutoff, kRunning, kPaused, kOther };
const char* RunStateName(RunState s);

struct SourceFacts {
  std::string path;
  bool readable = false;
  std::string error;                 // why not readable
  bool is_block = false;
  uint64_t size = 0;
  uint64_t allocated = 0;            // files: blocks on disk; devices: size (an upper bound)
  std::vector<std::string> used_by;  // other defined domains with this source
  // An image file (qcow2, vmdk, ...): size is its virtual size, allocated the
  // host bytes of every layer; chain as ImageChain::Describe ("qcow2 <- raw").
  std::string chain;
  std::vector<std::string> snapshots;  // internal snapshots of the active layer
  // An RBD image (a network rbd disk that moves): size is its size, allocated
  // its allocated bytes; watchers are the clients that have it open
  // read-write (it must have none: offline only); snapshots its own.
  bool rbd = false;
  std::vector<std::string> watchers;
};

struct DomainFacts {
  std::string uri;
  bool uri_is_local = true;
  std::string xml;                   // inactive, with secure info
  RunState state = RunState::kShutoff;
  bool persistent = true;
  bool managed_save = false;
  bool autostart = false;
  std::vector<std::string> snapshots;
  std::vector<std::string> checkpoints;
  std::optional<std::string> secret_uuid;  // the ceph secret "client.ID secret", if defined
  // What libvirt said of each volume disk's volume, by "POOL/VOLUME" (the
  // DiskInfo's source): the volume, or why it could not be looked up.
  std::map<std::string, Result<VolumeInfo>> volumes;
};

struct ClusterFacts {
  bool pool_exists = false;
  bool pool_is_rbd = false;
  uint64_t max_avail = 0;
  uint64_t quota_max_bytes = 0;      // 0: no quota
  uint64_t pool_stored = 0;
  std::vector<MonHost> monmap;       // v1 addresses of every monitor
  bool user_exists = false;
  CephCaps user_caps;
  std::set<std::string> existing_images;
};

struct DiskPlan {
  DiskInfo disk;
  DiskDecision decision = DiskDecision::kStay;
  std::string reason;                // why it stays or is refused
  std::string image;                 // kMove: image name in the pool
  uint64_t size = 0;
  uint64_t allocated = 0;
  bool allocated_upper_bound = false;
  bool is_block = false;
  std::string read_path;  // kMove: "direct", "qemu-nbd (qcow2 <- qcow2)", "rbd (pool/image, another cluster)"
  // A volume disk resolved (disk.pool/volume set; disk.type, source and
  // driver_type those of the volume): its storage pool's type.
  std::string pool_type;
  bool rbd_other_cluster = false;  // kMove of an rbd disk: from another cluster (ClassifyRbdSource)
};

enum class UserAction { kReuse, kCreate, kUpdateCaps };
enum class StopAction { kNone, kShutdown, kForceOff, kShutdownThenForce };

struct Plan {
  std::string domain, uuid, pool;
  std::vector<DiskPlan> disks;
  std::vector<std::string> refusals;  // empty: migrate may proceed
  std::vector<std::string> warnings;
  RunState state = RunState::kShutoff;
  StopAction stop = StopAction::kNone;
  bool start_after = false;
  bool autostart_paused = false;  // offline: autostart is on and is switched off while the disks are copied
  bool live = false;                  // --live: block copies and a pivot, the VM keeps running
  std::string user_entity;            // client.ID
  std::string user_id;                // ID
  UserAction user_action = UserAction::kCreate;
  CephCaps user_caps_before, user_caps_after;
  std::string secret_usage;           // "client.ID secret"
  std::optional<std::string> secret_uuid;  // set when an existing secret is reused
  std::vector<MonHost> hosts;
  std::string cache;
  bool lun_as_disk = false;           // --lun-as-disk
  std::vector<std::string> dropped;
  std::string old_xml, new_xml, xml_diff;
  uint64_t known_bytes = 0, upper_bytes = 0, available_bytes = 0;

  bool ok() const { return refusals.empty(); }
  std::vector<const DiskPlan*> Moving() const;
};

// The placeholder uuid shown in a plan for a secret that does not exist yet.
constexpr const char* kNewSecretPlaceholder = "00000000-0000-0000-0000-000000000000";
// What the plan's XML diff shows in its place.
constexpr const char* kNewSecretShown = "(new: chosen by libvirt when the secret is defined)";

// "{domain}-{target}" → "vm1-vda". Unknown fields and characters outside
// [A-Za-z0-9._-] are refused (usage error).
Result<std::string> ExpandImageName(const std::string& tmpl, const std::string& domain,
                                    const std::string& target, const std::string& uuid);
// "--mon-hosts" value → hosts; "none" → empty; "" → the monmap.
Result<std::vector<MonHost>> ResolveMonHosts(const std::string& option, const std::vector<MonHost>& monmap);

// The domain's disks with each volume disk that resolves (ResolveVolumeDisk)
// replaced by the file or block disk it is: the disks whose sources are
// examined (GatherSourceFacts).
DomainInfo WithVolumesResolved(const DomainInfo& info, const std::map<std::string, Result<VolumeInfo>>& volumes);
// Where an rbd network disk is, against the migration's target: it stays when
// it is an image of the target pool on the target cluster; it moves from
// another pool of that cluster, or from another cluster (a <host> that is not
// in the target's monmap). A disk without <host> is on the cluster qemu's
// ceph.conf names: taken as the target cluster; so is every disk when the
// monmap is empty (nothing to compare with). Pure.
struct RbdSourcePlace {
  bool moves = false;
  bool other_cluster = false;
  std::string pool, image;  // of the source
  std::string reason;       // why it stays
};
RbdSourcePlace ClassifyRbdSource(const DiskInfo& disk, const std::string& target_pool,
                                 const std::vector<MonHost>& monmap);

Plan MakePlan(const MigrateOptions& opts, const DomainFacts& domain, const std::map<std::string, SourceFacts>& sources,
              const ClusterFacts& cluster);

}  // namespace v2r
