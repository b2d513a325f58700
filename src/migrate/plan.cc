#include "migrate/plan.h"

#include <fmt/format.h>

#include <cstring>

#include <algorithm>

#include "base/units.h"
#include "virt/text_diff.h"

namespace v2r {

const char* RunStateName(RunState s) {
  switch (s) {
    case RunState::kShutoff: return "shut off";
    case RunState::kRunning: return "running";
    case RunState::kPaused: return "paused";
    case RunState::kOther: return "in another state";
  }
  return "unknown";
}

std::vector<const DiskPlan*> Plan::Moving() const {
  std::vector<const DiskPlan*> out;
  for (const DiskPlan& d : disks)
    if (d.decision == DiskDecision::kMove) out.push_back(&d);
  return out;
}

Result<std::string> ExpandImageName(const std::string& tmpl, const std::string& domain, const std::string& target,
                                    const std::string& uuid) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      size_t close = tmpl.find('}', i);
      if (close == std::string::npos)
        return Status::Usage(fmt::format("--image-name '{}': unclosed '{{'", tmpl));
      std::string field = tmpl.substr(i + 1, close - i - 1);
      if (field == "domain") out += domain;
      else if (field == "target") out += target;
      else if (field == "uuid") out += uuid;
      else
        return Status::Usage(fmt::format("--image-name '{}': unknown field {{{}}}", tmpl, field),
                             "use {domain}, {target} and {uuid}");
      i = close + 1;
    } else {
      out += tmpl[i++];
    }
  }
  if (out.empty()) return Status::Usage(fmt::format("--image-name '{}' gives an empty name", tmpl));
  for (char c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return Status::Usage(fmt::format("image name '{}' (from --image-name '{}') has the character '{}'", out, tmpl, c),
                           "image names may use letters, digits, '.', '_' and '-'");
  return out;
}

Result<std::vector<MonHost>> ResolveMonHosts(const std::string& option, const std::vector<MonHost>& monmap) {
  if (option.empty()) return monmap;
  if (option == "none") return std::vector<MonHost>{};
  std::vector<MonHost> out;
  size_t pos = 0;
  while (pos <= option.size()) {
    size_t comma = option.find(',', pos);
    std::string item = option.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty()) return Status::Usage(fmt::format("--mon-hosts '{}' has an empty entry", option));
    MonHost h;
    size_t colon = item.rfind(':');
    bool bracketed = !item.empty() && item.front() == '[';
    if (bracketed) {  // [v6addr]:port
      size_t rb = item.find(']');
      if (rb == std::string::npos) return Status::Usage(fmt::format("--mon-hosts: bad address '{}'", item));
      h.host = item.substr(1, rb - 1);
      if (item.size() > rb + 1 && item[rb + 1] != ':')
        return Status::Usage(fmt::format("--mon-hosts: bad address '{}'", item), "write IPv6 as [ADDR] or [ADDR]:PORT");
      colon = item.size() > rb + 1 ? rb + 1 : std::string::npos;
    } else if (colon != std::string::npos && item.find(':') != colon) {
      colon = std::string::npos;  // bare IPv6 without port
      h.host = item;
    } else {
      h.host = item.substr(0, colon);
    }
    if (colon != std::string::npos) {
      std::string port = item.substr(colon + 1);
      // At most 5 digits, so that std::stoi cannot throw on a long number.
      if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(port) <= 0 ||
          std::stoi(port) > 65535)
        return Status::Usage(fmt::format("--mon-hosts: bad port in '{}'", item), "give HOST or HOST:PORT, comma separated");
      h.port = std::stoi(port);
    }
    if (h.host.empty()) return Status::Usage(fmt::format("--mon-hosts: empty host in '{}'", item));
    out.push_back(h);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

namespace {

// A <host> names one of the monmap's monitors: same host, and the same port,
// or no port, or the msgr v2 port of a monitor on the default v1 port.
bool InMonmap(const std::pair<std::string, int>& h, const std::vector<MonHost>& monmap) {
  for (const MonHost& m : monmap) {
    if (m.host != h.first) continue;
    if (h.second <= 0 || h.second == m.port || (h.second == 3300 && (m.port == 6789 || m.port <= 0))) return true;
  }
  return false;
}

}  // namespace

RbdSourcePlace ClassifyRbdSource(const DiskInfo& disk, const std::string& target_pool,
                                 const std::vector<MonHost>& monmap) {
  RbdSourcePlace p;
  const std::string& name = disk.source;
  size_t slash = name.find('/');
  p.pool = slash == std::string::npos ? std::string("rbd") : name.substr(0, slash);  // librbd's default pool
  p.image = slash == std::string::npos ? name : name.substr(slash + 1);
  // An empty monmap (none known) compares nothing: the pool decides.
  for (const auto& h : disk.hosts)
    if (!monmap.empty() && !InMonmap(h, monmap)) p.other_cluster = true;
  if (p.image.find('@') != std::string::npos) {
    p.reason = fmt::format("an RBD snapshot ({}): read-only, stays", name);
    return p;
  }
  if (p.image.find('/') != std::string::npos) {
    p.reason = fmt::format("an image in an RBD namespace ({}): not moved yet, stays", name);
    return p;
  }
  if (!p.other_cluster && p.pool == target_pool) {
    p.reason = "already on RBD in " + target_pool;
    return p;
  }
  p.moves = true;
  return p;
}

namespace {

void CheckDomain(const MigrateOptions& opts, const DomainFacts& d, Plan* plan) {
  if (!d.uri_is_local)
    plan->refusals.push_back(fmt::format(
        "libvirt URI {} is not local: offline migration reads the disks on this host; run virt2rbd on the hypervisor",
        d.uri));
  if (!d.persistent)
    plan->refusals.push_back(fmt::format("domain {} is transient: only persistent domains can be migrated "
                                         "(define it first: virsh dumpxml {} > vm.xml; virsh define vm.xml)",
                                         opts.domain, opts.domain));
  if (d.managed_save)
    plan->refusals.push_back(fmt::format("domain {} has a managed save image (its RAM state refers to the old disks): "
                                         "start it and shut it down, or remove it with virsh managedsave-remove {}",
                                         opts.domain, opts.domain));
  if (!d.snapshots.empty())
    plan->refusals.push_back(fmt::format("domain {} has snapshots ({}) that reference its disks: delete them first "
                                         "(virsh snapshot-delete {} NAME)",
                                         opts.domain, fmt::join(d.snapshots, ", "), opts.domain));
  if (!d.checkpoints.empty())
    plan->refusals.push_back(fmt::format("domain {} has checkpoints ({}) that reference its disks: delete them first "
                                         "(virsh checkpoint-delete {} NAME)",
                                         opts.domain, fmt::join(d.checkpoints, ", "), opts.domain));
  plan->state = d.state;
  bool active = d.state == RunState::kRunning || d.state == RunState::kPaused || d.state == RunState::kOther;
  if (opts.live) {
    // Live: the VM keeps running; block copies and a pivot replace the stop.
    plan->live = true;
    if (opts.shutdown || opts.force_off)
      plan->refusals.push_back("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
    if (d.state != RunState::kRunning)
      plan->refusals.push_back(fmt::format("domain {} is {}: --live needs a running VM (migrate a stopped VM "
                                           "without --live)",
                                           opts.domain, RunStateName(d.state)));
    plan->start_after = true;
    return;
  }
  if (active) {
    if (opts.shutdown && opts.force_off) plan->stop = StopAction::kShutdownThenForce;
    else if (opts.shutdown) plan->stop = StopAction::kShutdown;
    else if (opts.force_off) plan->stop = StopAction::kForceOff;
    else
      plan->refusals.push_back(fmt::format("domain {} is {}: add --shutdown (ask the guest to shut down), "
                                           "--force-off (power it off), or both",
                                           opts.domain, RunStateName(d.state)));
  }
  plan->start_after = opts.start.value_or(d.state == RunState::kRunning);
  plan->autostart_paused = d.autostart;
}

// An image file, read through qemu (offline; live, qemu's mirror flattens the
// chain and the verification after the pivot reads it through qemu): its
// internal snapshots stay.
void NoteImageFile(const MigrateOptions& /*opts*/, const DiskInfo& disk, const SourceFacts& s, Plan* plan) {
  if (s.chain.empty()) return;
  const std::string what = fmt::format("disk {}: a {} image", disk.target, disk.driver_type);
  if (!s.snapshots.empty())
    plan->warnings.push_back(fmt::format("{}: internal snapshots ({}) stay in {}: only the active layer is copied",
                                         what, fmt::join(s.snapshots, ", "), disk.source));
}

Result<VolumeInfo> VolumeFor(const DiskInfo& disk, const std::map<std::string, Result<VolumeInfo>>& volumes) {
  auto it = volumes.find(disk.source);
  if (it == volumes.end())
    return Status::Refused(fmt::format("volume '{}' of storage pool '{}' was not looked up", disk.volume, disk.pool));
  return it->second;
}

// A volume disk: resolved into the file or block disk it is (dp->disk), then
// classified as that disk; or why it stays or is refused.
DiskClassification ResolveVolume(const MigrateOptions& opts, const DiskInfo& disk,
                                 const std::map<std::string, Result<VolumeInfo>>& volumes, DiskPlan* dp, Plan* plan) {
  Result<VolumeInfo> vol = VolumeFor(disk, volumes);
  VolumeResolution r = ResolveVolumeDisk(disk, vol);
  if (r.decision != DiskDecision::kMove) return {r.decision, r.reason};
  dp->disk = r.disk;
  dp->pool_type = vol.value().pool_type;
  DiskClassification c = ClassifyDisk(r.disk, {.lun_as_disk = opts.lun_as_disk});
  if (opts.live && c.decision == DiskDecision::kMove)
    plan->refusals.push_back(fmt::format("disk {}: pool volume {} is not moved live yet (the running VM names it by "
                                         "pool and volume, the live copy checks it by path): migrate the VM offline "
                                         "(without --live)",
                                         disk.target, disk.source));
  return c;
}

// A raw slice: only the slice moves, read through qemu's raw offset/size;
// offline only (the live verification reads the source directly).
void PlanSlice(const MigrateOptions& opts, const DiskInfo& disk, const SourceFacts& s, DiskPlan* dp, Plan* plan) {
  if (disk.slice_offset + disk.slice_size > s.size)
    plan->refusals.push_back(fmt::format("disk {}: its slice ({} bytes at offset {}) ends past the end of {} ({} "
                                         "bytes)",
                                         disk.target, disk.slice_size, disk.slice_offset, disk.source, s.size));
  dp->size = disk.slice_size;
  dp->allocated = std::min(s.allocated, disk.slice_size);
  dp->read_path = fmt::format("qemu-nbd (raw slice: {} bytes at offset {})", disk.slice_size, disk.slice_offset);
  if (opts.live)
    plan->refusals.push_back(fmt::format("disk {}: a slice of {} is not moved live: migrate the VM offline (without "
                                         "--live)",
                                         disk.target, disk.source));
}

// An RBD image in another pool or cluster that cannot move: refused live
// (its facts are not gathered then), or its cluster or key out of reach.
bool RefuseRbdSource(const MigrateOptions& opts, const DiskInfo& disk,
                     const std::map<std::string, SourceFacts>& sources, Plan* plan) {
  const std::string leave = " (or leave the disk where it is: --disks without " + disk.target + ")";
  if (opts.live) {
    plan->refusals.push_back(fmt::format("disk {}: RBD image {} is not moved live yet: migrate the VM offline "
                                         "(without --live){}",
                                         disk.target, disk.source, leave));
    return true;
  }
  auto it = sources.find(disk.source);
  if (it != sources.end() && it->second.readable) return false;
  plan->refusals.push_back(fmt::format("disk {}: RBD image {} cannot be read: {}{}", disk.target, disk.source,
                                       it == sources.end() ? "not examined" : it->second.error, leave));
  return true;
}

// An RBD image in another pool or cluster that moves: read from a snapshot;
// offline only, so nothing may have it open.
void NoteRbdSource(const MigrateOptions& opts, const DiskInfo& disk, const RbdSourcePlace& place,
                   const SourceFacts& s, DiskPlan* dp, Plan* plan) {
  const std::string what = fmt::format("disk {}: RBD image {}", disk.target, disk.source);
  dp->rbd_other_cluster = place.other_cluster;
  dp->read_path = fmt::format("rbd ({}/{}, {}), from a snapshot virt2rbd takes", place.pool, place.image,
                              place.other_cluster ? "another cluster" : "this cluster");
  // A running VM's own qemu watches it until the stop; checked again then.
  if (!s.watchers.empty() && plan->state == RunState::kShutoff)
    plan->refusals.push_back(fmt::format("{} is open read-write by {} (a VM or another client uses it): stop it "
                                         "first (an RBD source is moved offline only)",
                                         what, fmt::join(s.watchers, ", ")));
  if (!s.snapshots.empty())
    plan->warnings.push_back(fmt::format("{}: its snapshots ({}) stay in the source: only the image's head is copied",
                                         what, fmt::join(s.snapshots, ", ")));
}

// --disks names must exist.
void CheckSelectedDisks(const MigrateOptions& opts, const DomainInfo& info, Plan* plan) {
  std::vector<std::string> all;
  for (const DiskInfo& d : info.disks) all.push_back(d.target);
  for (const std::string& want : opts.disks)
    if (std::find(all.begin(), all.end(), want) == all.end())
      plan->refusals.push_back(fmt::format("disk {} is not in domain {} (its disks: {})", want, opts.domain,
                                           fmt::join(all, ", ")));
}

void PlanDisks(const MigrateOptions& opts, const DomainInfo& info, const std::map<std::string, SourceFacts>& sources,
               const std::map<std::string, Result<VolumeInfo>>& volumes, const ClusterFacts& cluster, Plan* plan) {
  CheckSelectedDisks(opts, info, plan);

  std::set<std::string> names;
  for (const DiskInfo& written : info.disks) {
    DiskPlan dp;
    dp.disk = written;
    bool selected = opts.disks.empty() ||
                    std::find(opts.disks.begin(), opts.disks.end(), written.target) != opts.disks.end();
    DiskClassification c = ClassifyDisk(written, {.lun_as_disk = opts.lun_as_disk});
    if (selected && c.decision == DiskDecision::kMove && written.type == "volume")
      c = ResolveVolume(opts, written, volumes, &dp, plan);
    const DiskInfo& disk = dp.disk;
    const bool rbd = disk.type == "network" && disk.protocol == "rbd";
    RbdSourcePlace place;
    if (rbd && c.decision != DiskDecision::kStay) {
      // An image already where it would go stays, whatever else it is.
      place = ClassifyRbdSource(disk, opts.pool, cluster.monmap);
      if (!place.moves) c = {DiskDecision::kStay, place.reason};
    }
    dp.reason = c.reason;
    if (!selected) {
      dp.decision = DiskDecision::kStay;
      dp.reason = "not selected (--disks)";
    } else if (c.decision == DiskDecision::kRefuse) {
      dp.decision = DiskDecision::kRefuse;
      plan->refusals.push_back(fmt::format("disk {}: {}", disk.target, c.reason));
    } else if (c.decision == DiskDecision::kStay) {
      dp.decision = DiskDecision::kStay;
      if (!opts.disks.empty())
        plan->refusals.push_back(fmt::format("disk {} was selected with --disks but cannot move: {}", disk.target,
                                             c.reason));
    } else {
      dp.decision = DiskDecision::kMove;
      auto name = ExpandImageName(opts.image_template, info.name, disk.target, info.uuid);
      if (!name.ok()) {
        plan->refusals.push_back(name.status().message());
      } else {
        dp.image = *name;
        if (!names.insert(dp.image).second)
          plan->refusals.push_back(fmt::format("disk {}: image name {} is used by another disk of this migration "
                                               "(--image-name must include {{target}})",
                                               disk.target, dp.image));
        if (cluster.existing_images.count(dp.image))
          plan->refusals.push_back(fmt::format("disk {}: image {}/{} already exists (remove it, or choose another "
                                               "--image-name)",
                                               disk.target, opts.pool, dp.image));
      }
      auto it = sources.find(disk.source);
      if (rbd && RefuseRbdSource(opts, disk, sources, plan)) {
        // refused: live, or its cluster or key out of reach
      } else if (it == sources.end() || !it->second.readable) {
        plan->refusals.push_back(fmt::format("disk {}: source {} is not readable: {}", disk.target, disk.source,
                                             it == sources.end() ? "not examined" : it->second.error));
      } else {
        const SourceFacts& s = it->second;
        dp.size = s.size;
        dp.allocated = s.allocated;
        dp.allocated_upper_bound = s.is_block;
        dp.is_block = s.is_block;
        dp.read_path = s.chain.empty() ? "direct" : "qemu-nbd (" + s.chain + ")";
        if (disk.sliced) PlanSlice(opts, disk, s, &dp, plan);
        if (rbd) NoteRbdSource(opts, disk, place, s, &dp, plan);
        NoteImageFile(opts, disk, s, plan);
        if (!s.used_by.empty())
          plan->refusals.push_back(fmt::format("disk {}: source {} is also a disk of domain {} (a shared disk cannot "
                                               "move for one VM only)",
                                               disk.target, disk.source, fmt::join(s.used_by, ", ")));
        if (s.size == 0)
          plan->refusals.push_back(fmt::format("disk {}: source {} is empty (0 bytes)", disk.target, disk.source));
      }
    }
    plan->disks.push_back(std::move(dp));
  }
  if (plan->Moving().empty() && opts.disks.empty())
    plan->refusals.push_back(fmt::format("domain {} has no disk that can move to RBD", opts.domain));
}

void PlanRoom(const MigrateOptions& opts, const ClusterFacts& cluster, Plan* plan) {
  // Room: known data (files' allocated bytes) must fit; the upper bound
  // (devices at full size) only warns.
  for (const DiskPlan* d : plan->Moving()) {
    plan->upper_bytes += d->allocated;
    if (!d->allocated_upper_bound) plan->known_bytes += d->allocated;
  }
  if (!cluster.pool_exists) return;  // no room to judge
  uint64_t avail = cluster.max_avail;
  if (cluster.quota_max_bytes) {
    uint64_t left = cluster.quota_max_bytes > cluster.pool_stored ? cluster.quota_max_bytes - cluster.pool_stored : 0;
    avail = std::min(avail, left);
  }
  plan->available_bytes = avail;
  if (plan->known_bytes > avail)
    plan->refusals.push_back(fmt::format("pool '{}' has room for {} ({}) but the disks hold {} of data", opts.pool,
                                         FormatBytes(avail), cluster.quota_max_bytes ? "quota and free space" : "free space",
                                         FormatBytes(plan->known_bytes)));
  else if (plan->upper_bytes > avail)
    plan->warnings.push_back(fmt::format("pool '{}' has room for {}; the disks hold at most {} (block devices counted at "
                                         "full size; zeros are not copied, so it may well fit)",
                                         opts.pool, FormatBytes(avail), FormatBytes(plan->upper_bytes)));
  if (opts.live) {
    // qemu's mirror writes every byte (zeros too) until the sparsify at the end.
    uint64_t full = 0;
    for (const DiskPlan* d : plan->Moving()) full += d->size;
    if (full > avail)
      plan->refusals.push_back(fmt::format("pool '{}' has room for {} but a live copy writes the disks' full size, {}, "
                                           "before it is made thin again",
                                           opts.pool, FormatBytes(avail), FormatBytes(full)));
  }
}

void PlanCluster(const MigrateOptions& opts, const ClusterFacts& cluster, Plan* plan) {
  // A missing pool is one refusal among the others: the user and monitors
  // are still planned (and their own refusals listed); only the pool's type
  // and room cannot be judged.
  if (!cluster.pool_exists) {
    plan->refusals.push_back(fmt::format("pool '{}' does not exist (create it: ceph osd pool create {} && rbd pool init {})",
                                         opts.pool, opts.pool, opts.pool));
  } else if (!cluster.pool_is_rbd) {
    plan->refusals.push_back(fmt::format("pool '{}' is not initialised for RBD (run: rbd pool init {})", opts.pool,
                                         opts.pool));
  }
  PlanRoom(opts, cluster, plan);

  // The VM's cephx user.
  plan->user_id = opts.client_user;
  plan->user_entity = "client." + opts.client_user;
  plan->user_caps_before = cluster.user_caps;
  if (!cluster.user_exists) {
    plan->user_action = UserAction::kCreate;
    plan->user_caps_after = LeastPrivilegeCaps(opts.pool);
  } else if (GrantsRbdAccess(cluster.user_caps, opts.pool)) {
    plan->user_action = UserAction::kReuse;
    plan->user_caps_after = cluster.user_caps;
  } else {
    plan->user_action = UserAction::kUpdateCaps;
    plan->user_caps_after = AddPoolGrant(cluster.user_caps, opts.pool);
    if (!opts.update_caps)
      plan->refusals.push_back(fmt::format("cephx user {} exists but has no RBD access to pool '{}'; grant it with: {} "
                                           "(or pass --update-caps, which adds the grant and keeps its caps)",
                                           plan->user_entity, opts.pool,
                                           CapsCommand(plan->user_entity, plan->user_caps_after)));
  }
  auto hosts = ResolveMonHosts(opts.mon_hosts, cluster.monmap);
  if (!hosts.ok()) plan->refusals.push_back(hosts.status().message());
  else plan->hosts = *hosts;
  if (opts.mon_hosts.empty() && cluster.monmap.empty())
    plan->refusals.push_back("the cluster's monitor map lists no monitors (give --mon-hosts)");
}

}  // namespace

DomainInfo WithVolumesResolved(const DomainInfo& info, const std::map<std::string, Result<VolumeInfo>>& volumes) {
  DomainInfo out = info;
  for (DiskInfo& d : out.disks) {
    if (d.type != "volume") continue;
    VolumeResolution r = ResolveVolumeDisk(d, VolumeFor(d, volumes));
    if (r.decision == DiskDecision::kMove) d = r.disk;
  }
  return out;
}

Plan MakePlan(const MigrateOptions& opts, const DomainFacts& domain, const std::map<std::string, SourceFacts>& sources,
              const ClusterFacts& cluster) {
  Plan plan;
  plan.pool = opts.pool;
  plan.domain = opts.domain;
  plan.cache = opts.cache;
  plan.lun_as_disk = opts.lun_as_disk;
  plan.old_xml = domain.xml;
  plan.secret_usage = "client." + opts.client_user + " secret";
  plan.secret_uuid = domain.secret_uuid;

  auto info = ParseDomainXml(domain.xml);
  if (!info.ok()) {
    plan.refusals.push_back(info.status().message());
    return plan;
  }
  plan.domain = info->name;
  plan.uuid = info->uuid;
  CheckDomain(opts, domain, &plan);
  PlanDisks(opts, *info, sources, domain.volumes, cluster, &plan);
  PlanCluster(opts, cluster, &plan);

  std::vector<RbdDiskRewrite> rewrites;
  for (const DiskPlan* d : plan.Moving())
    if (!d->image.empty()) rewrites.push_back({d->disk.target, opts.pool, d->image});
  if (!rewrites.empty()) {
    RbdRewriteOptions ro;
    ro.hosts = plan.hosts;
    ro.auth_username = plan.user_id;
    ro.secret_uuid = plan.secret_uuid.value_or(kNewSecretPlaceholder);
    ro.cache = opts.cache;
    ro.lun_as_disk = opts.lun_as_disk;
    auto rw = RewriteDisksToRbd(domain.xml, rewrites, ro);
    if (!rw.ok()) {
      plan.refusals.push_back(rw.status().message());
    } else {
      plan.new_xml = rw->xml;
      plan.dropped = rw->dropped;
      plan.xml_diff = UnifiedDiff(domain.xml, rw->xml, plan.domain + ".xml (now)", plan.domain + ".xml (after)");
      // The diff is read by people: a secret still to be defined has no uuid yet.
      for (size_t at; (at = plan.xml_diff.find(kNewSecretPlaceholder)) != std::string::npos;)
        plan.xml_diff.replace(at, std::strlen(kNewSecretPlaceholder), kNewSecretShown);
    }
  }
  return plan;
}

}  // namespace v2r
