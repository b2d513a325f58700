// rollback --live (see live.h): block copies from the RBD images back onto the
// original disks of the running VM, a pivot, then the saved definition.
#include <fmt/format.h>

#include "base/units.h"
#include "copy/file_source.h"
#include "migrate/live.h"
#include "migrate/live_mirror.h"

namespace v2r {

namespace {

bool OnImage(const DiskInfo& at, const std::string& pool_image) {
  return at.type == "network" && at.protocol == "rbd" && at.source == pool_image;
}

// Where the disk goes back to must still be there, at the same size.
Status CheckOriginal(const DiskRecord& d) {
  auto src = FileSource::Open(d.source);
  if (!src.ok())
    return src.status().Wrap(fmt::format("the original disk of {} cannot take the data back", d.target));
  if ((*src)->size() != d.size)
    return Status::Refused(fmt::format("the original disk of {}, {}, is now {} bytes, not {}: it cannot take the "
                                       "data back",
                                       d.target, d.source, (*src)->size(), d.size));
  return Status::Ok();
}

// Ends forward copies left running on disks still on their originals, then
// copies every disk on its image back to its original, live, until in sync.
Status CopyBackLive(Runner& r, const MigrationState& ms, const std::vector<const DiskRecord*>& on_image,
                    const std::vector<MirrorDisk*>& copying, std::map<std::string, DiskInfo>& live) {
  for (const DiskRecord& d : ms.disks) {
    bool back = false;
    for (const DiskRecord* o : on_image) back = back || o->target == d.target;
    if (back) continue;
    Status st = CancelCopy(r, d.target, ImagePath(ms.pool, d.image), kForwardEvents);
    if (st.kind() == Kind::kRefused && r.observer()) r.observer()->Warn(st.message());
    else V2R_RETURN_IF_ERROR(st);
  }
  SplitBandwidth(0, copying);
  Status st;
  for (MirrorDisk* m : copying) {
    bool running = !live[m->target].mirror_job.empty();
    st = running ? AdoptCopy(r, *m, kBackEvents) : StartCopy(r, *m, kBackEvents);
    if (!st.ok()) break;
  }
  if (st.ok()) st = WaitInSync(r, "copy back", copying);
  if (st.ok() && r.Cancelled()) st = Status::Interrupted("interrupted");
  return st;
}

using LiveDiskMap = std::map<std::string, DiskInfo>;

Status RefuseNotRunning(Runner& r, const RollbackOptions& opts) {
  auto state = r.s.domain->State();
  if (!state.ok()) return state.status();
  if (ToRunState(*state) == RunState::kRunning) return Status::Ok();
  return Status::Refused(fmt::format("domain {} is {}: rollback --live needs it running", opts.domain,
                                     RunStateName(ToRunState(*state))),
                         "without --live, rollback restores the definition of a stopped VM (with --copy-back "
                         "when it wrote to RBD)");
}

// The block copies back, one per disk the VM runs on from its image; checks
// first, nothing changed yet.
Status PlanBackCopies(const std::vector<const DiskRecord*>& on_image, LiveDiskMap& live, const std::string& saved,
                      const std::string& domain, MirrorDisks* mirrors, std::vector<MirrorDisk*>* copying) {
  for (const DiskRecord* d : on_image) {
    if (d->slice_size > 0)
      return Status::Refused(fmt::format("disk {}'s original is a slice of {}: rollback --live does not copy back "
                                         "into a slice (not supported yet)",
                                         d->target, d->source),
                             "keep the VM on RBD, or stop it and roll back with --discard-changes (what it wrote on "
                             "RBD since the switch is lost)");
    if (d->protocol == "rbd")
      return Status::Refused(fmt::format("disk {}'s original, RBD image {}, is not a local disk: rollback --live "
                                         "copies back into local raw originals only",
                                         d->target, d->source),
                             "keep the VM on RBD, or stop it and roll back with --discard-changes (what it wrote on "
                             "RBD since the switch is lost)");
    if (d->format != "raw")
      return Status::Refused(fmt::format("disk {}'s original, {}, is a {} image: rollback --live copies back into "
                                         "raw originals only (not supported yet for image files)",
                                         d->target, d->source, d->format),
                             "keep the VM on RBD, or stop it and roll back offline: `virt2rbd rollback " + domain +
                                 " --shutdown --copy-back` writes what it wrote on RBD into the image");
    const DiskInfo& at = live[d->target];
    if (!at.mirror_job.empty() && at.mirror_source != d->source)
      return Status::Refused(fmt::format("disk {} has a block job in progress ({} to {})", d->target, at.mirror_job,
                                         at.mirror_source),
                             fmt::format("wait for it to end or abort it: virsh blockjob {} {} --abort", domain,
                                         d->target));
    if (at.mirror_job.empty()) V2R_RETURN_IF_ERROR(CheckOriginal(*d));
    auto m = std::make_unique<MirrorDisk>();
    m->target = d->target;
    m->dest = d->source;
    m->size = d->size;
    auto xml = DiskElementXml(saved, d->target);
    if (!xml.ok()) return xml.status().Wrap("the saved definition");
    m->dest_xml = *xml;
    copying->push_back(m.get());
    mirrors->push_back(std::move(m));
  }
  return Status::Ok();
}

// What the VM wrote since the rollback point (informational: all of it goes back).
void MeasureChanged(Runner& r, const std::vector<const DiskRecord*>& on_image, RollbackReport* report) {
  for (const DiskRecord* d : on_image) {
    if (!d->snapshot) continue;
    auto image = r.s.pool->OpenImage(d->image, true);
    if (!image.ok()) continue;
    auto bytes = (*image)->ChangedBytesSince(kSwitchSnapshot);
    if (bytes.ok()) report->changed.emplace_back(d->target, *bytes);
  }
}

// Before the pivot: the VM stays on RBD; the copies back end here.
Status StoppedBeforePivot(Runner& r, const std::vector<MirrorDisk*>& copying, const Status& st,
                          const std::string& domain) {
  for (MirrorDisk* m : copying) {
    Status c = CancelCopy(r, m->target, m->dest, kBackEvents);
    if (!c.ok() && r.observer()) r.observer()->Warn(c.message());
  }
  (void)r.Log(rec::RollbackCancelled(st.message()));
  Kind kind = st.kind() == Kind::kInterrupted || r.Cancelled() ? Kind::kInterrupted : Kind::kFailed;
  return Status(st.As(kind))
      .Wrap(fmt::format("live rollback of {} stopped before the pivot", domain))
      .WithHint("the VM still runs on RBD, nothing lost; its original disks were partly overwritten, so only a "
                "rollback that copies everything back applies now: rerun `virt2rbd rollback --live` (or, with the "
                "VM stopped, `rollback --copy-back`)");
}

// The saved definition back, and both the running VM and its definition on
// the original disks.
Status RestoreAndCheck(Runner& r, const MigrationState& ms, const std::string& saved) {
  auto def = r.s.virt->DefineXml(saved);
  if (!def.ok()) return def.status();
  V2R_RETURN_IF_ERROR(r.Log(rec::DefinitionRestored()));
  auto after = LiveDisks(*r.s.domain);
  if (!after.ok()) return after.status();
  auto inactive = r.s.domain->InactiveSecureXml();
  if (!inactive.ok()) return inactive.status();
  auto info = ParseDomainXml(*inactive);
  if (!info.ok()) return info.status();
  for (const DiskRecord& d : ms.disks) {
    const DiskInfo& at = (*after)[d.target];
    if (at.type == "network" || at.source != d.source)
      return Status::Failed(fmt::format("after the rollback the running VM's disk {} is {}, not {}", d.target,
                                        at.source, d.source));
    bool defined = false;
    for (const DiskInfo& di : info->disks)
      if (di.target == d.target && di.type != "network" && di.source == d.source) defined = true;
    if (!defined)
      return Status::Failed(fmt::format("after the rollback the definition's disk {} is not {}", d.target, d.source));
  }
  return Status::Ok();
}

// rollback --live once the checks passed: the table copy-back, pivot,
// restore, clean-up. Before the pivot a failure cancels the copies back (the
// VM stays on RBD); during it, a rerun finishes; after it, the VM runs on its
// original disks and a failure is returned as is.
class LiveRollback {
 public:
  LiveRollback(const RollbackOptions& opts, const RunContext& ctx) : opts_(opts), r_(ctx) {}
  Result<RollbackReport> Run();

 private:
  static const StepEntry<LiveRollback> kSteps[];
  friend class v2r::Runner;  // RunSteps asks the titles
  std::string StepTitle(Phase p) const {
    switch (p) {
      case Phase::kCopyBack: return "live block copies back to the original disks until in sync";
      case Phase::kPivot: return "pivot back onto the original disks";
      case Phase::kRestore: return "restore the saved definition and check the disks";
      default: return PhaseTitle(p);
    }
  }
  Status StepCopyBack() { return CopyBackLive(r_, ms_, on_image_, copying_, live_); }
  Status StepPivot() { return PivotAll(r_, copying_, kBackEvents); }
  Status AfterPivot() {
    if (!copying_.empty())
      done_.push_back(fmt::format("copied {} disk{} back live and pivoted", copying_.size(),
                                  copying_.size() == 1 ? "" : "s"));
    return Status::Ok();
  }
  Status StepRestore() { return RestoreAndCheck(r_, ms_, saved_); }
  Status AfterRestore() {
    done_.push_back("restored the saved definition");
    return Status::Ok();
  }
  Status StepCleanUp() {
    if (opts_.remove_images)
      for (const DiskRecord& d : ms_.disks) V2R_RETURN_IF_ERROR(WaitUnwatched(*r_.s.pool, d.image, 30));
    return r_.RemoveCreated(opts_.remove_images, &done_);
  }
  // Sets on_image_, or undoes an unfinished migration that never pivoted
  // (its copies are cancelled) and returns true.
  Result<bool> UndoIfNeverPivoted();

  const RollbackOptions& opts_;
  Runner r_;
  RollbackReport report_;
  MigrationState ms_;
  LiveDiskMap live_;
  std::vector<const DiskRecord*> on_image_;  // into ms_
  std::string saved_;
  MirrorDisks mirrors_;
  std::vector<MirrorDisk*> copying_;
  std::vector<std::string> done_;
};

const StepEntry<LiveRollback> LiveRollback::kSteps[] = {
    {Phase::kCopyBack, &LiveRollback::StepCopyBack},
    {Phase::kPivot, &LiveRollback::StepPivot, nullptr, &LiveRollback::AfterPivot},
    {Phase::kRestore, &LiveRollback::StepRestore, nullptr, &LiveRollback::AfterRestore},
    {Phase::kCleanUp, &LiveRollback::StepCleanUp},
};

Result<bool> LiveRollback::UndoIfNeverPivoted() {
  auto live = LiveDisks(*r_.s.domain);
  if (!live.ok()) return live.status();
  live_ = std::move(*live);
  for (const DiskRecord& d : ms_.disks)
    if (OnImage(live_[d.target], ImagePath(ms_.pool, d.image))) on_image_.push_back(&d);
  if (!on_image_.empty() || ms_.switched || ms_.switch_intent) return false;
  auto undone = r_.Abort("rolled back by the operator before the pivot");
  if (!undone.ok()) return undone.status();
  report_.state = r_.State();
  report_.message = fmt::format("unfinished migration of {} undone: {}", opts_.domain, *undone);
  return true;
}

Result<RollbackReport> LiveRollback::Run() {
  auto nothing_to_do = OpenForRollback(opts_, r_, &report_);
  if (!nothing_to_do.ok()) return nothing_to_do.status();
  if (*nothing_to_do) return report_;
  ms_ = r_.State();
  V2R_RETURN_IF_ERROR(RefuseNotRunning(r_, opts_));
  auto undone = UndoIfNeverPivoted();
  if (!undone.ok()) return undone.status();
  if (*undone) return report_;
  auto saved = ReadFile(r_.dir->DefinitionPath(ms_.uuid));
  if (!saved.ok()) return saved.status().WithHint("the saved definition is missing: restore the domain by hand");
  saved_ = std::move(*saved);
  V2R_RETURN_IF_ERROR(PlanBackCopies(on_image_, live_, saved_, opts_.domain, &mirrors_, &copying_));
  MeasureChanged(r_, on_image_, &report_);

  V2R_RETURN_IF_ERROR(r_.Log(rec::RollbackBegin(/*copy_back=*/true, /*discard_changes=*/false, /*live=*/true)));
  Phase failed = Phase::kCopyBack;
  Status st = r_.RunSteps<LiveRollback>(*this, kSteps, &failed);
  if (!st.ok() && failed == Phase::kCopyBack) return StoppedBeforePivot(r_, copying_, st, opts_.domain);
  if (!st.ok() && failed == Phase::kPivot)
    return st.Wrap(fmt::format("live rollback of {} failed during the pivot", opts_.domain))
        .WithHint("the journal and `virsh domblklist` say which disks are back; rerun `virt2rbd rollback --live` "
                  "to finish");
  if (!st.ok()) return st;
  NoteKeptImages(opts_, ms_, &done_);
  V2R_RETURN_IF_ERROR(r_.Log(rec::RolledBack(/*live=*/true)));
  report_.state = r_.State();
  report_.message = fmt::format("domain {} rolled back live, without stopping it: {}", opts_.domain,
                                fmt::join(done_, "; "));
  return report_;
}

}  // namespace

Result<RollbackReport> RunLiveRollback(const RollbackOptions& opts, const RunContext& ctx) {
  if (opts.shutdown || opts.force_off)
    return Status::Usage("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
  if (opts.discard_changes)
    return Status::Usage("--live copies every change back: it cannot be combined with --discard-changes");
  if (opts.start.has_value() && !*opts.start)
    return Status::Usage("--live keeps the VM running: --no-start does not apply");
  LiveRollback rollback(opts, ctx);
  return rollback.Run();
}

}  // namespace v2r
