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

// Pivoted back: the definition restored, what the migration created removed.
Result<RollbackReport> FinishLiveRollback(Runner& r, const RollbackOptions& opts, const MigrationState& ms,
                                          const std::string& saved, std::vector<std::string> done,
                                          RollbackReport report) {
  V2R_RETURN_IF_ERROR(r.RunStep("restore", "restore the saved definition and check the disks",
                                [&] { return RestoreAndCheck(r, ms, saved); }));
  done.push_back("restored the saved definition");
  V2R_RETURN_IF_ERROR(r.RunStep("clean-up", "remove what the migration created", [&]() -> Status {
    if (opts.remove_images)
      for (const DiskRecord& d : ms.disks) V2R_RETURN_IF_ERROR(WaitUnwatched(*r.s.pool, d.image, 30));
    return r.RemoveCreated(opts.remove_images, &done);
  }));
  NoteKeptImages(opts, ms, &done);
  V2R_RETURN_IF_ERROR(r.Log(rec::RolledBack(/*live=*/true)));
  report.state = r.State();
  report.message = fmt::format("domain {} rolled back live, without stopping it: {}", opts.domain,
                               fmt::join(done, "; "));
  return report;
}

}  // namespace

Result<RollbackReport> RunLiveRollback(const RollbackOptions& opts, const RunContext& ctx) {
  if (opts.shutdown || opts.force_off)
    return Status::Usage("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
  if (opts.discard_changes)
    return Status::Usage("--live copies every change back: it cannot be combined with --discard-changes");
  if (opts.start.has_value() && !*opts.start)
    return Status::Usage("--live keeps the VM running: --no-start does not apply");
  Runner r(ctx);
  RollbackReport report;
  auto nothing_to_do = OpenForRollback(opts, r, &report);
  if (!nothing_to_do.ok()) return nothing_to_do.status();
  if (*nothing_to_do) return report;
  MigrationState ms = r.State();
  V2R_RETURN_IF_ERROR(RefuseNotRunning(r, opts));
  auto live = LiveDisks(*r.s.domain);
  if (!live.ok()) return live.status();
  std::vector<const DiskRecord*> on_image;
  for (const DiskRecord& d : ms.disks)
    if (OnImage((*live)[d.target], ImagePath(ms.pool, d.image))) on_image.push_back(&d);
  if (on_image.empty() && !ms.switched && !ms.switch_intent) {
    // Never pivoted: undo the unfinished migration (its copies are cancelled).
    auto undone = r.Abort("rolled back by the operator before the pivot");
    if (!undone.ok()) return undone.status();
    report.state = r.State();
    report.message = fmt::format("unfinished migration of {} undone: {}", opts.domain, *undone);
    return report;
  }
  auto saved = ReadFile(r.dir->DefinitionPath(ms.uuid));
  if (!saved.ok()) return saved.status().WithHint("the saved definition is missing: restore the domain by hand");
  MirrorDisks mirrors;
  std::vector<MirrorDisk*> copying;
  V2R_RETURN_IF_ERROR(PlanBackCopies(on_image, *live, *saved, opts.domain, &mirrors, &copying));
  MeasureChanged(r, on_image, &report);

  V2R_RETURN_IF_ERROR(r.Log(rec::RollbackBegin(/*copy_back=*/true, /*discard_changes=*/false, /*live=*/true)));
  r.PlanSteps(4);
  Status st = r.RunStep("copy-back", "live block copies back to the original disks until in sync", [&] {
    return CopyBackLive(r, ms, on_image, copying, *live);
  });
  if (!st.ok()) return StoppedBeforePivot(r, copying, st, opts.domain);
  st = r.RunStep("pivot", "pivot back onto the original disks", [&] { return PivotAll(r, copying, kBackEvents); });
  if (!st.ok())
    return st.Wrap(fmt::format("live rollback of {} failed during the pivot", opts.domain))
        .WithHint("the journal and `virsh domblklist` say which disks are back; rerun `virt2rbd rollback --live` "
                  "to finish");
  std::vector<std::string> done;
  if (!copying.empty()) done.push_back(fmt::format("copied {} disk{} back live and pivoted", copying.size(),
                                                   copying.size() == 1 ? "" : "s"));
  return FinishLiveRollback(r, opts, ms, *saved, std::move(done), std::move(report));
}

}  // namespace v2r
