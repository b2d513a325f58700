// The fleet plan file (docs/fleet.md): one YAML document naming the Ceph
// cluster, the hypervisors, and the VMs to move from each, with their modes,
// priorities, waves and cutover windows, and the fleet's limits.
//
// Pure: text in, structs out (LoadPlanFile reads the file, nothing else).
// yaml-cpp is used only inside plan_file.cc. Every error is Status::Usage
// naming the file and line, and the fix; unknown keys are errors (a typo must
// not silently drop a limit). Nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r::fleet {

enum class Mode { kOffline, kLive };
// How an offline VM is stopped: as `migrate --shutdown`, `--force-off`, or both
// (ask the guest, then power it off after the timeout).
enum class StopPolicy { kShutdown, kForceOff, kShutdownThenForceOff };

const char* ModeName(Mode m);
const char* StopPolicyName(StopPolicy p);

// A daily window, local time, minutes since midnight; end < start wraps past
// midnight ("22:00-04:00"). Offline VMs start their cutover only inside it.
struct Window {
  int start = 0, end = 0;
  bool Contains(int minute_of_day) const;
  std::string Describe() const;  // "22:00-04:00"
};

// --max-failures: a count, or a percentage of the fleet's VMs.
struct FailureLimit {
  uint64_t count = 0;  // 0 with percent unset: no limit
  std::optional<double> percent;
  // The number of failures that stops new starts, for a fleet of `vms`.
  uint64_t For(uint64_t vms) const;
  std::string Describe() const;
};
Result<FailureLimit> ParseFailureLimit(const std::string& text);

// Settings a host's VM entry may give, each falling back to the file's defaults.
struct VmSettings {
  std::optional<Mode> mode;
  std::optional<StopPolicy> stop;
  std::optional<int> priority;  // higher first
  std::optional<int> wave;      // 1, 2, ...: a wave starts when the one before has ended
  std::optional<Window> window;
};

// One entry of a host's `vms:` list: exactly one of name, match, all.
struct VmRule {
  std::string name;                  // a domain name
  std::string match;                 // a glob over domain names (fnmatch)
  bool all = false;                  // every domain of the host
  std::vector<std::string> exclude;  // globs left out of match/all
  VmSettings settings;
  int line = 0;                      // 1-based, in the plan file
};

struct HostSpec {
  std::string name;      // the report's name for it
  std::string ssh;       // [user@]address, as ssh takes it
  int port = 22;
  std::string identity;  // ssh -i FILE; empty: ssh's default
  std::string libvirt = "qemu:///system";  // the URI on that host
  std::optional<int> slots;                // copies at once on this host
  std::optional<uint64_t> bandwidth;       // bytes/s for this host's copies
  std::string virt2rbd = "virt2rbd";       // the program on that host
  std::string state_dir;                   // --state-dir there; empty: its default
  std::vector<VmRule> vms;
  int line = 0;
};

// How the coordinator reaches the hosts.
struct Transport {
  std::string ssh_command = "ssh";  // the OpenSSH client, or a wrapper of it
  int connect_timeout_s = 10;
  int keepalive_s = 15;  // a silent connection is lost after 3 of these (ServerAliveInterval)
};

struct ClusterSpec {
  std::string conf, id, keyring, cluster;  // as virt2rbd's --conf/--id/--keyring/--cluster
  std::string pool;
  std::string client_user;  // the cephx user the VMs open their images with (--client-user)
  std::string image_name;   // --image-name template; empty: virt2rbd's default
};

struct Limits {
  int slots = 4;              // copies at once, fleet-wide
  int host_slots = 2;         // per host, unless the host says
  int cutovers = 1;           // downtime windows and live pivots at once
  uint64_t bandwidth = 0;     // bytes/s, fleet-wide; 0: no budget
  FailureLimit max_failures;  // 0: never stop starting
};

struct PlanFile {
  std::string origin;  // the file name, for messages
  ClusterSpec cluster;
  Transport transport;
  Limits limits;
  VmSettings defaults;  // every field set after parsing
  std::vector<HostSpec> hosts;
};

// Parses and checks a plan; `origin` names it in messages ("fleet.yaml").
Result<PlanFile> ParsePlanFile(const std::string& text, const std::string& origin);
// Reads PATH and parses it (a missing or unreadable file is Status::Usage).
Result<PlanFile> LoadPlanFile(const std::string& path);

// One VM the plan picks, with its settings resolved.
struct SelectedVm {
  std::string host, name;
  Mode mode = Mode::kOffline;
  StopPolicy stop = StopPolicy::kShutdown;
  int priority = 0, wave = 1;
  std::optional<Window> window;
  bool named = false;  // named explicitly (a missing domain is an error, not a skip)
  int line = 0;        // the rule that picked it
};

// The VMs `host`'s rules pick among `domains` (the host's domain names), in
// rule order, each once (the first rule that picks a VM gives its settings).
// A named VM that is not among `domains` is listed in `missing`.
std::vector<SelectedVm> SelectVms(const PlanFile& plan, const HostSpec& host, const std::vector<std::string>& domains,
                                  std::vector<std::string>* missing);

}  // namespace v2r::fleet
