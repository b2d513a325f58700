// How operations report progress without printing: they announce phases and
// hand over the counters they update; the CLI renders them.
#pragma once

#include <string>
#include <vector>

#include "copy/progress.h"

namespace v2r {

class PhaseObserver {
 public:
  virtual ~PhaseObserver() = default;
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
};

}  // namespace v2r
