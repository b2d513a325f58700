// migrate --live (see live.h for the flow and the failure policy).
#include "migrate/live.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "base/fault.h"
#include "base/units.h"
#include "copy/hash_sink.h"
#include "migrate/live_control.h"
#include "migrate/live_mirror.h"
#include "migrate/live_pivot.h"
#include "migrate/steps.h"

namespace v2r {

namespace {

// Zero runs of at least this many bytes are deallocated after the copy: the
// zero-detection granularity of an offline copy, so both end up as thin.
constexpr size_t kSparseSize = 64 << 10;
// Connections to the export the verification reads an image file through:
// one per reader of HashDisk.
constexpr int kVerifyConnections = 4;

bool RunsOn(const DiskInfo& at, const std::string& pool_image) {
  return at.type == "network" && at.protocol == "rbd" && at.source == pool_image;
}

// Targets of the disks that run (or may run, for a VM that is off) on their
// image: a pivot was asked and the live XML does not show the disk on its
// original source.
std::vector<std::string> PivotedTargets(const MigrationState& ms, const std::map<std::string, DiskInfo>* live) {
  std::vector<std::string> out;
  for (const DiskRecord& d : ms.disks) {
    bool asked = d.live.pivot_intent || d.live.pivoted;
    if (!live) {
      if (asked) out.push_back(d.target);
      continue;
    }
    auto it = live->find(d.target);
    bool on_image = it != live->end() && RunsOn(it->second, ImagePath(ms.pool, d.image));
    bool on_source = it != live->end() && it->second.type != "network" && it->second.source == d.source;
    if (on_image || (asked && !on_source)) out.push_back(d.target);
  }
  return out;
}

class LiveMigration {
 public:
  LiveMigration(const MigrateOptions& opts, const RunContext& ctx) : opts_(opts), r_(ctx) {}
  Result<MigrateReport> Run();

 private:
  Result<Plan> MakeLivePlan(const MigrationState* resumed);
  void CheckRunningDisks(const MigrationState* resumed, Plan* plan);
  Status StepCopies();
  Status StepPivot();
  Status StepConfirm();
  Status StepVerify();
  Status StepSparsify(const std::vector<std::string>& targets);

  // The step table: user, secret, save-definition, copy, sparsify, pivot,
  // switch, check, verify; every failure goes through Fail (undo before the
  // pivot, roll forward after it).
  static const StepEntry<LiveMigration> kSteps[];
  friend class v2r::Runner;  // RunSteps asks the titles
  std::string StepTitle(Phase p) const;
  Status StepUser() { return EnsureUser(r_, plan_); }
  Status StepSecret() { return EnsureSecret(r_, plan_); }
  Status StepSaveDefinition() { return SaveDefinition(r_, plan_); }
  // The disks whose copies this run started or adopted, in sync now.
  Status StepSparsifyInSync();
  Status StepSwitch() { return SwitchDefinition(r_, plan_); }
  // The VM and its definition on RBD; disks pivoted by an earlier run get
  // their snapshot here.
  Status StepCheck();
  // The images verified; disks an earlier run pivoted unsparsified are
  // sparsified here.
  Status StepVerifyAll();
  Status ResumeAfterKill();
  Status Fail(Status st);
  std::string Summary();

  const MigrateOptions& opts_;
  Runner r_;
  Plan plan_;
  MirrorDisks mirrors_;
  std::vector<MirrorDisk*> copying_;  // disks not pivoted yet
  MirrorControl control_{r_};         // the orchestrator's rate and go (--control-fd)
};

// As PlanWith (steps.cc), except that a resumed migration plans from the
// saved definition: once a disk has pivoted, libvirt may have rewritten the
// persistent definition already, and that disk would look "already on RBD".
Result<Plan> LiveMigration::MakeLivePlan(const MigrationState* resumed) {
  Session& s = r_.s;
  auto domain = GatherDomainFacts(s, "client." + opts_.client_user + " secret");
  if (!domain.ok()) return domain.status();
  if (resumed && resumed->definition_saved) {
    auto saved = ReadFile(r_.dir->DefinitionPath(resumed->uuid));
    if (!saved.ok()) return saved.status().WithHint("the saved definition of the unfinished migration is missing");
    domain->xml = *saved;
  }
  auto info = ParseDomainXml(domain->xml);
  if (!info.ok()) return info.status();
  domain->volumes = GatherVolumeFacts(s, *info);
  auto sources = GatherSourceFacts(s, WithVolumesResolved(*info, domain->volumes));
  auto cluster = GatherClusterFacts(s, opts_.pool, "client." + opts_.client_user, CandidateImageNames(opts_, *info));
  if (!cluster.ok()) return cluster.status();
  if (resumed)
    for (const DiskRecord& d : resumed->disks)
      if (d.created || d.create_intent) cluster->existing_images.erase(d.image);
  Plan plan = MakePlan(opts_, *domain, sources, *cluster);
  if (plan.state == RunState::kRunning) CheckRunningDisks(resumed, &plan);
  return plan;
}

// The running VM must use the disks its definition names (a definition edited
// since it started would move other data than qemu writes), and no moving
// disk may have a block job, except the copy to our image a killed run left.
void LiveMigration::CheckRunningDisks(const MigrationState* resumed, Plan* plan) {
  auto live = LiveDisks(*r_.s.domain);
  if (!live.ok()) {
    plan->refusals.push_back(live.status().message());
    return;
  }
  for (const DiskPlan* d : plan->Moving()) {
    auto it = live->find(d->disk.target);
    if (it == live->end()) {
      plan->refusals.push_back(fmt::format("disk {} is defined but not in the running VM: restart it first",
                                           d->disk.target));
      continue;
    }
    const DiskInfo& at = it->second;
    std::string image = ImagePath(opts_.pool, d->image);
    if (resumed && RunsOn(at, image)) continue;  // pivoted before the tool stopped
    if (at.source != d->disk.source || at.type != d->disk.type)
      plan->refusals.push_back(fmt::format("the running VM's disk {} is {} but its definition says {}: restart the "
                                           "VM so that both agree",
                                           d->disk.target, at.source.empty() ? "(none)" : at.source,
                                           d->disk.source));
    if (!at.mirror_job.empty() && !(resumed && at.mirror_source == image))
      plan->refusals.push_back(fmt::format("disk {} has a block job in progress ({} to {}): wait for it to end or "
                                           "abort it (virsh blockjob {} {} --abort)",
                                           d->disk.target, at.mirror_job, at.mirror_source, plan->domain,
                                           d->disk.target));
  }
}

Status LiveMigration::StepCopies() {
  MigrationState ms = r_.State();
  // Each copy's destination is the disk exactly as the switch defines it.
  auto rw = RewriteForSwitch(plan_, ms.secret_uuid);
  if (!rw.ok()) return rw.status();
  auto live = LiveDisks(*r_.s.domain);
  if (!live.ok()) return live.status();

  for (const DiskPlan* d : plan_.Moving()) {
    auto m = std::make_unique<MirrorDisk>();
    m->target = d->disk.target;
    m->dest = ImagePath(plan_.pool, d->image);
    m->size = d->size;
    auto xml = DiskElementXml(rw->xml, d->disk.target);
    if (!xml.ok()) return xml.status();
    m->dest_xml = *xml;
    const DiskInfo& at = (*live)[d->disk.target];
    if (RunsOn(at, m->dest)) {
      const DiskRecord* rec = ms.Disk(d->disk.target);
      if (!rec || !rec->live.pivoted)
        V2R_RETURN_IF_ERROR(r_.Log(rec::Pivoted(RecordType::kPivoted, m->target, m->dest,
                                                {{"recovered", true}, {"at_ms", EpochMs()}})));
    } else {
      copying_.push_back(m.get());
    }
    mirrors_.push_back(std::move(m));
  }
  // A rate the orchestrator asked for before the copies start is theirs.
  std::optional<uint64_t> asked = control_.Asked();
  SplitBandwidth(asked.value_or(opts_.bandwidth), copying_);

  Pool& io = *r_.s.pool;
  for (MirrorDisk* m : copying_) {
    const DiskPlan* d = nullptr;
    for (const DiskPlan* p : plan_.Moving())
      if (p->disk.target == m->target) d = p;
    const DiskInfo& at = (*live)[m->target];
    if (!at.mirror_job.empty()) {  // ours: CheckRunningDisks refused any other
      V2R_RETURN_IF_ERROR(AdoptCopy(r_, *m, kForwardEvents));
      continue;
    }
    MigrationState now = r_.State();  // (Disk() points into it)
    const DiskRecord* rec = now.Disk(m->target);
    if (rec && (rec->created || rec->create_intent)) {
      // No copy runs into it: whatever it holds is stale. Start afresh (a new
      // image reads as zeros, which qemu relies on to skip the source's holes).
      V2R_RETURN_IF_ERROR(io.RemoveImage(d->image));
      V2R_RETURN_IF_ERROR(r_.Log(rec::ImageRemoved(m->target, d->image,
                                               "no block copy into it: starting again on a fresh image")));
    }
    V2R_RETURN_IF_ERROR(r_.Log(rec::ImageCreate(m->target, d->image)));
    V2R_RETURN_IF_ERROR(io.CreateImage(d->image, d->size));
    V2R_RETURN_IF_ERROR(r_.Log(rec::ImageCreated(m->target, d->image)));
    V2R_RETURN_IF_ERROR(FaultPoint("after-image-create"));
    V2R_RETURN_IF_ERROR(StartCopy(r_, *m, kForwardEvents));
  }
  if (copying_.empty()) return Status::Ok();
  if (asked && r_.observer()) r_.observer()->BandwidthApplied(*asked);
  return WaitInSync(r_, "live copy", copying_, [this] { return control_.ApplyRate(copying_); });
}

// The VM is paused (qemu drains its requests) while every disk pivots and
// each image gets its rollback snapshot: so the snapshot holds exactly what
// the original disk holds, for every disk at the same instant. That makes
// the rollback point exact and the copy verifiable (StepVerify). The pause
// itself is PauseAndPivot (live_pivot.h); docs/live-migration.md measures it.
Status LiveMigration::StepPivot() {
  if (copying_.empty()) return Status::Ok();
  if (opts_.pivot_gate) V2R_RETURN_IF_ERROR(control_.WaitForGo(copying_));
  // Everything is journalled outside the pause, which then only holds
  // libvirt and Ceph calls: the intents before, the outcomes after. A run
  // killed inside it leaves the VM paused; the rerun reconciles from the live
  // XML (ResumeAfterKill).
  MigrationState ms = r_.State();
  // Opened now: opening an image costs round trips the paused VM need not wait for.
  std::vector<std::unique_ptr<Image>> images;
  std::vector<Image*> handles;
  for (const MirrorDisk* m : copying_) {
    auto image = r_.s.pool->OpenImage(ms.Disk(m->target)->image, false);
    if (!image.ok()) return image.status();
    images.push_back(std::move(*image));
    handles.push_back(images.back().get());
  }
  for (const MirrorDisk* m : copying_)
    V2R_RETURN_IF_ERROR(r_.Log(rec::Pivot(RecordType::kPivot, m->target, m->dest, EpochMs())));
  V2R_RETURN_IF_ERROR(r_.Log(rec::VmPause(EpochMs())));
  // The copies were in sync and the paused guest writes nothing: a copy
  // still "not ready" after a few seconds will not be, and the VM waits.
  auto p = PauseAndPivot(*r_.s.domain, copying_, handles, kSwitchSnapshot, 5);
  if (!p.ok()) return p.status();
  int64_t resumed_at = EpochMs();
  nlohmann::json pivot_ms = nlohmann::json::object(), snapshot_ms = nlohmann::json::object();
  for (size_t i = 0; i < copying_.size(); ++i) {
    const PausedPivot::Disk& d = p->disks[i];
    if (!d.pivoted) continue;
    pivot_ms[copying_[i]->target] = d.ms;
    V2R_RETURN_IF_ERROR(r_.Log(rec::Pivoted(RecordType::kPivoted, copying_[i]->target, copying_[i]->dest,
                                            {{"ms", d.ms}, {"at_ms", d.at_ms}})));
  }
  for (size_t i = 0; i < copying_.size(); ++i) {
    const PausedPivot::Disk& d = p->disks[i];
    if (!d.pivoted || !d.snap.ok()) continue;
    snapshot_ms[copying_[i]->target] = d.snap_ms;
    V2R_RETURN_IF_ERROR(r_.Log(rec::SnapshotCreated(copying_[i]->target, kSwitchSnapshot, /*at_pivot=*/true)));
  }
  if (!p->resumed.ok())
    return Status(p->resumed).WithHint(fmt::format("the VM is paused: resume it with virsh resume {}", plan_.domain));
  V2R_RETURN_IF_ERROR(r_.Log(rec::VmResumed({{"paused_ms", p->paused_ms}, {"at_ms", resumed_at},
                                              {"suspend_ms", p->suspend_ms}, {"pivots_ms", p->pivots_ms},
                                              {"snapshots_wait_ms", p->snapshots_ms}, {"resume_ms", p->resume_ms},
                                              {"pivot_ms", pivot_ms}, {"snapshot_ms", snapshot_ms}})));
  return p->st;
}

// The original disks have not changed since the pivot and the snapshots hold
// the images as they were then: both must read the same.
Status LiveMigration::StepVerify() {
  std::vector<const DiskPlan*> todo;
  for (const DiskPlan* d : plan_.Moving()) {
    MigrationState now = r_.State();  // (Disk() points into it)
    const DiskRecord* rec = now.Disk(d->disk.target);
    if (!rec || !rec->copied) todo.push_back(d);
  }
  // A disk is verifiable when its snapshot was taken in the pivot's pause.
  ProgressCounters progress;  // the mean of the source side and the image side: goes to the disks' size
  PairedProgress pair(&progress);
  const HashOptions src_opts{4, r_.cancel(), {}, [&pair] { pair.Sync(); }};
  std::set<std::string> verifiable;
  MigrationState ms = r_.State();
  for (const DiskPlan* d : todo) {
    const DiskRecord* rec = ms.Disk(d->disk.target);
    if (!opts_.verify || !rec || !rec->live.snapshot_at_pivot) continue;
    verifiable.insert(d->disk.target);
    progress.total += d->size;
  }
  bool any = !verifiable.empty();
  if (any && r_.observer()) r_.observer()->PhaseStarted("verify", progress);
  Status st;
  for (const DiskPlan* d : todo) {
    bool verify = verifiable.count(d->disk.target) > 0;
    const MirrorDisk* m = nullptr;
    for (const auto& mm : mirrors_)
      if (mm->target == d->disk.target) m = mm.get();
    rec::DiskCopied copied{.target = d->disk.target, .image = d->image, .digest = {},  // set when verified
                           .bytes_copied = m ? m->copied : 0, .bytes_zero = 0, .seconds = m ? m->seconds : 0,
                           .verified = false, .chunks_rechecked = 0, .chunks_rewritten = 0,
                           .how = "live block copy"};
    if (verify) {
      // The original as an offline copy reads it (an image file through a
      // journalled read-only export): after the pivot qemu no longer holds
      // it open, so the export takes its lock as for a VM that is off.
      auto a = HashJournalledSource(r_, plan_.uuid, d->disk, d->read_path, kVerifyConnections, src_opts,
                                    pair.side(0));
      if (!a.ok()) { st = a.status(); break; }
      auto snap = r_.s.pool->OpenAtSnapshot(d->image, kSwitchSnapshot);
      if (!snap.ok()) { st = snap.status(); break; }
      auto b = HashDisk(**snap, src_opts, pair.side(1));
      if (!b.ok()) { st = b.status(); break; }
      std::vector<Extent> diff = CompareHashes(*a, *b);
      if (!diff.empty()) {
        st = Status::Mismatch(fmt::format("disk {}: image {} at the pivot differs from {}: {}", d->disk.target,
                                          ImagePath(plan_.pool, d->image), d->disk.source, DescribeMismatch(diff)),
                              "the VM runs on RBD; its original disk is unchanged since the pivot: go back with "
                              "`virt2rbd rollback --live` and investigate");
        break;
      }
      copied.digest = a->Digest();
      copied.verified = true;
    }
    st = r_.Log(rec::DiskCopiedRecord(copied));
    if (!st.ok()) break;
  }
  if (any && r_.observer()) r_.observer()->PhaseEnded();
  return st;
}

// Both the running VM and its persistent definition name every image.
Status LiveMigration::StepConfirm() {
  V2R_RETURN_IF_ERROR(ConfirmOnRbd(r_, plan_));
  auto inactive = r_.s.domain->InactiveSecureXml();
  if (!inactive.ok()) return inactive.status();
  return ExpectDisksOnRbd(*inactive, plan_, "the persistent definition's", " after the switch");
}

// The mirror wrote every byte, zeros too: deallocate the zero runs. Done on
// the copies while they are in sync, before the pivot, so the rollback
// snapshot is thin too (a sparsify after it would free nothing the snapshot
// holds). The copies keep mirroring the guest's writes meanwhile; sparsify
// works object by object on the OSDs and never changes what reads return.
Status LiveMigration::StepSparsify(const std::vector<std::string>& targets) {
  std::vector<const DiskPlan*> todo;
  ProgressCounters progress;
  for (const DiskPlan* d : plan_.Moving()) {
    if (std::find(targets.begin(), targets.end(), d->disk.target) == targets.end()) continue;
    MigrationState now = r_.State();  // (Disk() points into it)
    const DiskRecord* rec = now.Disk(d->disk.target);
    if (rec && rec->live.sparsified) continue;
    todo.push_back(d);
    progress.total += d->size;
  }
  if (todo.empty()) return Status::Ok();
  if (r_.observer()) r_.observer()->PhaseStarted("sparsify", progress);
  Status st;
  for (const DiskPlan* d : todo) {
    if (r_.Cancelled()) {
      st = Status::Interrupted("sparsify interrupted");
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto before = ImageUsedBytes(*r_.s.pool, d->image);
    if (!before.ok()) { st = before.status(); break; }
    {
      auto image = r_.s.pool->OpenImage(d->image, false);
      if (!image.ok()) { st = image.status(); break; }
      st = (*image)->Sparsify(kSparseSize);
      if (!st.ok()) break;
    }
    auto after = ImageUsedBytes(*r_.s.pool, d->image);
    if (!after.ok()) { st = after.status(); break; }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st = r_.Log(rec::Sparsified(d->disk.target, d->image, *before, *after, kSparseSize, secs));
    if (!st.ok()) break;
    progress.done += d->size;
  }
  if (r_.observer()) r_.observer()->PhaseEnded();
  return st;
}

Status LiveMigration::Fail(Status st) {
  MigrationState ms = r_.State();
  auto live = LiveDisks(*r_.s.domain);
  std::vector<std::string> moved = PivotedTargets(ms, live.ok() ? &*live : nullptr);
  // Environment faults stop resumable, never undo, as offline (migrate.cc):
  // the cluster out of reach, libvirt gone.
  bool environment = st.cause() == Cause::kTimeout || r_.LibvirtLost();
  if (!moved.empty() || ms.switched || ms.switch_intent) {
    // Past the pivot the data lives on RBD: never undo by removing images.
    Kind kind = st.kind() == Kind::kInterrupted || environment ? Kind::kInterrupted : Kind::kFailed;
    return Status(st.As(kind))
        .Wrap(fmt::format("live migration of {} stopped after the pivot", plan_.domain))
        .WithHint(fmt::format("the VM runs on RBD for disk{} {}; rerun the same command to finish, or go back "
                              "without downtime: virt2rbd rollback {} --live --state-dir {}",
                              moved.size() == 1 ? "" : "s", fmt::join(moved, ", "), plan_.domain, opts_.state_dir));
  }
  if (environment && st.kind() != Kind::kInterrupted && !r_.Cancelled())
    // The copies keep running: a rerun adopts them, `rollback` cancels them.
    return Status::Interrupted(
        fmt::format("live migration of {} interrupted before the pivot: {}{}", plan_.domain, st.message(),
                    r_.LibvirtLost() ? " (the connection to libvirt is lost)" : ""),
        fmt::format("the VM runs on its original disks; rerun the same command to resume, or undo with: virt2rbd "
                    "rollback {} --state-dir {}",
                    plan_.domain, opts_.state_dir));
  bool interrupted = st.kind() == Kind::kInterrupted || r_.Cancelled();
  auto undone = r_.Abort(interrupted ? "interrupted before the pivot" : st.message());
  if (!undone.ok())
    return Status::Failed(fmt::format("live migration of {} failed: {}; undoing it failed too: {}", plan_.domain,
                                      st.message(), undone.status().message()),
                          "see `virt2rbd status`; rerun `virt2rbd rollback` to retry the undo");
  if (interrupted)
    return Status::Interrupted(
        fmt::format("live migration of {} interrupted before the pivot: the VM runs on its original disks",
                    plan_.domain),
        fmt::format("undone: {}", *undone));
  Kind kind = st.kind() == Kind::kRefused ? Kind::kRefused : Kind::kFailed;
  return Status(st.As(kind))
      .Wrap(fmt::format("live migration of {} failed before the pivot", plan_.domain))
      .WithHint(fmt::format("the VM runs on its original disks; undone: {}", *undone));
}

const StepEntry<LiveMigration> LiveMigration::kSteps[] = {
    {Phase::kUser, &LiveMigration::StepUser},
    {Phase::kSecret, &LiveMigration::StepSecret},
    {Phase::kSaveDefinition, &LiveMigration::StepSaveDefinition},
    {Phase::kCopy, &LiveMigration::StepCopies},
    {Phase::kSparsify, &LiveMigration::StepSparsifyInSync},
    // Not interruptible: every disk pivots, with its snapshot.
    {Phase::kPivot, &LiveMigration::StepPivot},
    // From here on the VM runs on RBD: a failure leaves it so (rerun finishes).
    {Phase::kSwitch, &LiveMigration::StepSwitch},
    {Phase::kCheck, &LiveMigration::StepCheck},
    {Phase::kVerify, &LiveMigration::StepVerifyAll},
};

std::string LiveMigration::StepTitle(Phase p) const {
  switch (p) {
    case Phase::kUser: return UserStepTitle(plan_);
    case Phase::kSecret: return SecretStepTitle(plan_);
    case Phase::kCopy: return "live block copies until in sync";
    default: return PhaseTitle(p);
  }
}

Status LiveMigration::StepSparsifyInSync() {
  std::vector<std::string> in_sync;
  for (const MirrorDisk* m : copying_) in_sync.push_back(m->target);
  V2R_RETURN_IF_ERROR(StepSparsify(in_sync));
  return r_.Cancelled() ? Status::Interrupted("interrupted") : Status::Ok();
}

Status LiveMigration::StepCheck() {
  V2R_RETURN_IF_ERROR(StepConfirm());
  return SnapshotImages(r_, plan_);  // only disks pivoted by an earlier run lack one
}

Status LiveMigration::StepVerifyAll() {
  V2R_RETURN_IF_ERROR(StepVerify());
  std::vector<std::string> all;
  for (const DiskPlan* d : plan_.Moving()) all.push_back(d->disk.target);
  return StepSparsify(all);  // only disks an earlier run pivoted unsparsified
}

std::string LiveMigration::Summary() {
  MigrationState ms = r_.State();
  std::vector<std::string> pivots, space;
  for (const DiskRecord& d : ms.disks) {
    if (d.live.pivot_ms > 0) pivots.push_back(fmt::format("{} {:.0f} ms", d.target, d.live.pivot_ms));
    if (d.live.sparsified)
      space.push_back(fmt::format("{} {} -> {}", d.target, FormatBytes(d.live.used_before_sparsify),
                                  FormatBytes(d.live.used_after_sparsify)));
  }
  std::string s = fmt::format("domain {} migrated live to RBD ({} disk{}), without stopping it", plan_.domain,
                              ms.disks.size(), ms.disks.size() == 1 ? "" : "s");
  if (ms.pivot_end_ms > ms.pivot_begin_ms && ms.pivot_begin_ms > 0)
    s += fmt::format("; pivot {} ms ({})", ms.pivot_end_ms - ms.pivot_begin_ms, fmt::join(pivots, ", "));
  if (ms.paused_ms > 0) s += fmt::format("; paused {:.0f} ms for the pivot and the snapshots", ms.paused_ms);
  if (!space.empty()) s += fmt::format("; used space after sparsify: {}", fmt::join(space, ", "));
  return s;
}

// Killed during the pivot's pause: the VM may still be paused. The disks
// that pivoted have not been written since, so their snapshots taken now are
// exact; then the VM runs again. The rest of the run finishes the others.
Status LiveMigration::ResumeAfterKill() {
  auto now = r_.s.domain->State();
  if (!now.ok()) return now.status();
  if (*now == DomainState::kPaused) {
    MigrationState ms = r_.State();
    auto live = LiveDisks(*r_.s.domain);
    Status st = live.status();
    for (const DiskRecord& d : ms.disks) {
      if (!st.ok() || !r_.s.pool) break;
      if (d.snapshot || !RunsOn((*live)[d.target], ImagePath(ms.pool, d.image))) continue;
      if (!d.live.pivoted)
        st = r_.Log(rec::Pivoted(RecordType::kPivoted, d.target, ImagePath(ms.pool, d.image),
                                 {{"recovered", true}, {"at_ms", EpochMs()}}));
      auto image = r_.s.pool->OpenImage(d.image, false);
      if (st.ok()) st = image.ok() ? (*image)->CreateSnapshot(kSwitchSnapshot) : image.status();
      if (st.ok())
        st = r_.Log(rec::SnapshotCreated(d.target, kSwitchSnapshot, /*at_pivot=*/true));
    }
    Status resumed = r_.s.domain->Resume();
    if (!resumed.ok()) return resumed.WithHint(fmt::format("the VM is paused: virsh resume {}", r_.s.domain->name()));
    if (!st.ok()) return st;
  }
  return r_.Log(rec::VmResumed({{"recovered", true}, {"at_ms", EpochMs()}}));
}

Result<MigrateReport> LiveMigration::Run() {
  MigrationState ms;
  auto done = OpenMigration(r_, opts_, &ms);
  if (!done.ok()) return done.status();
  if (*done) return **done;
  MigrateReport report;
  bool resuming = ms.begun;
  if (resuming && ms.paused) {
    V2R_RETURN_IF_ERROR(ResumeAfterKill());
    ms = r_.State();
  }
  auto plan = MakeLivePlan(resuming ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  plan_ = std::move(*plan);
  if (!plan_.ok()) {
    Status refused = RefusePlan(plan_);
    if (!resuming) return refused;
    return refused.WithHint(fmt::format(
        "an unfinished live migration is recorded (begun {}): fix the above and rerun, or undo it with "
        "`virt2rbd rollback {} --live` (a running VM) or `virt2rbd rollback {}`",
        ms.began_at, plan_.domain, plan_.domain));
  }
  if (r_.observer()) r_.observer()->PlanReady(plan_);
  if (!resuming) {
    V2R_RETURN_IF_ERROR(r_.Log(BeginRecord(r_, plan_, opts_, /*live=*/true)));
  } else if (r_.observer()) {
    r_.observer()->Warn(fmt::format("resuming the live migration of {} begun {}", plan_.domain, ms.began_at));
  }
  Status st = FaultPoint("after-preflight");
  if (st.ok()) st = r_.RunSteps<LiveMigration>(*this, kSteps, nullptr);
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log(rec::Completed()));
  report.plan = plan_;
  report.state = r_.State();
  report.used_bytes = UsedSpace(r_);
  report.message = Summary();
  return report;
}

}  // namespace

Result<MigrateReport> RunLiveMigrate(const MigrateOptions& opts, const RunContext& ctx) {
  if (opts.shutdown || opts.force_off)
    return Status::Usage("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
  if (opts.start.has_value() && !*opts.start)
    return Status::Usage("--live keeps the VM running: --no-start does not apply");
  if (opts.pivot_gate && !ctx.control)
    return Status::Usage("--pivot-gate waits for a go on the control stream: it needs --control-fd");
  LiveMigration m(opts, ctx);
  return m.Run();
}

Status CancelLiveCopies(Runner& r) {
  MigrationState ms = r.State();
  if (!ms.live) return Status::Ok();
  auto state = r.s.domain->State();
  bool running = state.ok() && ToRunState(*state) != RunState::kShutoff;
  std::map<std::string, DiskInfo> disks;
  if (running) {
    auto live = LiveDisks(*r.s.domain);
    if (!live.ok()) return live.status();
    disks = std::move(*live);
  }
  std::vector<std::string> moved = PivotedTargets(ms, running ? &disks : nullptr);
  if (!moved.empty())
    return Status::Refused(
        fmt::format("disk{} {} of {} already run{} on {} RBD image{}: removing the images would lose what the VM "
                    "wrote since",
                    moved.size() == 1 ? "" : "s", fmt::join(moved, ", "), ms.domain, moved.size() == 1 ? "s" : "",
                    moved.size() == 1 ? "its" : "their", moved.size() == 1 ? "" : "s"),
        fmt::format("go back without downtime: virt2rbd rollback {} --live (copies the data back); or finish: "
                    "virt2rbd migrate {} --pool {} --live",
                    ms.domain, ms.domain, ms.pool));
  if (!running) return Status::Ok();  // no qemu, no copies
  for (const DiskRecord& d : ms.disks) {
    Status st = CancelCopy(r, d.target, ImagePath(ms.pool, d.image), kForwardEvents);
    if (st.kind() == Kind::kRefused) {  // another job, not to our image: not ours to end
      if (r.observer()) r.observer()->Warn(st.message());
      continue;
    }
    V2R_RETURN_IF_ERROR(st);
  }
  // qemu lets go of the images once the jobs ended.
  if (r.s.pool)
    for (const DiskRecord& d : ms.disks)
      if (d.created || d.create_intent) V2R_RETURN_IF_ERROR(WaitUnwatched(*r.s.pool, d.image, 30));
  return Status::Ok();
}

}  // namespace v2r
