// An offline migration over the fakes (fake_world.h) whose vdb is an RBD
// image in another pool: read at a snapshot virt2rbd takes and removes, the
// copy equal to the source, the source untouched; the key from the libvirt
// secret the disk names.
#include <gtest/gtest.h>

#include <algorithm>

#include "fake_world.h"
#include "migrate/migrate.h"

namespace v2r::fake {
namespace {

struct RbdSourceWorld {
  FakeWorld w;
  std::string data;
  RbdSourceWorld() {
    w.ceph.AddPool("old");
    data.assign(FakeWorld::kDiskSize, '\0');
    for (size_t i = 0; i < 300000; ++i) data[i] = static_cast<char>('a' + i % 23);
    for (size_t i = 6 << 20; i < (6 << 20) + 4096; ++i) data[i] = 'z';
    w.ceph.AddImage("old", "img", FakeWorld::kDiskSize, data);
    const std::string secret = w.virt.AddSecret("old key", std::string("\x01\x02raw", 5));
    std::string xml = w.virt.Get("vm1").xml;
    size_t at = xml.find("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='");
    at = xml.find("<disk", at + 1);  // vdb
    size_t end = xml.find("</disk>", at) + 7;
    xml.replace(at, end - at,
                "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' "
                "name='old/img'><host name='10.9.9.9' port='6789'/><auth username='legacy'><secret type='ceph' "
                "uuid='" + secret + "'/></auth></source><target dev='vdb' bus='virtio'/></disk>");
    w.virt.Update("vm1", [&](FakeDomain& d) { d.xml = d.live_xml = xml; });
  }
};

TEST(RbdSourceOverFakes, MovesAnImageOfAnotherPoolFromASnapshotItRemoves) {
  RbdSourceWorld r;
  auto report = RunMigrate(r.w.Options(), r.w.Context());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  WorldState s = r.w.Snapshot();
  EXPECT_NE(s.xml.find("<source protocol='rbd' name='rbd/vm1-vdb'>"), std::string::npos) << s.xml;
  EXPECT_EQ(s.xml.find("old/img"), std::string::npos) << s.xml;
  EXPECT_EQ(s.xml.find("10.9.9.9"), std::string::npos) << s.xml;
  EXPECT_TRUE(s.images["vm1-vdb"] == r.data) << "image vdb differs from its RBD source";
  EXPECT_EQ(r.w.ceph.ImageBytes("old", "img"), r.data) << "the source was written";
  auto src = r.w.ceph.GetImage("old", "img");
  ASSERT_TRUE(src);
  EXPECT_TRUE(src->snaps.empty()) << "the source snapshot was left";
  auto img = r.w.ceph.GetImage("rbd", "vm1-vdb");
  ASSERT_TRUE(img);
  EXPECT_LT(img->AllocatedBytes(), FakeWorld::kDiskSize / 2);  // thin
  std::vector<std::string> ev = r.w.Events();
  auto snap = std::find(ev.begin(), ev.end(), "source-snapshot");
  auto removed = std::find(ev.begin(), ev.end(), "source-snapshot-removed");
  auto switched = std::find(ev.begin(), ev.end(), "switch");
  ASSERT_NE(snap, ev.end());
  ASSERT_NE(removed, ev.end());
  EXPECT_LT(snap, removed);
  EXPECT_LT(removed, switched);
  // The key never reaches the journal.
  EXPECT_EQ(ReadWhole(r.w.JournalPath()).find("\x01\x02raw"), std::string::npos);
  MigrationState ms = r.w.Folded();
  EXPECT_TRUE(ms.completed);
  const DiskRecord* d = ms.Disk("vdb");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->protocol, "rbd");
  EXPECT_FALSE(d->source_snapshot);
}

TEST(RbdSourceOverFakes, RefusesAnUnknownSecretWithNothingChanged) {
  RbdSourceWorld r;
  std::string xml = r.w.virt.Get("vm1").xml;
  size_t at = xml.find("uuid='", xml.find("<auth")) + 6;
  xml.replace(at, 36, "00000000-0000-0000-0000-000000000bad");
  r.w.virt.Update("vm1", [&](FakeDomain& d) { d.xml = d.live_xml = xml; });
  WorldState before = r.w.Snapshot();
  auto report = RunMigrate(r.w.Options(), r.w.Context());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().kind(), Kind::kRefused);
  EXPECT_NE(report.status().message().find("the key of client.legacy cannot be read"), std::string::npos)
      << report.status().message();
  EXPECT_TRUE(r.w.Snapshot() == before);
}

TEST(RbdSourceOverFakes, AnAbortRemovesTheSourceSnapshot) {
  RbdSourceWorld r;
  // The images cannot be created (after the source snapshot was taken): the
  // migration is undone, the source snapshot with it.
  r.w.ceph.FailFrom("CreateImage", 1, FakeCluster::Definite("creating an image"));
  MigrateOptions o = r.w.Options();
  o.disks = {"vdb"};  // vdb alone: its snapshot is taken before its image is created
  auto report = RunMigrate(o, r.w.Context());
  ASSERT_FALSE(report.ok());
  auto src = r.w.ceph.GetImage("old", "img");
  ASSERT_TRUE(src);
  EXPECT_TRUE(src->snaps.empty()) << "the source snapshot outlived the abort";
  EXPECT_EQ(r.w.ceph.ImageBytes("old", "img"), r.data);
  EXPECT_TRUE(r.w.ceph.ImageNames("rbd").empty());
  std::vector<std::string> ev = r.w.Events();
  EXPECT_NE(std::find(ev.begin(), ev.end(), "source-snapshot"), ev.end());
  EXPECT_NE(std::find(ev.begin(), ev.end(), "source-snapshot-removed"), ev.end());
}

}  // namespace
}  // namespace v2r::fake
