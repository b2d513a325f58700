#include "migrate/migrate.h"

#include <fmt/format.h>

#include <cerrno>
#include <string>

#include "base/abandon.h"
#include "base/fault.h"
#include "migrate/guard.h"
#include "migrate/live.h"
#include "migrate/offline.h"
#include "migrate/runner.h"
#include "migrate/steps.h"

namespace v2r {

namespace {

std::string RunStateText(RunState s) { return RunStateName(s); }

}  // namespace


Status OfflineMigration::Fail(Status st) {
  // The copy stopped because the VM ran: the guard's finding is the reason.
  if (guard_ && guard_->Tripped()) st = guard_->Check();
  if (st.kind() == Kind::kSourceChanged) {
    // Nothing is undone: the copy is kept so that a rerun converges on the
    // disks' new content, rewriting only what changed.
    Status logged = r_.Log(rec::CopyUntrusted(st.message()));
    if (!logged.ok()) return st.WithHint(st.hint() + "; recording this in the journal failed: " + logged.message());
    return st;
  }
  // Environment faults stop resumable, never undo: the cluster out of reach
  // (monitors down, network cut) after the copy began, libvirt gone
  // (libvirtd restarted and not back), the state dir full or failing.
  bool unreachable = st.cause() == Cause::kTimeout;
  bool libvirt_lost = r_.LibvirtLost();
  if (libvirt_lost && st.kind() != Kind::kInterrupted)
    st = Status::Interrupted(st.message() + " (the connection to libvirt is lost)",
                             "start libvirtd (or wait for it), then rerun the same command to resume");
  if (st.kind() == Kind::kInterrupted || r_.Cancelled() || unreachable) {
    MigrationState ms = r_.State();
    std::string vm = ms.vm_stopped ? fmt::format("; the VM is shut off (it was {})", RunStateText(ms.original_state))
                                   : "";
    // No signal: the copy stopped on its own (the stall watchdog): keep its reason and advice.
    bool own = !r_.Cancelled() && !st.message().empty();
    std::string why = own ? ": " + st.message() : "";
    std::string fix = own && !st.hint().empty() ? st.hint() : "rerun the same command to resume";
    return Status::Interrupted(
        fmt::format("migration of {} interrupted{}{}", plan_.domain, why, vm),
        fmt::format("{}, or undo with: virt2rbd rollback {} --state-dir {}", fix, plan_.domain, opts_.state_dir));
  }
  auto undone = r_.Abort(st.message());
  if (!undone.ok())
    return Status::Failed(fmt::format("migration of {} failed: {}; undoing it failed too: {}", plan_.domain,
                                      st.message(), undone.status().message()),
                          "see `virt2rbd status` and fix by hand; rerun `virt2rbd rollback` to retry the undo");
  Kind kind = st.kind() == Kind::kRefused && r_.State().disks.empty() ? Kind::kRefused : Kind::kFailed;
  return Status(st.As(kind))
      .Wrap(fmt::format("migration of {} failed", plan_.domain))
      .WithHint(fmt::format("undone: {}", *undone));
}

Status OfflineMigration::StartOnRbd() {
  MigrationState ms = r_.State();
  if (!plan_.start_after || ms.started) return Status::Ok();
  V2R_RETURN_IF_ERROR(r_.Log(rec::VmStart()));
  V2R_RETURN_IF_ERROR(FaultPoint("before-start"));
  auto state = r_.s.domain->State();
  if (state.ok() && ToRunState(*state) == RunState::kShutoff) V2R_RETURN_IF_ERROR(r_.s.domain->Start());
  V2R_RETURN_IF_ERROR(ConfirmOnRbd(r_, plan_));
  V2R_RETURN_IF_ERROR(r_.Log(rec::VmStarted()));
  return FaultPoint("after-start");
}

Status OfflineMigration::StartGuard() {
  DomainGuard::Text text{
      "on its original disks while they were being copied: what it wrote may be missing from the copy, so nothing "
      "was switched and the VM was left as it is",
      fmt::format("once {0} is shut off again, rerun the same command: every disk is checked against its source and "
                  "only the chunks that changed are copied again (or undo with virt2rbd rollback {0})",
                  plan_.domain)};
  auto g = DomainGuard::Start(r_.s.open_hypervisor, r_.s.virt->uri(), plan_.uuid, plan_.domain, &halt_,
                              r_.observer(), std::move(text));
  if (!g.ok()) return g.status();
  guard_ = std::move(*g);
  return guard_->Check();
}

Status OfflineMigration::GuardBeforeSwitch() {
  V2R_RETURN_IF_ERROR(guard_->WaitConnected(opts_.libvirt_timeout_s, r_.cancel()));
  V2R_RETURN_IF_ERROR(guard_->Check());
  if (guard_->TakeOutage())
    return Status::Interrupted(
        fmt::format("libvirt went away after the copy of {}: a start of the VM meanwhile would have gone unseen, so "
                    "nothing was switched", plan_.domain),
        "rerun the same command: every disk is checked against its source again before the switch");
  return Status::Ok();
}

Status OfflineMigration::RefuseRunningOnResume(const std::string& domain) {
  auto now = r_.s.domain->State();
  if (!now.ok()) return now.status();
  RunState rs = ToRunState(*now);
  if (rs == RunState::kShutoff || opts_.shutdown || opts_.force_off) return Status::Ok();
  return Status::Refused(
      fmt::format("domain {} is {}: it was started after this migration began, on its original disks", domain,
                  RunStateName(rs)),
      fmt::format("shut it down (virsh shutdown {}) and rerun, or rerun with --shutdown (and --force-off): every "
                  "disk is then checked against its source and only what changed is copied again; nothing was "
                  "undone", domain));
}

Status OfflineMigration::CopyUntilTrusted() {
  bool rechecked = recheck_;
  for (int pass = 0;; ++pass) {
    V2R_RETURN_IF_ERROR(StepCopy());
    V2R_RETURN_IF_ERROR(GuardCheck());
    if (!guard_->TakeOutage()) break;
    if (pass == 3)
      return Status::Interrupted("libvirt kept going away while the disks were copied",
                                 "rerun the same command once libvirtd is stable: the copy resumes");
    V2R_RETURN_IF_ERROR(guard_->WaitConnected(opts_.libvirt_timeout_s, r_.cancel()));
    if (r_.observer())
      r_.observer()->Warn("libvirt was away during the copy, so a start of the VM may have gone unseen: checking "
                          "every disk against its source again");
    recheck_ = rechecked = true;
  }
  if (!rechecked) return Status::Ok();
  return r_.Log(rec::Rechecked());
}

const StepEntry<OfflineMigration> OfflineMigration::kSteps[] = {
    {Phase::kStop, &OfflineMigration::StepStop},
    // From here until the switch, any start of the domain is noticed.
    {Phase::kGuard, &OfflineMigration::StepGuard},
    {Phase::kUser, &OfflineMigration::StepUser},
    {Phase::kSecret, &OfflineMigration::StepSecret},
    {Phase::kSaveDefinition, &OfflineMigration::StepSaveDefinition},
    {Phase::kCopy, &OfflineMigration::StepCopyAll},
    {Phase::kSnapshot, &OfflineMigration::StepSnapshot},
    {Phase::kSwitch, &OfflineMigration::StepSwitch, nullptr, &OfflineMigration::AfterSwitch},
    {Phase::kStart, &OfflineMigration::StepStartVm, &OfflineMigration::StartApplies},
};

const StepEntry<OfflineMigration> OfflineMigration::kFinishSteps[] = {
    {Phase::kStart, &OfflineMigration::StepStartVm},
};

std::string OfflineMigration::StepTitle(Phase p) const {
  switch (p) {
    case Phase::kUser: return UserStepTitle(plan_);
    case Phase::kSecret: return SecretStepTitle(plan_);
    case Phase::kCopy: return CopyStepTitle(plan_, opts_.verify);
    case Phase::kStart:
      return finishing_ ? "start the VM on RBD and check it runs there (after the switch)" : PhaseTitle(p);
    default: return PhaseTitle(p);
  }
}

Status OfflineMigration::StepStop() {
  return r_.StopDomain(opts_.shutdown, opts_.force_off, opts_.shutdown_timeout_s);
}

Status OfflineMigration::StepGuard() {
  V2R_RETURN_IF_ERROR(StartGuard());
  return r_.DisableAutostart();
}

Status OfflineMigration::StepUser() { return EnsureUser(r_, plan_); }
Status OfflineMigration::StepSecret() { return EnsureSecret(r_, plan_); }
Status OfflineMigration::StepSaveDefinition() { return SaveDefinition(r_, plan_); }

Status OfflineMigration::StepCopyAll() {
  V2R_RETURN_IF_ERROR(GuardCheck());
  recheck_ = resuming_;
  V2R_RETURN_IF_ERROR(CopyUntilTrusted());
  if (r_.Cancelled()) return Status::Interrupted("interrupted");
  return Status::Ok();
}

Status OfflineMigration::StepSnapshot() {
  V2R_RETURN_IF_ERROR(r_.ReconnectLibvirt(opts_.libvirt_timeout_s));
  // Offline, before the switch, only our own runs wrote the images: a lock
  // still held is a killed run's, and would make the snapshot wait ~30 s.
  for (const DiskPlan* d : plan_.Moving()) {
    auto img = OpenOurImageForWriting(*r_.s.pool, d->image);
    if (!img.ok()) return img.status();
  }
  return SnapshotImages(r_, plan_);
}

Status OfflineMigration::StepSwitch() {
  return SwitchDefinition(r_, plan_, [this] { return GuardBeforeSwitch(); });
}

Status OfflineMigration::AfterSwitch() {
  guard_.reset();
  return plan_.start_after ? Status::Ok() : r_.RestoreAutostart();
}

Status OfflineMigration::StepStartVm() {
  V2R_RETURN_IF_ERROR(StartOnRbd());
  return r_.RestoreAutostart();
}

Result<MigrateReport> OfflineMigration::Run() {
  MigrationState ms;
  auto done = OpenMigration(r_, opts_, &ms);
  if (!done.ok()) return done.status();
  if (*done) return **done;
  MigrateReport report;
  resuming_ = ms.begun;
  if (resuming_ && (ms.switched || ms.switch_intent)) {
    auto finished = FinishSwitched(ms, &report);
    if (!finished.ok() || *finished) return finished.ok() ? Result<MigrateReport>(report) : finished.status();
    ms.switch_intent = false;  // the define never happened: go through the steps again
  }

  if (resuming_) V2R_RETURN_IF_ERROR(RefuseRunningOnResume(ms.domain));
  auto plan = PlanWith(r_.s, opts_, resuming_ ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  plan_ = std::move(*plan);
  if (!plan_.ok()) {
    // A resumed migration keeps what it did: the operator fixes the cause
    // and reruns, or rolls back.
    Status refused = RefusePlan(plan_);
    if (!resuming_) return refused;
    return refused.WithHint(fmt::format("nothing was undone: fix it and rerun the same command, or undo with "
                                        "virt2rbd rollback {} --state-dir {}", ms.domain, opts_.state_dir));
  }
  if (r_.observer()) r_.observer()->PlanReady(plan_);
  if (!resuming_) V2R_RETURN_IF_ERROR(r_.Log(BeginRecord(r_, plan_, opts_, /*live=*/false)));
  Phase failed = Phase::kStop;
  Status st = FaultPoint("after-preflight");
  if (st.ok()) st = r_.RunSteps<OfflineMigration>(*this, kSteps, &failed);
  if (!st.ok() && failed == Phase::kStop && st.kind() == Kind::kRefused) {
    // Shutdown timed out without --force-off: nothing else was changed.
    auto undone = r_.Abort(st.message());
    return st.WithHint(st.hint() + (undone.ok() ? "" : "; recording the abort failed: " + undone.status().message()));
  }
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log(rec::Completed()));
  report.plan = plan_;
  report.state = r_.State();
  report.used_bytes = UsedSpace(r_);
  report.message = fmt::format("domain {} migrated to RBD ({} disk{})", plan_.domain, plan_.Moving().size(),
                               plan_.Moving().size() == 1 ? "" : "s");
  return report;
}

// A rerun after a crash around the switch: when the definition is on RBD,
// finish from there (start, confirm) and return true.
Result<bool> OfflineMigration::FinishSwitched(const MigrationState& ms, MigrateReport* report) {
  V2R_RETURN_IF_ERROR(r_.ReconnectLibvirt(opts_.libvirt_timeout_s));
  auto now = r_.s.domain->InactiveSecureXml();
  if (!now.ok()) return now.status();
  auto info = ParseDomainXml(*now);
  if (!info.ok()) return info.status();
  bool on_rbd = !info->disks.empty();
  for (const DiskRecord& d : ms.disks) {
    bool found = false;
    for (const DiskInfo& di : info->disks)
      if (di.target == d.target && di.protocol == "rbd") found = true;
    on_rbd = on_rbd && found;
  }
  if (!on_rbd) return false;
  if (!ms.switched)
    V2R_RETURN_IF_ERROR(r_.Log(rec::Switched(XmlDigest(*now), /*recovered=*/true)));
  plan_.domain = ms.domain;
  plan_.uuid = ms.uuid;
  plan_.pool = ms.pool;
  plan_.start_after = ms.start_after;
  for (const DiskRecord& d : ms.disks) {
    DiskPlan dp;
    dp.disk.target = d.target;
    dp.disk.source = d.source;
    dp.image = d.image;
    dp.size = d.size;
    dp.decision = DiskDecision::kMove;
    plan_.disks.push_back(dp);
  }
  if (r_.observer()) r_.observer()->PlanReady(plan_);
  finishing_ = true;
  Status st = r_.RunSteps<OfflineMigration>(*this, kFinishSteps, nullptr);
  if (!st.ok()) return Fail(st);
  V2R_RETURN_IF_ERROR(r_.Log(rec::Completed()));
  report->plan = plan_;
  report->state = r_.State();
  report->used_bytes = UsedSpace(r_);
  report->message = fmt::format("domain {} resumed and finished: it runs on RBD", ms.domain);
  return true;
}

Result<std::optional<MigrateReport>> OpenMigration(Runner& r, const MigrateOptions& opts, MigrationState* ms) {
  V2R_RETURN_IF_ERROR(r.Open(opts.connect, opts.domain, opts.state_dir));
  r.SetUndoPrelude(CancelLiveCopies);  // a live migration's copies end before its undo
  *ms = r.State();
  if (ms->begun && (ms->completed || ms->committed) && !ms->Finished()) {
    MigrateReport report;
    report.nothing_to_do = true;
    report.state = *ms;
    report.message = fmt::format("domain {} was already migrated to RBD on {} ({}); nothing changed", ms->domain,
                                 ms->completed_at, ms->Phase());
    return std::optional<MigrateReport>(std::move(report));
  }
  if (ms->begun && ms->Finished()) {
    V2R_RETURN_IF_ERROR(r.ArchiveJournal());
    *ms = r.State();
  }
  if (ms->begun && ms->live != opts.live)
    return Status::Refused(
        fmt::format("an unfinished {} migration of {} is recorded", ms->live ? "live" : "offline", ms->domain),
        ms->live ? fmt::format("finish it with `virt2rbd migrate {0} --live`, or undo it with `virt2rbd rollback {0} "
                               "--live` (a running VM) or `virt2rbd rollback {0}`", ms->domain)
                 : "finish it with `virt2rbd migrate` without --live, or undo it with `virt2rbd rollback`");
  V2R_RETURN_IF_ERROR(OpenCeph(opts.ceph, opts.pool, &r.s));
  return std::optional<MigrateReport>();
}

Result<Plan> RunPlan(const MigrateOptions& opts) {
  Session s;
  V2R_RETURN_IF_ERROR(OpenLibvirt(opts.connect, opts.domain, &s));
  V2R_RETURN_IF_ERROR(OpenCeph(opts.ceph, opts.pool, &s));
  // An unfinished migration in the state dir (read only: plan changes nothing).
  auto dir = StateDir::OpenExisting(opts.state_dir);
  if (!dir.ok()) return dir.status();
  std::string jpath = dir->JournalPath(s.domain->uuid());
  MigrationState ms;
  if (::access(jpath.c_str(), R_OK) == 0) {
    auto records = Journal::ReadOnly(jpath);
    if (!records.ok()) return records.status();
    auto folded = FoldJournal(*records);
    if (!folded.ok()) return folded.status().Wrap(jpath);
    ms = std::move(*folded);
  }
  auto plan = PlanWith(s, opts, ms.begun && !ms.Finished() ? &ms : nullptr);
  if (!plan.ok()) return plan.status();
  if (ms.begun && (ms.completed || ms.committed) && !ms.Finished())
    plan->warnings.push_back(fmt::format("domain {} was already migrated on {}: migrate would change nothing",
                                         ms.domain, ms.completed_at));
  else if (ms.begun && !ms.Finished())
    plan->warnings.push_back("an unfinished migration of this domain is recorded: migrate resumes it");
  return plan;
}

Result<MigrateReport> RunMigrate(const MigrateOptions& opts, const RunContext& ctx) {
  if (opts.pivot_gate && !opts.live)
    return Status::Usage("--pivot-gate applies to --live only (an offline migration has no pivot)");
  if (opts.live) return RunLiveMigrate(opts, ctx);  // live.cc
  OfflineMigration m(opts, ctx);
  return m.Run();
}

}  // namespace v2r
