// fleet run: what the coordinator shows while it runs, its report, fleet status.
#include <fnmatch.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/json_field.h"
#include "base/units.h"
#include "fleet/coordinator.h"

namespace v2r::fleet {

namespace detail {

std::string EtaText(std::optional<double> eta) {
  if (!eta) return "-";
  return FormatDuration(*eta);
}

// What a VM is doing, in words (the table's last columns, the progress lines).
std::string Doing(const Vm& v) {
  switch (v.state) {
    case VmState::kWaiting: return "waiting: " + v.why;
    case VmState::kDone: return "done";
    case VmState::kFailed: return "failed: " + v.error;
    case VmState::kCancelled: return "cancelled";
    case VmState::kDetached: return "left running on its host (a rerun re-attaches)";
    case VmState::kKept: return "kept";
    case VmState::kRunning: break;
  }
  std::string s = v.live.step.empty() ? std::string("starting") : v.live.step;
  if (v.live.pivot_waiting) s += v.granted ? ": pivoting" : ": in sync, waiting for a cutover slot";
  if (!v.note.empty()) s += " (" + v.note + ")";
  return s;
}

std::string ProgressText(const Vm& v) {
  if (v.state != VmState::kRunning || v.live.phase.empty() || v.live.total == 0) return "";
  return fmt::format("{} {:.0f}% {}/s ETA {}", v.live.phase, 100.0 * static_cast<double>(v.live.done) /
                                                                  static_cast<double>(v.live.total),
                     FormatBytes(static_cast<uint64_t>(v.live.rate_bps)), EtaText(v.live.eta_s));
}

nlohmann::json VmEvent(const Vm& v) {
  nlohmann::json e = {{"type", "vm"},      {"host", v.id.substr(0, v.id.find('/'))}, {"vm", v.sel.name},
                      {"mode", ModeName(v.sel.mode)}, {"state", StateName(v.state)}, {"step", v.live.step},
                      {"phase", v.live.phase}, {"done", v.live.done}, {"total", v.live.total},
                      {"rate_bps", v.live.rate_bps}, {"why", v.why}, {"note", v.note}};
  e["eta_s"] = v.live.eta_s ? nlohmann::json(*v.live.eta_s) : nlohmann::json();
  e["doing"] = Doing(v);
  e["progress"] = ProgressText(v);
  if (!v.error.empty()) e["error"] = v.error;
  return e;
}

void Coordinator::Emit(nlohmann::json event) {
  event["time"] = UtcNow();
  if (opts_.on_event) opts_.on_event(event);
}

void Coordinator::ShowVm(Vm* v, bool force) {
  std::string now = std::string(StateName(v->state)) + "|" + Doing(*v);
  bool progress = v->state == VmState::kRunning && Since(v->shown_at) >= 2.0 && !ProgressText(*v).empty();
  if (now == v->shown && !progress && !force) return;
  bool changed = now != v->shown;
  v->shown = now;
  v->shown_at = Clock::now();
  nlohmann::json e = VmEvent(*v);
  e["changed"] = changed;  // false: a progress sample only
  Emit(std::move(e));
}

// Publishes what changed (under mu_): a `vm` event per VM that changed (and
// every 2 s a running one's progress), a `fleet` event every 2 s.
void Coordinator::Show(bool force) {
  int waiting = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  double rate = 0;
  uint64_t left = 0;  // bytes still to copy: waiting VMs' data and what remains of running phases
  for (auto& v : vms_) {
    if (v->state == VmState::kKept) continue;
    ShowVm(v.get(), false);
    if (v->state == VmState::kWaiting) {
      ++waiting;
      left += v->sched.bytes;
    } else if (v->state == VmState::kRunning) {
      ++running;
      rate += v->live.rate_bps;
      if (v->live.total > v->live.done) left += v->live.total - v->live.done;
    }
    done += v->state == VmState::kDone;
    failed += v->state == VmState::kFailed;
    cancelled += v->state == VmState::kCancelled;
  }
  peak_rate_ = std::max(peak_rate_, rate);
  if (!force && Since(fleet_shown_) < 2.0) return;
  fleet_shown_ = Clock::now();
  Emit({{"type", "fleet"}, {"running", running}, {"waiting", waiting}, {"done", done}, {"failed", failed},
        {"cancelled", cancelled}, {"rate_bps", rate}, {"bytes_left", left},
        {"eta_s", rate > 0 ? nlohmann::json(static_cast<double>(left) / rate) : nlohmann::json()},
        {"elapsed_s", Since(start_)}, {"stopped", stopped_.empty() ? nlohmann::json() : nlohmann::json(stopped_)}});
}

// The rates the lower bound uses, measured over the copy phases of this run:
// the fleet's (data over the time at least one copy ran) and the best single
// copy's (its data over its copy phases' span).
void MeasuredRates(const std::vector<std::unique_ptr<Vm>>& vms, double* fleet, double* copy) {
  std::vector<std::pair<double, double>> spans;
  uint64_t data = 0;
  *copy = 0;
  for (const auto& v : vms) {
    const VmLive& l = v->live;
    if (!v->ran || l.copy_begin <= 0 || l.copy_end <= l.copy_begin) continue;
    spans.emplace_back(l.copy_begin, l.copy_end);
    data += l.copy_data;
    *copy = std::max(*copy, static_cast<double>(l.copy_data) / (l.copy_end - l.copy_begin));
  }
  std::sort(spans.begin(), spans.end());
  double busy = 0, until = 0;
  for (const auto& [b, e] : spans) {
    double from = std::max(b, until);
    if (e > from) busy += e - from;
    until = std::max(until, e);
  }
  *fleet = busy > 0 ? static_cast<double>(data) / busy : 0;
}

void Coordinator::BuildReport(FleetRunReport* r) {
  std::lock_guard<std::mutex> lock(mu_);
  SchedInput lb;
  r->makespan_s = Since(start_);
  for (auto& v : vms_) {
    VmOutcome o;
    o.host = v->id.substr(0, v->id.find('/'));
    o.name = v->sel.name;
    o.mode = v->sel.mode;
    o.attempts = v->attempts;
    if (v->state == VmState::kKept) {
      o.result = "kept: " + JsonField<std::string>(v->earlier, "result", "");
      o.exit_code = JsonField<int>(v->earlier, "exit_code", -1);
      o.error = JsonField<std::string>(v->earlier, "error", "");
      const nlohmann::json& sm = v->earlier.contains("summary") ? v->earlier["summary"] : nlohmann::json();
      o.facts.bytes = JsonField<uint64_t>(sm, "bytes", 0);
      o.facts.downtime_s = JsonField<double>(sm, "downtime_s", 0.0);
      o.duration_s = JsonField<double>(sm, "duration_s", 0.0);
      if (sm.is_object() && sm.contains("digests")) o.facts.digests = sm["digests"].get<std::vector<std::string>>();
    } else {
      o.result = v->state == VmState::kWaiting ? "not started" : StateName(v->state);
      o.exit_code = v->exit_code;
      o.error = v->error;
      o.facts = SummaryFacts(v->live);
      if (o.facts.mode.empty()) o.facts.mode = ModeName(v->sel.mode);
      o.duration_s = v->ran ? std::chrono::duration<double>(v->ended - v->began).count() : 0;
      if (v->ran) {
        SchedVm sv = v->sched;
        sv.bytes = std::max(sv.bytes, o.facts.bytes);
        lb.vms.push_back(sv);
      }
    }
    r->bytes += v->state == VmState::kKept ? 0 : o.facts.bytes;
    r->done += v->state == VmState::kDone;
    r->failed += v->state == VmState::kFailed;
    r->cancelled += v->state == VmState::kCancelled;
    r->left += v->state == VmState::kWaiting || v->state == VmState::kDetached || v->state == VmState::kRunning;
    r->vms.push_back(std::move(o));
  }
  for (const Host& h : hosts_) lb.hosts.push_back({h.spec->name, 0, h.spec->bandwidth.value_or(0), true});
  lb.limits.bandwidth = plan_.limits.bandwidth;
  MeasuredRates(vms_, &r->fleet_rate_bps, &r->copy_rate_bps);
  if (r->fleet_rate_bps <= 0) r->fleet_rate_bps = peak_rate_;
  if (r->copy_rate_bps <= 0) r->copy_rate_bps = peak_copy_rate_;
  double fleet_rate = plan_.limits.bandwidth ? static_cast<double>(plan_.limits.bandwidth) : r->fleet_rate_bps;
  r->lower_bound_s = LowerBoundSeconds(lb, fleet_rate, r->copy_rate_bps);
  r->stopped = stopped_;
}


}  // namespace detail

nlohmann::json FleetRunJson(const FleetRunReport& r) {
  nlohmann::json vms = nlohmann::json::array();
  for (const VmOutcome& o : r.vms)
    vms.push_back({{"host", o.host}, {"vm", o.name}, {"mode", ModeName(o.mode)}, {"result", o.result},
                   {"exit_code", o.exit_code}, {"error", o.error.empty() ? nlohmann::json() : nlohmann::json(o.error)},
                   {"attempts", o.attempts}, {"duration_s", o.duration_s}, {"downtime_s", o.facts.downtime_s},
                   {"bytes", o.facts.bytes}, {"digests", o.facts.digests}});
  return {{"type", "report"},         {"vms", vms},
          {"done", r.done},           {"failed", r.failed},
          {"cancelled", r.cancelled}, {"left", r.left},
          {"bytes", r.bytes},         {"makespan_s", r.makespan_s},
          {"lower_bound_s", r.lower_bound_s},
          {"fleet_rate_bps", r.fleet_rate_bps},       {"copy_rate_bps", r.copy_rate_bps},
          {"makespan_over_lb", r.lower_bound_s > 0 ? nlohmann::json(r.makespan_s / r.lower_bound_s) : nlohmann::json()},
          {"stopped", r.stopped.empty() ? nlohmann::json() : nlohmann::json(r.stopped)}};
}

std::string FleetRunText(const FleetRunReport& r) {
  std::string s = fmt::format("{:<12} {:<20} {:<7} {:<16} {:>9} {:>9} {:>10}  {}\n", "HOST", "VM", "MODE", "RESULT",
                              "DURATION", "DOWNTIME", "DATA", "DIGESTS / ERROR");
  for (const VmOutcome& o : r.vms)
    s += fmt::format("{:<12} {:<20} {:<7} {:<16} {:>9} {:>9} {:>10}  {}\n", o.host, o.name, ModeName(o.mode),
                     o.result, FormatDuration(o.duration_s), fmt::format("{:.1f}s", o.facts.downtime_s),
                     FormatBytes(o.facts.bytes),
                     o.error.empty() ? fmt::format("{}", fmt::join(o.facts.digests, ", ")) : o.error);
  s += fmt::format("fleet: {} done, {} failed, {} cancelled, {} left; {} of data in {}", r.done, r.failed,
                   r.cancelled, r.left, FormatBytes(r.bytes), FormatDuration(r.makespan_s));
  if (r.lower_bound_s > 0)
    s += fmt::format(" (lower bound {}: {:.2f}x)", FormatDuration(r.lower_bound_s), r.makespan_s / r.lower_bound_s);
  s += "\n";
  if (!r.stopped.empty()) s += "new starts stopped: " + r.stopped + "\n";
  return s;
}


Status FleetStatus(const PlanFile& plan, const RunOptions& opts, nlohmann::json* json, std::string* text) {
  std::string dir = FleetDir(opts.state_dir, opts.plan_path);
  auto records = Journal::ReadOnly(dir + "/journal");
  if (!records.ok() || !std::filesystem::exists(dir + "/journal"))
    return Status::Refused(fmt::format("no fleet run of {} is recorded in {}", opts.plan_path, opts.state_dir),
                           "give the --state-dir that fleet run used");
  FleetJournalState js = Fold(*records);
  std::optional<int> holder = RunLock::Holder(dir);
  nlohmann::json vms = nlohmann::json::array();
  *text = holder ? fmt::format("fleet {}: a coordinator runs it (pid {})\n", plan.origin, *holder)
                 : fmt::format("fleet {}: no coordinator runs it ({} run{} recorded)\n", plan.origin, js.runs,
                               js.runs == 1 ? "" : "s");
  for (const auto& [id, v] : js.vms) {
    std::string state = v.open ? (holder ? "running" : "interrupted (a rerun re-attaches or resumes)")
                               : (v.result.empty() ? "waiting" : v.result);
    vms.push_back({{"vm", id}, {"state", state}, {"attempts", v.attempts}, {"exit_code", v.exit_code},
                   {"error", v.error}, {"summary", v.summary}, {"cancel_requested", v.cancel_requested}});
    *text += fmt::format("  {:<32} {:<12} attempts {}{}\n", id, state, v.attempts, v.error.empty() ? "" : ": " + v.error);
  }
  *json = {{"plan", plan.origin}, {"state_dir", dir}, {"coordinator_pid", holder ? nlohmann::json(*holder) : nlohmann::json()},
           {"runs", js.runs}, {"cancelled", js.cancel_all}, {"vms", vms}};
  return Status::Ok();
}

}  // namespace v2r::fleet
