// Live mode's pure parts: the <mirror> of a disk in the live XML, the <disk>
// element handed to a block copy, the --bandwidth split, the live rules of
// the plan, and the journal records of a live migration folded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "migrate/live_mirror.h"
#include "migrate/plan.h"
#include "migrate/record.h"
#include "fold_util.h"
#include "virt/domain_xml.h"

namespace v2r {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string Domain(const std::string& disks) {
  return "<domain type='qemu'>\n  <name>web1</name>\n  <uuid>6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9</uuid>\n"
         "  <devices>\n" + disks + "  </devices>\n</domain>\n";
}

const std::string kVda =
    "    <disk type='block' device='disk'>\n"
    "      <driver name='qemu' type='raw' cache='none' io='native'/>\n"
    "      <source dev='/dev/loop3'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "      <boot order='1'/>\n"
    "    </disk>\n";
const std::string kVdb =
    "    <disk type='block' device='disk'>\n"
    "      <driver name='qemu' type='raw' cache='none' io='native'/>\n"
    "      <source dev='/dev/loop4'/>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n";

// vda being copied to RBD (in sync), vdb back onto a device (not yet).
const std::string kMirrors =
    "    <disk type='block' device='disk'>\n"
    "      <source dev='/dev/loop3' index='2'/>\n"
    "      <mirror type='network' job='copy' ready='yes'>\n"
    "        <format type='raw'/>\n"
    "        <source protocol='rbd' name='vmpool/web1-vda' index='3'>\n"
    "          <host name='10.0.0.1' port='6789'/>\n"
    "        </source>\n"
    "      </mirror>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='network' device='disk'>\n"
    "      <source protocol='rbd' name='vmpool/web1-vdb' index='1'/>\n"
    "      <mirror type='block' job='copy'>\n"
    "        <source dev='/dev/loop4'/>\n"
    "      </mirror>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n";

TEST(LiveXml, ParsesTheMirrorOfABlockCopy) {
  auto info = ParseDomainXml(Domain(kMirrors));
  ASSERT_TRUE(info.ok()) << info.status().message();
  ASSERT_EQ(info->disks.size(), 2u);
  const DiskInfo& vda = info->disks[0];
  EXPECT_EQ(vda.mirror_job, "copy");
  EXPECT_EQ(vda.mirror_type, "network");
  EXPECT_EQ(vda.mirror_protocol, "rbd");
  EXPECT_EQ(vda.mirror_source, "vmpool/web1-vda");
  EXPECT_TRUE(vda.mirror_ready);
  EXPECT_EQ(vda.source, "/dev/loop3");
  const DiskInfo& vdb = info->disks[1];
  EXPECT_EQ(vdb.mirror_type, "block");
  EXPECT_EQ(vdb.mirror_source, "/dev/loop4");
  EXPECT_FALSE(vdb.mirror_ready);
}

TEST(LiveXml, ADiskWithoutMirrorHasNoJob) {
  auto info = ParseDomainXml(Domain(kVda));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->disks[0].mirror_job.empty());
  EXPECT_FALSE(info->disks[0].mirror_ready);
}

TEST(LiveXml, DiskElementIsTheWholeDiskOfThatTarget) {
  auto xml = DiskElementXml(Domain(kVda + kVdb), "vdb");
  ASSERT_TRUE(xml.ok()) << xml.status().message();
  EXPECT_NE(xml->find("<disk type='block' device='disk'>"), std::string::npos) << *xml;
  EXPECT_NE(xml->find("/dev/loop4"), std::string::npos) << *xml;
  EXPECT_EQ(xml->find("/dev/loop3"), std::string::npos) << *xml;
  EXPECT_EQ(xml->find("<domain"), std::string::npos) << *xml;
  // It parses as a disk of its own.
  auto again = ParseDomainXml(Domain(*xml));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->disks.size(), 1u);
  EXPECT_EQ(again->disks[0].target, "vdb");
  EXPECT_EQ(again->disks[0].cache, "none");
}

TEST(LiveXml, DiskElementOfTheRbdRewriteCarriesSourceHostsAndAuth) {
  RbdRewriteOptions ro;
  ro.hosts = {{"10.0.0.1", 6789}, {"10.0.0.2", 6789}};
  ro.auth_username = "libvirt";
  ro.secret_uuid = "3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90";
  auto rw = RewriteDisksToRbd(Domain(kVda + kVdb), {{"vda", "vmpool", "web1-vda"}}, ro);
  ASSERT_TRUE(rw.ok()) << rw.status().message();
  auto xml = DiskElementXml(rw->xml, "vda");
  ASSERT_TRUE(xml.ok());
  auto info = ParseDomainXml(Domain(*xml));
  ASSERT_TRUE(info.ok());
  const DiskInfo& d = info->disks[0];
  EXPECT_EQ(d.type, "network");
  EXPECT_EQ(d.protocol, "rbd");
  EXPECT_EQ(d.source, "vmpool/web1-vda");
  EXPECT_EQ(d.hosts.size(), 2u);
  EXPECT_EQ(d.auth_username, "libvirt");
  EXPECT_NE(xml->find("uuid='3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90'"), std::string::npos) << *xml;
}

TEST(LiveXml, DiskElementOfAMissingTargetIsRefused) {
  auto xml = DiskElementXml(Domain(kVda), "vdz");
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.status().kind(), Kind::kRefused);
  EXPECT_NE(xml.status().message().find("vdz"), std::string::npos);
}

TEST(SplitBandwidth, SharesTheTotalInProportionToSize) {
  MirrorDisk a, b;
  a.size = 30 * kMiB;
  b.size = 10 * kMiB;
  SplitBandwidth(8 * kMiB, {&a, &b});
  EXPECT_EQ(a.bandwidth, 6 * kMiB);
  EXPECT_EQ(b.bandwidth, 2 * kMiB);
}

TEST(SplitBandwidth, NeverExceedsTheTotalAndNeverZero) {
  MirrorDisk a, b, c;
  a.size = 1;
  b.size = 1ull << 40;
  c.size = 3;
  SplitBandwidth(1000, {&a, &b, &c});
  EXPECT_GE(a.bandwidth, 1u);  // 0 would mean unlimited
  EXPECT_LE(b.bandwidth, 1000u);
  EXPECT_LE(a.bandwidth + b.bandwidth + c.bandwidth, 1000u + 2);  // at most the floor of 1 for tiny disks
}

TEST(SplitBandwidth, ZeroMeansUnlimitedForEveryDisk) {
  MirrorDisk a;
  a.size = kMiB;
  a.bandwidth = 5;
  SplitBandwidth(0, {&a});
  EXPECT_EQ(a.bandwidth, 0u);
}

// ------------------------------------------------------------------ the plan

struct LiveFacts {
  MigrateOptions opts;
  DomainFacts domain;
  std::map<std::string, SourceFacts> sources;
  ClusterFacts cluster;
  LiveFacts() {
    opts.domain = "web1";
    opts.pool = "vmpool";
    opts.live = true;
    domain.uri = "qemu:///system";
    domain.xml = Domain(kVda + kVdb);
    domain.state = RunState::kRunning;
    for (const char* dev : {"/dev/loop3", "/dev/loop4"}) {
      SourceFacts s;
      s.path = dev;
      s.readable = true;
      s.is_block = true;
      s.size = s.allocated = 64 * kMiB;
      sources[dev] = s;
    }
    cluster.pool_exists = cluster.pool_is_rbd = true;
    cluster.max_avail = 1024 * kMiB;
    cluster.monmap = {{"10.0.0.1", 6789}};
  }
  Plan Make() const { return MakePlan(opts, domain, sources, cluster); }
};

std::string Refusals(const Plan& p) {
  std::string s;
  for (const std::string& r : p.refusals) s += r + "\n";
  return s;
}

TEST(LivePlan, ARunningVmMovesWithoutStopOptions) {
  Plan p = LiveFacts().Make();
  EXPECT_TRUE(p.ok()) << Refusals(p);
  EXPECT_TRUE(p.live);
  EXPECT_EQ(p.stop, StopAction::kNone);
  EXPECT_TRUE(p.start_after);
  EXPECT_EQ(p.Moving().size(), 2u);
}

TEST(LivePlan, AVmThatIsNotRunningIsRefused) {
  for (RunState st : {RunState::kShutoff, RunState::kPaused}) {
    LiveFacts f;
    f.domain.state = st;
    Plan p = f.Make();
    ASSERT_EQ(p.refusals.size(), 1u) << Refusals(p);
    EXPECT_NE(p.refusals[0].find("--live needs a running VM"), std::string::npos) << p.refusals[0];
  }
}

TEST(LivePlan, StopOptionsAreRefused) {
  LiveFacts f;
  f.opts.shutdown = true;
  Plan p = f.Make();
  ASSERT_EQ(p.refusals.size(), 1u) << Refusals(p);
  EXPECT_NE(p.refusals[0].find("--shutdown or --force-off"), std::string::npos);
}

TEST(LivePlan, TheFullSizeMustFitBecauseTheMirrorWritesZeros) {
  LiveFacts f;
  f.cluster.max_avail = 100 * kMiB;  // the upper bound, 128 MiB, only warns offline
  Plan p = f.Make();
  ASSERT_EQ(p.refusals.size(), 1u) << Refusals(p);
  EXPECT_NE(p.refusals[0].find("full size"), std::string::npos) << p.refusals[0];
  f.opts.live = false;
  f.domain.state = RunState::kShutoff;
  EXPECT_TRUE(f.Make().ok()) << Refusals(f.Make());
}

// ------------------------------------------------------------------ the journal

using nlohmann::json;

json Begin() {
  return {{"event", "begin"}, {"mode", "live"}, {"domain", "web1"}, {"pool", "vmpool"}, {"state", "running"},
          {"disks",
           {{{"target", "vda"}, {"source", "/dev/loop3"}, {"image", "web1-vda"}, {"size", 64 * kMiB}},
            {{"target", "vdb"}, {"source", "/dev/loop4"}, {"image", "web1-vdb"}, {"size", 64 * kMiB}}}}};
}

json Ev(const std::string& event, json fields = json::object()) {
  fields["event"] = event;
  return fields;
}

TEST(LiveRecords, AWholeLiveMigrationFolds) {
  std::vector<json> r = {Begin(),
                         Ev("image-create", {{"target", "vda"}}),
                         Ev("image-created", {{"target", "vda"}}),
                         Ev("blockcopy-start", {{"target", "vda"}}),
                         Ev("sparsified", {{"target", "vda"}, {"used_before", 64 * kMiB}, {"used_after", 8 * kMiB}}),
                         Ev("pivot", {{"target", "vda"}, {"at_ms", 990}}),
                         Ev("vm-pause", {{"at_ms", 1000}}),
                         Ev("pivoted", {{"target", "vda"}, {"ms", 40.5}, {"at_ms", 1050}}),
                         Ev("snapshot-created", {{"target", "vda"}, {"at_pivot", true}}),
                         Ev("vm-resumed", {{"paused_ms", 120.0}, {"at_ms", 1120}})};
  MigrationState s = MustFold(r);
  EXPECT_TRUE(s.live);
  const DiskRecord* vda = s.Disk("vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_TRUE(vda->created);
  EXPECT_TRUE(vda->live.pivoted);
  EXPECT_FALSE(vda->live.copy_started);  // ended by the pivot
  EXPECT_DOUBLE_EQ(vda->live.pivot_ms, 40.5);
  EXPECT_TRUE(vda->snapshot);
  EXPECT_TRUE(vda->live.snapshot_at_pivot);
  EXPECT_TRUE(vda->live.sparsified);
  EXPECT_EQ(vda->live.used_after_sparsify, 8 * kMiB);
  EXPECT_FALSE(s.Disk("vdb")->live.pivot_intent);
  EXPECT_FALSE(s.paused);
  EXPECT_EQ(s.pause_begin_ms, 1000);
  EXPECT_EQ(s.pause_end_ms, 1120);
  EXPECT_EQ(s.pivot_begin_ms, 1000);  // the pause starts the pivots
  EXPECT_EQ(s.pivot_end_ms, 1050);
}

TEST(LiveRecords, AKillDuringThePauseLeavesItRecorded) {
  std::vector<json> r = {Begin(), Ev("blockcopy-start", {{"target", "vda"}}),
                         Ev("pivot", {{"target", "vda"}, {"at_ms", 4}}), Ev("vm-pause", {{"at_ms", 5}})};
  MigrationState s = MustFold(r);
  EXPECT_TRUE(s.paused);
  EXPECT_TRUE(s.Disk("vda")->live.pivot_intent);
  EXPECT_FALSE(s.Disk("vda")->live.pivoted);
}

TEST(LiveRecords, AnOfflineMigrationIsNotLive) {
  json b = Begin();
  b["mode"] = "offline";
  EXPECT_FALSE(MustFold({b}).live);
}

TEST(LiveRecords, ACopyBackMarksTheOriginalOverwritten) {
  std::vector<json> r = {Begin(), Ev("blockcopy-back-start", {{"target", "vdb"}}),
                         Ev("blockcopy-back-cancelled", {{"target", "vdb"}})};
  MigrationState s = MustFold(r);
  EXPECT_TRUE(s.Disk("vdb")->live.back_started);  // stays: the original was written
}

TEST(LiveRecords, RemovingTheImageForgetsItsCopyAndSnapshot) {
  std::vector<json> r = {Begin(), Ev("image-created", {{"target", "vda"}}), Ev("blockcopy-start", {{"target", "vda"}}),
                         Ev("blockcopy-cancelled", {{"target", "vda"}}), Ev("image-removed", {{"target", "vda"}})};
  MigrationState s = MustFold(r);
  EXPECT_FALSE(s.Disk("vda")->live.copy_started);
  EXPECT_FALSE(s.Disk("vda")->created);
}

}  // namespace
}  // namespace v2r
