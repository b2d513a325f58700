// The orchestrator's control stream (migrate/run_control.h) over a live
// migration's block copies: a new total rate is split across the disks still
// mirroring and applied to their jobs (BlockJobSetSpeed); --pivot-gate holds
// the pivot until the go. Everything runs on the run's thread, polled from
// its loops (WaitInSync's tick, WaitForGo). Without a control stream every
// call does nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "migrate/live_mirror.h"
#include "migrate/run_control.h"
#include "migrate/runner.h"

namespace v2r {

class MirrorControl {
 public:
  // `r` must outlive this.
  explicit MirrorControl(Runner& r) : r_(r) {}

  // The rate asked for since the last look (before the copies start: the
  // one to start them with). The caller announces it once applied.
  std::optional<uint64_t> Asked();
  // A rate asked for since the last look, split across `disks` (their
  // `bandwidth` set) and applied to their jobs, then announced
  // (Observer::BandwidthApplied). A job that refuses is a warning: the copy
  // goes on at its old rate. Never fails.
  Status ApplyRate(const std::vector<MirrorDisk*>& disks);
  // Announces the wait (Observer::PivotWaiting) and waits for the go, the
  // copies of `disks` mirroring meanwhile and new rates applied. Ok on the
  // go, and when the stream ends without one (a warning: the orchestrator
  // left, a migration on its own would pivot). kInterrupted when cancelled;
  // kFailed when a copy ended meanwhile.
  Status WaitForGo(const std::vector<MirrorDisk*>& disks);

 private:
  RunControl* control() const { return r_.context().control; }
  Runner& r_;
  uint64_t seen_ = 0;  // RunControl::BandwidthChange's counter
};

}  // namespace v2r
