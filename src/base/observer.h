// How operations report what they do without printing: they announce their
// plan, each step as it starts and ends, the phases whose counters they
// update, and warnings. The CLI's observers render them: the terminal
// printer, the event stream (--progress-fd), the log. FanOut feeds several.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"

namespace v2r {

struct Plan;

// One step of a run: "define-secret", "define the libvirt secret", 3 of 9.
// `count` is what the run announced; it grows if a run takes more steps.
struct Step {
  std::string id;
  std::string title;
  int index = 0;
  int count = 0;
};

class Observer {
 public:
  virtual ~Observer() = default;
  // The run has locked its domain's state dir `dir` (migrate, rollback,
  // commit): where its journal and log live.
  virtual void DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) {}
  // The plan a migration follows, once, before it changes anything.
  virtual void PlanReady(const Plan& plan) {}
  virtual void StepStarted(const Step& step) {}
  // `result` is the step's own outcome (the run's final one may differ, e.g.
  // after an undo); `seconds` its wall time.
  virtual void StepEnded(const Step& step, const Status& result, double seconds) {}
  // `counters` stays valid until PhaseEnded().
  virtual void PhaseStarted(const std::string& label, const ProgressCounters& counters) = 0;
  // The same, with the parts that make up the total (e.g. one per disk),
  // each shown beside it; every pointer stays valid until PhaseEnded(). The
  // default shows only the total.
  struct Part {
    std::string label;
    const ProgressCounters* counters;
  };
  virtual void PhaseStarted(const std::string& label, const ProgressCounters& total, const std::vector<Part>& parts) {
    PhaseStarted(label, total);
  }
  virtual void PhaseEnded() = 0;
  // A warning for the operator (stall, fallback, leftover).
  virtual void Warn(const std::string& message) = 0;
  // The orchestrator's control stream (--control-fd): a total copy rate it
  // asked for is now in effect (bytes/s; 0: unlimited). May be called from
  // the stream's reader thread.
  virtual void BandwidthApplied(uint64_t bytes_per_s) {}
  // --pivot-gate: the live copies of `disks` are in sync and the pivot waits
  // for the orchestrator's go.
  virtual void PivotWaiting(const std::vector<std::string>& disks) {}
};

// Feeds every observer added, in order.
class FanOut : public Observer {
 public:
  void Add(Observer* o) {
    if (o) observers_.push_back(o);
  }
  void DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) override {
    for (Observer* o : observers_) o->DomainOpened(name, uuid, dir);
  }
  void PlanReady(const Plan& plan) override {
    for (Observer* o : observers_) o->PlanReady(plan);
  }
  void StepStarted(const Step& step) override {
    for (Observer* o : observers_) o->StepStarted(step);
  }
  void StepEnded(const Step& step, const Status& result, double seconds) override {
    for (Observer* o : observers_) o->StepEnded(step, result, seconds);
  }
  void PhaseStarted(const std::string& label, const ProgressCounters& counters) override {
    for (Observer* o : observers_) o->PhaseStarted(label, counters);
  }
  void PhaseStarted(const std::string& label, const ProgressCounters& total, const std::vector<Part>& parts) override {
    for (Observer* o : observers_) o->PhaseStarted(label, total, parts);
  }
  void PhaseEnded() override {
    for (Observer* o : observers_) o->PhaseEnded();
  }
  void Warn(const std::string& message) override {
    for (Observer* o : observers_) o->Warn(message);
  }
  void BandwidthApplied(uint64_t bytes_per_s) override {
    for (Observer* o : observers_) o->BandwidthApplied(bytes_per_s);
  }
  void PivotWaiting(const std::vector<std::string>& disks) override {
    for (Observer* o : observers_) o->PivotWaiting(disks);
  }

 private:
  std::vector<Observer*> observers_;
};

}  // namespace v2r
