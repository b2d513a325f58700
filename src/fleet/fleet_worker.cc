// fleet run: one VM's attempts on its host (coordinator.h).
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

void Coordinator::StartWorker(Vm* v) {
  v->state = VmState::kRunning;
  v->ran = true;
  v->worker_running = true;
  v->began = Clock::now();
  threads_.emplace_back([this, v] { Worker(v); });
}

void Coordinator::Worker(Vm* v) {
  bool cancelled_after = false;
  if (v->rollback_only) {
    cancelled_after = true;
  } else {
    cancelled_after = RunAttempts(v);
  }
  if (cancelled_after) FinishCancel(v);
  std::lock_guard<std::mutex> lock(mu_);
  v->worker_running = false;
  v->ended = Clock::now();
  cv_.notify_all();
}

// Attempts until the VM's migration ended; true when it is to be rolled back (cancelled).
bool Coordinator::RunAttempts(Vm* v) {
  bool reattach = v->reattach;
  int resumable = 0;
  while (true) {
    Outcome o = Attempt(v, reattach);
    std::unique_lock<std::mutex> lock(mu_);
    if (o == Outcome::kDetached) {
      v->state = VmState::kDetached;
      return false;
    }
    if (o == Outcome::kNotStarted) {
      reattach = false;
      continue;
    }
    if (o == Outcome::kHostLost) {
      hosts_[v->host].reachable = false;
      v->note = "host lost: retrying";
      lock.unlock();
      if (!WaitForHost(v)) return false;
      reattach = true;
      continue;
    }
    int code = o == Outcome::kEnded ? v->live.exit_code.value_or(-1) : 75;
    if (v->cancel) {
      // Left changed on the host (done, stopped resumable, or the source guard's stop): roll back.
      if (code == 0 || code == 75 || code == 6) return true;
      lock.unlock();
      End(v, VmState::kCancelled, code, "");  // refused (nothing changed) or failed (undone there)
      return false;
    }
    if (code == 0) {
      lock.unlock();
      End(v, VmState::kDone, 0, "");
      return false;
    }
    if (code == 75 && ++resumable < opts_.retries && !stopping_) {
      v->note = fmt::format("stopped resumable ({}): resuming in 5 s", v->live.error.empty() ? "exit 75" : v->live.error);
      lock.unlock();
      if (!Sleep(5)) return false;
      reattach = false;
      continue;
    }
    std::string error = !v->live.error.empty() ? v->live.error
                        : o == Outcome::kDied ? "the migration on the host ended without a report"
                                              : fmt::format("virt2rbd migrate exited {}", code);
    lock.unlock();
    End(v, code == 75 ? VmState::kDetached : VmState::kFailed, code, error);
    return false;
  }
}

Outcome Coordinator::Attempt(Vm* v, bool reattach) {
  const HostSpec& spec = *hosts_[v->host].spec;
  std::string path = HostEventsPath(spec, v->sel.name);
  Result<std::unique_ptr<Session>> s = Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    v->live = VmLive{};
    v->note = reattach ? "re-attached" : "";
    if (!reattach) {
      v->attempt = fmt::format("{}-{}", run_id_, ++v->attempts);
      v->granted = false;
    }
  }
  if (!reattach) {
    // Journalled before the session opens; if the journal cannot be written nothing starts and
    // the run stops (resumable: the state dir full or failing).
    Status st = journal_->Append({{"event", "vm-started"}, {"vm", v->id}, {"attempt", v->attempt},
                                  {"host", spec.name}, {"name", v->sel.name}, {"mode", ModeName(v->sel.mode)},
                                  {"stop", StopPolicyName(v->sel.stop)}, {"bytes", v->sched.bytes},
                                  {"disks", v->sched.disks}, {"downtime", v->sched.downtime}});
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (journal_error_.ok()) journal_error_ = st;
      stopping_ = true;
      cv_.notify_all();
      return Outcome::kDetached;
    }
    std::string input = plan_.cluster.keyring.empty() ? "" : keyring_ + std::string(1, '\0');
    s = hosts_[v->host].ssh->OpenShell(
        MigrateScript(RemoteMigrateArgv(plan_, spec, v->sel, v->slots, v->budget), path, v->attempt), input);
  } else {
    s = hosts_[v->host].ssh->OpenShell(ReattachScript(path), "");
  }
  if (!s.ok()) return Outcome::kHostLost;
  return Follow(v, s->get(), reattach);
}

// Reads the attempt's stream until it ends, steering it meanwhile.
Outcome Coordinator::Follow(Vm* v, Session* s, bool reattach) {
  uint64_t sent_budget = v->budget;
  bool pivot_sent = false, cancel_sent = false, journalled_pid = false;
  while (!s->ended()) {
    std::vector<std::string> lines = s->Poll(std::chrono::milliseconds(200));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const std::string& line : lines) {
        if (line.find("\"type\":\"none\"") != std::string::npos && reattach) return Outcome::kNotStarted;
        ApplyEventLine(line, &v->live);
        if (reattach && v->live.shell_pid && v->live.attempt != v->attempt) return Outcome::kNotStarted;
      }
      peak_copy_rate_ = std::max(peak_copy_rate_, v->live.rate_bps);
    }
    if (!reattach && !journalled_pid && v->live.remote_pid) {
      journalled_pid = true;
      (void)journal_->Append({{"event", "vm-remote"}, {"vm", v->id}, {"attempt", v->attempt},
                              {"shell_pid", v->live.shell_pid}, {"pid", v->live.remote_pid}});
    }
    if (stopping_) return Outcome::kDetached;  // the session ends; the migration goes on on its host
    Steer(v, s, reattach ? nullptr : &sent_budget, &pivot_sent, &cancel_sent);
    if (!lines.empty()) cv_.notify_all();
  }
  int code = s->Wait();
  std::lock_guard<std::mutex> lock(mu_);
  if (v->live.exit_code) return Outcome::kEnded;
  if (code == 255) return Outcome::kHostLost;
  if (reattach && !v->live.shell_pid) return Outcome::kNotStarted;  // an empty file: the attempt never ran
  return Outcome::kDied;
}

// Control lines to the migration (bandwidth share, pivot permission) and a cancel's SIGINT.
void Coordinator::Steer(Vm* v, Session* s, uint64_t* sent_budget, bool* pivot_sent, bool* cancel_sent) {
  uint64_t budget;
  bool grant, cancel;
  int pid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    budget = v->budget;
    grant = v->granted && v->live.pivot_waiting;
    cancel = v->cancel;
    pid = v->live.remote_pid;
  }
  if (sent_budget && budget != *sent_budget) {
    s->Send(fmt::format("{{\"bandwidth\":{}}}\n", budget));
    *sent_budget = budget;
  }
  if (grant && !*pivot_sent && !cancel) *pivot_sent = s->Send("{\"pivot\":\"go\"}\n");
  if (cancel && !*cancel_sent && pid > 0) {
    // SIGINT: the migration stops resumable (exit 75), journal current; then it is rolled back.
    auto r = hosts_[v->host].ssh->Run({"kill", "-INT", std::to_string(pid)}, "", std::chrono::seconds(30));
    *cancel_sent = r.ok();
  }
}

bool Coordinator::WaitForHost(Vm* v) {
  Host& h = hosts_[v->host];
  while (!stopping_) {
    auto r = h.ssh->Run({"true"}, "", std::chrono::seconds(plan_.transport.connect_timeout_s + 10));
    if (r.ok() && r->exit_code == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      h.reachable = true;
      v->note = "host back: re-attaching";
      cv_.notify_all();
      return true;
    }
    if (!Sleep(3)) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  v->state = VmState::kDetached;
  return false;
}

void Coordinator::FinishCancel(Vm* v) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    v->note = "cancelled: rolling back on its host";
    cv_.notify_all();
  }
  const HostSpec& spec = *hosts_[v->host].spec;
  auto r = hosts_[v->host].ssh->Run(RemoteRollbackArgv(plan_, spec, v->sel), keyring_, std::chrono::hours(6));
  if (r.ok() && r->exit_code == 0) {
    End(v, VmState::kCancelled, 0, "");
    return;
  }
  std::string why = r.ok() ? fmt::format("exit {}: {}", r->exit_code, r->err.substr(0, r->err.find('\n')))
                           : r.status().message();
  End(v, VmState::kFailed, r.ok() ? r->exit_code : -1, "cancel: rollback on the host failed: " + why);
}

void Coordinator::End(Vm* v, VmState state, int code, const std::string& error) {
  MigrationFacts facts;
  double duration;
  {
    std::lock_guard<std::mutex> lock(mu_);
    facts = SummaryFacts(v->live);
    duration = Since(v->began);
  }
  const char* result = state == VmState::kDetached ? "interrupted" : StateName(state);
  (void)journal_->Append({{"event", "vm-ended"}, {"vm", v->id}, {"attempt", v->attempt}, {"result", result},
                          {"exit_code", code}, {"error", error}, {"summary", FactsJson(facts, duration)}});
  std::lock_guard<std::mutex> lock(mu_);
  v->state = state;
  v->exit_code = code;
  v->error = error;
  v->note.clear();
  cv_.notify_all();
}

bool Coordinator::Sleep(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stopping_.load(); });
  return !stopping_;
}


}  // namespace detail

}  // namespace v2r::fleet
