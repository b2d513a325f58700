// The control stream (--control-fd) steering migrations over the fakes: a
// new rate reaches the offline copy's limiter and the live copies' jobs; a
// gated pivot waits for the go, proceeds when the stream ends, and stops
// resumable (undone, as a Ctrl-C before the pivot) when cancelled.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "fake_world.h"
#include "migrate/migrate.h"
#include "migrate/run_control.h"

namespace v2r::fake {
namespace {

using Clock = std::chrono::steady_clock;

// Records the control events and warnings; runs a hook at phase starts and
// at the gate (from the run's thread).
class ControlEvents : public Observer {
 public:
  std::function<void(const std::string&)> on_phase;
  std::function<void()> on_gate;
  void PhaseStarted(const std::string& label, const ProgressCounters&) override {
    if (on_phase) on_phase(label);
  }
  void PhaseEnded() override {}
  void Warn(const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu);
    warnings.push_back(message);
  }
  void BandwidthApplied(uint64_t b) override {
    std::lock_guard<std::mutex> lock(mu);
    rates.push_back(b);
  }
  void PivotWaiting(const std::vector<std::string>& disks) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      waiting = disks;
    }
    if (on_gate) on_gate();
  }
  std::mutex mu;
  std::vector<uint64_t> rates;
  std::vector<std::string> warnings, waiting;
};

MigrateOptions LiveOptions(const FakeWorld& w) {
  MigrateOptions o = w.Options();
  o.live = true;
  o.shutdown = false;
  return o;
}

TEST(ControlOverFakes, OfflineCopySpeedsUpWhenTheRateIsLifted) {
  FakeWorld w;
  MigrateOptions o = w.Options();
  o.bandwidth = 64 << 10;  // 16 MiB of disks at 64 KiB/s: minutes
  RunControl control;
  ControlEvents obs;
  std::thread lift;
  obs.on_phase = [&](const std::string& label) {
    if (label == "copy") lift = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        control.SetBandwidth(0);
      });
  };
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  auto t0 = Clock::now();
  auto report = RunMigrate(o, ctx);
  if (lift.joinable()) lift.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 20.0);
  EXPECT_EQ(obs.rates, std::vector<uint64_t>{0});
}

TEST(ControlOverFakes, OfflineCopyStartsAtARateAskedBefore) {
  FakeWorld w;
  RunControl control;
  control.SetBandwidth(1 << 30);
  ControlEvents obs;
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  auto report = RunMigrate(w.Options(), ctx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(obs.rates, std::vector<uint64_t>{1 << 30});
}

TEST(ControlOverFakes, LiveCopiesGetTheNewRateSplitAcrossThem) {
  FakeWorld w;
  w.virt.SetCopyPolls(4);
  MigrateOptions o = LiveOptions(w);
  o.bandwidth = 10 << 20;
  RunControl control;
  int polls = 0;
  w.virt.SetBlockJobPollHook([&](const std::string&, const std::string&) {
    if (++polls == 2) control.SetBandwidth(4 << 20);
  });
  std::vector<uint64_t> vda_speeds;
  ControlEvents obs;
  obs.on_phase = [&](const std::string& label) {
    if (label == "sparsify") vda_speeds = w.virt.Get("vm1").jobs.at("vda").speeds;
  };
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  auto report = RunMigrate(o, ctx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(vda_speeds, (std::vector<uint64_t>{5 << 20, 2 << 20})) << "started at half of 10 MiB/s, then half of 4";
  EXPECT_EQ(obs.rates, std::vector<uint64_t>{4 << 20});
}

TEST(ControlOverFakes, GatedPivotWaitsForTheGo) {
  FakeWorld w;
  MigrateOptions o = LiveOptions(w);
  o.pivot_gate = true;
  RunControl control;
  ControlEvents obs;
  std::thread orchestrator;
  std::atomic<int> pivots_while_waiting{-1};
  obs.on_gate = [&] {
    orchestrator = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      pivots_while_waiting = w.virt.Calls("BlockJobAbort") + w.virt.Calls("Suspend");
      control.SetBandwidth(0);  // applied while waiting
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      control.Go();
    });
  };
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  auto report = RunMigrate(o, ctx);
  if (orchestrator.joinable()) orchestrator.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(obs.waiting, (std::vector<std::string>{"vda", "vdb"}));
  EXPECT_EQ(pivots_while_waiting.load(), 0) << "pivoted before the go";
  EXPECT_EQ(obs.rates, std::vector<uint64_t>{0});
  EXPECT_TRUE(w.Folded().completed);
  EXPECT_NE(w.virt.Get("vm1").live_xml.find("rbd/vm1-vda"), std::string::npos);
}

TEST(ControlOverFakes, GatedPivotProceedsWithAWarningWhenTheStreamEnds) {
  FakeWorld w;
  MigrateOptions o = LiveOptions(w);
  o.pivot_gate = true;
  RunControl control;
  ControlEvents obs;
  obs.on_gate = [&] { control.Close(); };
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  auto report = RunMigrate(o, ctx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(obs.warnings.size(), 1u);
  EXPECT_NE(obs.warnings[0].find("control stream ended"), std::string::npos) << obs.warnings[0];
  EXPECT_TRUE(w.Folded().completed);
}

TEST(ControlOverFakes, CancelWhileTheGateWaitsStopsResumableOnTheSources) {
  FakeWorld w;
  std::string live_before = w.virt.Get("vm1").live_xml;
  MigrateOptions o = LiveOptions(w);
  o.pivot_gate = true;
  RunControl control;
  std::atomic<bool> cancel{false};
  ControlEvents obs;
  obs.on_gate = [&] { cancel = true; };
  RunContext ctx = w.Context();
  ctx.observer = &obs;
  ctx.control = &control;
  ctx.cancel = &cancel;
  auto report = RunMigrate(o, ctx);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().kind(), Kind::kInterrupted) << report.status().ToString();
  FakeDomain d = w.virt.Get("vm1");
  EXPECT_EQ(d.state, DomainState::kRunning);
  EXPECT_TRUE(d.jobs.empty());
  EXPECT_EQ(d.live_xml, live_before);
}

TEST(ControlOverFakes, PivotGateNeedsLiveAndAControlStream) {
  FakeWorld w;
  MigrateOptions o = LiveOptions(w);
  o.pivot_gate = true;
  auto r = RunMigrate(o, w.Context());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  MigrateOptions off = w.Options();
  off.pivot_gate = true;
  RunControl control;
  RunContext ctx = w.Context();
  ctx.control = &control;
  auto r2 = RunMigrate(off, ctx);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().kind(), Kind::kUsage);
}

}  // namespace
}  // namespace v2r::fake
