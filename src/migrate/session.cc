#include "migrate/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>

#include "copy/file_source.h"
#include "migrate/disk_source.h"
#include "migrate/rbd_source.h"
#include "qemu/image_info.h"

namespace v2r {

Session::~Session() {
  pool.reset();
  cluster.reset();
  domain.reset();
  virt.reset();
}

Result<SecretBytes> Session::CephxKey(const std::string& entity) {
  if (!cluster) return Status::Internal("the cephx key of " + entity + " asked for without a cluster connection");
  return cluster->KeyBytes(entity);
}

Status OpenLibvirt(const std::string& uri, const std::string& domain, Session* s) {
  // Checked before connecting: a remote URI is never contacted.
  if (!uri.empty() && !UriIsLocal(uri))
    return Status::Refused(fmt::format("libvirt URI {} is not local: virt2rbd reads the disks on this host", uri),
                           "run virt2rbd on the hypervisor itself, with a local URI such as qemu:///system");
  auto conn = s->open_hypervisor(uri);
  if (!conn.ok()) return conn.status();
  s->virt = std::move(*conn);
  auto dom = s->virt->LookupDomain(domain);
  if (!dom.ok()) return dom.status();
  s->domain = std::move(*dom);
  return Status::Ok();
}

Status OpenCeph(const CephOptions& ceph, const std::string& pool, Session* s) {
  CephOptions with_log = ceph;
  if (with_log.ceph_log_file.empty()) with_log.ceph_log_file = s->ceph_log_file;
  s->ceph = with_log;
  auto cluster = s->open_cluster(with_log, kBulkIoConf);
  if (!cluster.ok()) return cluster.status();
  s->cluster = std::move(*cluster);
  auto opened = s->cluster->OpenPool(pool);
  if (opened.ok()) {
    s->pool = std::move(*opened);
  } else if (opened.status().cause() != Cause::kNotFound) {
    return opened.status();
  }
  return Status::Ok();
}

RunState ToRunState(DomainState st) {
  switch (st) {
    case DomainState::kShutoff:
    case DomainState::kCrashed: return RunState::kShutoff;
    case DomainState::kRunning: return RunState::kRunning;
    case DomainState::kPaused: return RunState::kPaused;
    default: return RunState::kOther;
  }
}

namespace {

// Stores the value of `r` in `*into`, or answers its error.
template <class T>
Status Into(Result<T> r, T* into) {
  if (!r.ok()) return r.status();
  *into = std::move(*r);
  return Status::Ok();
}

}  // namespace

Result<DomainFacts> GatherDomainFacts(Session& s, const std::string& secret_usage) {
  DomainFacts f;
  Domain& d = *s.domain;
  f.uri = s.virt->uri();
  f.uri_is_local = s.virt->IsLocal();
  V2R_RETURN_IF_ERROR(Into(d.InactiveSecureXml(), &f.xml));
  auto st = d.State();
  if (!st.ok()) return st.status();
  f.state = ToRunState(*st);
  V2R_RETURN_IF_ERROR(Into(d.IsPersistent(), &f.persistent));
  V2R_RETURN_IF_ERROR(Into(d.HasManagedSave(), &f.managed_save));
  V2R_RETURN_IF_ERROR(Into(d.Autostart(), &f.autostart));
  V2R_RETURN_IF_ERROR(Into(d.SnapshotNames(), &f.snapshots));
  V2R_RETURN_IF_ERROR(Into(d.CheckpointNames(), &f.checkpoints));
  V2R_RETURN_IF_ERROR(Into(s.virt->FindCephSecret(secret_usage), &f.secret_uuid));
  return f;
}

namespace {

// Two paths name the same disk when they are the same file or device.
bool SameSource(const std::string& a, const std::string& b) {
  if (a == b) return true;
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode)) return sa.st_rdev == sb.st_rdev;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

std::map<std::string, SourceFacts> GatherSourceFacts(Session& s, const DomainInfo& info) {
  std::map<std::string, SourceFacts> out;
  // Other domains' local disk sources, read once.
  std::vector<std::pair<std::string, std::string>> others;  // (domain, source)
  auto names = s.virt->DomainNames();
  if (names.ok()) {
    for (const std::string& n : *names) {
      if (n == info.name) continue;
      auto dom = s.virt->LookupDomain(n);
      if (!dom.ok()) continue;
      auto xml = (*dom)->InactiveSecureXml();
      if (!xml.ok()) continue;
      auto other = ParseDomainXml(*xml);
      if (!other.ok()) continue;
      for (const DiskInfo& d : other->disks) {
        if ((d.type == "block" || d.type == "file") && !d.source.empty()) others.emplace_back(n, d.source);
        if (d.type == "volume" && !d.pool.empty() && !d.volume.empty()) {  // the same file, by pool and volume
          auto vol = s.virt->ResolveVolume(d.pool, d.volume);
          if (vol.ok() && !vol->path.empty()) others.emplace_back(n, vol->path);
        }
      }
    }
  }
  for (const DiskInfo& disk : info.disks) {
    if ((disk.type != "block" && disk.type != "file") || disk.source.empty() || out.count(disk.source)) continue;
    SourceFacts f;
    f.path = disk.source;
    auto src = FileSource::Open(disk.source);
    // A raw slice: the whole source's facts (the plan takes the slice).
    if (src.ok() && !disk.sliced && ReadPathFor(disk) == ReadPath::kQemuNbd) {
      // The format is libvirt's (never probed); qemu reads the chain.
      auto chain = ProbeImageChain(disk.source, disk.driver_type);
      if (!chain.ok()) {
        f.error = chain.status().message();
      } else {
        f.readable = true;
        f.size = chain->virtual_size();
        for (const ImageLayer& l : chain->layers) f.allocated += l.actual_size;
        // An image on a block device: the device's size bounds what it holds.
        if ((*src)->is_block_device()) {
          f.is_block = true;
          f.allocated = std::max(f.allocated, (*src)->size());
        }
        f.chain = chain->Describe();
        f.snapshots = chain->layers[0].snapshots;
      }
    } else if (!src.ok()) {
      f.error = src.status().message();
    } else {
      f.readable = true;
      f.is_block = (*src)->is_block_device();
      f.size = (*src)->size();
      f.allocated = (*src)->allocated_bytes();
    }
    for (const auto& [dom, path] : others)
      if (SameSource(path, disk.source)) f.used_by.push_back(dom);
    out[disk.source] = f;
  }
  return out;
}

std::map<std::string, Result<VolumeInfo>> GatherVolumeFacts(Session& s, const DomainInfo& info) {
  std::map<std::string, Result<VolumeInfo>> out;
  for (const DiskInfo& d : info.disks)
    if (d.type == "volume" && !d.pool.empty() && !d.volume.empty() && !out.count(d.source))
      out.emplace(d.source, s.virt->ResolveVolume(d.pool, d.volume));
  return out;
}

void GatherRbdSourceFacts(Session& s, const MigrateOptions& opts, const DomainInfo& info,
                          const std::vector<MonHost>& monmap, std::map<std::string, SourceFacts>* out) {
  for (const DiskInfo& disk : info.disks) {
    if (disk.type != "network" || disk.protocol != "rbd" || disk.source.empty() || out->count(disk.source)) continue;
    const RbdSourcePlace place = ClassifyRbdSource(disk, opts.pool, monmap);
    if (!place.moves || ClassifyDisk(disk).decision != DiskDecision::kMove) continue;
    SourceFacts f;
    f.path = disk.source;
    f.rbd = true;
    RbdSourceRef ref = RbdSourceRefOf(disk);
    ref.other_cluster = place.other_cluster;
    auto fill = [&]() -> Status {
      auto conn = ConnectRbdSource(s.open_cluster, *s.virt, s.ceph, ref);
      if (!conn.ok()) return conn.status();
      auto image = conn->pool->OpenImage(ref.image, /*read_only=*/true);
      if (!image.ok()) return image.status();
      f.size = (*image)->size();
      auto extents = (*image)->Extents(0, f.size);
      if (!extents.ok()) return extents.status();
      for (const Extent& e : *extents)
        if (!e.zero) f.allocated += e.length;
      auto watchers = (*image)->Watchers();
      if (!watchers.ok()) return watchers.status();
      f.watchers = *watchers;
      auto snaps = (*image)->SnapshotNames();
      if (!snaps.ok()) return snaps.status();
      for (const std::string& n : *snaps)
        if (!IsSourceSnapshotOf(n, info.uuid)) f.snapshots.push_back(n);  // ours: a migration under way
      return Status::Ok();
    };
    Status st = fill();
    f.readable = st.ok();
    if (!st.ok()) f.error = st.message();
    (*out)[disk.source] = std::move(f);
  }
}

Result<ClusterFacts> GatherClusterFacts(Session& s, const std::string& pool, const std::string& user_entity,
                                        const std::vector<std::string>& image_names) {
  ClusterFacts f;
  f.pool_exists = s.pool != nullptr;
  if (f.pool_exists) {
    f.pool_is_rbd = s.pool->CheckRbd().ok();
    auto space = s.cluster->GetPoolSpace(pool);
    if (!space.ok()) return space.status();
    f.max_avail = space->max_avail;
    f.quota_max_bytes = space->quota_max_bytes;
    f.pool_stored = space->stored;
    if (!space->usage_known) f.max_avail = UINT64_MAX;  // no mgr: unknown, do not refuse on it
    for (const std::string& name : image_names) {
      auto exists = s.pool->ImageExists(name);
      if (!exists.ok()) return exists.status();
      if (*exists) f.existing_images.insert(name);
    }
  }
  auto mons = s.cluster->MonitorAddresses();
  if (!mons.ok()) return mons.status();
  for (const MonAddress& m : *mons) f.monmap.push_back({m.host, m.port});
  auto user = s.cluster->GetUser(user_entity);
  if (!user.ok()) return user.status();
  if (user->has_value()) {
    f.user_exists = true;
    f.user_caps = (*user)->caps;
  }
  return f;
}

}  // namespace v2r
