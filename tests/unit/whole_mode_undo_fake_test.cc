// Whole modes over the fakes (fake_world.h), continued: every undo path of
// an offline migration (a definite failure at every call it makes), the
// environment faults that must not undo, and rollback.
#include <gtest/gtest.h>

#include "fake_world.h"
#include "migrate/migrate.h"

namespace v2r::fake {
namespace {

Result<MigrateReport> Migrate(FakeWorld& w) { return RunMigrate(w.Options(), w.Context()); }

// The calls of each fake cluster operation in a clean migration.
std::map<std::string, int> CleanCalls() {
  FakeWorld w;
  auto report = Migrate(w);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return w.ceph.AllCalls();
}

bool IsMigrated(const FakeWorld& w) {
  MigrationState ms = w.Folded();
  WorldState s = w.Snapshot();
  return ms.completed && !ms.aborted && s.images.size() == 2 && s.state == DomainState::kRunning &&
         s.xml.find("protocol='rbd'") != std::string::npos;
}

TEST(OfflineMigrationOverFakes, ADefiniteCephFailureAtAnyCallLeavesTheOriginalWorld) {
  int undone = 0;
  for (const auto& [op, n] : CleanCalls()) {
    for (int i = 1; i <= n; ++i) {
      SCOPED_TRACE(op + " call " + std::to_string(i));
      FakeWorld w;
      WorldState before = w.Snapshot();
      w.ceph.FailCall(op, i, FakeCluster::Definite("injected failure of " + op));
      auto r = Migrate(w);
      if (r.ok()) {  // tolerated: only the space measured at the end
        EXPECT_TRUE(IsMigrated(w));
        continue;
      }
      EXPECT_NE(r.status().kind(), Kind::kInterrupted) << r.status().ToString();
      EXPECT_EQ(w.Snapshot(), before) << r.status().ToString();
      MigrationState ms = w.Folded();
      if (ms.begun) {
        EXPECT_TRUE(ms.aborted) << r.status().ToString();
        ++undone;
      }
    }
  }
  EXPECT_GT(undone, 20);
}

TEST(OfflineMigrationOverFakes, ADefiniteLibvirtFailureOfAChangeLeavesTheOriginalWorld) {
  for (const char* op : {"Shutdown", "SetAutostart", "DefineCephSecret", "SetSecretValue", "DefineXml", "Start"}) {
    SCOPED_TRACE(op);
    FakeWorld w;
    w.virt.Update("vm1", [](FakeDomain& d) { d.autostart = true; });
    WorldState before = w.Snapshot();
    w.virt.FailCall(op, 1, Status::Failed(std::string("injected failure of ") + op));
    auto r = Migrate(w);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(w.Snapshot(), before) << r.status().ToString();
  }
}

TEST(OfflineMigrationOverFakes, AClusterOutOfReachAtAnyCallStopsResumableAndARerunConverges) {
  int interrupted = 0;
  for (const auto& [op, n] : CleanCalls()) {
    for (int i = 1; i <= n; ++i) {
      SCOPED_TRACE(op + " call " + std::to_string(i));
      FakeWorld w;
      w.ceph.FailCall(op, i, FakeCluster::Timeout("injected timeout of " + op));
      auto r = Migrate(w);
      MigrationState ms = w.Folded();
      EXPECT_FALSE(ms.aborted) << "undone after an environment fault: " << r.status().ToString();
      if (!r.ok() && ms.begun) {
        EXPECT_EQ(r.status().kind(), Kind::kInterrupted) << r.status().ToString();
        ++interrupted;
      }
      auto rerun = Migrate(w);
      ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
      EXPECT_TRUE(IsMigrated(w));
    }
  }
  EXPECT_GT(interrupted, 20);
}

// ------------------------------------------------------------------ rollback

Result<RollbackReport> Rollback(FakeWorld& w, std::function<Status(const nlohmann::json&)> hook = {},
                                bool copy_back = false, std::optional<bool> start = std::nullopt) {
  RollbackOptions o = w.RollbackOpts();
  o.remove_images = true;
  o.copy_back = copy_back;
  o.start = start;
  return RunRollback(o, w.Context(std::move(hook)));
}

TEST(OfflineRollbackOverFakes, CrashAfterEveryRecordThenRerunRestoresTheOriginalWorld) {
  int records = 0;
  {
    FakeWorld w;
    WorldState before = w.Snapshot();
    ASSERT_TRUE(Migrate(w).ok());
    auto counted = Rollback(w, [&](const nlohmann::json&) {
      ++records;
      return Status::Ok();
    });
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    EXPECT_EQ(w.Snapshot(), before);
    EXPECT_TRUE(w.Folded().rolled_back);
  }
  ASSERT_GT(records, 3);
  for (int k = 1; k <= records; ++k) {
    SCOPED_TRACE("crash after rollback record " + std::to_string(k));
    FakeWorld w;
    WorldState before = w.Snapshot();
    ASSERT_TRUE(Migrate(w).ok());
    int seen = 0;
    auto first = Rollback(w, [&](const nlohmann::json&) {
      return ++seen == k ? Status::Interrupted("simulated crash") : Status::Ok();
    });
    ASSERT_FALSE(first.ok());
    // --start: a rollback rerun after its own stop sees the VM shut off and
    // would not start it by itself (what it was before the rollback is not
    // journalled).
    auto rerun = Rollback(w, {}, false, true);
    ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
    EXPECT_EQ(w.Snapshot(), before);
    // Finished either way: a rerun after the definition was restored finds
    // no switch left and undoes the rest as an unfinished migration (aborted).
    MigrationState ms = w.Folded();
    EXPECT_TRUE(ms.Finished()) << ms.Phase();
  }
}

TEST(OfflineRollbackOverFakes, CopyBackWritesWhatTheVmWroteOnRbdToTheOriginalDisk) {
  FakeWorld w;
  ASSERT_TRUE(Migrate(w).ok());
  // The VM writes 64 KiB at 2 MiB (a hole of the source) while on RBD.
  const uint64_t at = 2 << 20;
  w.ceph.UpdateImage("rbd", "vm1-vdb", [&](FakeImage& img) {
    std::fill(img.data.begin() + at, img.data.begin() + at + kFakeBlock, 'Z');
    img.allocated[at / kFakeBlock] = true;
    for (FakeSnapshot& s : img.snaps) s.dirty[at / kFakeBlock] = true;
  });
  std::string expected = w.ceph.ImageBytes("rbd", "vm1-vdb");
  auto refused = Rollback(w);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().kind(), Kind::kRefused) << refused.status().ToString();
  auto r = Rollback(w, {}, /*copy_back=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ReadWhole(w.disks[1]) == expected) << "the change did not reach the original disk";
  EXPECT_TRUE(w.ceph.ImageNames("rbd").empty());
  EXPECT_EQ(w.virt.Get("vm1").xml.find("protocol='rbd'"), std::string::npos);
}

}  // namespace
}  // namespace v2r::fake

namespace v2r::fake {
namespace {

// A second migration of the same state dir that reused vm1's cephx user and
// secret and has begun but not switched yet (a copy of vm1's journal up to its
// begin record, under another uuid, as a parallel migration writes it).
void AddUnfinishedMigrationSharingTheUser(const FakeWorld& w, const std::string& other_uuid) {
  auto records = v2r::Journal::ReadOnly(w.JournalPath());
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  std::string dir = StateDir::DomainDirOf(w.state_dir, other_uuid);
  std::filesystem::create_directories(dir);
  auto j = v2r::Journal::Open(dir + "/journal");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  for (nlohmann::json r : *records) {
    bool begin = r.value("event", "") == "begin";
    if (begin) {
      r["domain"] = "vm2";
      r["uuid"] = other_uuid;
    }
    ASSERT_TRUE((*j)->Append(r).ok());
    if (begin) break;
  }
}

TEST(OfflineRollbackOverFakes, KeepsTheUserAndSecretAnotherUnfinishedMigrationUses) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  ASSERT_TRUE(Migrate(w).ok());
  WorldState migrated = w.Snapshot();
  ASSERT_EQ(migrated.users.size(), before.users.size() + 1) << "the migration created its cephx user";
  AddUnfinishedMigrationSharingTheUser(w, "00000000-0000-4000-8000-00000000beef");
  auto rb = Rollback(w);
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  WorldState after = w.Snapshot();
  EXPECT_EQ(after.xml, before.xml);
  EXPECT_EQ(after.users, migrated.users) << "the user another migration uses was removed";
  EXPECT_EQ(after.secrets, migrated.secrets) << "the secret another migration uses was removed";
  EXPECT_NE(rb->message.find("kept"), std::string::npos) << rb->message;
  EXPECT_NE(rb->message.find("vm2"), std::string::npos) << rb->message;

  // Without it, the same rollback removes them (the world as it was).
  FakeWorld alone;
  WorldState alone_before = alone.Snapshot();
  ASSERT_TRUE(Migrate(alone).ok());
  ASSERT_TRUE(Rollback(alone).ok());
  EXPECT_EQ(alone.Snapshot(), alone_before);
}

}  // namespace
}  // namespace v2r::fake
