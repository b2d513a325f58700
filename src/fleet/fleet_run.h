// `virt2rbd fleet run FILE`, `fleet status FILE`, `fleet cancel FILE [VM...]`
// (docs/fleet.md).
//
// The run: the dry run first (fleet_plan.h; any reason refuses, nothing
// started), then the scheduler's passes (scheduler.h) start each VM's
// `virt2rbd migrate` on its host over ssh (remote_vm.h) and steer it through
// its stdin (bandwidth shares, pivot permission), reading its event stream.
// Every attempt is journalled before its session opens (fleet_journal.h); a
// rerun skips what ended, re-attaches to what still runs on its host, and
// resumes what was interrupted (the host's own journal makes `migrate` resume).
// One VM's failure never stops the others; a host whose ssh connection is lost
// is retried and its VMs re-attached when it answers again. SIGINT/SIGTERM
// stop the coordinator only: the migrations go on on their hosts.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "fleet/plan_file.h"
#include "fleet/remote_vm.h"

namespace v2r::fleet {

struct RunOptions {
  std::string plan_path;                  // the plan file, which names the fleet's state directory
  std::string state_dir = "/var/lib/virt2rbd";  // the coordinator's (--state-dir): STATE/fleet/...
  std::vector<std::string> only;          // --only: host/vm or vm names to (re)try; the others stay as they are
  std::string max_failures;               // --max-failures N|P%: overrides limits.max_failures
  int parallel = 16;                      // hosts planned at once
  // What the run shows, as events (docs/fleet.md, "Events"): `vm` when a VM
  // changes (and its progress every 2 s), `fleet` every 2 s. Called on the
  // coordinator's thread, under its lock: return quickly.
  std::function<void(const nlohmann::json& event)> on_event;
  double tick_s = 0.5;                    // scheduling pass interval
  int retries = 3;                        // attempts of a VM whose migration stopped resumable (exit 75)
};

// One VM in the report.
struct VmOutcome {
  std::string host, name;
  Mode mode = Mode::kOffline;
  std::string result;  // done | failed | cancelled | interrupted | running | not started | kept
  int exit_code = -1;
  std::string error;
  int attempts = 0;
  double duration_s = 0;
  MigrationFacts facts;
};

struct FleetRunReport {
  std::vector<VmOutcome> vms;
  double makespan_s = 0, lower_bound_s = 0;
  double fleet_rate_bps = 0, copy_rate_bps = 0;  // measured over this run's copy phases (the bound's rates)
  uint64_t bytes = 0;
  int done = 0, failed = 0, cancelled = 0, left = 0;
  std::string stopped;  // why new starts stopped early ("max failures reached (2)"), if they did
  std::string note;     // fleet cancel beside a running coordinator: what was asked of it
};

nlohmann::json FleetRunJson(const FleetRunReport& r);
std::string FleetRunText(const FleetRunReport& r);

// Why new starts pause, from `ceph health --format json`: HEALTH_ERR, or a
// full or near-full OSD or pool (OSD_NEARFULL, OSD_BACKFILLFULL, OSD_FULL,
// POOL_NEARFULL, POOL_FULL); "" when they need not. What runs goes on.
std::string ClusterPauseReason(const nlohmann::json& health);

// `keyring`: the cluster keyring's text (to the hosts' stdin only).
Status RunFleet(const PlanFile& plan, const std::string& keyring, const RunOptions& opts,
                const std::atomic<bool>* cancel, FleetRunReport* report);

// `fleet status`: the coordinator journal's view, and whether a run is going on.
Status FleetStatus(const PlanFile& plan, const RunOptions& opts, nlohmann::json* json, std::string* text);

// `fleet cancel`: with a running coordinator, a request it carries out;
// without one, this process stops those VMs' migrations on their hosts and
// rolls them back. `vms` empty: every VM of the fleet.
Status CancelFleet(const PlanFile& plan, const std::string& keyring, const RunOptions& opts,
                   const std::vector<std::string>& vms, const std::atomic<bool>* cancel, FleetRunReport* report);

}  // namespace v2r::fleet
