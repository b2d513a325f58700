#include "fleet/remote_vm.h"

#include <time.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "base/json_field.h"
#include "fleet/ssh.h"

namespace v2r::fleet {

std::string HostStateDir(const HostSpec& host) {
  return host.state_dir.empty() ? std::string("/var/lib/virt2rbd") : host.state_dir;
}

std::string HostEventsPath(const HostSpec& host, const std::string& vm) {
  return HostStateDir(host) + "/fleet/" + vm + ".events";
}

std::vector<std::string> ClusterArgs(const PlanFile& plan, const HostSpec& host) {
  const ClusterSpec& c = plan.cluster;
  std::vector<std::string> a = {"--connect", host.libvirt};
  if (!c.conf.empty()) a.insert(a.end(), {"--conf", c.conf});
  if (!c.cluster.empty()) a.insert(a.end(), {"--cluster", c.cluster});
  if (!c.id.empty()) a.insert(a.end(), {"--id", c.id});
  if (!c.keyring.empty()) a.insert(a.end(), {"--keyring", "-"});
  if (!host.state_dir.empty()) a.insert(a.end(), {"--state-dir", host.state_dir});
  return a;
}

std::vector<std::string> RemoteMigrateArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm,
                                           int slots, uint64_t bandwidth) {
  std::vector<std::string> a = {host.virt2rbd, "migrate", vm.name, "--pool", plan.cluster.pool};
  for (std::string& w : ClusterArgs(plan, host)) a.push_back(std::move(w));
  if (!plan.cluster.client_user.empty()) a.insert(a.end(), {"--client-user", plan.cluster.client_user});
  if (!plan.cluster.image_name.empty()) a.insert(a.end(), {"--image-name", plan.cluster.image_name});
  a.insert(a.end(), {"--control-fd", "0", "--quiet", "--parallel-disks", std::to_string(std::max(1, slots))});
  if (bandwidth > 0) a.insert(a.end(), {"--bandwidth", fmt::format("{:.6f}", static_cast<double>(bandwidth) / 1048576)});
  if (vm.mode == Mode::kLive) {
    a.insert(a.end(), {"--live", "--pivot-gate"});
  } else {
    if (vm.stop != StopPolicy::kForceOff) a.push_back("--shutdown");
    if (vm.stop != StopPolicy::kShutdown) a.push_back("--force-off");
  }
  return a;
}

std::vector<std::string> RemoteRollbackArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm) {
  std::vector<std::string> a = {host.virt2rbd, "rollback", vm.name};
  for (std::string& w : ClusterArgs(plan, host)) a.push_back(std::move(w));
  a.insert(a.end(), {"--remove-images", "--quiet", "--format", "json"});
  if (vm.stop != StopPolicy::kForceOff) a.push_back("--shutdown");
  if (vm.stop != StopPolicy::kShutdown) a.push_back("--force-off");
  return a;
}

std::string MigrateScript(const std::vector<std::string>& argv, const std::string& events_path,
                          const std::string& attempt) {
  std::string cmd;
  for (const std::string& w : argv) cmd += ShellQuote(w) + " ";
  std::string dir = events_path.substr(0, events_path.rfind('/'));
  // `trap '' HUP`: an ignored signal stays ignored across exec, so neither the
  // shell nor virt2rbd ends with the session. `tee -p`: when the session's
  // pipe breaks, tee still writes the file (and virt2rbd never sees EPIPE).
  return fmt::format(
      "trap '' HUP; umask 077; mkdir -p {d} || {{ echo '{{\"type\":\"exit\",\"code\":97}}'; exit 97; }}; "
      "{{ printf '{{\"type\":\"shell\",\"pid\":%d,\"attempt\":\"%s\"}}\\n' $$ {a}; "
      "{c}--progress-fd 3 3>&1 >/dev/null 2>{e}; "
      "printf '{{\"type\":\"exit\",\"code\":%d}}\\n' $?; }} | tee -p {f}",
      fmt::arg("d", ShellQuote(dir)), fmt::arg("a", ShellQuote(attempt)), fmt::arg("c", cmd),
      fmt::arg("e", ShellQuote(events_path + ".err")), fmt::arg("f", ShellQuote(events_path)));
}

std::string ReattachScript(const std::string& events_path) {
  std::string f = ShellQuote(events_path);
  return fmt::format(
      "[ -r {f} ] || {{ echo '{{\"type\":\"none\"}}'; exit 0; }}; "
      "p=$(sed -n '1s/.*\"pid\":\\([0-9]*\\).*/\\1/p' {f}); "
      "if [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null; then exec tail -n +1 --pid=\"$p\" -f {f}; else cat {f}; fi",
      fmt::arg("f", f));
}

double EventTime(const std::string& iso) {
  struct tm tm = {};
  const char* rest = ::strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  double frac = 0;
  if (*rest == '.') std::sscanf(rest, "%lf", &frac);
  return static_cast<double>(::timegm(&tm)) + frac;
}

namespace {

// The offline copy: a live copy's phase lasts until its pivot, in sync, and
// would make the measured rates look slow.
bool IsCopyPhase(const std::string& phase) { return phase == "copy"; }

void ApplyProgress(const nlohmann::json& e, VmLive* v) {
  v->phase = JsonField<std::string>(e, "phase", v->phase);
  v->phase_data = JsonField<uint64_t>(e, "data", v->phase_data);
  v->done = JsonField<uint64_t>(e, "done", v->done);
  v->total = JsonField<uint64_t>(e, "total", v->total);
  v->rate_bps = JsonField<double>(e, "rate_bps", 0.0);
  if (e.contains("eta_s") && e["eta_s"].is_number()) v->eta_s = e["eta_s"].get<double>();
  else v->eta_s.reset();
}

void ApplyReport(const nlohmann::json& e, VmLive* v) {
  v->summary = e.contains("summary") ? e["summary"] : nlohmann::json();
  if (!v->exit_code && e.contains("exit_code") && e["exit_code"].is_number_integer())
    v->exit_code = e["exit_code"].get<int>();
  if (v->summary.is_object() && v->summary.contains("error") && v->summary["error"].is_object())
    v->error = JsonField<std::string>(v->summary["error"], "message", "");
}

}  // namespace

bool ApplyEventLine(const std::string& line, VmLive* v) {
  nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (e.is_discarded() || !e.is_object()) return false;
  std::string type = JsonField<std::string>(e, "type", "");
  std::string step = JsonField<std::string>(e, "step", "");
  if (type == "shell") {
    v->attempt = JsonField<std::string>(e, "attempt", "");
    v->shell_pid = JsonField<int>(e, "pid", 0);
  } else if (type == "started") {
    v->remote_pid = JsonField<int>(e, "pid", 0);
  } else if (type == "step-started") {
    v->step = JsonField<std::string>(e, "title", step);
    v->phase.clear();
    v->pivot_waiting = false;
    if (step == "stop" && v->downtime_begin == 0) v->downtime_begin = EventTime(JsonField<std::string>(e, "time", ""));
  } else if (type == "step-ended") {
    v->pivot_waiting = false;
    if (step == "start" && JsonField<std::string>(e, "result", "") == "ok")
      v->downtime_end = EventTime(JsonField<std::string>(e, "time", ""));
  } else if (type == "phase-started") {
    v->phase = JsonField<std::string>(e, "phase", "");
    v->phase_data = 0;
    if (IsCopyPhase(v->phase) && v->copy_begin == 0) v->copy_begin = EventTime(JsonField<std::string>(e, "time", ""));
    v->total = JsonField<uint64_t>(e, "total", 0);
    v->done = 0;
    v->rate_bps = 0;
    v->eta_s.reset();
  } else if (type == "progress") {
    ApplyProgress(e, v);
  } else if (type == "phase-ended") {
    v->pivot_waiting = false;
    if (IsCopyPhase(JsonField<std::string>(e, "phase", v->phase))) {
      v->copy_end = EventTime(JsonField<std::string>(e, "time", ""));
      v->copy_data += v->phase_data;
    }
    v->rate_bps = 0;
  } else if (type == "pivot-waiting") {
    v->pivot_waiting = true;
  } else if (type == "warning") {
    v->warning = JsonField<std::string>(e, "message", "");
  } else if (type == "report") {
    v->pivot_waiting = false;
    ApplyReport(e, v);
  } else if (type == "exit") {
    v->exit_code = JsonField<int>(e, "code", -1);
  }
  return true;
}

MigrationFacts SummaryFacts(const VmLive& v) {
  MigrationFacts f;
  const nlohmann::json& m = v.summary.is_object() && v.summary.contains("migration") ? v.summary["migration"]
                                                                                       : nlohmann::json::object();
  f.mode = JsonField<std::string>(m, "mode", "");
  if (m.contains("disks") && m["disks"].is_array())
    for (const auto& d : m["disks"]) {
      f.bytes += JsonField<uint64_t>(d, "bytes_copied", 0);
      std::string digest = JsonField<std::string>(d, "digest", "");
      if (!digest.empty()) f.digests.push_back(JsonField<std::string>(d, "target", "") + " " + digest);
    }
  if (f.mode == "live" && m.contains("live") && m["live"].is_object())
    f.downtime_s = JsonField<double>(m["live"], "paused_ms", 0.0) / 1000.0;
  else if (v.downtime_begin > 0 && v.downtime_end >= v.downtime_begin)
    f.downtime_s = v.downtime_end - v.downtime_begin;
  return f;
}

}  // namespace v2r::fleet
