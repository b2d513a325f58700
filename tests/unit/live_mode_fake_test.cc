// Live mode over the fakes (fake_world.h, the fake hypervisor's block jobs in
// fake_block_jobs.cc): migrate --live end to end while the guest writes, a
// crash after every journal record followed by a rerun, a failure injected at
// every libvirt block-job call and every Ceph call, and rollback --live.
//
// A "crash" here is the tool dying, not qemu: the after_record hook fails the
// run (every later record fails too) and libvirtd's connections die with it
// (FakeLibvirt::Kill), so the run can neither undo nor cancel the copies, which
// keep running as qemu's would. The rerun sees libvirtd again (Revive).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "fake_world.h"
#include "migrate/migrate.h"

namespace v2r::fake {
namespace {

using Hook = std::function<Status(const nlohmann::json&)>;

MigrateOptions LiveOptions(const FakeWorld& w) {
  MigrateOptions o = w.Options();
  o.live = true;
  o.shutdown = false;
  return o;
}

Result<MigrateReport> MigrateLive(FakeWorld& w, Hook hook = {}) {
  return RunMigrate(LiveOptions(w), w.Context(std::move(hook)));
}

Result<RollbackReport> RollbackLive(FakeWorld& w, Hook hook = {}) {
  RollbackOptions o = w.RollbackOpts();
  o.live = true;
  o.shutdown = false;
  o.remove_images = true;
  return RunRollback(o, w.Context(std::move(hook)));
}

// The tool dies after its kth record (libvirtd's connections with it); counts them all.
struct Crash {
  FakeWorld* w = nullptr;
  int at = 0;  // 0: never
  std::shared_ptr<int> seen = std::make_shared<int>(0);
  Hook HookFn() const {
    return [w = w, at = at, seen = seen](const nlohmann::json&) {
      if (++*seen != at) return Status::Ok();
      w->virt.Kill();
      return Status::Interrupted("simulated crash after record " + std::to_string(at));
    };
  }
};

int Count(const std::vector<std::string>& events, const std::string& e) {
  return static_cast<int>(std::count(events.begin(), events.end(), e));
}
size_t IndexOf(const std::vector<std::string>& events, const std::string& e) {
  return static_cast<size_t>(std::find(events.begin(), events.end(), e) - events.begin());
}

// 64 KiB of `c`.
std::string Block(char c) { return std::string(kFakeBlock, c); }

// The running VM on its original files, as before the migration.
void ExpectOnSources(const FakeWorld& w, const std::string& live_before) {
  FakeDomain d = w.virt.Get("vm1");
  EXPECT_EQ(d.state, DomainState::kRunning);
  EXPECT_TRUE(d.jobs.empty()) << "a block job is left";
  EXPECT_EQ(d.live_xml, live_before);
  EXPECT_EQ(d.live_xml.find("<mirror"), std::string::npos) << d.live_xml;
}

// What a live-migrated world looks like. `sources`: the bytes the disks hold
// (the guest wrote to them during the copy).
void ExpectLiveMigrated(FakeWorld& w) {
  WorldState s = w.Snapshot();
  FakeDomain d = w.virt.Get("vm1");
  EXPECT_EQ(d.state, DomainState::kRunning);
  EXPECT_TRUE(d.jobs.empty()) << "a block job is left";
  for (const std::string& xml : {d.xml, d.live_xml}) {
    EXPECT_NE(xml.find("<source protocol='rbd' name='rbd/vm1-vda'>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("<source protocol='rbd' name='rbd/vm1-vdb'>"), std::string::npos) << xml;
    EXPECT_EQ(xml.find("vm1-vda.img"), std::string::npos) << xml;
    EXPECT_EQ(xml.find("<mirror"), std::string::npos) << xml;
  }
  // Never stopped: no shutdown, power off or start; paused once per pivot pause.
  EXPECT_EQ(w.virt.Calls("Shutdown") + w.virt.Calls("Destroy") + w.virt.Calls("Start"), 0);
  ASSERT_EQ(s.images.size(), 2u);
  EXPECT_TRUE(s.images["vm1-vda"] == s.sources.at("vm1-vda.img")) << "image vda differs from its source";
  EXPECT_TRUE(s.images["vm1-vdb"] == s.sources.at("vm1-vdb.img")) << "image vdb differs from its source";
  for (const char* img : {"vm1-vda", "vm1-vdb"}) {
    EXPECT_EQ(s.snapshots[img], std::vector<std::string>{"virt2rbd-switch"}) << img;
    auto fi = w.ceph.GetImage("rbd", img);
    ASSERT_TRUE(fi);
    // The rollback snapshot holds the image at the pivot: the original disk.
    ASSERT_EQ(fi->snaps.size(), 1u);
    std::string at_snap = fi->snaps[0].data;
    for (size_t b = 0; b < fi->snaps[0].allocated.size(); ++b)
      if (!fi->snaps[0].allocated[b])
        std::fill(at_snap.begin() + b * kFakeBlock, at_snap.begin() + (b + 1) * kFakeBlock, '\0');
    EXPECT_TRUE(at_snap == s.sources.at(std::string(img) + ".img")) << img << " at the snapshot";
    // The mirror wrote the zeros too; sparsify freed them (as thin as offline).
    EXPECT_LT(fi->AllocatedBytes(), FakeWorld::kDiskSize / 2) << img;
  }
  ASSERT_EQ(s.users.count("client.libvirt"), 1u);
  EXPECT_EQ(s.users["client.libvirt"].at("osd"), "profile rbd pool=rbd");
  EXPECT_EQ(s.secrets["client.libvirt secret"], s.user_keys["client.libvirt"]);
  MigrationState ms = w.Folded();
  EXPECT_TRUE(ms.live);
  EXPECT_TRUE(ms.completed);
  EXPECT_FALSE(ms.aborted);
  EXPECT_FALSE(ms.paused);
  EXPECT_EQ(ms.Phase(), "migrated");
  ASSERT_EQ(ms.disks.size(), 2u);
  for (const DiskRecord& dr : ms.disks) {
    SCOPED_TRACE(dr.target);
    EXPECT_TRUE(dr.created);
    EXPECT_TRUE(dr.copied);
    EXPECT_TRUE(dr.snapshot);
    EXPECT_FALSE(dr.live.copy_started);  // the copy ended with the pivot
    EXPECT_TRUE(dr.live.pivoted);
    EXPECT_TRUE(dr.live.sparsified);
  }
}

TEST(LiveMigrationOverFakes, MigratesTheRunningVmWhileTheGuestWrites) {
  FakeWorld w;
  w.virt.SetCopyPolls(3);
  // The guest writes while the copies run: 64 KiB at 3 MiB (a hole of the
  // source) on vdb at the first poll, 64 KiB at 0 on vda at the second.
  int polls = 0;
  w.virt.SetBlockJobPollHook([&](const std::string&, const std::string& disk) {
    ++polls;
    if (polls == 1) w.virt.GuestWrite("vm1", "vdb", 3 << 20, Block('W'));
    if (polls == 3 && disk == "vda") w.virt.GuestWrite("vm1", "vda", 0, Block('V'));
  });
  std::string before_def = w.virt.Get("vm1").xml;
  auto report = MigrateLive(w);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ExpectLiveMigrated(w);
  // The writes are on the images (and the originals, which qemu wrote until the pivot).
  EXPECT_EQ(w.ceph.ImageBytes("rbd", "vm1-vdb").substr(3 << 20, kFakeBlock), Block('W'));
  EXPECT_EQ(w.ceph.ImageBytes("rbd", "vm1-vda").substr(0, kFakeBlock), Block('V'));
  EXPECT_GE(polls, 6) << "progress over three polls per disk";
  EXPECT_EQ(w.virt.Calls("Suspend"), 1);
  EXPECT_EQ(w.virt.Calls("Resume"), 1);
  EXPECT_EQ(w.virt.Calls("BlockCopy"), 2);
  EXPECT_EQ(w.virt.Calls("BlockJobAbort"), 2);  // the two pivots
  // The journal, as docs/live-migration.md lists it.
  std::vector<std::string> ev = w.Events();
  for (const char* e : {"blockcopy-start", "sparsified", "pivot", "pivoted", "snapshot-created", "disk-copied"})
    EXPECT_EQ(Count(ev, e), 2) << e;
  for (const char* e : {"begin", "vm-pause", "vm-resumed", "switched", "completed"}) EXPECT_EQ(Count(ev, e), 1) << e;
  EXPECT_EQ(Count(ev, "blockcopy-cancelled") + Count(ev, "abort-begin"), 0);
  EXPECT_EQ(Count(ev, "export-start"), 0) << "raw files are verified directly, without an export";
  EXPECT_LT(IndexOf(ev, "image-created"), IndexOf(ev, "blockcopy-start"));
  EXPECT_LT(IndexOf(ev, "blockcopy-start"), IndexOf(ev, "sparsified"));
  EXPECT_LT(IndexOf(ev, "sparsified"), IndexOf(ev, "pivot"));
  EXPECT_LT(IndexOf(ev, "pivot"), IndexOf(ev, "vm-pause"));
  EXPECT_LT(IndexOf(ev, "vm-pause"), IndexOf(ev, "pivoted"));
  EXPECT_LT(IndexOf(ev, "pivoted"), IndexOf(ev, "snapshot-created"));
  EXPECT_LT(IndexOf(ev, "snapshot-created"), IndexOf(ev, "vm-resumed"));
  EXPECT_LT(IndexOf(ev, "vm-resumed"), IndexOf(ev, "switched"));
  EXPECT_LT(IndexOf(ev, "switched"), IndexOf(ev, "disk-copied"));
  MigrationState ms = w.Folded();
  for (const DiskRecord& d : ms.disks) EXPECT_TRUE(d.verified) << d.target;
  EXPECT_GT(ms.pause_end_ms, 0);
  // A second run changes nothing.
  auto again = MigrateLive(w);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->nothing_to_do);
  EXPECT_NE(before_def, w.virt.Get("vm1").xml);
}

// The original disk is the rollback point: written after the pivot (by
// anything), the verification through the shared journalled reader sees it,
// and the VM stays on RBD (roll forward, never undo).
TEST(LiveMigrationOverFakes, AnOriginalWrittenAfterThePivotFailsTheVerification) {
  FakeWorld w;
  auto info = ParseDomainXml(w.virt.Get("vm1").xml);
  ASSERT_TRUE(info.ok());
  const std::string vda = info->disks.at(0).source;
  bool written = false;
  auto report = MigrateLive(w, [&](const nlohmann::json& rec) {
    if (!written && rec.value("event", "") == "switched") {
      written = true;
      int fd = ::open(vda.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return Status::Internal("test: cannot open " + vda);
      std::string x = Block('X');
      ssize_t n = ::pwrite(fd, x.data(), x.size(), 0);
      ::close(fd);
      if (n != static_cast<ssize_t>(x.size())) return Status::Internal("test: cannot write " + vda);
    }
    return Status::Ok();
  });
  ASSERT_TRUE(written);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().kind(), Kind::kFailed) << report.status().ToString();
  EXPECT_NE(report.status().message().find("stopped after the pivot"), std::string::npos) << report.status().message();
  EXPECT_NE(report.status().message().find("disk vda"), std::string::npos) << report.status().message();
  EXPECT_EQ(w.virt.Get("vm1").state, DomainState::kRunning);
  EXPECT_NE(w.virt.Get("vm1").live_xml.find("rbd/vm1-vda"), std::string::npos) << "the VM left RBD";
}

TEST(LiveMigrationOverFakes, BandwidthIsSplitAcrossTheCopies) {
  FakeWorld w;
  MigrateOptions o = LiveOptions(w);
  o.bandwidth = 10 << 20;
  std::vector<uint64_t> speeds;
  w.virt.SetBlockJobPollHook([&](const std::string&, const std::string& disk) {
    FakeDomain d = w.virt.Get("vm1");
    if (d.jobs.count(disk) && speeds.size() < 2) speeds.push_back(d.jobs.at(disk).speeds.front());
  });
  auto report = RunMigrate(o, w.Context());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(speeds, (std::vector<uint64_t>{5 << 20, 5 << 20}));
}

// The records of a clean run and its end state.
struct CleanRun {
  int records = 0;
  WorldState end;
  std::vector<std::string> events;
};

CleanRun RunClean() {
  FakeWorld w;
  Crash count{&w};
  auto report = MigrateLive(w, count.HookFn());
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return {*count.seen, w.Snapshot(), w.Events()};
}

TEST(LiveMigrationOverFakes, CrashAfterEveryRecordThenRerunConverges) {
  CleanRun clean = RunClean();
  ASSERT_GT(clean.records, 20);
  int adopted = 0, recovered_resume = 0;
  for (int k = 1; k <= clean.records; ++k) {
    SCOPED_TRACE("crash after record " + std::to_string(k));
    FakeWorld w;
    Crash crash{&w, k};
    auto first = MigrateLive(w, crash.HookFn());
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(w.Events().size(), static_cast<size_t>(k) + 1) << "records written after the crash";
    EXPECT_FALSE(w.Folded().aborted);
    w.virt.Revive();
    auto rerun = MigrateLive(w);
    ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
    ExpectLiveMigrated(w);
    EXPECT_EQ(w.Snapshot(), clean.end);
    std::vector<std::string> ev = w.Events();
    for (const char* once : {"begin", "completed", "switched", "definition-saved", "secret-defined", "user-created"})
      EXPECT_EQ(Count(ev, once), Count(clean.events, once)) << once;
    EXPECT_EQ(Count(ev, "aborted"), 0);
    adopted += Count(ev, "blockcopy-adopted") > 0;
    recovered_resume += Count(ev, "vm-resumed") > 1;
  }
  EXPECT_GT(adopted, 0) << "no rerun took over a copy left running";
  EXPECT_GT(recovered_resume, 0) << "no rerun recovered a pause";
}

// ------------------------------------------------- failures before the pivot

bool AnyPivoted(const MigrationState& ms) {
  return std::any_of(ms.disks.begin(), ms.disks.end(), [](const DiskRecord& d) { return d.live.pivoted; });
}

// A failed run: before any pivot, the original world (copies cancelled,
// everything created removed, the VM on its files); after one, the run
// stops resumable and a rerun finishes. Returns whether it was undone.
bool ExpectUndoneOrResumable(FakeWorld& w, const WorldState& before, const std::string& live_before,
                             const Status& st) {
  MigrationState ms = w.Folded();
  if (AnyPivoted(ms)) {
    EXPECT_FALSE(ms.aborted) << st.ToString();
    EXPECT_NE(st.message().find("after the pivot"), std::string::npos) << st.ToString();
    auto rerun = MigrateLive(w);
    EXPECT_TRUE(rerun.ok()) << rerun.status().ToString();
    ExpectLiveMigrated(w);
    return false;
  }
  EXPECT_NE(st.kind(), Kind::kInterrupted) << st.ToString();
  EXPECT_EQ(w.Snapshot(), before) << st.ToString();
  ExpectOnSources(w, live_before);
  if (ms.begun) EXPECT_TRUE(ms.aborted) << st.ToString();
  return ms.begun;
}

TEST(LiveMigrationOverFakes, ADefiniteLibvirtFailureAtEveryBlockJobCallLeavesTheOriginalWorld) {
  std::map<std::string, int> clean;
  {
    FakeWorld w;
    ASSERT_TRUE(MigrateLive(w).ok());
    for (const char* op : {"BlockCopy", "BlockJob", "BlockJobAbort", "Suspend", "Resume"})
      clean[op] = w.virt.Calls(op);
  }
  ASSERT_GE(clean["BlockJob"], 4);
  int undone = 0, forward = 0;
  for (const auto& [op, n] : clean) {
    for (int i = 1; i <= n; ++i) {
      SCOPED_TRACE(op + " call " + std::to_string(i));
      FakeWorld w;
      WorldState before = w.Snapshot();
      std::string live_before = w.virt.Get("vm1").live_xml;
      w.virt.FailCall(op, i, Status::Failed("injected failure of " + op));
      auto r = MigrateLive(w);
      ASSERT_FALSE(r.ok()) << "a failed " << op << " went unnoticed";
      if (ExpectUndoneOrResumable(w, before, live_before, r.status())) ++undone;
      else ++forward;
    }
  }
  EXPECT_GE(undone, clean["BlockCopy"] + clean["BlockJob"] + 2);  // + the first pivot and the pause
  EXPECT_GE(forward, 1);  // the second pivot, the resume
}

TEST(LiveMigrationOverFakes, ACopyThatEndsBeforeItIsInSyncIsUndone) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  std::string live_before = w.virt.Get("vm1").live_xml;
  w.virt.SetCopyPolls(5);
  // qemu ends vdb's copy (an I/O error on the destination).
  w.virt.SetBlockJobPollHook([&](const std::string&, const std::string& disk) {
    if (disk != "vdb") return;
    w.virt.Update("vm1", [](FakeDomain& d) {
      if (!d.jobs.count("vdb")) return;
      d.jobs.erase("vdb");
      size_t at = d.live_xml.find("<mirror", d.live_xml.find("<target dev='vdb'"));
      size_t end = d.live_xml.find("</mirror>", at);
      ASSERT_NE(end, std::string::npos) << d.live_xml;
      d.live_xml.erase(at, end + 9 - at);
    });
  });
  auto r = MigrateLive(w);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ended before it was in sync"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(w.Snapshot(), before);
  ExpectOnSources(w, live_before);
  EXPECT_TRUE(w.Folded().aborted);
}

// The calls of each fake cluster operation in a clean live migration.
std::map<std::string, int> CleanCephCalls() {
  FakeWorld w;
  auto report = MigrateLive(w);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return w.ceph.AllCalls();
}

TEST(LiveMigrationOverFakes, ADefiniteCephFailureAtAnyCallLeavesTheOriginalWorldOrFinishesOnRerun) {
  int undone = 0;
  for (const auto& [op, n] : CleanCephCalls()) {
    for (int i = 1; i <= n; ++i) {
      SCOPED_TRACE(op + " call " + std::to_string(i));
      FakeWorld w;
      WorldState before = w.Snapshot();
      std::string live_before = w.virt.Get("vm1").live_xml;
      w.ceph.FailCall(op, i, FakeCluster::Definite("injected failure of " + op));
      auto r = MigrateLive(w);
      if (r.ok()) {  // tolerated (e.g. the space measured at the end)
        ExpectLiveMigrated(w);
        continue;
      }
      if (ExpectUndoneOrResumable(w, before, live_before, r.status())) ++undone;
    }
  }
  EXPECT_GT(undone, 15);
}

TEST(LiveMigrationOverFakes, AClusterOutOfReachAtAnyCallStopsResumableAndARerunConverges) {
  int interrupted = 0;
  for (const auto& [op, n] : CleanCephCalls()) {
    for (int i = 1; i <= n; ++i) {
      SCOPED_TRACE(op + " call " + std::to_string(i));
      FakeWorld w;
      w.ceph.FailCall(op, i, FakeCluster::Timeout("injected timeout of " + op));
      auto r = MigrateLive(w);
      MigrationState ms = w.Folded();
      EXPECT_FALSE(ms.aborted) << "undone after an environment fault: " << r.status().ToString();
      if (!r.ok() && ms.begun) {
        EXPECT_EQ(r.status().kind(), Kind::kInterrupted) << r.status().ToString();
        EXPECT_TRUE(std::filesystem::exists(w.JournalPath())) << "the state dir is gone";
        ++interrupted;
      }
      auto rerun = MigrateLive(w);
      ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
      ExpectLiveMigrated(w);
    }
  }
  EXPECT_GT(interrupted, 15);
}

TEST(LiveMigrationOverFakes, LibvirtGoneWhileTheCopiesRunStopsResumableAndTheRerunAdoptsThem) {
  for (int at = 1; at <= 4; ++at) {
    SCOPED_TRACE("libvirtd dies at BlockJob call " + std::to_string(at));
    FakeWorld w;
    w.virt.SetCopyPolls(3);
    int polls = 0;
    w.virt.SetBlockJobPollHook([&](const std::string&, const std::string&) {
      if (++polls == at) w.virt.Kill();
    });
    auto r = MigrateLive(w);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().kind(), Kind::kInterrupted) << r.status().ToString();
    MigrationState ms = w.Folded();
    EXPECT_FALSE(ms.aborted) << r.status().ToString();
    FakeDomain d = w.virt.Get("vm1");
    EXPECT_EQ(d.jobs.size(), 2u) << "qemu's copies keep running";
    EXPECT_EQ(w.ceph.ImageNames("rbd").size(), 2u);
    w.virt.SetBlockJobPollHook({});
    w.virt.Revive();
    auto rerun = MigrateLive(w);
    ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
    ExpectLiveMigrated(w);
    EXPECT_EQ(Count(w.Events(), "blockcopy-adopted"), 2);
    EXPECT_EQ(Count(w.Events(), "image-created"), 2) << "an image made again";
  }
}

// ------------------------------------------------------------ rollback --live

TEST(LiveRollbackOverFakes, CopiesWhatTheVmWroteOnRbdBackAndPivotsWithoutStopping) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  std::string live_before = w.virt.Get("vm1").live_xml;
  ASSERT_TRUE(MigrateLive(w).ok());
  // On RBD the guest writes 64 KiB at 2 MiB (a hole of the source) of vdb.
  w.virt.GuestWrite("vm1", "vdb", 2 << 20, Block('R'));
  std::string expected_vdb = w.ceph.ImageBytes("rbd", "vm1-vdb");
  ASSERT_NE(expected_vdb, before.sources.at("vm1-vdb.img"));
  // And again while the copy back runs.
  w.virt.SetBlockJobPollHook([&](const std::string&, const std::string& disk) {
    if (disk == "vda" && w.virt.Get("vm1").jobs.count("vda")) {
      w.virt.GuestWrite("vm1", "vda", 4 << 20, Block('S'));
      w.virt.SetBlockJobPollHook({});
    }
  });
  auto r = RollbackLive(w);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ReadWhole(w.disks[1]) == expected_vdb) << "what the VM wrote on RBD is not on the original disk";
  EXPECT_EQ(ReadWhole(w.disks[0]).substr(4 << 20, kFakeBlock), Block('S')) << "a write during the copy back is lost";
  // The VM runs on its files again, never stopped; its definition is the original.
  EXPECT_EQ(w.virt.Calls("Shutdown") + w.virt.Calls("Destroy") + w.virt.Calls("Start"), 0);
  ExpectOnSources(w, live_before);
  FakeDomain d = w.virt.Get("vm1");
  EXPECT_EQ(d.live_xml.find("protocol='rbd'"), std::string::npos) << d.live_xml;
  EXPECT_NE(d.live_xml.find(w.disks[0]), std::string::npos);
  EXPECT_NE(d.live_xml.find(w.disks[1]), std::string::npos);
  WorldState after = w.Snapshot();
  EXPECT_EQ(after.xml, before.xml);
  EXPECT_TRUE(after.images.empty());
  EXPECT_TRUE(after.users.empty());
  EXPECT_TRUE(after.secrets.empty());
  ASSERT_EQ(r->changed.size(), 2u);
  MigrationState ms = w.Folded();
  EXPECT_TRUE(ms.rolled_back);
  std::vector<std::string> ev = w.Events();
  for (const char* e : {"blockcopy-back-start", "pivot-back", "pivoted-back", "image-removed"})
    EXPECT_EQ(Count(ev, e), 2) << e;
  EXPECT_EQ(Count(ev, "rolled-back"), 1);
  EXPECT_LT(IndexOf(ev, "pivoted-back"), IndexOf(ev, "definition-restored"));
}

TEST(LiveRollbackOverFakes, AFailedCopyBackLeavesTheVmOnRbdAndARerunFinishes) {
  FakeWorld w;
  WorldState before = w.Snapshot();
  ASSERT_TRUE(MigrateLive(w).ok());
  w.virt.GuestWrite("vm1", "vdb", 2 << 20, Block('R'));
  std::string expected_vdb = w.ceph.ImageBytes("rbd", "vm1-vdb");
  w.virt.FailCall("BlockCopy", 2, Status::Failed("injected failure of BlockCopy"));
  auto r = RollbackLive(w);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("before the pivot"), std::string::npos) << r.status().ToString();
  FakeDomain d = w.virt.Get("vm1");
  EXPECT_TRUE(d.jobs.empty()) << "the copy back of vda still runs";
  EXPECT_NE(d.live_xml.find("name='rbd/vm1-vda'"), std::string::npos) << d.live_xml;
  EXPECT_NE(d.live_xml.find("name='rbd/vm1-vdb'"), std::string::npos) << d.live_xml;
  EXPECT_EQ(w.ceph.ImageNames("rbd").size(), 2u);
  auto rerun = RollbackLive(w);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  EXPECT_TRUE(ReadWhole(w.disks[1]) == expected_vdb);
  EXPECT_EQ(w.Snapshot().xml, before.xml);
  EXPECT_TRUE(w.ceph.ImageNames("rbd").empty());
}

TEST(LiveRollbackOverFakes, CrashAfterEveryRecordThenRerunFinishesTheRollback) {
  int records = 0;
  {
    FakeWorld w;
    ASSERT_TRUE(MigrateLive(w).ok());
    Crash count{&w};
    ASSERT_TRUE(RollbackLive(w, count.HookFn()).ok());
    records = *count.seen;
  }
  ASSERT_GT(records, 6);
  int adopted = 0;
  for (int k = 1; k <= records; ++k) {
    SCOPED_TRACE("crash after rollback record " + std::to_string(k));
    FakeWorld w;
    WorldState before = w.Snapshot();
    std::string live_before = w.virt.Get("vm1").live_xml;
    ASSERT_TRUE(MigrateLive(w).ok());
    w.virt.GuestWrite("vm1", "vdb", 2 << 20, Block('R'));
    std::string expected_vdb = w.ceph.ImageBytes("rbd", "vm1-vdb");
    Crash crash{&w, k};
    ASSERT_FALSE(RollbackLive(w, crash.HookFn()).ok());
    w.virt.Revive();
    auto rerun = RollbackLive(w);
    ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
    EXPECT_TRUE(ReadWhole(w.disks[1]) == expected_vdb) << "what the VM wrote on RBD is lost";
    ExpectOnSources(w, live_before);
    WorldState after = w.Snapshot();
    EXPECT_EQ(after.xml, before.xml);
    EXPECT_TRUE(after.images.empty());
    EXPECT_TRUE(after.users.empty());
    EXPECT_TRUE(after.secrets.empty());
    EXPECT_TRUE(w.Folded().Finished()) << w.Folded().Phase();
    adopted += Count(w.Events(), "blockcopy-back-adopted") > 0;
  }
  EXPECT_GT(adopted, 0) << "no rerun took over a copy back left running";
}

TEST(LiveRollbackOverFakes, RefusesAStoppedVm) {
  FakeWorld w;
  ASSERT_TRUE(MigrateLive(w).ok());
  w.virt.SetState("vm1", DomainState::kShutoff);
  WorldState before = w.Snapshot();
  auto r = RollbackLive(w);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kRefused) << r.status().ToString();
  EXPECT_NE(r.status().message().find("needs it running"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(w.Snapshot(), before);
}

}  // namespace
}  // namespace v2r::fake
