#include "migrate/steps.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>
#include <vector>

#include "base/fault.h"
#include "base/parallel.h"
#include "copy/checksum.h"
#include "migrate/live_mirror.h"
#include "qemu/export.h"

namespace v2r {

std::vector<std::string> CandidateImageNames(const MigrateOptions& opts, const DomainInfo& info) {
  std::vector<std::string> names;
  for (const DiskInfo& d : info.disks) {
    auto n = ExpandImageName(opts.image_template, info.name, d.target, info.uuid);
    if (n.ok()) names.push_back(*n);
  }
  return names;
}

std::string XmlDigest(const std::string& xml) { return HashBytes(xml.data(), xml.size()).Hex(); }

// Facts, adjusted for a migration being resumed: the VM's state is the one
// journalled before we stopped it, and images this migration created are
// ours, not "taken".
Result<Plan> PlanWith(Session& s, const MigrateOptions& opts, const MigrationState* resumed) {
  std::string usage = "client." + opts.client_user + " secret";
  auto domain = GatherDomainFacts(s, usage);
  if (!domain.ok()) return domain.status();
  auto info = ParseDomainXml(domain->xml);
  if (!info.ok()) return info.status();
  domain->volumes = GatherVolumeFacts(s, *info);
  auto sources = GatherSourceFacts(s, WithVolumesResolved(*info, domain->volumes));
  auto cluster = GatherClusterFacts(s, opts.pool, "client." + opts.client_user, CandidateImageNames(opts, *info));
  if (!cluster.ok()) return cluster.status();
  GatherRbdSourceFacts(s, opts, *info, cluster->monmap, &sources);
  if (resumed && resumed->begun) {
    // The state the migration began from: a VM started since (behind our
    // back) was refused before, or is stopped again by this run.
    domain->state = resumed->original_state;
    for (const DiskRecord& d : resumed->disks)
      if (d.created || d.create_intent) cluster->existing_images.erase(d.image);
  }
  MigrateOptions o = opts;
  if (resumed && resumed->begun && !o.start.has_value()) o.start = resumed->start_after;
  return MakePlan(o, *domain, sources, *cluster);
}

Status RefusePlan(const Plan& plan) {
  std::string msg = fmt::format("migration of {} refused ({} reason{}):", plan.domain, plan.refusals.size(),
                                plan.refusals.size() == 1 ? "" : "s");
  for (const std::string& r : plan.refusals) msg += "\n  - " + r;
  return Status::Refused(msg, "nothing was changed; `virt2rbd plan` shows the whole plan");
}

std::string UserStepTitle(const Plan& plan) {
  switch (plan.user_action) {
    case UserAction::kReuse: return "check cephx user " + plan.user_entity + " (reused)";
    case UserAction::kCreate: return "create cephx user " + plan.user_entity;
    case UserAction::kUpdateCaps: return "grant cephx user " + plan.user_entity + " access to pool " + plan.pool;
  }
  return "cephx user " + plan.user_entity;
}

std::string SecretStepTitle(const Plan& plan) {
  return plan.secret_uuid ? "set the libvirt secret's value (reused " + *plan.secret_uuid + ")"
                          : "define the libvirt secret";
}

std::string CopyStepTitle(const Plan& plan, bool verify) {
  size_t n = plan.Moving().size();
  return fmt::format("copy {}{} disk{}", verify ? "and verify " : "", n, n == 1 ? "" : "s");
}

Status EnsureUser(Runner& r_, const Plan& plan_) {
  MigrationState ms = r_.State();
  if (ms.user_created || ms.user_caps_updated) return Status::Ok();
  Cluster& c = *r_.s.cluster;
  switch (plan_.user_action) {
    case UserAction::kReuse:
      if (ms.user_create_intent) {  // we created it before a crash
        return r_.Log(rec::UserCreated(plan_.user_entity));
      }
      return r_.Log(rec::UserReused(plan_.user_entity));
    case UserAction::kCreate:
      V2R_RETURN_IF_ERROR(r_.Log(rec::UserCreate(plan_.user_entity, plan_.user_caps_after)));
      V2R_RETURN_IF_ERROR(FaultPoint("before-user-create"));
      V2R_RETURN_IF_ERROR(c.CreateUser(plan_.user_entity, plan_.user_caps_after));
      V2R_RETURN_IF_ERROR(FaultPoint("after-user-create"));
      return r_.Log(rec::UserCreated(plan_.user_entity));
    case UserAction::kUpdateCaps:
      V2R_RETURN_IF_ERROR(r_.Log(rec::UserCapsUpdate(plan_.user_entity, plan_.user_caps_before)));
      V2R_RETURN_IF_ERROR(c.SetCaps(plan_.user_entity, plan_.user_caps_after));
      return r_.Log(rec::UserCapsUpdated(plan_.user_entity, plan_.user_caps_before));
  }
  return Status::Ok();
}

Status EnsureSecret(Runner& r_, const Plan& plan_) {
  MigrationState ms = r_.State();
  std::string uuid = ms.secret_uuid;
  if (uuid.empty()) {
    auto existing = r_.s.virt->FindCephSecret(plan_.secret_usage);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      uuid = **existing;
      // Defined by us before a crash, or the operator's own.
      V2R_RETURN_IF_ERROR(r_.Log(ms.secret_define_intent ? rec::SecretDefined(uuid) : rec::SecretReused(uuid)));
    } else {
      V2R_RETURN_IF_ERROR(r_.Log(rec::SecretDefine(plan_.secret_usage)));
      auto defined = r_.s.virt->DefineCephSecret(plan_.secret_usage,
                                                 "cephx key of " + plan_.user_entity + " (virt2rbd)");
      if (!defined.ok()) {
        // Another run on this host (a fleet migrates several VMs of the same user at once) may have
        // defined it since our lookup: libvirt refuses a second secret of that usage. Reuse theirs.
        auto meanwhile = r_.s.virt->FindCephSecret(plan_.secret_usage);
        if (!meanwhile.ok() || !meanwhile->has_value()) return defined.status();
        uuid = **meanwhile;
        V2R_RETURN_IF_ERROR(r_.Log(rec::SecretReused(uuid)));
      } else {
        uuid = *defined;
        V2R_RETURN_IF_ERROR(FaultPoint("after-secret-define"));
        V2R_RETURN_IF_ERROR(r_.Log(rec::SecretDefined(uuid)));
      }
    }
  }
  // Always (re)set the value: idempotent, and a private secret cannot be
  // read back to compare. The key stays in memory only, and is wiped.
  auto key = r_.s.CephxKey(plan_.user_entity);
  if (!key.ok()) return key.status();
  V2R_RETURN_IF_ERROR(r_.s.virt->SetSecretValue(uuid, std::string(key->data(), key->size())));
  V2R_RETURN_IF_ERROR(FaultPoint("after-secret-value"));
  return r_.Log(rec::SecretValueSet(uuid));
}

Status SaveDefinition(Runner& r_, const Plan& plan_) {
  if (r_.State().definition_saved) return Status::Ok();
  std::string path = r_.dir->DefinitionPath(plan_.uuid);
  V2R_RETURN_IF_ERROR(WriteFileDurably(path, plan_.old_xml, 0600));
  return r_.Log(rec::DefinitionSaved(path, XmlDigest(plan_.old_xml)));
}

Status SnapshotImages(Runner& r_, const Plan& plan_) {
  std::vector<const DiskPlan*> todo;
  MigrationState ms = r_.State();
  for (const DiskPlan* d : plan_.Moving())
    if (!(ms.Disk(d->disk.target) && ms.Disk(d->disk.target)->snapshot)) todo.push_back(d);
  // The images are independent: each an open, its exclusive lock taken, a
  // snapshot, a close; done one after the other they cost a VM of four
  // disks about 0.5 s more downtime than one disk of the same bytes.
  return AllAtOnce(todo.size(), [&](size_t i) {
    const DiskPlan* d = todo[i];
    auto image = r_.s.pool->OpenImage(d->image, false);
    Status st = image.ok() ? (*image)->CreateSnapshot(kSwitchSnapshot) : image.status();
    if (st.ok()) st = r_.Log(rec::SnapshotCreated(d->disk.target, kSwitchSnapshot));
    return st;
  });
}

Result<RewriteResult> RewriteForSwitch(const Plan& plan, const std::string& secret_uuid) {
  std::vector<RbdDiskRewrite> rewrites;
  for (const DiskPlan* d : plan.Moving()) rewrites.push_back({d->disk.target, plan.pool, d->image});
  RbdRewriteOptions ro;
  ro.hosts = plan.hosts;
  ro.auth_username = plan.user_id;
  ro.secret_uuid = secret_uuid;
  ro.cache = plan.cache;
  ro.lun_as_disk = plan.lun_as_disk;
  return RewriteDisksToRbd(plan.old_xml, rewrites, ro);
}

Status SwitchDefinition(Runner& r_, const Plan& plan_, const std::function<Status()>& guard) {
  MigrationState ms = r_.State();
  if (ms.switched) return Status::Ok();
  auto rw = RewriteForSwitch(plan_, ms.secret_uuid);
  if (!rw.ok()) return rw.status();
  V2R_RETURN_IF_ERROR(FaultPoint("before-switch"));
  if (guard) V2R_RETURN_IF_ERROR(guard());
  V2R_RETURN_IF_ERROR(r_.Log(rec::Switch(XmlDigest(rw->xml))));
  auto defined = r_.s.virt->DefineXml(rw->xml);
  if (!defined.ok()) return defined.status().Wrap("defining the switched domain");
  if (Status late = guard ? guard() : Status::Ok(); !late.ok()) {
    // Started between the last check and the define: it runs on its
    // original disks, so its definition must name them again.
    auto back = r_.s.virt->DefineXml(plan_.old_xml);
    if (!back.ok())
      return back.status().Wrap(late.message() + "; putting the saved definition back failed").As(Kind::kFailed);
    V2R_RETURN_IF_ERROR(r_.Log(rec::DefinitionRestored()));
    return late;
  }
  auto now = r_.s.domain->InactiveSecureXml();
  if (!now.ok()) return now.status();
  V2R_RETURN_IF_ERROR(r_.Log(rec::Switched(XmlDigest(*now))));
  return FaultPoint("after-switch");
}

Status ExpectDisksOnRbd(const std::string& xml, const Plan& plan, const std::string& whose,
                        const std::string& after) {
  auto info = ParseDomainXml(xml);
  if (!info.ok()) return info.status();
  for (const DiskPlan* d : plan.Moving()) {
    const std::string image = ImagePath(plan.pool, d->image);
    bool found = false;
    for (const DiskInfo& disk : info->disks)
      if (disk.target == d->disk.target && disk.protocol == "rbd" && disk.source == image) found = true;
    if (!found) return Status::Failed(fmt::format("{} disk {} is not {}{}", whose, d->disk.target, image, after));
  }
  return Status::Ok();
}

Status ConfirmOnRbd(Runner& r_, const Plan& plan_) {
  // qemu must have opened every image: the live XML names it and the image
  // has a watcher (checked through a read-only handle, which is not one).
  auto live = r_.s.domain->LiveXml();
  if (!live.ok()) return live.status();
  V2R_RETURN_IF_ERROR(ExpectDisksOnRbd(*live, plan_, "the running VM's"));
  for (const DiskPlan* d : plan_.Moving()) {
    bool watched = false;
    for (int i = 0; i < 50 && !watched; ++i) {
      auto image = r_.s.pool->OpenImage(d->image, true);
      if (!image.ok()) return image.status();
      auto w = (*image)->Watchers();
      if (!w.ok()) return w.status();
      watched = !w->empty();
      if (!watched) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!watched)
      return Status::Failed(fmt::format("qemu did not open image {} (no watcher after 10 s)",
                                        ImagePath(plan_.pool, d->image)));
  }
  return Status::Ok();
}

nlohmann::json BeginRecord(Runner& r, const Plan& plan, const MigrateOptions& opts, bool live) {
  nlohmann::json disks = nlohmann::json::array();
  for (const DiskPlan* d : plan.Moving()) {
    nlohmann::json jd = {{"target", d->disk.target},
                         {"source", d->disk.source},
                         {"format", d->disk.driver_type.empty() ? "raw" : d->disk.driver_type},
                         {"image", d->image},
                         {"size", d->size}};
    // A pool volume: the source and format are what it resolved to.
    if (!d->disk.volume.empty()) jd["volume"] = d->disk.pool + "/" + d->disk.volume;
    if (d->disk.sliced) jd["slice"] = {{"offset", d->disk.slice_offset}, {"size", d->disk.slice_size}};
    if (d->disk.type == "network") jd["protocol"] = d->disk.protocol;
    disks.push_back(std::move(jd));
  }
  nlohmann::json hosts = nlohmann::json::array();
  for (const MonHost& h : plan.hosts) hosts.push_back(fmt::format("{}:{}", h.host, h.port));
  return rec::Begin({{"mode", live ? "live" : "offline"},
          {"domain", plan.domain},
          {"uuid", plan.uuid},
          {"uri", r.s.virt->uri()},
          {"pool", opts.pool},
          {"user", plan.user_entity},
          {"secret_usage", plan.secret_usage},
          {"cache", opts.cache},
          {"state", RunStateName(plan.state)},
          {"start_after", plan.start_after},
          {"hosts", hosts},
          {"disks", disks}});
}

std::map<std::string, uint64_t> UsedSpace(Runner& r) {
  std::map<std::string, uint64_t> used;
  if (!r.s.pool) return used;
  for (const DiskRecord& d : r.State().disks) {
    auto bytes = ImageUsedBytes(*r.s.pool, d.image);
    if (bytes.ok()) used[d.target] = *bytes;
  }
  return used;
}

namespace {

// The export a killed run left for REC's disk (export-start without
// export-stopped), stopped; journalled.
Status StopJournalledExport(Runner& r, const std::string& target, const DiskRecord* rec) {
  if (!rec || rec->export_socket.empty()) return Status::Ok();
  Status stale = rec->export_pid > 0
                     ? StopStaleExport(static_cast<pid_t>(rec->export_pid), rec->export_socket).status()
                     : StopStaleExports(rec->export_socket).status();
  if (!stale.ok()) return stale;
  return r.Log(rec::ExportStopped(target));
}

}  // namespace

Result<OpenedSource> OpenJournalledSource(Runner& r, const std::string& uuid, const DiskInfo& disk,
                                          const std::string& read_path, const DiskRecord* rec, int connections) {
  const std::string& target = disk.target;
  const std::string dir = r.dir->DomainDir(uuid);
  V2R_RETURN_IF_ERROR(StopJournalledExport(r, target, rec));
  if (ReadPathFor(disk) == ReadPath::kDirect) return OpenDiskSource(disk, dir, 0);
  V2R_RETURN_IF_ERROR(r.Log(rec::ExportStart(target, ExportSocketPath(dir, target), read_path)));
  auto opened = OpenDiskSource(disk, dir, connections);
  if (!opened.ok()) return opened.status().Wrap(fmt::format("reading {}", disk.source));
  V2R_RETURN_IF_ERROR(r.Log(rec::ExportStarted(target, static_cast<int64_t>(opened->export_pid))));
  return opened;
}

Result<OpenedSink> OpenJournalledSink(Runner& r, const std::string& uuid, const DiskInfo& disk, const DiskRecord* rec,
                                      int connections, uint64_t object_size) {
  const std::string& target = disk.target;
  const std::string dir = r.dir->DomainDir(uuid);
  V2R_RETURN_IF_ERROR(StopJournalledExport(r, target, rec));
  V2R_RETURN_IF_ERROR(r.Log(rec::ExportStart(target, ExportSocketPath(dir, target),
                                             fmt::format("qemu-nbd writable ({})", disk.driver_type))));
  auto opened = OpenImageSink(disk, dir, connections, object_size);
  if (!opened.ok()) return opened.status().Wrap(fmt::format("writing {}", disk.source));
  V2R_RETURN_IF_ERROR(r.Log(rec::ExportStarted(target, static_cast<int64_t>(opened->export_pid))));
  return opened;
}

Result<BlockHashes> HashJournalledSource(Runner& r, const std::string& uuid, const DiskInfo& disk,
                                         const std::string& read_path, int connections, const HashOptions& opts,
                                         ProgressCounters* progress) {
  MigrationState now = r.State();  // (Disk() points into it)
  auto src = OpenJournalledSource(r, uuid, disk, read_path, now.Disk(disk.target), connections);
  if (!src.ok()) return src.status();
  bool exported = src->export_pid != 0;
  auto hashes = HashDisk(*src->source, opts, progress);
  Status closed = CloseJournalledSource(r, disk.target, &src->source, exported);
  if (!hashes.ok()) return hashes.status();
  V2R_RETURN_IF_ERROR(closed);
  auto after = DiskFingerprint(disk);
  if (!after.ok()) return after.status();
  if (*after != src->fingerprint)
    return Status::Mismatch(fmt::format("disk {}: {} (or a layer of its chain) was written while it was read for "
                                        "the verification", disk.target, disk.source),
                            "nothing may write the original disk meanwhile: find what wrote it, then rerun to "
                            "verify again");
  return hashes;
}

Status CloseJournalledSink(Runner& r, const std::string& target, std::unique_ptr<Sink>* sink) {
  sink->reset();  // the export stops with it
  return r.Log(rec::ExportStopped(target));
}

Status CloseJournalledSource(Runner& r, const std::string& target, std::unique_ptr<Source>* source, bool exported) {
  source->reset();  // the export stops with it
  if (!exported) return Status::Ok();
  return r.Log(rec::ExportStopped(target));
}

}  // namespace v2r
