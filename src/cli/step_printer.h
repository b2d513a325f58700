// The operator's view of a run on the terminal: the plan once, before
// anything happens (stdout, text mode), and a line per step as it happens,
// with its timing (stderr): "  [3/9] define the libvirt secret ... ok (0.2 s)".
// A step's line stays open until it ends; progress or a warning in between
// closes it, and the end then repeats it whole. Nothing when quiet.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "base/observer.h"
#include "cli/common.h"

namespace v2r {

class StepPrinter : public Observer {
 public:
  explicit StepPrinter(const OutputOptions& out, FILE* steps = stderr, FILE* plan = stdout)
      : out_(out), steps_(steps), plan_(plan) {}

  void PlanReady(const Plan& plan) override;
  void StepStarted(const Step& step) override;
  void StepEnded(const Step& step, const Status& result, double seconds) override;
  void PhaseStarted(const std::string& label, const ProgressCounters& counters) override { Interrupt(); }
  void PhaseEnded() override {}
  // Warnings may come from the copy's threads.
  void Warn(const std::string& message) override { Interrupt(); }
  void BandwidthApplied(uint64_t) override { Interrupt(); }
  void PivotWaiting(const std::vector<std::string>&) override { Interrupt(); }

 private:
  // Other output comes: end the open step line.
  void Interrupt();
  void InterruptLocked();
  std::mutex mu_;
  const OutputOptions& out_;
  FILE* steps_;
  FILE* plan_;
  bool open_ = false;  // a step's line is printed without its end
};

}  // namespace v2r
