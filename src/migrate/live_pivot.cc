#include "migrate/live_pivot.h"

#include <chrono>
#include <thread>

#include "base/fault.h"
#include "base/parallel.h"

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count() * 1000; }
double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count() * 1000;
}

// Creates the snapshots of the pivoted images together, one thread each.
void SnapshotPivoted(const std::vector<Image*>& images, const std::string& snap, PausedPivot* out) {
  // Each disk's outcome is kept in out->disks (the pause goes on regardless).
  (void)AllAtOnce(images.size(), [&](size_t i) {
    if (!out->disks[i].pivoted) return Status::Ok();
    const auto t = Clock::now();
    out->disks[i].snap = images[i]->CreateSnapshotSkipQuiesce(snap);
    out->disks[i].snap_ms = MsSince(t);
    return Status::Ok();
  });
}

}  // namespace

Result<PausedPivot> PauseAndPivot(Domain& dom, const std::vector<MirrorDisk*>& disks,
                                  const std::vector<Image*>& images, const std::string& snap, double timeout_s) {
  PausedPivot out;
  out.disks.resize(disks.size());
  const auto t0 = Clock::now();
  Status suspended = dom.Suspend();
  if (!suspended.ok()) return suspended;
  const auto t_pivots = Clock::now();
  out.suspend_ms = MsBetween(t0, t_pivots);
  for (size_t i = 0; i < disks.size(); ++i) {
    out.st = FaultPoint("pivot:" + disks[i]->target);
    if (!out.st.ok()) break;
    auto t = PivotOne(dom, disks[i]->target, timeout_s);
    if (!t.ok()) {
      out.st = t.status();
      break;
    }
    out.disks[i] = PausedPivot::Disk{true, t->ms, t->at_ms};
  }
  const auto t_pivoted = Clock::now();
  out.pivots_ms = MsBetween(t_pivots, t_pivoted);
  SnapshotPivoted(images, snap, &out);
  out.snapshots_ms = MsSince(t_pivoted);

  const auto t_resume = Clock::now();
  out.resumed = dom.Resume();
  out.resume_ms = MsSince(t_resume);
  out.paused_ms = MsSince(t0);
  for (const PausedPivot::Disk& d : out.disks)
    if (d.pivoted && !d.snap.ok() && out.st.ok()) out.st = d.snap;
  return out;
}

}  // namespace v2r
