// Whole modes over the fakes (fake_world.h): an offline migration and its
// rollback, end to end, then again with a crash after every journal record
// followed by a rerun, and with a failure injected at every call.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fake_world.h"
#include "migrate/migrate.h"

namespace v2r::fake {
namespace {

// A hook that crashes the run after its kth record (and counts them all).
struct Crash {
  int at = 0;  // 0: never
  std::shared_ptr<int> seen = std::make_shared<int>(0);
  std::function<Status(const nlohmann::json&)> Hook() const {
    return [at = at, seen = seen](const nlohmann::json&) {
      if (++*seen == at) return Status::Interrupted("simulated crash after record " + std::to_string(at));
      return Status::Ok();
    };
  }
};

Result<MigrateReport> Migrate(FakeWorld& w, std::function<Status(const nlohmann::json&)> hook = {}) {
  return RunMigrate(w.Options(), w.Context(std::move(hook)));
}

int Count(const std::vector<std::string>& events, const std::string& e) {
  return static_cast<int>(std::count(events.begin(), events.end(), e));
}

// What a migrated world looks like: checked field by field, so that the
// crash and fault tests can compare whole snapshots with the clean run's.
void ExpectMigrated(FakeWorld& w, const WorldState& before) {
  WorldState s = w.Snapshot();
  EXPECT_NE(s.xml.find("<source protocol='rbd' name='rbd/vm1-vda'>"), std::string::npos) << s.xml;
  EXPECT_NE(s.xml.find("<source protocol='rbd' name='rbd/vm1-vdb'>"), std::string::npos) << s.xml;
  EXPECT_EQ(s.xml.find("vm1-vda.img"), std::string::npos) << s.xml;
  EXPECT_EQ(s.state, DomainState::kRunning);
  ASSERT_EQ(s.images.size(), 2u);
  EXPECT_TRUE(s.images["vm1-vda"] == before.sources.at("vm1-vda.img")) << "image vda differs from its source";
  EXPECT_TRUE(s.images["vm1-vdb"] == before.sources.at("vm1-vdb.img")) << "image vdb differs from its source";
  EXPECT_EQ(s.snapshots["vm1-vda"], std::vector<std::string>{"virt2rbd-switch"});
  EXPECT_EQ(s.image_state["vm1-vda"], "complete");
  ASSERT_EQ(s.users.count("client.libvirt"), 1u);
  EXPECT_EQ(s.users["client.libvirt"].at("osd"), "profile rbd pool=rbd");
  EXPECT_EQ(s.users["client.libvirt"].at("mon"), "profile rbd");
  EXPECT_EQ(s.secrets["client.libvirt secret"], s.user_keys["client.libvirt"]);
  EXPECT_TRUE(s.sources == before.sources) << "a source disk was written";
  // The holes of the sources stay holes on the images.
  auto img = w.ceph.GetImage("rbd", "vm1-vda");
  ASSERT_TRUE(img);
  EXPECT_LT(img->AllocatedBytes(), FakeWorld::kDiskSize / 2);
  MigrationState ms = w.Folded();
  EXPECT_TRUE(ms.completed);
  EXPECT_FALSE(ms.aborted);
  EXPECT_EQ(ms.Phase(), "migrated");
}

TEST(OfflineMigrationOverFakes, MigratesEndToEnd) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  auto report = Migrate(w);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->nothing_to_do);
  ExpectMigrated(w, before);
  // A second run changes nothing.
  auto again = Migrate(w);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->nothing_to_do);
}

// The records of a clean run, and its end state.
struct CleanRun {
  int records = 0;
  WorldState end;
  std::vector<std::string> events;
};

CleanRun RunClean() {
  FakeWorld w;
  Crash count;
  auto report = Migrate(w, count.Hook());
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return {*count.seen, w.Snapshot(), w.Events()};
}

TEST(OfflineMigrationOverFakes, CrashAfterEveryRecordThenRerunConverges) {
  CleanRun clean = RunClean();
  ASSERT_GT(clean.records, 10);
  for (int k = 1; k <= clean.records; ++k) {
    SCOPED_TRACE("crash after record " + std::to_string(k));
    FakeWorld w;
    WorldState before = w.Snapshot();
    Crash crash{k};
    auto first = Migrate(w, crash.Hook());
    ASSERT_FALSE(first.ok());
    // (The journal's version record comes first, without the hook.)
    EXPECT_EQ(w.Events().size(), static_cast<size_t>(k) + 1) << "records written after the crash";
    auto rerun = Migrate(w);
    ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
    ExpectMigrated(w, before);
    EXPECT_EQ(w.Snapshot(), clean.end);
    std::vector<std::string> ev = w.Events();
    for (const char* once : {"begin", "completed", "switched", "definition-saved", "secret-defined", "user-created"})
      EXPECT_EQ(Count(ev, once), Count(clean.events, once)) << once;
    EXPECT_EQ(Count(ev, "aborted"), 0);
  }
}

}  // namespace
}  // namespace v2r::fake
