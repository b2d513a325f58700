// The coordinator of `fleet run` and `fleet cancel` (fleet_run.h): shared by
// fleet_run.cc (preparing, scheduling passes, the run), fleet_worker.cc (one
// thread per VM attempt: its ssh session, stream and steering) and
// fleet_report.cc (what it shows and the report). Private to src/fleet.
#pragma once

#include <fnmatch.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fleet/fleet_journal.h"
#include "fleet/fleet_plan.h"
#include "fleet/fleet_run.h"
#include "fleet/remote_vm.h"
#include "fleet/scheduler.h"
#include "fleet/ssh.h"

namespace v2r::fleet::detail {

using Clock = std::chrono::steady_clock;

inline double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Where a VM of the run is, as the coordinator sees it.
enum class VmState { kWaiting, kRunning, kDone, kFailed, kCancelled, kDetached, kKept };

inline const char* StateName(VmState s) {
  switch (s) {
    case VmState::kWaiting: return "waiting";
    case VmState::kRunning: return "running";
    case VmState::kDone: return "done";
    case VmState::kFailed: return "failed";
    case VmState::kCancelled: return "cancelled";
    case VmState::kDetached: return "interrupted";
    case VmState::kKept: return "kept";
  }
  return "?";
}

// How one ssh session of a VM's attempt ended.
enum class Outcome { kEnded, kNotStarted, kDied, kHostLost, kDetached };

struct Vm {
  std::string id;  // host/name
  int host = 0;
  SelectedVm sel;
  SchedVm sched;
  // Below: under Coordinator::mu_.
  VmState state = VmState::kWaiting;
  VmLive live;
  bool reattach = false;       // an attempt of an earlier run may still run on the host
  std::string attempt;         // the attempt's tag
  bool granted = false;        // may pivot now
  bool cancel = false;         // `fleet cancel` asked: stop it and roll it back
  bool rollback_only = false;  // it ended done: cancel rolls it back
  uint64_t budget = 0;         // bytes/s the scheduler gives it; 0: unlimited
  int slots = 1;
  int attempts = 0;
  std::string why, note, error;
  int exit_code = -1;
  Clock::time_point began, ended;
  bool ran = false;            // started (or re-attached) in this run
  bool worker_running = false;
  std::string shown;           // the last line shown for it (changes only)
  Clock::time_point shown_at;
  nlohmann::json earlier;      // an earlier run's summary (kept VMs)
};

struct Host {
  const HostSpec* spec = nullptr;
  std::unique_ptr<SshHost> ssh;
  bool reachable = true;  // under mu_
};

inline std::string NewRunId() {
  return fmt::format("{:x}{:04x}", static_cast<uint64_t>(::time(nullptr)), static_cast<unsigned>(::getpid() & 0xffff));
}

inline int MinuteOfDay() {
  time_t now = ::time(nullptr);
  struct tm tm;
  ::localtime_r(&now, &tm);
  return tm.tm_hour * 60 + tm.tm_min;
}

inline bool Matches(const std::vector<std::string>& names, const std::string& id) {
  std::string vm = id.substr(id.find('/') + 1);
  for (const std::string& n : names)
    if (n == id || n == vm || ::fnmatch(n.c_str(), id.c_str(), 0) == 0 || ::fnmatch(n.c_str(), vm.c_str(), 0) == 0)
      return true;
  return false;
}

inline nlohmann::json FactsJson(const MigrationFacts& f, double duration_s) {
  return {{"bytes", f.bytes}, {"digests", f.digests}, {"downtime_s", f.downtime_s}, {"mode", f.mode},
          {"duration_s", duration_s}};
}

class Coordinator {
 public:
  Coordinator(const PlanFile& plan, const std::string& keyring, const RunOptions& opts,
              const std::atomic<bool>* cancel, FleetJournal* journal)
      : plan_(plan), keyring_(keyring), opts_(opts), cancel_(cancel), journal_(journal), run_id_(NewRunId()) {}
  ~Coordinator();

  Status Open();
  Status PrepareRun(const FleetJournalState& js);
  void PrepareCancel(const FleetJournalState& js, const std::vector<std::string>& names);
  Status Run(FleetRunReport* report);

 private:
  void StartWorker(Vm* v);
  void Worker(Vm* v);
  bool RunAttempts(Vm* v);
  Outcome Attempt(Vm* v, bool reattach);
  Outcome Follow(Vm* v, Session* s, bool reattach);
  void Steer(Vm* v, Session* s, uint64_t* sent_budget, bool* pivot_sent, bool* cancel_sent);
  bool WaitForHost(Vm* v);
  void FinishCancel(Vm* v);
  void End(Vm* v, VmState state, int code, const std::string& error);
  bool Sleep(double seconds);
  void Pass();
  SchedInput Input(std::vector<Vm*>* order);
  void ReadCancels();
  void MarkCancel(Vm* v);
  void Show(bool force);
  void Emit(nlohmann::json event);
  void ShowVm(Vm* v, bool force);
  bool Finished();
  void BuildReport(FleetRunReport* r);
  void CheckCluster();
  void WatchCluster();
  void AddVm(int host, const SelectedVm& sel, const std::string& id);

  const PlanFile& plan_;
  const std::string& keyring_;
  const RunOptions& opts_;
  const std::atomic<bool>* cancel_;
  FleetJournal* journal_;
  std::string run_id_;
  ControlDir control_;
  std::vector<Host> hosts_;
  std::vector<std::unique_ptr<Vm>> vms_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::string stopped_;  // why new starts stopped
  Status journal_error_;  // the coordinator's journal could not be written: the run stops
  bool cancel_mode_ = false;
  std::atomic<bool> finished_{false};  // the run loop ended: WatchCluster returns
  bool cluster_ok_ = true;  // under mu_: WatchCluster's view
  std::string cluster_reason_;
  uint64_t cancel_offset_ = 0;
  Clock::time_point start_ = Clock::now(), fleet_shown_;
  double peak_rate_ = 0, peak_copy_rate_ = 0;
};


}  // namespace v2r::fleet::detail
