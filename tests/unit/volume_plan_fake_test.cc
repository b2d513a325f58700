// Volume disks (<disk type='volume'>) through the planner and a whole offline
// migration over the fakes (fake_world.h): the fake hypervisor's storage
// pools resolve vdb, a volume of pool "images" whose file is the world's
// raw vdb disk.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "fake_world.h"
#include "migrate/migrate.h"
#include "migrate/plan.h"
#include "migrate/record.h"
#include "migrate/session.h"
#include "migrate/steps.h"

namespace v2r::fake {
namespace {

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += "  " + s + "\n";
  return out;
}

// The world's vdb as a volume disk of pool `pool`, volume `volume`.
std::string VolumeDomainXml(const std::string& uuid, const std::string& vda_path, const std::string& pool,
                            const std::string& volume, const std::string& driver = "<driver name='qemu'/>") {
  return fmt::format(
      "<domain type='kvm'><name>vm1</name><uuid>{}</uuid><memory>1024</memory><os><type>hvm</type></os><devices>"
      "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>"
      "<target dev='vda' bus='virtio'/></disk>\n"
      "    <disk type='volume' device='disk'>{}<source pool='{}' volume='{}'/>"
      "<target dev='vdb' bus='virtio'/><serial>vol-1</serial></disk>\n"
      "</devices></domain>",
      uuid, vda_path, driver, pool, volume);
}

// What `virt2rbd plan` computes, over the fakes.
Result<Plan> RunPlan(const MigrateOptions& o, const RunContext& ctx) {
  Session s;
  s.open_hypervisor = ctx.open_hypervisor;
  s.open_cluster = ctx.open_cluster;
  V2R_RETURN_IF_ERROR(OpenLibvirt(o.connect, o.domain, &s));
  V2R_RETURN_IF_ERROR(OpenCeph(o.ceph, o.pool, &s));
  return PlanWith(s, o, nullptr);
}

struct VolumeWorld {
  FakeWorld w{"vm1", DomainState::kShutoff};
  std::string xml;
  explicit VolumeWorld(const std::string& format = "raw", const std::string& driver = "<driver name='qemu'/>") {
    w.virt.AddPool("images", "dir");
    VolumeInfo v;
    v.pool = "images";
    v.volume = "vm1-vdb.img";
    v.type = "file";
    v.path = w.disks[1];
    v.format = format;
    v.capacity = FakeWorld::kDiskSize;
    w.virt.AddVolume(v);
    xml = VolumeDomainXml(w.uuid, w.disks[0], "images", "vm1-vdb.img", driver);
    w.virt.Update("vm1", [&](FakeDomain& d) { d.xml = d.live_xml = xml; });
  }
  MigrateOptions Options() const {
    MigrateOptions o = w.Options();
    o.shutdown = false;
    return o;
  }
};

TEST(VolumeDisks, PlanResolvesTheVolumeIntoItsFileAndFormat) {
  VolumeWorld vw;
  auto report = RunPlan(vw.Options(), vw.w.Context());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const Plan& p = *report;
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  ASSERT_EQ(p.disks.size(), 2u);
  const DiskPlan& vdb = p.disks[1];
  EXPECT_EQ(vdb.decision, DiskDecision::kMove);
  EXPECT_EQ(vdb.disk.type, "file");
  EXPECT_EQ(vdb.disk.source, vw.w.disks[1]);
  EXPECT_EQ(vdb.disk.pool, "images");
  EXPECT_EQ(vdb.disk.volume, "vm1-vdb.img");
  EXPECT_EQ(vdb.disk.driver_type, "raw");
  EXPECT_EQ(vdb.pool_type, "dir");
  EXPECT_EQ(vdb.size, FakeWorld::kDiskSize);
  EXPECT_EQ(vdb.read_path, "direct");
  // The rewritten definition: vdb on RBD, its serial kept, no pool left.
  EXPECT_TRUE(Contains(p.new_xml, "name='rbd/vm1-vdb'")) << p.new_xml;
  EXPECT_TRUE(Contains(p.new_xml, "<serial>vol-1</serial>")) << p.new_xml;
  EXPECT_FALSE(Contains(p.new_xml, "pool='images'")) << p.new_xml;
}

TEST(VolumeDisks, RefusalsNameTheFixAndChangeNothing) {
  {
    VolumeWorld vw;
    vw.w.virt.SetPoolActive("images", false);
    auto p = RunPlan(vw.Options(), vw.w.Context());
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(Contains(Join(p->refusals), "virsh pool-start images")) << Join(p->refusals);
  }
  {
    VolumeWorld vw;
    vw.xml = VolumeDomainXml(vw.w.uuid, vw.w.disks[0], "images", "missing.img");
    vw.w.virt.Update("vm1", [&](FakeDomain& d) { d.xml = vw.xml; });
    WorldState before = vw.w.Snapshot();
    auto r = RunMigrate(vw.Options(), vw.w.Context());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(Contains(r.status().message(), "volume 'missing.img' not found in storage pool 'images'"))
        << r.status().ToString();
    EXPECT_EQ(vw.w.Snapshot(), before);
  }
  {
    VolumeWorld vw;
    vw.xml = VolumeDomainXml(vw.w.uuid, vw.w.disks[0], "nopool", "x.img");
    vw.w.virt.Update("vm1", [&](FakeDomain& d) { d.xml = vw.xml; });
    auto p = RunPlan(vw.Options(), vw.w.Context());
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(Contains(Join(p->refusals), "storage pool 'nopool' not found")) << Join(p->refusals);
  }
  {
    // The definition says raw, the pool says qcow2: both named.
    VolumeWorld vw("qcow2", "<driver name='qemu' type='raw'/>");
    auto p = RunPlan(vw.Options(), vw.w.Context());
    ASSERT_TRUE(p.ok());
    std::string all = Join(p->refusals);
    EXPECT_TRUE(Contains(all, "<driver type='raw'>") && Contains(all, "'qcow2'")) << all;
  }
  {
    VolumeWorld vw;
    vw.w.virt.SetState("vm1", DomainState::kRunning);
    MigrateOptions o = vw.Options();
    o.live = true;
    auto p = RunPlan(o, vw.w.Context());
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(Contains(Join(p->refusals), "disk vdb: pool volume images/vm1-vdb.img is not moved live yet"))
        << Join(p->refusals);
  }
}

TEST(VolumeDisks, MigrateOfflineThenRollbackRestoresTheVolumeDisk) {
  VolumeWorld vw;
  WorldState before = vw.w.Snapshot();
  auto report = RunMigrate(vw.Options(), vw.w.Context());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  WorldState s = vw.w.Snapshot();
  EXPECT_TRUE(Contains(s.xml, "name='rbd/vm1-vdb'")) << s.xml;
  EXPECT_TRUE(s.images["vm1-vdb"] == before.sources.at("vm1-vdb.img")) << "image vdb differs from its volume";
  EXPECT_TRUE(s.sources == before.sources) << "a source was written";
  MigrationState ms = vw.w.Folded();
  ASSERT_EQ(ms.disks.size(), 2u);
  EXPECT_EQ(ms.disks[1].volume, "images/vm1-vdb.img");
  EXPECT_EQ(ms.disks[1].source, vw.w.disks[1]);
  EXPECT_EQ(ms.disks[1].format, "raw");
  EXPECT_EQ(ms.disks[0].volume, "");

  RollbackOptions o = vw.w.RollbackOpts();
  o.remove_images = true;
  auto rb = RunRollback(o, vw.w.Context());
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(vw.w.virt.Get("vm1").xml, vw.xml);
  EXPECT_EQ(vw.w.Snapshot(), before);
}

}  // namespace
}  // namespace v2r::fake
