// How operations report progress without printing: they announce phases and
// hand over the counters they update; the CLI renders them.
#pragma once

#include <string>

#include "copy/progress.h"

namespace v2r {

class PhaseObserver {
 public:
  virtual ~PhaseObserver() = default;
  // `counters` stays valid until PhaseEnded().
  virtual void PhaseStarted(const std::string& label, const ProgressCounters& counters) = 0;
  virtual void PhaseEnded() = 0;
  // A warning for the operator (stall, fallback, leftover).
  virtual void Warn(const std::string& message) = 0;
};

}  // namespace v2r
