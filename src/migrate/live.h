// virt2rbd migrate --live / rollback --live: move a running VM's disks to RBD
// (and back) with libvirt block copies and a pivot, without stopping it.
//
// migrate --live, in order (each side effect journalled before it is made;
// docs/live-migration.md lists the records):
//   preflight (the plan, plus the live XML: no block job on a moving disk, the
//   running disks are the defined ones) → the cephx user → the libvirt secret
//   → save the definition → per disk: an image at the exact byte size and a
//   block copy to it (REUSE_EXT | TRANSIENT_JOB, --bandwidth split across
//   disks), all at once → wait until every copy is in sync → rbd sparsify each
//   image (the mirror wrote zeros; the copies stay in sync meanwhile) → pause
//   the VM, pivot the disks one after another, snapshot every image (the
//   rollback point: exactly the originals as they stopped), resume → define
//   the rewritten definition (as offline) and check the live and inactive XML
//   → verify each original against its snapshot (--verify full).
//
// Failure or Ctrl-C before the pause: the copies are cancelled, the VM keeps
// running on its original disks, and what this migration created is removed
// (Runner::Abort). From the first pivot on, the migration rolls forward: a
// rerun finishes it, `rollback --live` goes back. A rerun after the tool was
// killed reconciles from the journal and the live XML: pivoted disks stay, a
// copy still running to our image is adopted, a disk without a copy gets a
// fresh image and a new copy, and a VM left paused is resumed (after the
// snapshots of the disks that pivoted).
#pragma once

#include <atomic>

#include "base/status.h"
#include "migrate/context.h"
#include "migrate/migrate.h"
#include "migrate/options.h"
#include "migrate/runner.h"
#include "base/observer.h"

namespace v2r {

Result<MigrateReport> RunLiveMigrate(const MigrateOptions& opts, const RunContext& ctx);

// rollback --live: the VM must be running on RBD (or part way: some disks
// pivoted). Copies every disk that runs on its image back onto its original
// source (which must still exist at the same size), pivots, restores the
// saved definition, then removes what the migration created (images only
// with --remove-images). An unfinished migration that never pivoted is
// undone as by `rollback`. Failure or Ctrl-C before the pivot cancels the
// copies back: the VM stays on RBD (the originals are then partly
// overwritten, which the journal records).
Result<RollbackReport> RunLiveRollback(const RollbackOptions& opts, const RunContext& ctx);

// What rollback and rollback --live do first: open the runner, refuse a
// domain with no migration or a committed one, and open the migration's pool.
// Sets `report` (and returns true) when the migration was already rolled
// back or aborted: nothing to do.
Result<bool> OpenForRollback(const RollbackOptions& opts, Runner& r, RollbackReport* report);
// Without --remove-images: says which images were kept (rollback.cc).
void NoteKeptImages(const RollbackOptions& opts, const MigrationState& ms, std::vector<std::string>* done);

// For Runner::Abort of a live migration: cancels the block copies it started
// that still run. kRefused, changing nothing, when a disk already runs on its
// image (that needs rollback --live, which copies the data back).
Status CancelLiveCopies(Runner& r);

}  // namespace v2r
