#include "fleet/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace v2r::fleet {
namespace {

// A fleet built up in a test: hosts first, then VMs on them by host name.
struct Fleet {
  SchedInput in;

  Fleet& Host(const std::string& name, int slots = 2, uint64_t bandwidth = 0) {
    in.hosts.push_back({name, slots, bandwidth, true});
    return *this;
  }
  // Adds "host/name"; returns its index.
  int Vm(const std::string& host, const std::string& name, VmPhase phase = VmPhase::kWaiting, int disks = 1,
         uint64_t bytes = 100) {
    SchedVm vm;
    vm.id = host + "/" + name;
    for (size_t h = 0; h < in.hosts.size(); ++h)
      if (in.hosts[h].name == host) vm.host = static_cast<int>(h);
    vm.phase = phase;
    vm.disks = disks;
    vm.bytes = bytes;
    in.vms.push_back(vm);
    return static_cast<int>(in.vms.size()) - 1;
  }
  SchedVm& operator[](int i) { return in.vms[i]; }
  SchedDecision Run() const { return Schedule(in); }
};

std::vector<std::string> Ids(const SchedInput& in, const std::vector<int>& idx) {
  std::vector<std::string> out;
  for (int i : idx) out.push_back(in.vms[i].id);
  return out;
}

using Names = std::vector<std::string>;

// --- slots and order ---

TEST(FleetScheduler, AVmTakesTheLeastOfItsDisksItsHostsSlotsAndTheFleetsSlots) {
  Fleet f;
  f.in.limits.slots = 3;
  f.Host("hv1", 2).Host("hv2", 8);
  int a = f.Vm("hv1", "a", VmPhase::kWaiting, 1);
  int b = f.Vm("hv1", "b", VmPhase::kWaiting, 5);
  int c = f.Vm("hv2", "c", VmPhase::kWaiting, 5);
  int d = f.Vm("hv2", "d", VmPhase::kWaiting, 0);
  EXPECT_EQ(SlotsFor(f.in, f[a]), 1);
  EXPECT_EQ(SlotsFor(f.in, f[b]), 2);  // its host's
  EXPECT_EQ(SlotsFor(f.in, f[c]), 3);  // the fleet's
  EXPECT_EQ(SlotsFor(f.in, f[d]), 1);  // at least one
  EXPECT_FALSE(RunsAlone(f.in, f[a]));
  EXPECT_TRUE(RunsAlone(f.in, f[b]));
  EXPECT_FALSE(RunsAlone(f.in, f[c]));
}

TEST(FleetScheduler, StartsEveryEligibleVmInOnePassByPriorityThenBytesThenId) {
  Fleet f;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  f.Vm("hv1", "small", VmPhase::kWaiting, 1, 10);
  f.Vm("hv1", "big", VmPhase::kWaiting, 1, 1000);
  f[f.Vm("hv1", "urgent", VmPhase::kWaiting, 1, 1)].priority = 5;
  f.Vm("hv1", "b-tie", VmPhase::kWaiting, 1, 10);
  f.Vm("hv1", "a-tie", VmPhase::kWaiting, 1, 10);
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/urgent", "hv1/big", "hv1/a-tie", "hv1/b-tie", "hv1/small"}));
  for (size_t i = 0; i < f.in.vms.size(); ++i) {
    EXPECT_EQ(d.slots[i], 1);
    EXPECT_EQ(d.why[i], "");
  }
  EXPECT_TRUE(d.pivot.empty());
  EXPECT_FALSE(d.stopped_starting);
}

TEST(FleetScheduler, RunningVmsHoldTheirSlotsAndAFullHostSaysSo) {
  Fleet f;
  f.Host("hv1", 2).Host("hv2", 2);
  int r1 = f.Vm("hv1", "r1", VmPhase::kRunning);
  int r2 = f.Vm("hv1", "r2", VmPhase::kPivotWaiting);
  int w = f.Vm("hv1", "w");
  int x = f.Vm("hv2", "x");
  f.Vm("hv2", "done", VmPhase::kDone);
  f.in.limits.cutovers = 0;  // keep r2 waiting to pivot
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv2/x"}));
  EXPECT_EQ(d.why[w], "host hv1: 2/2 slots in use");
  EXPECT_EQ(d.slots[r1], 1);
  EXPECT_EQ(d.slots[r2], 1);
  EXPECT_EQ(d.slots[w], 0);
  EXPECT_EQ(d.slots[x], 1);
  EXPECT_EQ(d.slots[4], 0);
  EXPECT_EQ(d.why[r1], "");
  EXPECT_EQ(d.why[4], "");
}

TEST(FleetScheduler, TheFleetsSlotsCapAllHosts) {
  Fleet f;
  f.in.limits.slots = 4;
  f.Host("hv1", 2).Host("hv2", 2).Host("hv3", 2);
  f.Vm("hv1", "a", VmPhase::kRunning);
  f.Vm("hv1", "b", VmPhase::kRunning);
  f.Vm("hv2", "c", VmPhase::kRunning);
  int d1 = f.Vm("hv2", "d", VmPhase::kWaiting, 1, 50);
  int e = f.Vm("hv3", "e", VmPhase::kWaiting, 1, 10);
  int g = f.Vm("hv3", "g", VmPhase::kWaiting, 2, 5);
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv2/d"}));
  EXPECT_EQ(d.why[d1], "");
  EXPECT_EQ(d.why[e], "fleet: 4/4 slots in use");
  EXPECT_EQ(d.why[g], "fleet: 4/4 slots in use");
}

TEST(FleetScheduler, ASmallerVmBackfillsSlotsABiggerOneCannotUse) {
  Fleet f;
  f.in.limits.slots = 8;
  f.Host("hv1", 4);
  f.Vm("hv1", "running", VmPhase::kRunning, 2);
  int big = f.Vm("hv1", "big", VmPhase::kWaiting, 3, 1000);  // 3 < 4 slots: does not run alone
  int small = f.Vm("hv1", "small", VmPhase::kWaiting, 1, 10);
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/small"}));
  EXPECT_EQ(d.why[big], "host hv1: 2/4 slots in use (needs 3)");
  EXPECT_EQ(d.slots[small], 1);
}

TEST(FleetScheduler, AVmThatRunsAloneReservesItsHostWhileItWaitsForItToDrain) {
  Fleet f;
  f.in.limits.slots = 8;
  f.Host("hv1", 2).Host("hv2", 2);
  f.Vm("hv1", "running", VmPhase::kRunning, 1);
  int big = f.Vm("hv1", "big", VmPhase::kWaiting, 2, 1000);
  int small = f.Vm("hv1", "small", VmPhase::kWaiting, 1, 10);
  int other = f.Vm("hv2", "other", VmPhase::kWaiting, 1, 10);
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv2/other"}));
  EXPECT_EQ(d.why[big], "host hv1: 1/2 slots in use (runs alone: waits for the host to drain)");
  EXPECT_EQ(d.why[small], "host hv1 reserved for hv1/big (runs alone)");
  EXPECT_EQ(d.why[other], "");

  // Drained: it starts, with every slot of its host.
  f[0].phase = VmPhase::kDone;
  d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/big", "hv2/other"}));
  EXPECT_EQ(d.slots[big], 2);
  EXPECT_EQ(d.why[small], "host hv1: 2/2 slots in use");
}

TEST(FleetScheduler, AVmThatRunsAloneKeepsItsEmptyHostWhileItWaitsForFleetSlots) {
  Fleet f;
  f.in.limits.slots = 3;
  f.Host("hv1", 2).Host("hv2", 2);
  f.Vm("hv2", "a", VmPhase::kRunning);
  f.Vm("hv2", "b", VmPhase::kRunning);
  int big = f.Vm("hv1", "big", VmPhase::kWaiting, 2, 1000);
  int small = f.Vm("hv1", "small", VmPhase::kWaiting, 1, 10);
  SchedDecision d = f.Run();
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[big], "fleet: 2/3 slots in use (needs 2)");
  EXPECT_EQ(d.why[small], "host hv1 reserved for hv1/big (runs alone)");
}

TEST(FleetScheduler, AVmThatRunsAloneReservesNothingWhileItWaitsForItsWindow) {
  Fleet f;
  f.Host("hv1", 2);
  f.Vm("hv1", "running", VmPhase::kRunning, 1);
  int big = f.Vm("hv1", "big", VmPhase::kWaiting, 2, 1000);
  f[big].window = Window{22 * 60, 4 * 60};
  f.in.minute_of_day = 12 * 60;
  int small = f.Vm("hv1", "small", VmPhase::kWaiting, 1, 10);
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/small"}));
  EXPECT_EQ(d.why[big], "window 22:00-04:00 (now 12:00)");
  EXPECT_EQ(d.why[small], "");
}

TEST(FleetScheduler, TheFirstVmThatRunsAloneHoldsTheReservation) {
  Fleet f;
  f.in.limits.slots = 8;
  f.Host("hv1", 2);
  f.Vm("hv1", "running", VmPhase::kRunning, 1);
  int big = f.Vm("hv1", "big", VmPhase::kWaiting, 4, 1000);
  int big2 = f.Vm("hv1", "big2", VmPhase::kWaiting, 2, 500);
  SchedDecision d = f.Run();
  EXPECT_EQ(d.why[big], "host hv1: 1/2 slots in use (runs alone: waits for the host to drain)");
  EXPECT_EQ(d.why[big2], "host hv1 reserved for hv1/big (runs alone)");
}

// --- waves ---

TEST(FleetScheduler, AWaveStartsOnlyWhenEveryVmOfTheWavesBeforeHasEnded) {
  Fleet f;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  f.Vm("hv1", "w1-run", VmPhase::kRunning);
  f.Vm("hv1", "w1-wait", VmPhase::kWaiting);
  f.Vm("hv1", "w1-pivot", VmPhase::kPivotWaiting);
  f.Vm("hv1", "w1-done", VmPhase::kDone);
  int w2 = f.Vm("hv1", "w2");
  f[w2].wave = 2;
  f[w2].priority = 100;  // priority does not jump waves
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/w1-wait"}));
  EXPECT_EQ(d.why[w2], "wave 2 waits for wave 1 (3 VMs left)");

  f[0].phase = VmPhase::kDone;
  f[1].phase = VmPhase::kFailed;
  f[2].phase = VmPhase::kCancelled;
  d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/w2"}));
}

TEST(FleetScheduler, AWaveWaitsForEveryEarlierWaveNotOnlyTheOneBefore) {
  Fleet f;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  f.Vm("hv1", "w1", VmPhase::kRunning);
  int w2 = f.Vm("hv1", "w2", VmPhase::kRunning);
  f[w2].wave = 2;
  int w3 = f.Vm("hv1", "w3");
  f[w3].wave = 3;
  int w5 = f.Vm("hv1", "w5");
  f[w5].wave = 5;
  SchedDecision d = f.Run();
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[w3], "wave 3 waits for waves 1-2 (2 VMs left)");
  EXPECT_EQ(d.why[w5], "wave 5 waits for waves 1-3 (3 VMs left)");

  f[0].phase = VmPhase::kDone;
  d = f.Run();
  EXPECT_EQ(d.why[w3], "wave 3 waits for wave 2 (1 VM left)");
}

// --- windows ---

TEST(FleetScheduler, AnOfflineVmStartsOnlyInsideItsWindowAcrossMidnight) {
  Fleet f;
  f.Host("hv1", 2);
  int vm = f.Vm("hv1", "db");
  f[vm].window = Window{22 * 60, 4 * 60};
  struct Case {
    int minute;
    bool starts;
  };
  for (Case c : {Case{14 * 60 + 5, false}, Case{21 * 60 + 59, false}, Case{22 * 60, true}, Case{23 * 60 + 30, true},
                 Case{0, true}, Case{3 * 60 + 59, true}, Case{4 * 60, false}}) {
    f.in.minute_of_day = c.minute;
    SchedDecision d = f.Run();
    EXPECT_EQ(d.start.size(), c.starts ? 1u : 0u) << "minute " << c.minute;
  }
  f.in.minute_of_day = 14 * 60 + 5;
  EXPECT_EQ(f.Run().why[vm], "window 22:00-04:00 (now 14:05)");
}

TEST(FleetScheduler, AWindowDoesNotHoldBackALiveVm) {
  Fleet f;
  f.Host("hv1", 2);
  int vm = f.Vm("hv1", "web");
  f[vm].mode = Mode::kLive;
  f[vm].window = Window{1 * 60, 2 * 60};
  f.in.minute_of_day = 12 * 60;
  EXPECT_EQ(f.Run().start, std::vector<int>{vm});
}

TEST(FleetScheduler, ADaytimeWindowEndsAtItsEndMinute) {
  Fleet f;
  f.Host("hv1", 2);
  int vm = f.Vm("hv1", "a");
  f[vm].window = Window{9 * 60, 17 * 60};
  f.in.minute_of_day = 17 * 60;
  EXPECT_EQ(f.Run().why[vm], "window 09:00-17:00 (now 17:00)");
  f.in.minute_of_day = 9 * 60;
  EXPECT_EQ(f.Run().why[vm], "");
}

// --- cutovers and pivots ---

TEST(FleetScheduler, DowntimeVmsStartOnlyWhileCutoversAreFree) {
  Fleet f;
  f.in.limits.cutovers = 1;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  int a = f.Vm("hv1", "a", VmPhase::kWaiting, 1, 300);
  int b = f.Vm("hv1", "b", VmPhase::kWaiting, 1, 200);
  int off = f.Vm("hv1", "off", VmPhase::kWaiting, 1, 100);  // guest shut off: no downtime
  f[a].downtime = f[b].downtime = true;
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/a", "hv1/off"}));
  EXPECT_EQ(d.why[b], "cutovers: 1/1 in use");

  f[a].phase = VmPhase::kRunning;
  f[off].phase = VmPhase::kRunning;
  d = f.Run();
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[b], "cutovers: 1/1 in use");
}

TEST(FleetScheduler, PivotsAreGrantedInOrderUpToTheCutoverCapBeforeDowntimeStarts) {
  Fleet f;
  f.in.limits.cutovers = 2;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  int p1 = f.Vm("hv1", "p1", VmPhase::kPivotWaiting, 1, 10);
  int p2 = f.Vm("hv1", "p2", VmPhase::kPivotWaiting, 1, 30);
  int p3 = f.Vm("hv1", "p3", VmPhase::kPivotWaiting, 1, 20);
  int down = f.Vm("hv1", "down", VmPhase::kWaiting, 1, 1000);
  for (int i : {p1, p2, p3}) f[i].mode = Mode::kLive;
  f[down].downtime = true;
  f[down].priority = 9;  // pivots go first even so
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.pivot), (Names{"hv1/p2", "hv1/p3"}));
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[down], "cutovers: 2/2 in use");
  EXPECT_EQ(d.why[p1], "");  // not waiting to start: no why
}

TEST(FleetScheduler, PivotingAndDowntimeVmsCountAsCutoversLiveCopiesDoNot) {
  Fleet f;
  f.in.limits.cutovers = 2;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  int pivoting = f.Vm("hv1", "pivoting", VmPhase::kPivoting);
  int copying = f.Vm("hv1", "copying", VmPhase::kRunning);  // live, still copying
  f[pivoting].mode = f[copying].mode = Mode::kLive;
  int waiting = f.Vm("hv1", "waiting", VmPhase::kPivotWaiting);
  f[waiting].mode = Mode::kLive;
  int down = f.Vm("hv1", "down");
  f[down].downtime = true;
  SchedDecision d = f.Run();
  EXPECT_EQ(Ids(f.in, d.pivot), (Names{"hv1/waiting"}));
  EXPECT_EQ(d.why[down], "cutovers: 2/2 in use");

  f[pivoting].phase = VmPhase::kDone;
  d = f.Run();
  EXPECT_EQ(Ids(f.in, d.pivot), (Names{"hv1/waiting"}));
  EXPECT_EQ(Ids(f.in, d.start), (Names{"hv1/down"}));
}

TEST(FleetScheduler, ARunningDowntimeVmLeavesNoCutoverForAPivot) {
  Fleet f;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  int down = f.Vm("hv1", "down", VmPhase::kRunning);
  f[down].downtime = true;
  int live = f.Vm("hv1", "live", VmPhase::kPivotWaiting);
  f[live].mode = Mode::kLive;
  EXPECT_TRUE(f.Run().pivot.empty());
  f[down].phase = VmPhase::kDone;
  EXPECT_EQ(f.Run().pivot, std::vector<int>{live});
}

TEST(FleetScheduler, NoPivotIsGrantedOnAnUnreachableHost) {
  Fleet f;
  f.Host("hv1", 2).Host("hv2", 2);
  int a = f.Vm("hv1", "a", VmPhase::kPivotWaiting, 1, 999);
  int b = f.Vm("hv2", "b", VmPhase::kPivotWaiting, 1, 1);
  f[a].mode = f[b].mode = Mode::kLive;
  f.in.hosts[0].reachable = false;
  EXPECT_EQ(f.Run().pivot, std::vector<int>{b});
}

// --- max failures, a paused cluster, unreachable hosts ---

TEST(FleetScheduler, MaxFailuresStopsEveryNewStartButNotPivots) {
  Fleet f;
  f.in.limits.max_failures = 3;
  f.Host("hv1", 4);
  for (const char* n : {"f1", "f2", "f3"}) f.Vm("hv1", n, VmPhase::kFailed);
  int live = f.Vm("hv1", "live", VmPhase::kPivotWaiting);
  f[live].mode = Mode::kLive;
  int w = f.Vm("hv1", "w");
  SchedDecision d = f.Run();
  EXPECT_TRUE(d.stopped_starting);
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[w], "max failures reached (3 failed, limit 3)");
  EXPECT_EQ(d.pivot, std::vector<int>{live});

  f[0].phase = VmPhase::kDone;  // 2 failed: below the limit
  d = f.Run();
  EXPECT_FALSE(d.stopped_starting);
  EXPECT_EQ(d.start, std::vector<int>{w});

  f[0].phase = VmPhase::kFailed;
  f.in.limits.max_failures = 0;  // no limit
  d = f.Run();
  EXPECT_FALSE(d.stopped_starting);
  EXPECT_EQ(d.start, std::vector<int>{w});
}

TEST(FleetScheduler, AClusterThatIsNotOkPausesNewStarts) {
  Fleet f;
  f.Host("hv1", 2);
  int w = f.Vm("hv1", "w");
  f.in.cluster_ok = false;
  f.in.cluster_reason = "pool 93% full";
  SchedDecision d = f.Run();
  EXPECT_TRUE(d.start.empty());
  EXPECT_FALSE(d.stopped_starting);
  EXPECT_EQ(d.why[w], "paused: pool 93% full");
}

TEST(FleetScheduler, APausedClusterStillLetsAPivotEndItsCopy) {
  Fleet f;
  f.Host("hv1", 2);
  int live = f.Vm("hv1", "live", VmPhase::kPivotWaiting);
  f[live].mode = Mode::kLive;
  int w = f.Vm("hv1", "w");
  f.in.cluster_ok = false;
  f.in.cluster_reason = "cluster HEALTH_ERR";
  SchedDecision d = f.Run();
  EXPECT_EQ(d.pivot, std::vector<int>{live});
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[w], "paused: cluster HEALTH_ERR");
  EXPECT_EQ(d.slots[live], 1);
}

TEST(FleetScheduler, MaxFailuresIsNamedBeforeAPausedCluster) {
  Fleet f;
  f.in.limits.max_failures = 1;
  f.Host("hv1", 2);
  f.Vm("hv1", "bad", VmPhase::kFailed);
  int w = f.Vm("hv1", "w");
  f.in.cluster_ok = false;
  f.in.cluster_reason = "cluster HEALTH_ERR";
  EXPECT_EQ(f.Run().why[w], "max failures reached (1 failed, limit 1)");
}

TEST(FleetScheduler, AnUnreachableHostStartsNothingAndTheOthersGoOn) {
  Fleet f;
  f.Host("hv1", 2).Host("hv2", 2);
  int a = f.Vm("hv1", "a");
  int b = f.Vm("hv2", "b");
  f.in.hosts[0].reachable = false;
  SchedDecision d = f.Run();
  EXPECT_EQ(d.start, std::vector<int>{b});
  EXPECT_EQ(d.why[a], "host hv1 unreachable");
}

TEST(FleetScheduler, AVmOfAnUnknownHostNeverStarts) {
  Fleet f;
  f.Host("hv1", 2);
  int a = f.Vm("hv1", "a");
  f[a].host = 7;
  SchedDecision d = f.Run();
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(d.why[a], "host #7 unknown");
}

// --- bandwidth ---

TEST(FleetScheduler, WithNoBudgetAnywhereEveryRateIsUnlimited) {
  Fleet f;
  f.Host("hv1", 2).Host("hv2", 2);
  f.Vm("hv1", "a", VmPhase::kRunning);
  f.Vm("hv2", "b");
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{0, 0}));
}

TEST(FleetScheduler, TheFleetBudgetIsSplitBySlotsAmongTheVmsThatHoldThem) {
  Fleet f;
  f.in.limits.bandwidth = 300;
  f.in.limits.slots = 8;
  f.Host("hv1", 4).Host("hv2", 4);
  f.Vm("hv1", "two", VmPhase::kRunning, 2);
  f.Vm("hv2", "one", VmPhase::kWaiting, 1);     // starts now
  f.Vm("hv2", "done", VmPhase::kDone, 1);
  int late = f.Vm("hv2", "late", VmPhase::kWaiting, 1);
  f[late].wave = 2;
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{200, 100, 0, 0}));
}

TEST(FleetScheduler, ACappedHostsUnusedShareGoesToTheOthers) {
  Fleet f;
  f.in.limits.bandwidth = 300;
  f.Host("hvA", 2, 50).Host("hvB", 2);
  f.Vm("hvA", "a", VmPhase::kRunning);
  f.Vm("hvB", "b1", VmPhase::kRunning);
  f.Vm("hvB", "b2", VmPhase::kRunning);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{50, 125, 125}));
}

TEST(FleetScheduler, AHostCapThatDoesNotBindChangesNothing) {
  Fleet f;
  f.in.limits.bandwidth = 300;
  f.Host("hvA", 2, 200).Host("hvB", 2);
  f.Vm("hvA", "a", VmPhase::kRunning);
  f.Vm("hvB", "b1", VmPhase::kRunning);
  f.Vm("hvB", "b2", VmPhase::kRunning);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{100, 100, 100}));
}

TEST(FleetScheduler, WaterFillingTakesCappedHostsInTheOrderTheySaturate) {
  Fleet f;
  f.in.limits.bandwidth = 1000;
  f.in.limits.slots = 10;
  // Listed with the larger cap first: B (300) saturates only after A (100) has.
  f.Host("hvB", 2, 300).Host("hvA", 2, 100).Host("hvC", 2);
  f.Vm("hvB", "b", VmPhase::kRunning);
  f.Vm("hvA", "a", VmPhase::kRunning);
  f.Vm("hvC", "c", VmPhase::kRunning);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{300, 100, 600}));
}

TEST(FleetScheduler, EveryHostCappedBelowTheFleetBudgetGetsItsCap) {
  Fleet f;
  f.in.limits.bandwidth = 1000;
  f.in.limits.slots = 10;
  f.Host("hvA", 4, 100).Host("hvB", 4, 90);
  f.Vm("hvA", "a1", VmPhase::kRunning, 1);
  f.Vm("hvA", "a2", VmPhase::kRunning, 3);
  f.Vm("hvB", "b", VmPhase::kRunning, 1);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{25, 75, 90}));
}

TEST(FleetScheduler, WithOnlyHostBudgetsEachIsSplitOverItsOwnVms) {
  Fleet f;
  f.in.limits.slots = 10;
  f.Host("hvA", 4, 100).Host("hvB", 4);
  f.Vm("hvA", "a1", VmPhase::kRunning, 1);
  f.Vm("hvA", "a2", VmPhase::kPivoting, 3);
  f.Vm("hvB", "b", VmPhase::kRunning, 1);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{25, 75, 0}));
}

TEST(FleetScheduler, ABudgetedRateIsNeverZero) {
  Fleet f;
  f.in.limits.bandwidth = 2;
  f.in.limits.slots = 10;
  f.Host("hv1", 10);
  for (const char* n : {"a", "b", "c"}) f.Vm("hv1", n, VmPhase::kRunning);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{1, 1, 1}));
}

TEST(FleetScheduler, PivotWaitingAndPivotingVmsKeepARate) {
  Fleet f;
  f.in.limits.bandwidth = 100;
  f.in.limits.cutovers = 0;
  f.Host("hv1", 2);
  f.Vm("hv1", "a", VmPhase::kPivotWaiting);
  f.Vm("hv1", "b", VmPhase::kPivoting);
  EXPECT_EQ(f.Run().bandwidth, (std::vector<uint64_t>{50, 50}));
}

TEST(FleetScheduler, HugeBudgetsDoNotOverflow) {
  Fleet f;
  f.in.limits.bandwidth = UINT64_MAX;
  f.in.limits.slots = 10;
  f.Host("hvA", 4, UINT64_MAX - 1).Host("hvB", 4);
  f.Vm("hvA", "a", VmPhase::kRunning, 3);
  f.Vm("hvB", "b", VmPhase::kRunning, 1);
  SchedDecision d = f.Run();
  EXPECT_EQ(d.bandwidth[0], UINT64_MAX / 4 * 3 + (UINT64_MAX % 4) * 3 / 4);
  EXPECT_EQ(d.bandwidth[1], UINT64_MAX / 4);
}

// --- determinism ---

std::map<std::string, std::string> Summary(const SchedInput& in, const SchedDecision& d) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < in.vms.size(); ++i)
    out[in.vms[i].id] = std::to_string(d.slots[i]) + "|" + std::to_string(d.bandwidth[i]) + "|" + d.why[i];
  out["start"] = "";
  for (const std::string& id : Ids(in, d.start)) out["start"] += id + ",";
  for (const std::string& id : Ids(in, d.pivot)) out["pivot"] += id + ",";
  return out;
}

TEST(FleetScheduler, TheDecisionDependsOnTheFactsNotOnTheirOrder) {
  Fleet f;
  f.in.limits = {5, 1, 1000, 0};
  f.Host("hv1", 2, 100).Host("hv2", 3).Host("hv3", 2);
  for (int i = 0; i < 12; ++i) {
    std::string host = "hv" + std::to_string(1 + i % 3);
    int v = f.Vm(host, "vm" + std::to_string(i), i < 3 ? VmPhase::kRunning : VmPhase::kWaiting, 1 + i % 3,
                 uint64_t(100 + (i * 37) % 5 * 10));
    f[v].priority = i % 2;
    f[v].wave = 1 + i / 9;
    f[v].downtime = i % 4 == 0;
  }
  f[5].phase = VmPhase::kPivotWaiting;
  f[5].mode = Mode::kLive;
  SchedDecision first = f.Run();
  auto expect = Summary(f.in, first);
  EXPECT_EQ(Summary(f.in, f.Run()), expect);

  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    SchedInput shuffled = f.in;
    std::shuffle(shuffled.vms.begin(), shuffled.vms.end(), rng);
    EXPECT_EQ(Summary(shuffled, Schedule(shuffled)), expect) << "round " << round;
  }
}

// --- the lower bound ---

TEST(FleetSchedulerLowerBound, TheFleetRateBoundsTheWholeRun) {
  Fleet f;
  f.Host("hv1").Host("hv2");
  f.Vm("hv1", "a", VmPhase::kWaiting, 1, 600);
  f.Vm("hv2", "b", VmPhase::kWaiting, 1, 400);
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 100, 0), 10.0);  // measured rate
  f.in.limits.bandwidth = 50;                                // the budget wins over the measure
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 100, 0), 20.0);
}

TEST(FleetSchedulerLowerBound, ASlowHostBoundsTheRun) {
  Fleet f;
  f.Host("hv1", 2, 10).Host("hv2");
  f.Vm("hv1", "a", VmPhase::kWaiting, 1, 300);
  f.Vm("hv2", "b", VmPhase::kWaiting, 1, 700);
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 1000, 0), 30.0);  // 300 / 10 > 1000 / 1000
}

TEST(FleetSchedulerLowerBound, TheLargestVmBoundsTheRunAtOneCopysRate) {
  Fleet f;
  f.Host("hv1");
  f.Vm("hv1", "huge", VmPhase::kWaiting, 1, 1000);
  f.Vm("hv1", "tiny", VmPhase::kWaiting, 1, 10);
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 1010, 20), 50.0);
}

TEST(FleetSchedulerLowerBound, RatesNotKnownAreSkipped) {
  Fleet f;
  f.Host("hv1").Host("hv2", 2, 5);
  f.Vm("hv1", "a", VmPhase::kWaiting, 1, 1000);
  f.Vm("hv2", "b", VmPhase::kWaiting, 1, 50);
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 0, 0), 10.0);    // only hv2's budget is known
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, -1, 100), 10.0);  // the copy: 1000 / 100
  f.in.hosts[1].bandwidth = 0;
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(f.in, 0, 0), 0.0);
  EXPECT_DOUBLE_EQ(LowerBoundSeconds(SchedInput{}, 100, 100), 0.0);
}

}  // namespace
}  // namespace v2r::fleet
