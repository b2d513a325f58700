// virt2rbd plan DOMAIN --pool POOL / virt2rbd migrate DOMAIN --pool POOL
#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "base/units.h"
#include "cli/commands.h"
#include "cli/control_reader.h"
#include "cli/render.h"
#include "migrate/migrate.h"
#include "base/fault.h"
#include "migrate/plan.h"

namespace v2r {

namespace {

struct MigrateArgs {
  MigrateOptions opts;
  std::string disks;
  std::string in_flight_bytes = "64M";
  bool start = false, no_start = false;
  int control_fd = -1;  // --control-fd: the orchestrator's control stream
};

void AddMigrateOptions(CLI::App* sub, MigrateArgs* a, bool for_plan) {
  MigrateOptions& o = a->opts;
  sub->add_option("DOMAIN", o.domain, "libvirt domain name or uuid")->required();
  sub->add_option("--pool", o.pool, "RBD pool to move the disks into")->required();
  sub->add_option("--connect", o.connect, "libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system)");
  AddCephOptions(sub, &o.ceph);
  sub->add_option("--client-user", o.client_user, "cephx id the VM uses (default libvirt)");
  sub->add_option("--image-name", o.image_template, "image name template: {domain}, {target}, {uuid} (default {domain}-{target})");
  sub->add_option("--disks", a->disks, "only these disks, by target: vda,vdb (default: every disk that can move)");
  sub->add_option("--cache", o.cache, "disk cache mode of the RBD disks (default writeback)")
      ->check(CLI::IsMember({"writeback", "none", "writethrough", "directsync", "unsafe", "default"}));
  sub->add_option("--mon-hosts", o.mon_hosts,
                  "monitors written into the XML: HOST:PORT,... or none (default: every monitor of the monmap)");
  sub->add_option("--verify", a->opts.verify, "");  // replaced below
  sub->remove_option(sub->get_option("--verify"));
  auto* verify = sub->add_option_function<std::string>(
      "--verify", [o = &a->opts](const std::string& v) { o->verify = v == "full"; },
      "read every image back and compare (full, the default) or not (none)");
  verify->check(CLI::IsMember({"full", "none"}));
  sub->add_option("--state-dir", o.state_dir, "where journals and saved definitions live (default /var/lib/virt2rbd)");
  AddShutdownOptions(sub, &o.shutdown, &o.force_off, &o.shutdown_timeout_s);
  sub->add_flag("--start", a->start, "start the VM on RBD afterwards (default: if it was running)");
  sub->add_flag("--no-start", a->no_start, "leave the VM shut off afterwards");
  sub->add_flag("--update-caps", o.update_caps, "grant an existing cephx user access to the pool, keeping its caps");
  sub->add_flag("--lun-as-disk", o.lun_as_disk,
                "move SCSI passthrough disks (device='lun') as plain disks (device='disk'), dropping their lun-only "
                "settings");
  sub->add_flag("--live", o.live,
                "move a running VM without stopping it: libvirt block copies, then a pivot (docs/live-migration.md)");
  if (!for_plan) {
    sub->add_option("--in-flight", o.in_flight, "requests in flight across all disks (default 16)")->check(CLI::Range(1, 1024));
    sub->add_option("--in-flight-bytes", a->in_flight_bytes, "bytes in flight across all disks (default 64M)");
    sub->add_option("--parallel-disks", o.parallel_disks, "disks copied at once (default 4)")->check(CLI::Range(1, 64));
    sub->add_option_function<double>(
           "--bandwidth", [&o](double mib) { o.bandwidth = static_cast<uint64_t>(mib * 1048576); },
           "limit copying to this many MiB/s, in total across all disks (default: unlimited)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--stall-warn", o.stall_warn_s, "warn after this many seconds without a completed write (default 30)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--stall-timeout", o.stall_timeout_s,
                    "stop, resumable (exit 75), after this many seconds without a completed write; 0: never (default 900)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--libvirt-timeout", o.libvirt_timeout_s,
                    "after a lost libvirt connection, wait this many seconds for it to answer again before "
                    "stopping, resumable (exit 75) (default 120)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--control-fd", a->control_fd,
                    "read control messages (JSON lines: bandwidth, pivot go) from this open file descriptor; with "
                    "--keyring -, 0 is stdin after the keyring and a NUL byte (docs/events.md) (default: none)")
        ->check(CLI::Range(0, 1 << 20));
    sub->add_flag("--pivot-gate", o.pivot_gate,
                  "with --live and --control-fd: once in sync, wait for {\"pivot\": \"go\"} before the pivot");
    sub->add_option("--journal-interval", o.durable_interval_s,
                    "seconds between flushes that record copy progress (default 1)")
        ->check(CLI::PositiveNumber);
  }
}

Status Finish(MigrateArgs* a) {
  MigrateOptions& o = a->opts;
  if (a->start && a->no_start) return Status::Usage("--start and --no-start are mutually exclusive");
  if (o.live && (o.shutdown || o.force_off))
    return Status::Usage("--live keeps the VM running: it cannot be combined with --shutdown or --force-off");
  if (o.live && a->no_start) return Status::Usage("--live keeps the VM running: --no-start does not apply");
  if (o.pivot_gate && !o.live)
    return Status::Usage("--pivot-gate applies to --live only (an offline migration has no pivot)");
  if (o.pivot_gate && a->control_fd < 0)
    return Status::Usage("--pivot-gate waits for a go on the control stream: it needs --control-fd",
                         "virt2rbd migrate VM --live --pivot-gate --control-fd 0 < control-stream");
  if (a->start) o.start = true;
  if (a->no_start) o.start = false;
  std::stringstream ss(a->disks);
  std::string d;
  while (std::getline(ss, d, ','))
    if (!d.empty()) o.disks.push_back(d);
  auto ifb = ParseSize(a->in_flight_bytes);
  if (!ifb.ok()) return ifb.status().Wrap("--in-flight-bytes");
  o.in_flight_bytes = *ifb;
  // Values that do not parse are usage errors, found before anything is contacted.
  if (o.pool.empty() || o.pool.find_first_of("/@ ") != std::string::npos)
    return Status::Usage(fmt::format("--pool '{}' is not a pool name", o.pool),
                         "give the pool alone (--pool libvirt); image names come from --image-name");
  if (o.client_user.rfind("client.", 0) == 0)
    return Status::Usage(fmt::format("--client-user '{}' includes the 'client.' prefix", o.client_user),
                         fmt::format("give the id alone: --client-user {}", o.client_user.substr(7)));
  if (o.client_user.empty() ||
      o.client_user.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
          std::string::npos)
    return Status::Usage(fmt::format("--client-user '{}' is not a valid cephx id", o.client_user),
                         "use letters, digits, '_', '-' and '.' only (default: libvirt)");
  if (auto hosts = ResolveMonHosts(o.mon_hosts, {}); !hosts.ok()) return hosts.status();
  if (auto name = ExpandImageName(o.image_template, "domain", "vda", "uuid"); !name.ok()) return name.status();
  // Stdin shared: the keyring first, up to a NUL, then the control stream.
  V2R_RETURN_IF_ERROR(ResolveCeph(&o.ceph, a->control_fd == STDIN_FILENO));
  return Status::Ok();
}

Status RunPlanCmd(MigrateArgs* a, const CommandEnv& env, nlohmann::json* out) {
  V2R_RETURN_IF_ERROR(Finish(a));
  auto plan = RunPlan(a->opts);
  if (!plan.ok()) return plan.status();
  if (env.output->json()) *out = PlanJson(*plan);
  else std::fputs(PlanText(*plan).c_str(), stdout);
  if (!plan->ok())
    return Status::Refused(fmt::format("migrate would refuse: {} reason{} above", plan->refusals.size(),
                                       plan->refusals.size() == 1 ? "" : "s"));
  return Status::Ok();
}

Status RunMigrateCmd(MigrateArgs* a, const CommandEnv& env, nlohmann::json* out) {
  V2R_RETURN_IF_ERROR(Finish(a));  // (reads a keyring on stdin before the control stream's reader starts)
  SetFaultScope(a->opts.domain);
  RunContext ctx = MakeRunContext(env);
  std::unique_ptr<ControlReader> control;  // stopped before this returns
  if (a->control_fd >= 0) {
    auto started = ControlReader::Start(a->control_fd, env.observer);
    if (!started.ok()) return started.status();
    control = std::move(*started);
    ctx.control = control->control();
  }
  auto report = RunMigrate(a->opts, ctx);
  control.reset();
  if (!report.ok()) return report.status();
  // Always: the event stream's report has it too. The plan was shown
  // before the steps (StepPrinter); here only what came of it.
  *out = {{"message", report->message}, {"nothing_to_do", report->nothing_to_do},
          {"migration", StateJson(report->state)}};
  if (!report->nothing_to_do) {
    (*out)["plan"] = PlanJson(report->plan);
    (*out)["space"] = SpaceJson(report->state, report->used_bytes);
  }
  if (!env.output->json()) {
    std::printf("%s\n%s", report->message.c_str(), StateText(report->state).c_str());
    if (!report->nothing_to_do) std::fputs(SpaceSummaryText(report->state, report->used_bytes).c_str(), stdout);
  }
  return Status::Ok();
}

}  // namespace

CommandRunner SetupPlanCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<MigrateArgs>();
  AddMigrateOptions(sub, a.get(), true);
  return [a, env](nlohmann::json* out) { return RunPlanCmd(a.get(), env, out); };
}

CommandRunner SetupMigrateCommand(CLI::App* sub, const CommandEnv& env) {
  auto a = std::make_shared<MigrateArgs>();
  AddMigrateOptions(sub, a.get(), false);
  return [a, env](nlohmann::json* out) { return RunMigrateCmd(a.get(), env, out); };
}

}  // namespace v2r
