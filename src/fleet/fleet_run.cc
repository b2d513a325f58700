#include "fleet/fleet_run.h"

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

Coordinator::~Coordinator() {
  stopping_ = true;
  cv_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
}

Status Coordinator::Open() {
  if (control_.path().empty()) return Status::FromErrno(Kind::kFailed, "creating a directory in /tmp", errno);
  for (const HostSpec& spec : plan_.hosts) {
    SshSettings settings;
    settings.command = plan_.transport.ssh_command;
    settings.connect_timeout_s = plan_.transport.connect_timeout_s;
    settings.keepalive_s = plan_.transport.keepalive_s;
    settings.control_dir = control_.path();
    Host h;
    h.spec = &spec;
    h.ssh = std::make_unique<SshHost>(SshTarget{spec.ssh, spec.port, spec.identity}, settings);
    hosts_.push_back(std::move(h));
  }
  uint64_t size = 0;
  (void)ReadCancelRequests(journal_->dir(), &size);  // requests before this run were carried out then
  cancel_offset_ = size;
  return Status::Ok();
}

void Coordinator::AddVm(int host, const SelectedVm& sel, const std::string& id) {
  auto v = std::make_unique<Vm>();
  v->id = id;
  v->host = host;
  v->sel = sel;
  v->sched.id = id;
  v->sched.host = host;
  v->sched.mode = sel.mode;
  v->sched.priority = sel.priority;
  v->sched.wave = sel.wave;
  v->sched.window = sel.window;
  vms_.push_back(std::move(v));
}

// Facts the scheduler needs, from the VM's plan or from the journal's record of its attempt.
void SetSchedFacts(const nlohmann::json& plan, Vm* v) {
  v->sched.bytes = JsonField<uint64_t>(plan, "known_bytes", 0);
  if (v->sched.bytes == 0) v->sched.bytes = JsonField<uint64_t>(plan, "upper_bytes", 0);
  int disks = 0;
  if (plan.contains("disks") && plan["disks"].is_array())
    for (const auto& d : plan["disks"])
      if (JsonField<std::string>(d, "decision", "") == "moves") ++disks;
  v->sched.disks = std::max(1, disks);
  v->sched.downtime = v->sel.mode == Mode::kOffline && JsonField<std::string>(plan, "state", "") == "running";
}

void SetSchedFactsFromJournal(const nlohmann::json& started, Vm* v) {
  v->sched.bytes = JsonField<uint64_t>(started, "bytes", 0);
  v->sched.disks = std::max(1, JsonField<int>(started, "disks", 1));
  v->sched.downtime = JsonField<bool>(started, "downtime", false);
}

std::string RefusalText(const FleetPlanReport& r) {
  std::string s = fmt::format("fleet run refused: {} reason{}", r.reasons.size(), r.reasons.size() == 1 ? "" : "s");
  for (const std::string& why : r.reasons) s += "\n  - " + why;
  return s;
}

Status Coordinator::PrepareRun(const FleetJournalState& js) {
  if (js.cancel_all && opts_.only.empty())
    return Status::Refused("this fleet was cancelled (fleet cancel FILE): nothing new starts",
                           "run some VMs again with fleet run FILE --only VM...");
  auto keep = [&](const std::string& id) {
    auto it = js.vms.find(id);
    bool known = it != js.vms.end();
    // Re-attached, or resumed (its migration stopped resumable there: its plan would see the
    // images it made): not planned again.
    if (known && (it->second.open || it->second.result == "interrupted")) return true;
    if (!opts_.only.empty()) return !Matches(opts_.only, id);
    return (known && !it->second.result.empty() && it->second.result != "interrupted") || js.cancel_all;
  };
  FleetPlanReport report = PlanFleet(plan_, keyring_, control_.path(), opts_.parallel, cancel_, keep);
  if (cancel_ && cancel_->load()) return Status::Interrupted("fleet run interrupted while planning");
  if (!report.would_proceed())
    return Status::Refused(RefusalText(report), "`virt2rbd fleet plan FILE` shows the whole dry run");
  for (size_t h = 0; h < report.hosts.size(); ++h)
    for (const VmFacts& f : report.hosts[h].vms) {
      std::string id = report.hosts[h].name + "/" + f.vm.name;
      auto it = js.vms.find(id);
      const VmJournalState* j = it == js.vms.end() ? nullptr : &it->second;
      if (!f.skipped && !f.vm.named && f.plan.is_object()) {
        bool moves = false;
        for (const auto& d : f.plan.value("disks", nlohmann::json::array()))
          moves |= JsonField<std::string>(d, "decision", "") == "moves";
        if (!moves) continue;  // nothing to move (fleet plan's note)
      }
      AddVm(static_cast<int>(h), f.vm, id);
      Vm* v = vms_.back().get();
      v->attempts = j ? j->attempts : 0;
      if (f.skipped && j && j->open) {
        v->reattach = true;
        v->attempt = j->attempt;
        SetSchedFactsFromJournal(j->started, v);
      } else if (f.skipped && j && j->result == "interrupted" && (opts_.only.empty() || Matches(opts_.only, id))) {
        SetSchedFactsFromJournal(j->started, v);  // waits its turn; `migrate` resumes there
        (void)journal_->Append({{"event", "vm-retry"}, {"vm", id}});
      } else if (f.skipped) {
        v->state = VmState::kKept;
        v->earlier = j ? nlohmann::json{{"result", j->result}, {"exit_code", j->exit_code}, {"error", j->error},
                                        {"summary", j->summary}}
                       : nlohmann::json{{"result", "not started"}};
      } else {
        SetSchedFacts(f.plan, v);
        if (j && !j->result.empty()) (void)journal_->Append({{"event", "vm-retry"}, {"vm", id}});
      }
    }
  if (!opts_.only.empty() && js.cancel_all) (void)journal_->Append({{"event", "fleet-retry"}});
  return Status::Ok();
}

void Coordinator::PrepareCancel(const FleetJournalState& js, const std::vector<std::string>& names) {
  cancel_mode_ = true;
  for (const auto& [id, j] : js.vms) {
    if (!names.empty() && !Matches(names, id)) continue;
    std::string host = JsonField<std::string>(j.started, "host", id.substr(0, id.find('/')));
    int hi = -1;
    for (size_t i = 0; i < plan_.hosts.size(); ++i)
      if (plan_.hosts[i].name == host) hi = static_cast<int>(i);
    if (hi < 0) continue;
    SelectedVm sel;
    sel.host = host;
    sel.name = JsonField<std::string>(j.started, "name", id.substr(id.find('/') + 1));
    sel.mode = JsonField<std::string>(j.started, "mode", "offline") == "live" ? Mode::kLive : Mode::kOffline;
    std::string stop = JsonField<std::string>(j.started, "stop", "");
    for (StopPolicy p : {StopPolicy::kShutdown, StopPolicy::kForceOff, StopPolicy::kShutdownThenForceOff})
      if (stop == StopPolicyName(p)) sel.stop = p;
    AddVm(hi, sel, id);
    Vm* v = vms_.back().get();
    v->attempts = j.attempts;
    v->attempt = j.attempt;
    v->cancel = true;
    if (j.open) {
      v->reattach = true;
    } else if (j.result == "done" || j.result == "interrupted") {
      v->rollback_only = true;
    } else {
      v->state = VmState::kKept;  // failed (undone on its host already), cancelled, or never started
      v->earlier = {{"result", j.result.empty() ? "not started" : j.result}, {"exit_code", j.exit_code},
                    {"error", j.error}, {"summary", j.summary}};
    }
  }
}


VmPhase PhaseOf(const Vm& v) {
  switch (v.state) {
    case VmState::kWaiting: return VmPhase::kWaiting;
    case VmState::kDone: return VmPhase::kDone;
    case VmState::kFailed: return VmPhase::kFailed;
    case VmState::kCancelled: return VmPhase::kCancelled;
    default: break;
  }
  if (v.granted) return VmPhase::kPivoting;
  if (v.live.pivot_waiting) return VmPhase::kPivotWaiting;
  return VmPhase::kRunning;
}

SchedInput Coordinator::Input(std::vector<Vm*>* order) {
  SchedInput in;
  in.limits.slots = plan_.limits.slots;
  in.limits.cutovers = plan_.limits.cutovers;
  in.limits.bandwidth = plan_.limits.bandwidth;
  FailureLimit limit = plan_.limits.max_failures;
  if (!opts_.max_failures.empty()) {
    auto parsed = ParseFailureLimit(opts_.max_failures);
    if (parsed.ok()) limit = *parsed;
  }
  for (const Host& h : hosts_) {
    SchedHost sh;
    sh.name = h.spec->name;
    sh.slots = h.spec->slots.value_or(plan_.limits.host_slots);
    sh.bandwidth = h.spec->bandwidth.value_or(0);
    sh.reachable = h.reachable;
    in.hosts.push_back(sh);
  }
  for (auto& v : vms_) {
    if (v->state == VmState::kKept || v->state == VmState::kDetached) continue;
    SchedVm sv = v->sched;
    sv.phase = PhaseOf(*v);
    in.vms.push_back(sv);
    order->push_back(v.get());
  }
  in.limits.max_failures = limit.For(in.vms.size());
  in.cluster_ok = cluster_ok_;
  in.cluster_reason = cluster_reason_;
  in.minute_of_day = MinuteOfDay();
  return in;
}

// One scheduling pass (under mu_): starts, pivots, bandwidth shares, reasons.
void Coordinator::Pass() {
  std::vector<Vm*> order;
  SchedInput in = Input(&order);
  for (Vm* v : order)  // past its gate (the stream moved on): the pivot happened, its cutover is free
    if (v->granted && !v->live.pivot_waiting) v->granted = false;
  SchedDecision d = Schedule(in);
  if (d.stopped_starting && stopped_.empty())
    stopped_ = fmt::format("max failures reached ({} failed)", std::count_if(order.begin(), order.end(), [](Vm* v) {
                             return v->state == VmState::kFailed;
                           }));
  for (int i : d.pivot) order[static_cast<size_t>(i)]->granted = true;
  for (size_t i = 0; i < order.size(); ++i) {
    order[i]->why = i < d.why.size() ? d.why[i] : "";
    if (i < d.bandwidth.size() && order[i]->state == VmState::kRunning) order[i]->budget = d.bandwidth[i];
  }
  if (stopping_ || cancel_mode_) return;
  for (int i : d.start) {
    Vm* v = order[static_cast<size_t>(i)];
    v->slots = std::max(1, d.slots[static_cast<size_t>(i)]);
    v->budget = d.bandwidth[static_cast<size_t>(i)];
    v->why.clear();
    StartWorker(v);
  }
}

void Coordinator::MarkCancel(Vm* v) {
  if (v->cancel) return;
  v->cancel = true;
  (void)journal_->Append({{"event", "vm-cancel-requested"}, {"vm", v->id}});
  if (v->state == VmState::kWaiting) {
    v->state = VmState::kCancelled;
    (void)journal_->Append({{"event", "vm-ended"}, {"vm", v->id}, {"attempt", v->attempt}, {"result", "cancelled"},
                            {"exit_code", 0}, {"error", ""}});
  } else if (v->state == VmState::kDone && !v->worker_running) {
    v->rollback_only = true;
    StartWorker(v);
  }
}

// `fleet cancel` requests of another process (under mu_).
void Coordinator::ReadCancels() {
  for (const std::string& name : ReadCancelRequests(journal_->dir(), &cancel_offset_)) {
    if (name == "*") (void)journal_->Append({{"event", "fleet-cancelled"}});
    for (auto& v : vms_)
      if (v->state != VmState::kKept && (name == "*" || Matches({name}, v->id))) MarkCancel(v.get());
    if (name == "*" && stopped_.empty()) stopped_ = "the fleet was cancelled";
    if (name == "*") cancel_mode_ = true;  // nothing new starts
  }
}

bool Coordinator::Finished() {
  bool waiting = false;
  for (auto& v : vms_) {
    if (v->worker_running) return false;
    if (v->state == VmState::kWaiting) waiting = true;
  }
  return !waiting || !stopped_.empty() || cancel_mode_;
}

// `ceph health` on the coordinator (the plan's conf and keyring path: the
// key stays in its file): a cluster near full or in HEALTH_ERR pauses new
// starts. Without the ceph CLI or a conf that reaches it, nothing pauses.
void Coordinator::CheckCluster() {
  const ClusterSpec& c = plan_.cluster;
  std::vector<std::string> argv = {"ceph"};
  if (!c.conf.empty()) argv.insert(argv.end(), {"--conf", c.conf});
  if (!c.cluster.empty()) argv.insert(argv.end(), {"--cluster", c.cluster});
  if (!c.id.empty()) argv.insert(argv.end(), {"--id", c.id});
  if (!c.keyring.empty()) argv.insert(argv.end(), {"--keyring", c.keyring});
  argv.insert(argv.end(), {"--connect-timeout", "10", "health", "--format", "json"});
  auto r = RunProgram(argv, "", std::chrono::seconds(30));
  std::string reason;
  if (r.ok() && r->exit_code == 0) {
    nlohmann::json health = nlohmann::json::parse(r->out, nullptr, /*allow_exceptions=*/false);
    if (!health.is_discarded()) reason = ClusterPauseReason(health);
  }
  std::lock_guard<std::mutex> lock(mu_);
  cluster_ok_ = reason.empty();
  cluster_reason_ = reason;
}

// Every 10 s until the run ends.
void Coordinator::WatchCluster() {
  while (!stopping_ && !finished_) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stopping_ || finished_; });
    if (stopping_ || finished_) return;
    lock.unlock();
    CheckCluster();
  }
}

Status Coordinator::Run(FleetRunReport* report) {
  start_ = Clock::now();
  V2R_RETURN_IF_ERROR(journal_->Append({{"event", "run-started"}, {"run", run_id_}, {"pid", ::getpid()},
                                        {"mode", cancel_mode_ ? "cancel" : "run"}}));
  if (!cancel_mode_) {
    CheckCluster();  // before the first start
    threads_.emplace_back([this] { WatchCluster(); });
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (auto& v : vms_)
      if (v->reattach || v->rollback_only) StartWorker(v.get());
    while (true) {
      if (cancel_ && cancel_->load()) stopping_ = true;
      ReadCancels();
      Pass();
      Show(false);
      if (Finished() || (stopping_ && std::none_of(vms_.begin(), vms_.end(), [](auto& v) { return v->worker_running; })))
        break;
      cv_.wait_for(lock, std::chrono::duration<double>(opts_.tick_s));
    }
    Show(true);
    finished_ = true;
    cv_.notify_all();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  BuildReport(report);
  (void)journal_->Append({{"event", "run-ended"}, {"run", run_id_}, {"done", report->done},
                          {"failed", report->failed}, {"cancelled", report->cancelled}, {"left", report->left}});
  if (!journal_error_.ok()) return journal_error_.Wrap("fleet run stopped: its journal");
  if (stopping_) {
    int detached = 0;
    for (const VmOutcome& o : report->vms) detached += o.result == "interrupted";
    int waiting = report->left - detached;
    return Status::Interrupted(
        fmt::format("fleet run interrupted: {} VM{} still migrating on {} host{}, {} not started", detached,
                    detached == 1 ? "" : "s", detached == 1 ? "its" : "their", detached == 1 ? "" : "s", waiting),
        "rerun the same fleet run: it re-attaches to what runs and starts the rest; or fleet cancel FILE");
  }
  if (report->failed > 0)
    return Status::Failed(fmt::format("{} of {} VMs failed{}", report->failed, report->vms.size(),
                                      stopped_.empty() ? "" : " (" + stopped_ + ")"),
                          "the report names each failure; each failed VM was undone on its host. Fix, then "
                          "fleet run FILE --only VM...");
  if (report->left > 0)
    return Status::Interrupted(fmt::format("{} VM{} not finished{}", report->left, report->left == 1 ? "" : "s",
                                           stopped_.empty() ? "" : " (" + stopped_ + ")"),
                               "rerun the same fleet run to go on");
  return Status::Ok();
}


}  // namespace detail

std::string ClusterPauseReason(const nlohmann::json& health) {
  if (!health.is_object()) return "";
  std::vector<std::string> full;
  if (health.contains("checks") && health["checks"].is_object())
    for (const char* check : {"OSD_FULL", "POOL_FULL", "OSD_BACKFILLFULL", "OSD_NEARFULL", "POOL_NEARFULL"})
      if (health["checks"].contains(check)) full.push_back(check);
  std::string status = JsonField<std::string>(health, "status", "");
  if (!full.empty()) return fmt::format("cluster {} ({})", status, fmt::join(full, ", "));
  if (status == "HEALTH_ERR") return "cluster HEALTH_ERR";
  return "";
}

using detail::Coordinator;

Status RunFleet(const PlanFile& plan, const std::string& keyring, const RunOptions& opts,
                const std::atomic<bool>* cancel, FleetRunReport* report) {
  std::string dir = FleetDir(opts.state_dir, opts.plan_path);
  auto journal = FleetJournal::Open(dir);
  if (!journal.ok()) return journal.status();
  auto lock = RunLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  Coordinator c(plan, keyring, opts, cancel, journal->get());
  V2R_RETURN_IF_ERROR(c.Open());
  V2R_RETURN_IF_ERROR(c.PrepareRun((*journal)->State()));
  return c.Run(report);
}

Status CancelFleet(const PlanFile& plan, const std::string& keyring, const RunOptions& opts,
                   const std::vector<std::string>& vms, const std::atomic<bool>* cancel, FleetRunReport* report) {
  std::string dir = FleetDir(opts.state_dir, opts.plan_path);
  if (!std::filesystem::exists(dir + "/journal"))
    return Status::Refused(fmt::format("no fleet run of {} is recorded in {}", opts.plan_path, opts.state_dir),
                           "give the --state-dir that fleet run used");
  if (auto pid = RunLock::Holder(dir)) {
    V2R_RETURN_IF_ERROR(RequestCancel(dir, vms));
    report->note = fmt::format("asked the running fleet run (pid {}) to cancel {}; fleet status FILE follows it", *pid,
                               vms.empty() ? "every VM" : fmt::format("{}", fmt::join(vms, ", ")));
    return Status::Ok();
  }
  auto journal = FleetJournal::Open(dir);
  if (!journal.ok()) return journal.status();
  auto lock = RunLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  if (vms.empty()) V2R_RETURN_IF_ERROR((*journal)->Append({{"event", "fleet-cancelled"}}));
  Coordinator c(plan, keyring, opts, cancel, journal->get());
  V2R_RETURN_IF_ERROR(c.Open());
  c.PrepareCancel((*journal)->State(), vms);
  return c.Run(report);
}

}  // namespace v2r::fleet
