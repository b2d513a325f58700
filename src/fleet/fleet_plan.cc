#include "fleet/fleet_plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <semaphore>
#include <set>
#include <sstream>
#include <thread>

#include "base/units.h"
#include "fleet/ssh.h"

namespace v2r::fleet {

namespace {

constexpr std::chrono::seconds kCommandTimeout{120};
// VM plans at once on one host (sessions of its one ssh connection; sshd's MaxSessions is 10).
constexpr int kPlansPerHost = 4;

// The last non-empty line of a program's stderr, without "virt2rbd: error: ".
std::string LastLine(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  for (const char* prefix : {"virt2rbd: error: ", "virt2rbd: "})
    if (last.rfind(prefix, 0) == 0) return last.substr(std::strlen(prefix));
  return last;
}

// "0.1.0" and "0.1.7" are compatible; "0.2.0" is not.
bool Compatible(const std::string& a, const std::string& b) {
  auto minor = [](const std::string& v) { return v.substr(0, v.rfind('.')); };
  return !a.empty() && minor(a) == minor(b);
}

// The plan's words for a disk (cli/render.cc DecisionName).
bool Moves(const nlohmann::json& disk) { return disk.value("decision", "") == "moves"; }

// A disk that moves, or would but is refused (the VM is then reported, not skipped).
bool MovesSomething(const nlohmann::json& plan) {
  if (!plan.contains("disks")) return false;
  for (const auto& d : plan["disks"])
    if (Moves(d) || d.value("decision", "") == "refused") return true;
  return false;
}

uint64_t U64(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : 0;
}

void JudgeHost(const std::string& our_version, HostFacts& h, FleetPlanReport* r) {
  if (!h.reachable) {
    r->reasons.push_back(fmt::format("host {}: {}", h.name, h.error));
    return;
  }
  if (!Compatible(h.version, our_version))
    r->reasons.push_back(fmt::format("host {}: virt2rbd {} is installed there; this coordinator is {} (install the "
                                     "same release on every host)",
                                     h.name, h.version.empty() ? "(unknown version)" : h.version, our_version));
  for (const std::string& m : h.missing)
    r->reasons.push_back(fmt::format("host {}: VM {} is not defined there (its domains: {})", h.name, m,
                                     h.domains.empty() ? "none" : fmt::format("{}", fmt::join(h.domains, ", "))));
}

}  // namespace

void Judge(const std::string& our_version, FleetPlanReport* r) {
  std::map<std::string, std::vector<std::string>> images;  // POOL/IMAGE -> host/vm
  std::map<std::string, std::set<std::string>> uuids;      // UUID -> host/vm
  for (HostFacts& h : r->hosts) {
    JudgeHost(our_version, h, r);
    for (const VmFacts& v : h.vms) {
      const std::string who = fmt::format("{}/{}", h.name, v.vm.name);
      if (v.skipped) continue;
      if (v.plan.is_null()) {
        r->reasons.push_back(fmt::format("{}: cannot be planned: {}", who, v.error));
        continue;
      }
      if (v.plan.contains("uuid") && v.plan["uuid"].is_string()) uuids[v.plan["uuid"]].insert(who);
      if (!MovesSomething(v.plan) && !v.vm.named) {
        r->notes.push_back(fmt::format("{}: nothing to move (skipped)", who));
        continue;
      }
      for (const auto& why : v.plan.value("refusals", nlohmann::json::array()))
        r->reasons.push_back(fmt::format("{}: {}", who, why.get<std::string>()));
      ++r->vms_moving;
      for (const auto& d : v.plan["disks"]) {
        if (!Moves(d)) continue;
        ++r->disks_moving;
        if (d.contains("image") && d["image"].is_string()) images[d["image"]].push_back(who);
      }
      r->known_bytes += U64(v.plan, "known_bytes");
      r->upper_bytes += U64(v.plan, "upper_bytes");
      if (v.plan.contains("available_bytes") && v.plan["available_bytes"].is_number_unsigned()) {
        uint64_t a = v.plan["available_bytes"].get<uint64_t>();
        r->available_bytes = r->available_bytes ? std::min(*r->available_bytes, a) : a;
      }
    }
  }
  for (const auto& [image, who] : images)
    if (who.size() > 1)
      r->reasons.push_back(fmt::format("image {} would be written by {} (give cluster: image_name: a template with "
                                       "{{uuid}}, or rename a VM)",
                                       image, fmt::join(who, " and ")));
  for (const auto& [uuid, who] : uuids)
    if (who.size() > 1)
      r->reasons.push_back(fmt::format("VM {} is defined on more than one host ({}): move it from one host only "
                                       "(undefine the stale copy)",
                                       uuid, fmt::join(who, ", ")));
  if (r->available_bytes && r->known_bytes > *r->available_bytes)
    r->reasons.push_back(fmt::format("the pool has room for {} but the fleet's disks hold {} of data",
                                     FormatBytes(*r->available_bytes), FormatBytes(r->known_bytes)));
  else if (r->available_bytes && r->upper_bytes > *r->available_bytes)
    r->notes.push_back(fmt::format("the pool has room for {}; the fleet's disks hold {} to {} of data",
                                   FormatBytes(*r->available_bytes), FormatBytes(r->known_bytes),
                                   FormatBytes(r->upper_bytes)));
}

std::vector<std::string> RemotePlanArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm) {
  const ClusterSpec& c = plan.cluster;
  std::vector<std::string> a = {host.virt2rbd, "plan", vm.name, "--pool", c.pool, "--format", "json", "--quiet",
                                "--connect", host.libvirt};
  if (!c.conf.empty()) a.insert(a.end(), {"--conf", c.conf});
  if (!c.cluster.empty()) a.insert(a.end(), {"--cluster", c.cluster});
  if (!c.id.empty()) a.insert(a.end(), {"--id", c.id});
  if (!c.keyring.empty()) a.insert(a.end(), {"--keyring", "-"});
  if (!c.client_user.empty()) a.insert(a.end(), {"--client-user", c.client_user});
  if (!c.image_name.empty()) a.insert(a.end(), {"--image-name", c.image_name});
  if (!host.state_dir.empty()) a.insert(a.end(), {"--state-dir", host.state_dir});
  if (vm.mode == Mode::kLive) {
    a.push_back("--live");
  } else {
    if (vm.stop != StopPolicy::kForceOff) a.push_back("--shutdown");
    if (vm.stop != StopPolicy::kShutdown) a.push_back("--force-off");
  }
  return a;
}

namespace {

// Runs on `ssh`, reporting a failure of ssh itself (255) or a missing program (127) in words.
Result<RemoteResult> RunThere(SshHost& ssh, const HostSpec& host, const std::vector<std::string>& argv,
                              const std::string& input) {
  auto r = ssh.Run(argv, input, kCommandTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 255)
    return Status::Refused(fmt::format("ssh {} failed: {}", host.ssh, LastLine(r->err)),
                           "check the address, the key (identity:) and that root may log in");
  if (r->exit_code == 127)
    return Status::Refused(fmt::format("{} is not installed there (command not found)", argv[0]),
                           "install the virt2rbd package on the host, or give its path with virt2rbd:");
  return r;
}

void PlanVm(const PlanFile& plan, const HostSpec& host, SshHost& ssh, const std::string& keyring,
            const std::atomic<bool>* cancel, const SelectedVm& vm, VmFacts* v) {
  v->vm = vm;
  if (cancel && cancel->load()) {
    v->error = "interrupted";
    return;
  }
  auto r = RunThere(ssh, host, RemotePlanArgv(plan, host, vm), plan.cluster.keyring.empty() ? "" : keyring);
  if (!r.ok()) {
    v->error = r.status().message();
    return;
  }
  v->exit_code = r->exit_code;
  v->plan = nlohmann::json::parse(r->out, nullptr, /*allow_exceptions=*/false);
  if (v->plan.is_discarded() || !v->plan.is_object()) {
    v->plan = nullptr;
    v->error = fmt::format("virt2rbd plan exited {}: {}", r->exit_code, LastLine(r->err));
  }
}

void PlanHost(const PlanFile& plan, const HostSpec& host, const std::string& keyring, const std::string& control_dir,
              const std::atomic<bool>* cancel, const SkipVm& skip, HostFacts* h) {
  h->name = host.name;
  SshTarget target{host.ssh, host.port, host.identity};
  SshSettings settings;
  settings.command = plan.transport.ssh_command;
  settings.connect_timeout_s = plan.transport.connect_timeout_s;
  settings.keepalive_s = plan.transport.keepalive_s;
  settings.control_dir = control_dir;
  SshHost ssh(target, settings);
  auto version = RunThere(ssh, host, {host.virt2rbd, "--version"}, "");
  if (!version.ok()) {
    h->error = version.status().message();
    return;
  }
  h->reachable = true;
  std::string word = LastLine(version->out);
  h->version = word.substr(word.rfind(' ') + 1);
  auto list = RunThere(ssh, host, {"virsh", "-c", host.libvirt, "list", "--all", "--name"}, "");
  if (!list.ok() || list->exit_code != 0) {
    h->reachable = false;
    h->error = fmt::format("libvirt at {} does not answer there: {}", host.libvirt,
                           list.ok() ? LastLine(list->err) : list.status().message());
    return;
  }
  std::istringstream names(list->out);
  for (std::string n; std::getline(names, n);)
    if (!n.empty()) h->domains.push_back(n);
  // The VMs of a host are planned a few at a time, as sessions of the one connection.
  std::vector<SelectedVm> picked = SelectVms(plan, host, h->domains, &h->missing);
  h->vms.resize(picked.size());
  std::counting_semaphore<kPlansPerHost> slots(kPlansPerHost);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < picked.size(); ++i) {
    if (skip && skip(host.name + "/" + picked[i].name)) {
      h->vms[i].vm = picked[i];
      h->vms[i].skipped = true;
      continue;
    }
    slots.acquire();
    threads.emplace_back([&, i] {
      PlanVm(plan, host, ssh, keyring, cancel, picked[i], &h->vms[i]);
      slots.release();
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

FleetPlanReport PlanFleet(const PlanFile& plan, const std::string& keyring, const std::string& control_dir,
                          int parallel, const std::atomic<bool>* cancel, const SkipVm& skip) {
  FleetPlanReport report;
  report.hosts.resize(plan.hosts.size());
  std::counting_semaphore<1024> slots(std::clamp(parallel, 1, 1024));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < plan.hosts.size(); ++i)
    threads.emplace_back([&, i] {
      slots.acquire();
      PlanHost(plan, plan.hosts[i], keyring, control_dir, cancel, skip, &report.hosts[i]);
      slots.release();
    });
  for (std::thread& t : threads) t.join();
  Judge(V2R_VERSION, &report);
  return report;
}

nlohmann::json FleetPlanJson(const FleetPlanReport& r) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const HostFacts& h : r.hosts) {
    nlohmann::json vms = nlohmann::json::array();
    for (const VmFacts& v : h.vms)
      vms.push_back({{"name", v.vm.name},
                     {"mode", ModeName(v.vm.mode)},
                     {"stop", v.vm.mode == Mode::kLive ? nlohmann::json() : nlohmann::json(StopPolicyName(v.vm.stop))},
                     {"priority", v.vm.priority},
                     {"wave", v.vm.wave},
                     {"window", v.vm.window ? nlohmann::json(v.vm.window->Describe()) : nlohmann::json()},
                     {"plan", v.plan},
                     {"error", v.error.empty() ? nlohmann::json() : nlohmann::json(v.error)}});
    hosts.push_back({{"name", h.name},
                     {"reachable", h.reachable},
                     {"error", h.error.empty() ? nlohmann::json() : nlohmann::json(h.error)},
                     {"version", h.version},
                     {"missing", h.missing},
                     {"vms", vms}});
  }
  return {{"hosts", hosts},
          {"vms_moving", r.vms_moving},
          {"disks_moving", r.disks_moving},
          {"known_bytes", r.known_bytes},
          {"upper_bytes", r.upper_bytes},
          {"available_bytes", r.available_bytes ? nlohmann::json(*r.available_bytes) : nlohmann::json()},
          {"notes", r.notes},
          {"refusals", r.reasons},
          {"would_proceed", r.would_proceed()}};
}

}  // namespace v2r::fleet
