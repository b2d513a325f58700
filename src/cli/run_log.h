// The readable log of a run (migrate, rollback, commit): timestamped lines
// saying what it did — the plan, each step with its timing, the phases with
// their bytes, warnings, errors, the result. Written to the domain's state
// dir beside its journal (STATE/domains/<uuid>/log, 0600, appended), to
// --log-file, and to syslog where /dev/log exists. Never a secret: it gets
// only what the operator's terminal gets.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "base/observer.h"
#include "base/status.h"

namespace v2r {

class RunLog : public Observer {
 public:
  RunLog(std::string command, std::string domain, bool use_syslog);
  ~RunLog() override;
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // Also writes to `path` (created 0600 when missing, appended); refused
  // when it cannot be opened.
  Status AddFile(const std::string& path);
  // The last line: the run's result and exit code. A run that recorded
  // nothing leaves no trace in the state dir (see ~Runner): the log it
  // created there goes too.
  void Finished(const Status& result, int exit_code, const std::string& message);

  // Opens DIR/log (0600) and writes there what was logged so far.
  void DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) override;
  void PlanReady(const Plan& plan) override;
  void StepStarted(const Step& step) override;
  void StepEnded(const Step& step, const Status& result, double seconds) override;
  void PhaseStarted(const std::string& label, const ProgressCounters& counters) override;
  void PhaseEnded() override;
  void Warn(const std::string& message) override;
  void BandwidthApplied(uint64_t bytes_per_s) override;
  void PivotWaiting(const std::vector<std::string>& disks) override;

  // "2025-01-31T12:34:56.789Z migrate web1: TEXT\n"
  std::string Line(const std::string& text) const;

 private:
  enum class Level { kInfo, kWarning, kError };
  void Write(const std::string& text, Level level = Level::kInfo, bool to_syslog = true);
  static int OpenAppend(const std::string& path);

  const std::string command_;
  const std::string domain_;
  const bool syslog_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::string> early_;  // lines before the state dir's log opened
  bool dir_log_open_ = false;
  std::string dir_;           // the domain's state dir, once opened
  bool dir_log_created_ = false;
  void DropDirLogIfNoJournal();
  std::string phase_;
  const ProgressCounters* counters_ = nullptr;
  std::chrono::steady_clock::time_point phase_began_;
};

}  // namespace v2r
