// virt2rbd fleet plan FILE: the dry run of a fleet (docs/fleet.md).
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/units.h"
#include "cli/commands.h"
#include "fleet/fleet_plan.h"
#include "fleet/plan_file.h"

namespace v2r {

namespace {

struct FleetArgs {
  std::string file;
  int parallel = 16;
  CLI::App* plan = nullptr;
};

// The cluster keyring, read on the coordinator: it goes only to the hosts'
// stdin. A keyring others may read is refused (the key is the cluster's).
Result<std::string> ReadKeyring(const std::string& path) {
  if (path.empty()) return std::string();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("keyring {} (cluster: keyring:)", path), errno);
  if (st.st_mode & 0077)
    return Status::Refused(fmt::format("keyring {} may be read by others (mode {:o})", path, st.st_mode & 0777),
                           fmt::format("chmod 0600 {}", path));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return Status::FromErrno(Kind::kRefused, fmt::format("reading keyring {}", path), errno);
  return ss.str();
}

std::string VmLine(const fleet::VmFacts& v) {
  std::string mode = v.vm.mode == fleet::Mode::kLive
                         ? "live"
                         : fmt::format("offline ({}{})", fleet::StopPolicyName(v.vm.stop),
                                       v.vm.window ? ", window " + v.vm.window->Describe() : "");
  std::string what;
  if (v.plan.is_null()) {
    what = "cannot be planned";
  } else {
    int disks = 0;
    for (const auto& d : v.plan["disks"])
      if (d.value("decision", "") == "moves") ++disks;
    uint64_t data = v.plan.value("known_bytes", uint64_t{0});
    bool ok = v.plan.value("would_proceed", false);
    what = fmt::format("{} disk{} to move, {} of data, {}", disks, disks == 1 ? "" : "s", FormatBytes(data),
                       ok ? "would proceed" : "refused");
  }
  return fmt::format("  {:<20} {:<36} priority {:<3} wave {:<2} {}\n", v.vm.name, mode, v.vm.priority, v.vm.wave,
                     what);
}

std::string FleetPlanText(const fleet::PlanFile& plan, const fleet::FleetPlanReport& r) {
  std::string s = fmt::format("fleet plan {}: {} host{}, {} VM{} to move ({} disk{}), {} of data", plan.origin,
                              r.hosts.size(), r.hosts.size() == 1 ? "" : "s", r.vms_moving,
                              r.vms_moving == 1 ? "" : "s", r.disks_moving, r.disks_moving == 1 ? "" : "s",
                              FormatBytes(r.known_bytes));
  if (r.upper_bytes > r.known_bytes) s += fmt::format(" (at most {})", FormatBytes(r.upper_bytes));
  if (r.available_bytes) s += fmt::format("; pool {} has room for {}", plan.cluster.pool, FormatBytes(*r.available_bytes));
  s += "\n";
  for (size_t i = 0; i < r.hosts.size(); ++i) {
    const fleet::HostFacts& h = r.hosts[i];
    const fleet::HostSpec& spec = plan.hosts[i];
    if (!h.reachable) {
      s += fmt::format("host {} ({}): unreachable\n", h.name, spec.ssh);
      continue;
    }
    s += fmt::format("host {} ({}, virt2rbd {}, {}): {} domain{}, {} picked\n", h.name, spec.ssh, h.version,
                     spec.libvirt, h.domains.size(), h.domains.size() == 1 ? "" : "s", h.vms.size());
    for (const fleet::VmFacts& v : h.vms) s += VmLine(v);
  }
  for (const std::string& n : r.notes) s += "note: " + n + "\n";
  if (r.reasons.empty()) {
    s += "fleet run would proceed\n";
  } else {
    s += fmt::format("fleet run would refuse ({} reason{}):\n", r.reasons.size(), r.reasons.size() == 1 ? "" : "s");
    for (const std::string& why : r.reasons) s += "  - " + why + "\n";
  }
  return s;
}

// A private directory for the ssh control sockets, removed at the end.
class ControlDir {
 public:
  ControlDir() {
    char tmpl[] = "/tmp/virt2rbd-fleet.XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
  }
  ~ControlDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status RunFleetPlan(FleetArgs* a, const CommandEnv& env, nlohmann::json* out) {
  auto plan = fleet::LoadPlanFile(a->file);
  if (!plan.ok()) return plan.status();
  auto keyring = ReadKeyring(plan->cluster.keyring);
  if (!keyring.ok()) return keyring.status();
  ControlDir control;
  if (control.path().empty()) return Status::FromErrno(Kind::kFailed, "creating a directory in /tmp", errno);
  fleet::FleetPlanReport report = fleet::PlanFleet(*plan, *keyring, control.path(), a->parallel, env.cancel);
  explicit_bzero(keyring->data(), keyring->size());
  if (env.output->json()) *out = fleet::FleetPlanJson(report);
  else std::fputs(FleetPlanText(*plan, report).c_str(), stdout);
  if (env.cancel && env.cancel->load()) return Status::Interrupted("fleet plan interrupted");
  if (!report.would_proceed())
    return Status::Refused(fmt::format("fleet run would refuse: {} reason{} above", report.reasons.size(),
                                       report.reasons.size() == 1 ? "" : "s"));
  return Status::Ok();
}

}  // namespace

CommandRunner SetupFleetCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<FleetArgs>();
  sub->require_subcommand(1);
  sub->fallthrough();  // `fleet plan FILE --format json`: the output options are the fleet command's
  a->plan = sub->add_subcommand("plan", "dry run of a fleet plan file: every host and VM checked, nothing changed");
  a->plan->add_option("FILE", a->file, "the fleet plan (YAML, docs/fleet.md)")->required()->type_name("FILE");
  a->plan->add_option("--parallel", a->parallel, "hosts planned at once (default 16)")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  return [a, env](nlohmann::json* out) {
    if (a->plan->parsed()) return RunFleetPlan(a.get(), env, out);
    return Status::Usage("fleet: give a subcommand: plan");
  };
}

}  // namespace v2r
