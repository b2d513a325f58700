// The source guard (migrate/guard.h) over the fake hypervisor: starts of the
// VM behind virt2rbd's back, and libvirt going away and coming back.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fake_hypervisor.h"
#include "migrate/guard.h"

namespace v2r::fake {
namespace {

bool WaitFor(const std::function<bool()>& cond, int ms = 3000) {
  for (int i = 0; i < ms / 20 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return cond();
}

struct Guarded {
  FakeLibvirt virt;
  std::string uuid = virt.AddDomain("vm1");
  std::atomic<bool> stop{false};
  std::unique_ptr<DomainGuard> guard;

  Status Start() {
    auto g = DomainGuard::Start(virt.Opener(), virt.uri(), uuid, "vm1", &stop, nullptr,
                                {"while its disks were copied", "the hint"});
    if (!g.ok()) return g.status();
    guard = std::move(*g);
    return Status::Ok();
  }
};

TEST(DomainGuardOverFake, AStartFromAnotherThreadTripsItAndStopsTheCopy) {
  Guarded t;
  ASSERT_TRUE(t.Start().ok());
  EXPECT_TRUE(t.guard->Check().ok());
  std::thread([&] {  // behind virt2rbd's back, and off again at once: it still ran
    t.virt.SetState("vm1", DomainState::kRunning);
    t.virt.SetState("vm1", DomainState::kShutoff);
  }).join();
  EXPECT_TRUE(WaitFor([&] { return t.stop.load(); })) << "the copy was not told to stop";
  Status st = t.guard->Check();
  EXPECT_EQ(st.kind(), Kind::kSourceChanged);
  EXPECT_NE(st.message().find("domain vm1 ran while its disks were copied"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("started (booted)"), std::string::npos) << st.message();
  EXPECT_EQ(st.hint(), "the hint");
  EXPECT_TRUE(t.guard->Tripped());
}

TEST(DomainGuardOverFake, StaysQuietWhileTheDomainStaysShutOff) {
  Guarded t;
  ASSERT_TRUE(t.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past one poll
  EXPECT_TRUE(t.guard->Check().ok());
  EXPECT_FALSE(t.stop.load());
  EXPECT_FALSE(t.guard->TakeOutage());
}

TEST(DomainGuardOverFake, ARunningDomainTripsItAtOnce) {
  Guarded t;
  t.virt.SetState("vm1", DomainState::kPaused);
  ASSERT_TRUE(t.Start().ok());
  Status st = t.guard->Check();
  EXPECT_EQ(st.kind(), Kind::kSourceChanged);
  EXPECT_NE(st.message().find("it is paused"), std::string::npos) << st.message();
}

TEST(DomainGuardOverFake, ALostConnectionIsAnOutageAndItReconnects) {
  Guarded t;
  ASSERT_TRUE(t.Start().ok());
  t.virt.Kill();
  // The guard notices on its next look, then waits for libvirt.
  EXPECT_TRUE(WaitFor([&] { return !t.guard->WaitConnected(0, nullptr).ok(); }));
  Status waited = t.guard->WaitConnected(0, nullptr);
  EXPECT_EQ(waited.kind(), Kind::kInterrupted);
  EXPECT_NE(waited.message().find("libvirt at fake:///system did not answer"), std::string::npos)
      << waited.message();
  EXPECT_TRUE(t.guard->Check().ok()) << "an outage is not a start";
  t.virt.Revive();
  Status back = t.guard->WaitConnected(15, nullptr);
  ASSERT_TRUE(back.ok()) << back.ToString();
  EXPECT_TRUE(t.guard->TakeOutage()) << "events of the gap may be lost: the caller must recheck";
  EXPECT_FALSE(t.guard->TakeOutage());
  EXPECT_GE(t.virt.Calls("WatchLifecycle"), 2);
  // It watches again, through the new connection.
  t.virt.SetState("vm1", DomainState::kRunning);
  EXPECT_TRUE(WaitFor([&] { return t.stop.load(); }));
  EXPECT_EQ(t.guard->Check().kind(), Kind::kSourceChanged);
}

TEST(DomainGuardOverFake, AStartDuringTheOutageIsSeenOnReconnectWhenItStillRuns) {
  Guarded t;
  ASSERT_TRUE(t.Start().ok());
  t.virt.Kill();
  EXPECT_TRUE(WaitFor([&] { return !t.guard->WaitConnected(0, nullptr).ok(); }));
  t.virt.SetState("vm1", DomainState::kRunning);  // no watcher hears it
  t.virt.Revive();
  ASSERT_TRUE(t.guard->WaitConnected(15, nullptr).ok());
  EXPECT_TRUE(WaitFor([&] { return t.stop.load(); }));
  EXPECT_EQ(t.guard->Check().kind(), Kind::kSourceChanged);
}

TEST(DomainGuardOverFake, RefusesToStartWhenLibvirtIsDownOrTheDomainGone) {
  Guarded t;
  t.virt.Kill();
  EXPECT_FALSE(t.Start().ok());
  t.virt.Revive();
  t.uuid = "0badc0de-0000-4000-8000-000000000001";
  EXPECT_FALSE(t.Start().ok());
}

}  // namespace
}  // namespace v2r::fake
