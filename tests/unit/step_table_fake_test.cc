// The step tables (migrate/phase.h) and their driver, Runner::RunSteps: the
// driver over a table of its own, then each mode's table as the observer
// sees it over the fakes (fake_world.h): which steps, in which order, the
// count announced, and that a failure ends the steps at the phase that failed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_world.h"
#include "migrate/migrate.h"
#include "migrate/phase.h"
#include "migrate/runner.h"

namespace v2r::fake {
namespace {

// Records every step announced: "id index/count", and how each ended.
struct StepLog : Observer {
  std::vector<std::string> started, ended;
  void StepStarted(const Step& s) override { started.push_back(fmt::format("{} {}/{}", s.id, s.index, s.count)); }
  void StepEnded(const Step& s, const Status& st, double) override {
    ended.push_back(s.id + (st.ok() ? " ok" : " failed"));
  }
  void PhaseStarted(const std::string&, const ProgressCounters&) override {}
  void PhaseEnded() override {}
  void Warn(const std::string&) override {}
  std::vector<std::string> Ids() const {
    std::vector<std::string> out;
    for (const std::string& s : started) out.push_back(s.substr(0, s.find(' ')));
    return out;
  }
};

// A mode of three steps for the driver alone: b applies only once a ran,
// c fails when told to; every call is traced.
struct ToyMode {
  std::vector<std::string> trace;
  bool a_ran = false;
  bool fail_c = false;
  std::string StepTitle(Phase p) const { return std::string("toy ") + PhaseId(p); }
  Status A() {
    trace.push_back("a");
    a_ran = true;
    return Status::Ok();
  }
  Status AfterA() {
    trace.push_back("after a");
    return Status::Ok();
  }
  bool BApplies() const { return a_ran; }
  Status B() {
    trace.push_back("b");
    return Status::Ok();
  }
  Status C() {
    trace.push_back("c");
    return fail_c ? Status::Failed("c broke") : Status::Ok();
  }
  Status AfterC() {
    trace.push_back("after c");
    return Status::Ok();
  }
};

const StepEntry<ToyMode> kToySteps[] = {
    {Phase::kUser, &ToyMode::A, nullptr, &ToyMode::AfterA},
    {Phase::kSecret, &ToyMode::B, &ToyMode::BApplies},
    {Phase::kCopy, &ToyMode::C, nullptr, &ToyMode::AfterC},
};

TEST(RunSteps, CountsWhatAppliesThenRunsInOrderAskingAppliesAgainWhenReached) {
  StepLog log;
  RunContext ctx;
  ctx.observer = &log;
  Runner r(ctx);
  ToyMode m;
  Phase failed = Phase::kUndo;
  Status st = r.RunSteps<ToyMode>(m, kToySteps, &failed);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(failed, Phase::kUndo);  // untouched on success
  // b did not apply when counted (a had not run), and did when reached.
  EXPECT_EQ(log.started, (std::vector<std::string>{"user 1/2", "secret 2/2", "copy 3/3"}));
  EXPECT_EQ(m.trace, (std::vector<std::string>{"a", "after a", "b", "c", "after c"}));
  EXPECT_EQ(log.ended, (std::vector<std::string>{"user ok", "secret ok", "copy ok"}));
}

TEST(RunSteps, StopsAtTheFirstFailureSayingWhichPhaseAndSkipsItsAfter) {
  StepLog log;
  RunContext ctx;
  ctx.observer = &log;
  Runner r(ctx);
  ToyMode m;
  m.fail_c = true;
  Phase failed = Phase::kUndo;
  Status st = r.RunSteps<ToyMode>(m, kToySteps, &failed);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "c broke");
  EXPECT_EQ(failed, Phase::kCopy);
  EXPECT_EQ(m.trace, (std::vector<std::string>{"a", "after a", "b", "c"}));
  EXPECT_EQ(log.ended.back(), "copy failed");
}

TEST(PhaseText, EveryPhaseHasAnIdAndATitle) {
  for (int p = 0; p <= static_cast<int>(Phase::kRemoveSnapshots); ++p) {
    EXPECT_NE(std::string(PhaseId(static_cast<Phase>(p))), "");
    EXPECT_NE(std::string(PhaseTitle(static_cast<Phase>(p))), "");
  }
  EXPECT_STREQ(PhaseId(Phase::kSaveDefinition), "save-definition");
  EXPECT_STREQ(PhaseId(Phase::kCopyBack), "copy-back");
}

RunContext Observed(FakeWorld& w, StepLog* log) {
  RunContext ctx = w.Context();
  ctx.observer = log;
  return ctx;
}

const std::vector<std::string> kOfflineIds = {"stop", "guard", "user", "secret", "save-definition",
                                              "copy", "snapshot", "switch", "start"};

TEST(OfflineStepTable, AnnouncesEveryStepInOrderWithItsCount) {
  FakeWorld w;
  StepLog log;
  auto report = RunMigrate(w.Options(), Observed(w, &log));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(log.Ids(), kOfflineIds);
  EXPECT_EQ(log.started.front(), "stop 1/9");
  EXPECT_EQ(log.started.back(), "start 9/9");
  EXPECT_EQ(log.ended.size(), 9u);
  for (const std::string& e : log.ended) EXPECT_EQ(e.substr(e.size() - 2), "ok") << e;
}

TEST(OfflineStepTable, WithoutStartThereAreEightAndAutostartIsStillRestored) {
  FakeWorld w;
  w.virt.Update("vm1", [](FakeDomain& d) { d.autostart = true; });
  StepLog log;
  MigrateOptions o = w.Options();
  o.start = false;
  auto report = RunMigrate(o, Observed(w, &log));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::vector<std::string> ids(kOfflineIds.begin(), kOfflineIds.end() - 1);
  EXPECT_EQ(log.Ids(), ids);
  EXPECT_EQ(log.started.back(), "switch 8/8");
  // The switch step's after-hook turned autostart on again.
  EXPECT_TRUE(w.virt.Get("vm1").autostart);
  EXPECT_EQ(w.virt.Get("vm1").state, DomainState::kShutoff);
}

TEST(OfflineStepTable, AFailedSwitchEndsTheStepsThereAndUndoes) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  w.virt.FailCall("DefineXml", 1, Status::Failed("define refused by the test"));
  StepLog log;
  auto report = RunMigrate(w.Options(), Observed(w, &log));
  ASSERT_FALSE(report.ok());
  std::vector<std::string> ids(kOfflineIds.begin(), kOfflineIds.end() - 1);
  ids.push_back("undo");
  EXPECT_EQ(log.Ids(), ids);  // no start after the failed switch
  EXPECT_EQ(log.ended.at(7), "switch failed");
  EXPECT_EQ(log.ended.back(), "undo ok");
  EXPECT_EQ(w.Snapshot(), before);
}

TEST(OfflineStepTable, AStopRefusedIsUndoneWithoutAnyOtherStep) {
  FakeWorld w;
  w.virt.Update("vm1", [](FakeDomain& d) { d.ignores_shutdown = true; });
  StepLog log;
  MigrateOptions o = w.Options();
  o.shutdown_timeout_s = 1;
  auto report = RunMigrate(o, Observed(w, &log));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().kind(), Kind::kRefused) << report.status().ToString();
  EXPECT_EQ(log.Ids(), (std::vector<std::string>{"stop", "undo"}));
  EXPECT_EQ(w.virt.Get("vm1").state, DomainState::kRunning);
  EXPECT_TRUE(w.Folded().aborted);
}

TEST(RollbackStepTable, StopRestoreStartCleanUpAndCopyBackOnlyWhenSomethingChanged) {
  FakeWorld w;
  ASSERT_TRUE(RunMigrate(w.Options(), w.Context()).ok());
  StepLog log;
  RollbackOptions o = w.RollbackOpts();
  o.copy_back = true;
  auto report = RunRollback(o, Observed(w, &log));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // Nothing was written on RBD since the switch: no copy-back step.
  EXPECT_EQ(log.Ids(), (std::vector<std::string>{"stop", "restore", "start", "clean-up"}));
  EXPECT_EQ(log.started.back(), "clean-up 4/4");
}

TEST(MigrateModes, AnUnfinishedMigrationOfTheOtherModeIsRefusedChangingNothing) {
  FakeWorld w;
  int seen = 0;
  auto first = RunMigrate(w.Options(), w.Context([&](const nlohmann::json&) {
    return ++seen == 3 ? Status::Interrupted("simulated crash") : Status::Ok();
  }));
  ASSERT_FALSE(first.ok());
  WorldState after_crash = w.Snapshot();
  std::vector<std::string> events = w.Events();
  MigrateOptions o = w.Options();
  o.live = true;
  o.shutdown = false;
  auto live = RunMigrate(o, w.Context());
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().kind(), Kind::kRefused);
  EXPECT_NE(live.status().message().find("unfinished offline migration"), std::string::npos)
      << live.status().ToString();
  EXPECT_EQ(w.Snapshot(), after_crash);
  EXPECT_EQ(w.Events(), events);
}

}  // namespace
}  // namespace v2r::fake
