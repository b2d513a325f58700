// Runner's libvirt side over the fake hypervisor: stopping the VM, its
// autostart, and reconnecting to a libvirt that went away.
#include <gtest/gtest.h>

#include "fake_run.h"

namespace v2r::fake {
namespace {

// vm1 in that state (autostart on or off, a guest that answers the power
// button or not) and a Runner on it.
std::unique_ptr<Runner> OpenOn(FakeRun& f, DomainState state, bool autostart = false, bool ignores_shutdown = false) {
  f.virt.AddDomain("vm1", state);
  f.virt.Update("vm1", [&](FakeDomain& d) {
    d.autostart = autostart;
    d.ignores_shutdown = ignores_shutdown;
  });
  return f.Open("vm1");
}

TEST(RunnerStopDomain, ShutsARunningGuestDownAndJournalsIt) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kRunning);
  ASSERT_TRUE(r);
  Status st = r->StopDomain(/*shutdown=*/true, /*force_off=*/false, 5);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(f.virt.Get("vm1").state, DomainState::kShutoff);
  EXPECT_EQ(f.virt.Calls("Shutdown"), 1);
  EXPECT_EQ(f.virt.Calls("Destroy"), 0);
  EXPECT_TRUE(r->State().vm_stopped);
}

TEST(RunnerStopDomain, ForcesOffAGuestThatIgnoresTheShutdown) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kRunning, false, /*ignores_shutdown=*/true);
  ASSERT_TRUE(r);
  Status st = r->StopDomain(true, /*force_off=*/true, 0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(f.virt.Get("vm1").state, DomainState::kShutoff);
  EXPECT_EQ(f.virt.Calls("Shutdown"), 1);
  EXPECT_EQ(f.virt.Calls("Destroy"), 1);
  EXPECT_TRUE(r->State().vm_stopped);
}

TEST(RunnerStopDomain, ForceOffAloneDoesNotAskTheGuest) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kPaused);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->StopDomain(false, true, 0).ok());
  EXPECT_EQ(f.virt.Get("vm1").state, DomainState::kShutoff);
  EXPECT_EQ(f.virt.Calls("Shutdown"), 0);
}

TEST(RunnerStopDomain, ATimeoutWithoutForceOffIsRefusedAndLeavesTheVmRunning) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kRunning, false, /*ignores_shutdown=*/true);
  ASSERT_TRUE(r);
  Status st = r->StopDomain(true, false, 0);
  EXPECT_EQ(st.kind(), Kind::kRefused) << st.ToString();
  EXPECT_NE(st.message().find("did not shut down within 0 s"), std::string::npos) << st.message();
  EXPECT_NE(st.hint().find("--force-off"), std::string::npos) << st.hint();
  EXPECT_EQ(f.virt.Get("vm1").state, DomainState::kRunning);
  EXPECT_EQ(f.virt.Calls("Destroy"), 0);
  EXPECT_FALSE(r->State().vm_stopped);
}

TEST(RunnerStopDomain, AShutOffDomainIsLeftAloneAndNothingIsJournalled) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kShutoff);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->StopDomain(true, true, 5).ok());
  EXPECT_EQ(f.virt.Calls("Shutdown") + f.virt.Calls("Destroy"), 0);
  EXPECT_FALSE(r->State().vm_stopped);
}

TEST(RunnerStopDomain, AFailedShutdownIsReturnedAsIs) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kRunning);
  ASSERT_TRUE(r);
  f.virt.FailCall("Shutdown", 1, Status::Failed("asking domain 'vm1' to shut down: injected"));
  Status st = r->StopDomain(true, true, 5);
  EXPECT_EQ(st.kind(), Kind::kFailed);
  EXPECT_EQ(f.virt.Get("vm1").state, DomainState::kRunning);
  EXPECT_EQ(f.virt.Calls("Destroy"), 0) << "no force-off after a shutdown libvirt refused";
}

TEST(RunnerAutostart, IsTurnedOffJournalledAndRestored) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kShutoff, /*autostart=*/true);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->DisableAutostart().ok());
  EXPECT_FALSE(f.virt.Get("vm1").autostart);
  EXPECT_TRUE(r->State().autostart_off);
  ASSERT_TRUE(r->RestoreAutostart().ok());
  EXPECT_TRUE(f.virt.Get("vm1").autostart);
  EXPECT_FALSE(r->State().autostart_off);
  EXPECT_EQ(f.virt.Calls("SetAutostart"), 2);
}

TEST(RunnerAutostart, IsNotTurnedOnWhenItWasOffBefore) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kShutoff);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->DisableAutostart().ok());
  ASSERT_TRUE(r->RestoreAutostart().ok());
  EXPECT_FALSE(f.virt.Get("vm1").autostart);
  EXPECT_EQ(f.virt.Calls("SetAutostart"), 0);
}

TEST(RunnerAutostart, ARerunAfterACrashRestoresWhatTheFirstRunTurnedOff) {
  FakeRun f;
  f.virt.AddDomain("vm1");
  f.virt.Update("vm1", [](FakeDomain& d) { d.autostart = true; });
  {
    auto r = f.Open("vm1");
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->DisableAutostart().ok());
  }  // the run dies here: its journal stays
  auto r = f.Open("vm1");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->State().autostart_off);
  ASSERT_TRUE(r->DisableAutostart().ok());  // resumed: already off, by us
  EXPECT_EQ(f.virt.Calls("SetAutostart"), 1);
  ASSERT_TRUE(r->RestoreAutostart().ok());
  EXPECT_TRUE(f.virt.Get("vm1").autostart) << "autostart off for good: the first run's change was forgotten";
}

TEST(RunnerAutostart, AFailedSwitchOffIsJournalledFirst) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kShutoff, /*autostart=*/true);
  ASSERT_TRUE(r);
  f.virt.FailCall("SetAutostart", 1, Status::Failed("turning autostart off: injected"));
  EXPECT_FALSE(r->DisableAutostart().ok());
  EXPECT_TRUE(f.virt.Get("vm1").autostart);
  // The intent is journalled before the change: restoring it is harmless.
  EXPECT_TRUE(r->State().autostart_off);
  ASSERT_TRUE(r->RestoreAutostart().ok());
  EXPECT_TRUE(f.virt.Get("vm1").autostart);
}

TEST(RunnerReconnectLibvirt, GivesUpAfterItsTimeoutNamingTheUri) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kShutoff);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->LibvirtLost());
  ASSERT_TRUE(r->ReconnectLibvirt(1).ok());  // alive: nothing to do
  EXPECT_EQ(f.virt.Calls("Open"), 1);
  f.virt.Kill();
  EXPECT_TRUE(r->LibvirtLost());
  EXPECT_EQ(r->s.domain->State().status().cause(), Cause::kConnectionLost);
  auto t0 = std::chrono::steady_clock::now();
  Status st = r->ReconnectLibvirt(1);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(st.kind(), Kind::kInterrupted) << st.ToString();
  EXPECT_NE(st.message().find("fake:///system"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("within 1 s"), std::string::npos) << st.message();
  EXPECT_LT(secs, 3.0);
  EXPECT_GT(f.virt.Calls("Open"), 2) << "it should have retried";
}

TEST(RunnerReconnectLibvirt, ReconnectsWhenLibvirtIsBack) {
  FakeRun f;
  auto r = OpenOn(f, DomainState::kRunning);
  ASSERT_TRUE(r);
  f.virt.Kill();
  std::thread back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.virt.Revive();
  });
  Status st = r->ReconnectLibvirt(10);
  back.join();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(r->LibvirtLost());
  auto state = r->s.domain->State();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, DomainState::kRunning);
}

}  // namespace
}  // namespace v2r::fake
