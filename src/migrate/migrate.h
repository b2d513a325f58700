// virt2rbd plan / migrate / rollback / commit / status, without the CLI.
//
// migrate runs these steps, journalling each side effect before it is made
// (docs/journal.md): preflight (the plan; nothing changed) → stop the VM as
// asked → the cephx user → the libvirt secret and its value → save the
// definition → create, copy and verify every disk (concurrently, one shared
// in-flight budget) → a snapshot of each image (the rollback point) → switch
// the definition → start and confirm qemu opened the images.
//
// Failure policy: before the switch, the images (and user and secret) this
// migration created are removed and the VM restarted on its original disks if
// it was running; a failure to start after the switch restores the saved
// definition first. Ctrl-C stops cleanly with the journal current (exit 75):
// a rerun resumes; rollback undoes.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/observer.h"
#include "base/status.h"
#include "migrate/context.h"
#include "migrate/options.h"
#include "migrate/plan.h"
#include "migrate/record.h"

namespace v2r {

struct MigrateReport {
  Plan plan;
  MigrationState state;        // as journalled at the end
  bool nothing_to_do = false;  // already migrated
  std::string message;
  // target → bytes the image uses in the pool, counted in whole objects as
  // `rbd du` does (more than the data written: an object a write touches
  // counts whole). Measured at the end; missing when that failed.
  std::map<std::string, uint64_t> used_bytes;
};

class Runner;

// The prologue of both migrate modes (opts.live says which): the runner
// opened (libvirt, the domain, the state dir, its lock and journal) and *ms
// folded from it, then Ceph opened. A migration that completed (or was
// committed) and was not undone gives the report of a run that changes
// nothing; a finished (undone) one is archived so that a new one starts; an
// unfinished one of the other mode is refused (finish or undo it first);
// otherwise nullopt, and the mode goes on.
Result<std::optional<MigrateReport>> OpenMigration(Runner& r, const MigrateOptions& opts, MigrationState* ms);

// The dry run. Changes nothing anywhere (not even the state dir). The plan's
// refusals say where migrate would refuse.
Result<Plan> RunPlan(const MigrateOptions& opts);

Result<MigrateReport> RunMigrate(const MigrateOptions& opts, const RunContext& ctx);

struct RollbackReport {
  MigrationState state;
  std::vector<std::pair<std::string, uint64_t>> changed;  // target → bytes changed since the switch
  std::string message;
};
Result<RollbackReport> RunRollback(const RollbackOptions& opts, const RunContext& ctx);

Result<MigrationState> RunCommit(const std::string& domain, const std::string& connect, const CephOptions& ceph,
                                 const std::string& state_dir, const RunContext& ctx);

struct StatusEntry {
  MigrationState state;
  std::vector<std::string> drift;  // definition edited, image missing, ...
};
// Every domain in the state dir, or just `domain`.
Result<std::vector<StatusEntry>> RunStatus(const std::string& domain, const std::string& connect,
                                           const CephOptions& ceph, const std::string& state_dir,
                                           std::vector<std::string>* warnings);

}  // namespace v2r
