// The fleet scheduler (docs/fleet.md, "Scheduling"): which VMs start now,
// which live VMs may pivot now, how many slots each holds and what rate each
// may copy at. Pure: no I/O, no clocks, no threads; the coordinator
// (fleet_run) gathers the facts into a SchedInput, calls Schedule after every
// change, and acts on the decision. The same input always gives the same
// decision.
//
// The rules:
// - Slots. A VM takes min(disks, its host's slots, limits.slots) slots (at
//   least 1). A VM whose disks >= its host's slots "runs alone": it starts only
//   on an empty host, and while it waits only for slots (its host to drain, or
//   the fleet's slots) its host is reserved for it: nothing new starts there.
//   Any other VM that does not fit leaves its slots to later, smaller VMs
//   (backfill). Running (kRunning, kPivotWaiting, kPivoting) VMs hold their
//   slots.
// - Order. Waiting VMs are considered by priority (higher first), then bytes
//   (largest first), then id; every VM that may start starts in this one pass.
// - A waiting VM does not start, and `why` says so with numbers, for the first
//   of: max failures reached (kFailed count >= max_failures > 0; then nothing
//   starts and stopped_starting is set); the cluster is not ok ("paused:
//   <cluster_reason>"); its host is unreachable; an earlier wave has a VM not
//   yet ended (kDone, kFailed, kCancelled end a VM); it is offline with a
//   window that does not contain minute_of_day; it has downtime and the
//   cutovers in use reached limits.cutovers; its host is reserved for a VM
//   that runs alone; its host's or the fleet's free slots are too few.
// - Cutovers in use: downtime VMs that hold slots, VMs in kPivoting, and the
//   pivots granted in this pass. Each kPivotWaiting VM (a live copy in sync,
//   waiting for permission), in the order above, is granted while the cutovers
//   in use are fewer than limits.cutovers, before any downtime VM starts (a
//   pivot ends a copy; a downtime start begins one). A VM on an unreachable
//   host is not granted (the coordinator could not tell it). Pivots are not
//   starts: max failures and a paused cluster do not hold them back.
// - Bandwidth. Among the VMs that hold slots after this pass: a weighted
//   max-min fair split (weight = slots) of limits.bandwidth, where each host's
//   own budget caps the sum of its VMs and what a capped host cannot use goes
//   to the others (water-filling). With only host budgets, each host's budget
//   is split over its VMs and VMs of hosts without one get 0 (unlimited); with
//   no budget anywhere every entry is 0. A budgeted entry is always >= 1
//   (0 would mean unlimited). Shares are rounded down.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet/plan_file.h"

namespace v2r::fleet {

enum class VmPhase { kWaiting, kRunning, kPivotWaiting, kPivoting, kDone, kFailed, kCancelled };

const char* VmPhaseName(VmPhase p);
// kRunning, kPivotWaiting, kPivoting: the VM holds its slots.
bool HoldsSlots(VmPhase p);
// kDone, kFailed, kCancelled.
bool HasEnded(VmPhase p);

struct SchedVm {
  std::string id;              // "host/vm", for messages and tie-breaks
  int host = 0;                // index into SchedInput::hosts
  Mode mode = Mode::kOffline;
  bool downtime = false;       // offline and the guest is running: its whole run is a cutover
  int priority = 0, wave = 1;  // higher priority first; wave N+1 starts only when every VM of waves <= N has ended
  std::optional<Window> window;  // offline VMs start only inside it (Window::Contains(minute_of_day))
  uint64_t bytes = 0;          // data to copy
  int disks = 1;               // disks it copies in parallel
  VmPhase phase = VmPhase::kWaiting;
};

struct SchedHost {
  std::string name;
  int slots = 2;
  uint64_t bandwidth = 0;  // bytes/s for the sum of its VMs; 0: none
  bool reachable = true;
};

struct SchedLimits {
  int slots = 4;               // fleet-wide
  int cutovers = 1;            // downtime VMs and pivots at once
  uint64_t bandwidth = 0;      // bytes/s, fleet-wide; 0: none
  uint64_t max_failures = 0;   // 0: none (FailureLimit::For already applied)
};

struct SchedInput {
  SchedLimits limits;
  std::vector<SchedHost> hosts;
  std::vector<SchedVm> vms;
  int minute_of_day = 0;  // local time, for windows
  bool cluster_ok = true;
  std::string cluster_reason;  // e.g. "cluster HEALTH_ERR" / "pool 93% full": pauses new starts
};

struct SchedDecision {
  std::vector<int> start;            // VMs (indexes) to start now, in start order
  std::vector<int> pivot;            // VMs in kPivotWaiting allowed to pivot now, in grant order
  std::vector<int> slots;            // per VM: the slots it takes (running, or starting now), else 0
  std::vector<uint64_t> bandwidth;   // per VM holding slots after this pass: its rate budget, 0 = unlimited
  std::vector<std::string> why;      // per VM still waiting after this pass: why, in words; "" otherwise
  bool stopped_starting = false;     // max_failures reached: nothing new starts
};

SchedDecision Schedule(const SchedInput& in);

// The slots `vm` takes on its host (the rule above), and whether it runs alone.
int SlotsFor(const SchedInput& in, const SchedVm& vm);
bool RunsAlone(const SchedInput& in, const SchedVm& vm);

// The run's lower bound, seconds, over every VM of `in`:
//   LB = max(total bytes / fleet rate, max over hosts of host bytes / host rate,
//            largest VM bytes / copy rate).
// fleet rate: limits.bandwidth if set, else `fleet_rate_bps` (the measured
// cluster write rate); a host's rate: its budget if set, else the fleet rate;
// copy rate: `copy_rate_bps` (one copy's measured rate). A term whose rate is
// <= 0 is skipped; with none left it is 0.
double LowerBoundSeconds(const SchedInput& in, double fleet_rate_bps, double copy_rate_bps);

}  // namespace v2r::fleet
