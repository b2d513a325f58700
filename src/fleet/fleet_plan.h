// `virt2rbd fleet plan FILE`: the dry run of a whole fleet, changing nothing.
//
// Per host, over ssh (fleet/ssh.h): ssh answers; virt2rbd is installed there
// in a compatible version; its libvirt answers (the host's domains); per VM
// picked by the plan, `virt2rbd plan VM --format json` on that host, with the
// cluster's keyring on its stdin (its Ceph monitors must answer from there).
// Then, across the fleet (Judge, pure): every VM's refusals, named VMs that do
// not exist, image names two VMs would both use, the same VM (UUID) on two
// hosts, and the data of all VMs against the pool's free space.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "fleet/plan_file.h"

namespace v2r::fleet {

struct VmFacts {
  SelectedVm vm;
  int exit_code = -1;     // of `virt2rbd plan` there; -1: not run
  nlohmann::json plan;    // its JSON document (null when it printed none)
  std::string error;      // why there is no plan (its stderr's last line, or ssh's)
  bool skipped = false;   // not planned: `fleet run` knows it from its journal (ended, or still running)
};

struct HostFacts {
  std::string name;
  bool reachable = false;
  std::string error;       // why the host cannot be planned
  std::string version;     // virt2rbd's there ("0.1.0")
  std::vector<std::string> domains;
  std::vector<std::string> missing;  // named in the plan, not on the host
  std::vector<VmFacts> vms;
};

struct FleetPlanReport {
  std::vector<HostFacts> hosts;
  std::vector<std::string> reasons;  // every reason the run would refuse; empty: it would proceed
  std::vector<std::string> notes;    // VMs picked by a glob or all: that have nothing to move
  int vms_moving = 0;
  int disks_moving = 0;
  uint64_t known_bytes = 0, upper_bytes = 0;   // data to copy: known, and the upper bound
  std::optional<uint64_t> available_bytes;     // the pool's room, as the hosts see it (the least)
  bool would_proceed() const { return reasons.empty(); }
};

// The fleet-wide judgement over gathered facts (pure; unit-tested).
void Judge(const std::string& our_version, FleetPlanReport* report);

// The virt2rbd argv that plans `vm` on its host.
std::vector<std::string> RemotePlanArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm);

// Gathers every host's facts over ssh, one thread per host (at most
// `parallel` at once), then judges. `keyring` is the cluster keyring's text:
// it goes only to the remote plans' stdin. `control_dir` (0700) holds the ssh
// control sockets.
// VMs ("host/vm") `skip` picks are listed but not planned (nor judged).
using SkipVm = std::function<bool(const std::string& id)>;
FleetPlanReport PlanFleet(const PlanFile& plan, const std::string& keyring, const std::string& control_dir,
                          int parallel, const std::atomic<bool>* cancel, const SkipVm& skip = nullptr);

nlohmann::json FleetPlanJson(const FleetPlanReport& r);

}  // namespace v2r::fleet
