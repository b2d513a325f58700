#include "virt/volume.h"

#include <gtest/gtest.h>

#include "fake_hypervisor.h"

namespace v2r {
namespace {

// What `virsh pool-dumpxml` and `virsh vol-dumpxml` print (libvirt 9).
const char kDirPool[] = R"(<pool type='dir'>
  <name>images</name>
  <uuid>6b3c6f0e-8d2f-4c4a-9b1d-3f0e1a2b3c4d</uuid>
  <capacity unit='bytes'>105089261568</capacity>
  <allocation unit='bytes'>26213588992</allocation>
  <available unit='bytes'>78875672576</available>
  <source>
  </source>
  <target>
    <path>/var/lib/libvirt/images</path>
    <permissions>
      <mode>0711</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
)";

const char kQcow2Vol[] = R"(<volume type='file'>
  <name>vm1.qcow2</name>
  <key>/var/lib/libvirt/images/vm1.qcow2</key>
  <capacity unit='bytes'>67108864</capacity>
  <allocation unit='bytes'>200704</allocation>
  <physical unit='bytes'>196624</physical>
  <target>
    <path>/var/lib/libvirt/images/vm1.qcow2</path>
    <format type='qcow2'/>
    <permissions>
      <mode>0600</mode>
    </permissions>
    <compat>1.1</compat>
    <clusterSize unit='B'>65536</clusterSize>
    <features/>
  </target>
</volume>
)";

const char kLogicalVol[] = R"(<volume type='block'>
  <name>lv1</name>
  <key>Xy1C2w-abcd</key>
  <source>
    <device path='/dev/loop3'>
      <extent start='0' end='16777216'/>
    </device>
  </source>
  <capacity unit='bytes'>16777216</capacity>
  <allocation unit='bytes'>16777216</allocation>
  <target>
    <path>/dev/vg1/lv1</path>
  </target>
</volume>
)";

TEST(VolumeXml, ParsesPoolAndFileVolume) {
  VolumeInfo v;
  ASSERT_TRUE(ParsePoolXml(kDirPool, &v).ok());
  EXPECT_EQ(v.pool_type, "dir");
  EXPECT_EQ(v.pool, "images");
  ASSERT_TRUE(ParseVolumeXml(kQcow2Vol, &v).ok());
  EXPECT_EQ(v.type, "file");
  EXPECT_EQ(v.volume, "vm1.qcow2");
  EXPECT_EQ(v.path, "/var/lib/libvirt/images/vm1.qcow2");
  EXPECT_EQ(v.format, "qcow2");
  EXPECT_EQ(v.capacity, 67108864u);
  EXPECT_EQ(v.allocation, 200704u);
  EXPECT_EQ(VolumeImageFormat(v), "qcow2");
}

TEST(VolumeXml, BlockVolumeIsRawAndUnitsAreRead) {
  VolumeInfo v;
  ASSERT_TRUE(ParseVolumeXml(kLogicalVol, &v).ok());
  EXPECT_EQ(v.type, "block");
  EXPECT_EQ(v.path, "/dev/vg1/lv1");
  EXPECT_EQ(v.format, "");
  EXPECT_EQ(VolumeImageFormat(v), "raw");
  VolumeInfo k;
  ASSERT_TRUE(ParseVolumeXml("<volume><name>a</name><capacity unit='KiB'>4</capacity>"
                             "<allocation unit='M'>1</allocation><target><path>/p</path></target></volume>",
                             &k)
                  .ok());
  EXPECT_EQ(k.type, "file");  // libvirt's default
  EXPECT_EQ(k.capacity, 4096u);
  EXPECT_EQ(k.allocation, 1048576u);
  // A disk pool's partition type is not an image format.
  VolumeInfo part;
  part.type = "block";
  part.format = "linux";
  EXPECT_EQ(VolumeImageFormat(part), "raw");
  VolumeInfo iso;
  iso.type = "file";
  iso.format = "iso";
  EXPECT_EQ(VolumeImageFormat(iso), "raw");
}

TEST(VolumeXml, BadXmlIsRefused) {
  VolumeInfo v;
  Status st = ParseVolumeXml("<volume", &v);
  EXPECT_EQ(st.kind(), Kind::kRefused);
  st = ParsePoolXml("<volume/>", &v);
  EXPECT_EQ(st.kind(), Kind::kRefused);
  EXPECT_NE(st.message().find("<pool>"), std::string::npos) << st.message();
}

DiskInfo VolumeDisk(const std::string& driver_type = "", const std::string& mode = "") {
  DiskInfo d;
  d.type = "volume";
  d.device = "disk";
  d.pool = "images";
  d.volume = "vm1.qcow2";
  d.volume_mode = mode;
  d.source = "images/vm1.qcow2";
  d.target = "vda";
  d.bus = "virtio";
  d.driver_type = driver_type;
  return d;
}

VolumeInfo FileVol(const std::string& format = "qcow2") {
  VolumeInfo v;
  v.pool = "images";
  v.volume = "vm1.qcow2";
  v.pool_type = "dir";
  v.pool_active = true;
  v.type = "file";
  v.path = "/var/lib/libvirt/images/vm1.qcow2";
  v.format = format;
  return v;
}

TEST(ResolveVolumeDisk, FileVolumeBecomesAFileDiskWithTheVolumesFormat) {
  VolumeResolution r = ResolveVolumeDisk(VolumeDisk(), FileVol());
  ASSERT_EQ(r.decision, DiskDecision::kMove) << r.reason;
  EXPECT_EQ(r.disk.type, "file");
  EXPECT_EQ(r.disk.source, "/var/lib/libvirt/images/vm1.qcow2");
  EXPECT_EQ(r.disk.driver_type, "qcow2");
  EXPECT_EQ(r.disk.pool, "images");
  EXPECT_EQ(r.disk.volume, "vm1.qcow2");
  EXPECT_EQ(ClassifyDisk(r.disk).decision, DiskDecision::kMove);
  // The definition's <driver type> wins when it agrees.
  r = ResolveVolumeDisk(VolumeDisk("qcow2"), FileVol());
  EXPECT_EQ(r.decision, DiskDecision::kMove);
  EXPECT_EQ(r.disk.driver_type, "qcow2");
  // A volume the pool reports without a format: the definition's.
  r = ResolveVolumeDisk(VolumeDisk("raw"), FileVol(""));
  EXPECT_EQ(r.decision, DiskDecision::kMove);
  EXPECT_EQ(r.disk.driver_type, "raw");
}

TEST(ResolveVolumeDisk, DisagreeingFormatsAreRefusedNamingBoth) {
  VolumeResolution r = ResolveVolumeDisk(VolumeDisk("raw"), FileVol("qcow2"));
  ASSERT_EQ(r.decision, DiskDecision::kRefuse);
  EXPECT_NE(r.reason.find("<driver type='raw'>"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("'qcow2'"), std::string::npos) << r.reason;
}

TEST(ResolveVolumeDisk, BlockVolumeIsABlockDisk) {
  VolumeInfo v = FileVol("");
  v.pool_type = "logical";
  v.type = "block";
  v.path = "/dev/vg1/lv1";
  VolumeResolution r = ResolveVolumeDisk(VolumeDisk(), v);
  ASSERT_EQ(r.decision, DiskDecision::kMove) << r.reason;
  EXPECT_EQ(r.disk.type, "block");
  EXPECT_EQ(r.disk.source, "/dev/vg1/lv1");
  EXPECT_EQ(r.disk.driver_type, "raw");
  // A qcow2 written onto an LV moves as a qcow2 block device does (read
  // through qemu-nbd with host_device).
  r = ResolveVolumeDisk(VolumeDisk("qcow2"), v);
  ASSERT_EQ(r.decision, DiskDecision::kMove);
  EXPECT_EQ(r.disk.type, "block");
  EXPECT_EQ(r.disk.driver_type, "qcow2");
  EXPECT_EQ(ClassifyDisk(r.disk).decision, DiskDecision::kMove);
}

TEST(ResolveVolumeDisk, RefusalsNameTheFix) {
  VolumeInfo inactive;
  inactive.pool = "images";
  inactive.pool_type = "dir";
  VolumeResolution r = ResolveVolumeDisk(VolumeDisk(), inactive);
  ASSERT_EQ(r.decision, DiskDecision::kRefuse);
  EXPECT_NE(r.reason.find("virsh pool-start images"), std::string::npos) << r.reason;

  r = ResolveVolumeDisk(VolumeDisk(), Result<VolumeInfo>(Status::Refused("volume 'x' not found", "virsh vol-list")));
  ASSERT_EQ(r.decision, DiskDecision::kRefuse);
  EXPECT_NE(r.reason.find("not found"), std::string::npos);
  EXPECT_NE(r.reason.find("virsh vol-list"), std::string::npos);

  VolumeInfo lun = FileVol("");
  lun.pool_type = "iscsi";
  lun.type = "block";
  lun.path = "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.x-lun-1";
  r = ResolveVolumeDisk(VolumeDisk("", "direct"), lun);
  ASSERT_EQ(r.decision, DiskDecision::kRefuse);
  EXPECT_NE(r.reason.find("mode='direct'"), std::string::npos) << r.reason;
  r = ResolveVolumeDisk(VolumeDisk("", "host"), lun);
  EXPECT_EQ(r.decision, DiskDecision::kMove) << r.reason;
  EXPECT_EQ(r.disk.type, "block");

  VolumeInfo rbd = FileVol("raw");
  rbd.pool_type = "rbd";
  rbd.type = "network";
  rbd.path = "rbd/img";
  r = ResolveVolumeDisk(VolumeDisk(), rbd);
  EXPECT_EQ(r.decision, DiskDecision::kStay);
  EXPECT_NE(r.reason.find("already on RBD"), std::string::npos);
}

TEST(ClassifyVolumeDisk, UnresolvedVolumeDiskFollowsTheFileRules) {
  DiskInfo d = VolumeDisk();
  EXPECT_EQ(ClassifyDisk(d).decision, DiskDecision::kMove);
  d.shareable = true;
  EXPECT_EQ(ClassifyDisk(d).decision, DiskDecision::kRefuse);
  d = VolumeDisk("bochs");
  EXPECT_EQ(ClassifyDisk(d).decision, DiskDecision::kStay);
  d = VolumeDisk();
  d.pool.clear();
  EXPECT_EQ(ClassifyDisk(d).decision, DiskDecision::kStay);
}

TEST(FakeStoragePools, ResolveVolumeAnswersLikeLibvirt) {
  fake::FakeLibvirt lv;
  lv.AddPool("images");
  lv.AddVolume(FileVol());
  auto conn = lv.Opener()("");
  ASSERT_TRUE(conn.ok());
  auto v = (*conn)->ResolveVolume("images", "vm1.qcow2");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->pool_active);
  EXPECT_EQ(v->path, "/var/lib/libvirt/images/vm1.qcow2");
  EXPECT_EQ((*conn)->ResolveVolume("nope", "x").status().cause(), Cause::kNotFound);
  EXPECT_EQ((*conn)->ResolveVolume("images", "x").status().cause(), Cause::kNotFound);
  lv.SetPoolActive("images", false);
  v = (*conn)->ResolveVolume("images", "vm1.qcow2");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->pool_active);
}

}  // namespace
}  // namespace v2r
