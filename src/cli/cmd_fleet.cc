// virt2rbd fleet plan FILE: the dry run of a fleet (docs/fleet.md).
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/units.h"
#include "cli/commands.h"
#include "cli/fleet_printer.h"
#include "fleet/fleet_plan.h"
#include "fleet/fleet_run.h"
#include "fleet/ssh.h"
#include "fleet/plan_file.h"

namespace v2r {

namespace {

struct FleetArgs {
  std::string file;
  int parallel = 16;
  std::string state_dir = "/var/lib/virt2rbd";
  std::vector<std::string> only, vms;
  std::string max_failures;
  CLI::App *plan = nullptr, *run = nullptr, *status = nullptr, *cancel = nullptr;
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

Status RunFleetPlan(FleetArgs* a, const CommandEnv& env, nlohmann::json* out) {
  auto plan = fleet::LoadPlanFile(a->file);
  if (!plan.ok()) return plan.status();
  auto keyring = ReadKeyring(plan->cluster.keyring);
  if (!keyring.ok()) return keyring.status();
  fleet::ControlDir control;
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

fleet::RunOptions RunOptionsOf(const FleetArgs& a, const CommandEnv& env) {
  fleet::RunOptions o;
  o.plan_path = a.file;
  o.state_dir = a.state_dir;
  o.only = a.only;
  o.max_failures = a.max_failures;
  o.parallel = a.parallel;
  FleetPrinter::Mode mode = env.output->json()             ? FleetPrinter::Mode::kJson
                            : env.output->quiet              ? FleetPrinter::Mode::kQuiet
                            : ::isatty(STDERR_FILENO) != 0   ? FleetPrinter::Mode::kTable
                                                             : FleetPrinter::Mode::kLines;
  if (env.output->json()) env.output->json_lines = true;  // the report is the stream's last line
  o.on_event = FleetPrinter(mode, env.output->json_stream_fd);
  return o;
}

// fleet run and fleet cancel: the same report.
Status RunOrCancel(FleetArgs* a, const CommandEnv& env, nlohmann::json* out, bool cancel) {
  auto plan = fleet::LoadPlanFile(a->file);
  if (!plan.ok()) return plan.status();
  if (!a->max_failures.empty()) {
    auto limit = fleet::ParseFailureLimit(a->max_failures);
    if (!limit.ok()) return limit.status();
  }
  auto keyring = ReadKeyring(plan->cluster.keyring);
  if (!keyring.ok()) return keyring.status();
  fleet::RunOptions o = RunOptionsOf(*a, env);
  fleet::FleetRunReport report;
  Status st = cancel ? fleet::CancelFleet(*plan, *keyring, o, a->vms, env.cancel, &report)
                     : fleet::RunFleet(*plan, *keyring, o, env.cancel, &report);
  explicit_bzero(keyring->data(), keyring->size());
  if (!report.note.empty()) std::printf("%s\n", report.note.c_str());
  if (report.vms.empty()) return st;  // refused before anything ran, or a request to a running coordinator
  if (env.output->json()) *out = fleet::FleetRunJson(report);
  else std::fputs(fleet::FleetRunText(report).c_str(), stdout);
  return st;
}

Status RunFleetStatus(FleetArgs* a, const CommandEnv& env, nlohmann::json* out) {
  auto plan = fleet::LoadPlanFile(a->file);
  if (!plan.ok()) return plan.status();
  fleet::RunOptions o = RunOptionsOf(*a, env);
  env.output->json_lines = false;
  nlohmann::json json;
  std::string text;
  V2R_RETURN_IF_ERROR(fleet::FleetStatus(*plan, o, &json, &text));
  if (env.output->json()) *out = json;
  else std::fputs(text.c_str(), stdout);
  return Status::Ok();
}

CLI::App* AddFileCommand(CLI::App* sub, FleetArgs* a, const char* name, const char* what) {
  CLI::App* c = sub->add_subcommand(name, what);
  c->add_option("FILE", a->file, "the fleet plan (YAML, docs/fleet.md)")->required()->type_name("FILE");
  c->add_option("--state-dir", a->state_dir,
                "the coordinator's state: STATE/fleet/NAME-HASH holds the fleet's journal (default /var/lib/virt2rbd)")
      ->type_name("DIR");
  return c;
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
  a->run = AddFileCommand(sub, a.get(), "run", "migrate every VM of a fleet plan, resumable: a rerun re-attaches and resumes");
  a->run->add_option("--only", a->only, "(re)run only these VMs (host/vm or vm, globs); the others stay as they are")
      ->type_name("VM...");
  a->run->add_option("--max-failures", a->max_failures, "stop starting VMs after N failures, or P% of the VMs")
      ->type_name("N|P%");
  a->run->add_option("--parallel", a->parallel, "hosts planned at once (default 16)")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  a->status = AddFileCommand(sub, a.get(), "status", "what a fleet run did and does, from its journal");
  a->cancel = AddFileCommand(sub, a.get(), "cancel", "stop and roll back VMs of a fleet run on their hosts (all: no VM)");
  a->cancel->add_option("VM", a->vms, "host/vm or vm names, globs (default: every VM of the fleet)");
  return [a, env](nlohmann::json* out) {
    if (a->plan->parsed()) return RunFleetPlan(a.get(), env, out);
    if (a->run->parsed()) return RunOrCancel(a.get(), env, out, false);
    if (a->cancel->parsed()) return RunOrCancel(a.get(), env, out, true);
    if (a->status->parsed()) return RunFleetStatus(a.get(), env, out);
    return Status::Usage("fleet: give a subcommand: plan, run, status or cancel");
  };
}

}  // namespace v2r
