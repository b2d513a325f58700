// The phases of every mode's state machine, and the step tables that drive
// them (docs/architecture.md, "The state machines").
//
// Each mode (offline migrate, live migrate, rollback, rollback --live) is one
// table of StepEntry rows, in order; Runner::RunSteps walks it: announces the
// steps that apply, runs each one's work, stops at the first failure and
// says which phase failed, so that the mode's failure handling (undo, stop
// resumable, roll forward) is keyed by phase and not by the order of a chain
// of ifs. A step's work is idempotent on resume: it reads the folded journal
// and skips what an earlier run recorded as done. A new mode (instant
// cutover) is a new table over the same phases.
#pragma once

#include <string>

#include "base/status.h"

namespace v2r {

enum class Phase {
  kStop,             // stop the VM (offline)
  kGuard,            // watch the VM, autostart off (offline)
  kUser,             // the cephx user
  kSecret,           // the libvirt secret
  kSaveDefinition,   // the definition saved for rollback
  kCopy,             // the disks copied (offline: and verified; live: block copies in sync)
  kSparsify,         // the zeros a live copy wrote deallocated
  kSnapshot,         // the rollback snapshots (offline)
  kPivot,            // the block copies pivoted (live; rollback --live: back)
  kSwitch,           // the definition switched to RBD
  kStart,            // the VM started (on RBD; rollback: on its original disks)
  kCheck,            // the VM runs on RBD (live)
  kVerify,           // the images verified (live)
  kCopyBack,         // rollback: the changes copied back to the original disks
  kRestore,          // rollback: the saved definition restored
  kCleanUp,          // rollback: what the migration created removed
  kUndo,             // an unfinished migration undone (Runner::Abort)
  kRemoveSnapshots,  // commit: the rollback snapshots removed
};

// The step's id in events and the journal's step records ("save-definition").
const char* PhaseId(Phase p);
// Its default title ("save the definition"); a mode may say it otherwise.
const char* PhaseTitle(Phase p);

// One row of a mode's step table. `applies`, when set, is asked when the
// steps are counted and again when the step is reached (what an earlier step
// found may change it). `after` runs once the step's end is announced, when
// it succeeded: work that belongs between two steps (the guard dropped after
// the switch), outside both steps' timing.
template <typename Mode>
struct StepEntry {
  Phase phase;
  Status (Mode::*work)();
  bool (Mode::*applies)() const = nullptr;
  Status (Mode::*after)() = nullptr;
};

}  // namespace v2r
