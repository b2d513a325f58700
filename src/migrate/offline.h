// An offline migration (migrate without --live): the VM shut off, its
// disks copied and verified, the definition switched, the VM started.
// migrate.cc drives the steps; offline_copy.cc copies and verifies the disks.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "ceph/cluster_api.h"
#include "copy/budget.h"
#include "copy/engine.h"
#include "journal/copy_progress.h"
#include "migrate/disk_source.h"
#include "migrate/guard.h"
#include "migrate/migrate.h"
#include "migrate/runner.h"
#include "copy/readback.h"

namespace v2r {

class OfflineMigration {
 public:
  OfflineMigration(const MigrateOptions& opts, const RunContext& ctx) : opts_(opts), r_(ctx) {}
  Result<MigrateReport> Run();

 private:
  Status StepCopy();
  // StepCopy, then again (rechecking every disk) while the source guard lost
  // sight of the domain during it: until the copy can be trusted.
  Status CopyUntilTrusted();
  Status CopyOne(const DiskPlan& disk, ProgressCounters* progress);
  // One disk's copy as PrepareDisk sets it up: the source, the image (created
  // or resumed) and its progress file.
  struct DiskCopy {
    std::unique_ptr<Source> source;
    std::unique_ptr<Image> sink;  // opened writable
    std::unique_ptr<CopyProgressFile> done;
    bool resumed = false;
    bool exported = false;  // the source is a qemu-nbd export (journalled)
    std::string source_snapshot;  // an RBD source: read at this snapshot of it (journalled)
  };
  Result<OpenedSource> OpenSource(const DiskPlan& disk, const DiskRecord* rec);
  // An RBD source (migrate/rbd_source.h): no watchers, a snapshot of it
  // taken (journalled first) or the one a killed run took, read from it.
  Result<OpenedSource> OpenRbdSource(const DiskPlan& disk, const DiskRecord* rec, std::string* snap);
  // After its copy: the image's head must equal the snapshot (nothing wrote
  // it since the copy began); the snapshot is removed either way.
  Status FinishRbdSource(const DiskPlan& disk, const std::string& snap);
  Result<DiskCopy> PrepareDisk(const DiskPlan& disk, const DiskRecord* rec);
  Result<std::unique_ptr<Readback>> StartReadback(const DiskPlan& disk, const DiskCopy& c);
  CopyOptions CopyOptionsFor(const std::string& target, const DiskCopy& c, Readback* readback);
  // Resumes a disk whose image this migration created: its progress file, if
  // it may be used, else the image removed. `resumed` says which.
  Result<std::unique_ptr<CopyProgressFile>> ResumeDisk(const DiskPlan& disk, const std::string& progress_path,
                                                       const std::string& fingerprint, bool* resumed);
  Status StartGuard();
  Status GuardCheck() { return guard_ ? guard_->Check() : Status::Ok(); }
  // The last look before the definition is switched: the guard watches now
  // and has not lost sight of the domain since the copy was trusted.
  Status GuardBeforeSwitch();
  // A rerun finds the VM running (started since the migration stopped it)
  // and may not stop it: refused, nothing undone.
  Status RefuseRunningOnResume(const std::string& domain);
  Status VerifyOne(const DiskPlan& disk, ProgressCounters* progress);
  // Applies the control stream's rates to budget_ (StepCopy).
  RunControl::Listener ControlledRate();
  // The start, and the check that the VM runs on its images.
  Status StartOnRbd();
  Result<bool> FinishSwitched(const MigrationState& ms, MigrateReport* report);

  // The step table (migrate.cc): stop, guard, user, secret, save-definition,
  // copy, snapshot, switch, start. Every failure but the stop's refusal goes
  // through Fail.
  static const StepEntry<OfflineMigration> kSteps[];
  // A rerun after a crash around the switch: only the start is left.
  static const StepEntry<OfflineMigration> kFinishSteps[];
  friend class Runner;  // RunSteps calls the steps and titles
  std::string StepTitle(Phase p) const;
  bool StartApplies() const { return plan_.start_after; }
  Status StepStop();
  Status StepGuard();
  Status StepUser();
  Status StepSecret();
  Status StepSaveDefinition();
  Status StepCopyAll();
  Status StepSnapshot();
  Status StepSwitch();
  // Switched: the guard is dropped (the VM may start now: we start it
  // ourselves), autostart restored when the VM is not started.
  Status AfterSwitch();
  Status StepStartVm();
  // Turns a failure into the documented outcome: interrupted stays
  // resumable; anything else aborts (undoes) the migration.
  Status Fail(Status st);

  const MigrateOptions& opts_;
  Runner r_;
  Plan plan_;
  bool resuming_ = false;   // the journal holds an unfinished migration
  bool finishing_ = false;  // FinishSwitched: the definition was switched already
  std::unique_ptr<DomainGuard> guard_;  // from the VM shut off until the switch
  std::atomic<bool> halt_{false};       // set by the guard when the VM runs: the copy stops
  // Every chunk recorded by an earlier run (or before libvirt went away) is
  // read again and compared with its record: the VM may have run unseen.
  bool recheck_ = false;
  std::mutex results_mu_;
  std::map<std::string, CopyResult> copied_;  // this run's copies, by target
  // The window, rate limit and buffers every disk's copy shares: the
  // context's, or own_budget_ made from the options.
  CopyBudget* budget_ = nullptr;
  std::unique_ptr<CopyBudget> own_budget_;
  std::atomic<int> progress_records_{0};  // fault points "progress-record-N" of this run
  // Read-backs that follow each disk's copy (--verify full), by target; under
  // results_mu_. Dropped (stopped, handles closed) when StepCopy returns.
  std::map<std::string, std::unique_ptr<Readback>> readbacks_;
  void DropReadbacks();
};

}  // namespace v2r
