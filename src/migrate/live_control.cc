#include "migrate/live_control.h"

#include <fmt/format.h>

#include <chrono>
#include <string>

namespace v2r {

std::optional<uint64_t> MirrorControl::Asked() {
  return control() ? control()->BandwidthChange(&seen_) : std::nullopt;
}

Status MirrorControl::ApplyRate(const std::vector<MirrorDisk*>& disks) {
  std::optional<uint64_t> total = Asked();
  if (!total || disks.empty()) return Status::Ok();
  SplitBandwidth(*total, disks);
  Observer* obs = r_.observer();
  for (const MirrorDisk* m : disks) {
    Status st = r_.s.domain->BlockJobSetSpeed(m->target, m->bandwidth);
    if (!st.ok()) {
      if (obs) obs->Warn(fmt::format("the new copy rate was not applied: {}", st.message()));
      return Status::Ok();
    }
  }
  if (obs) obs->BandwidthApplied(*total);
  return Status::Ok();
}

// Polls the go (5 times a second), the cancel flag and new rates; every
// second, that the copies still run: a copy qemu stopped would otherwise
// fail only at the pivot, however long the wait.
Status MirrorControl::WaitForGo(const std::vector<MirrorDisk*>& disks) {
  RunControl* c = control();
  if (!c) return Status::Usage("--pivot-gate waits for a go on the control stream: it needs --control-fd");
  std::vector<std::string> targets;
  for (const MirrorDisk* m : disks) targets.push_back(m->target);
  Observer* obs = r_.observer();
  if (obs) obs->PivotWaiting(targets);
  auto checked = std::chrono::steady_clock::now();
  while (true) {
    if (r_.Cancelled()) return Status::Interrupted("interrupted while the pivot waited for the orchestrator's go");
    RunControl::Gate g = c->WaitGo(std::chrono::milliseconds(200));
    if (g == RunControl::Gate::kGo) return Status::Ok();
    if (g == RunControl::Gate::kClosed) {
      if (obs) obs->Warn("the control stream ended while the pivot waited for go: pivoting now");
      return Status::Ok();
    }
    V2R_RETURN_IF_ERROR(ApplyRate(disks));
    if (std::chrono::steady_clock::now() - checked >= std::chrono::seconds(1)) {
      V2R_RETURN_IF_ERROR(CopiesRunning(*r_.s.domain, disks));
      checked = std::chrono::steady_clock::now();
    }
  }
}

}  // namespace v2r
