#include "virt/domain_xml.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "virt/text_diff.h"

namespace v2r {
namespace {

const char kUuid[] = "2a1f7c3e-5b6d-4e8f-9a0b-1c2d3e4f5a6b";

std::string ReadFixture(const std::string& name) {
  auto path = std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "domains" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small domain around some <disk> elements (indented by four spaces).
std::string Domain(const std::string& disks) {
  return "<domain type='kvm'>\n  <name>t1</name>\n  <uuid>0b9d6c7e-1111-4222-8333-944455556666</uuid>\n"
         "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n" +
         disks + "    <graphics type='vnc' port='-1' passwd='pw'/>\n  </devices>\n</domain>\n";
}

std::string BlockDisk(const std::string& dev, const std::string& target, const std::string& extra = "") {
  return "    <disk type='block' device='disk'>\n      <driver name='qemu' type='raw' cache='none' io='native'/>\n"
         "      <source dev='" + dev + "'/>\n      <target dev='" + target + "' bus='virtio'/>\n" + extra +
         "    </disk>\n";
}

RbdRewriteOptions Opts() {
  RbdRewriteOptions o;
  o.hosts = {{"10.0.0.1", 6789}, {"10.0.0.2", 6789}};
  o.auth_username = "libvirt";
  o.secret_uuid = kUuid;
  return o;
}

// The document without the disks of `targets`, whitespace-insensitive.
std::string WithoutDisks(const std::string& xml, const std::set<std::string>& targets) {
  pugi::xml_document doc;
  EXPECT_TRUE(doc.load_string(xml.c_str(), pugi::parse_full));
  pugi::xml_node devices = doc.document_element().child("devices");
  std::vector<pugi::xml_node> gone;
  for (pugi::xml_node d : devices.children("disk")) {
    if (targets.count(d.child("target").attribute("dev").value())) gone.push_back(d);
  }
  for (pugi::xml_node d : gone) devices.remove_child(d);
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration | pugi::format_attribute_single_quote);
  return out.str();
}

// One disk, serialized without whitespace, for exact structure checks.
std::string DiskOf(const std::string& xml, const std::string& target) {
  pugi::xml_document doc;
  EXPECT_TRUE(doc.load_string(xml.c_str()));
  for (pugi::xml_node d : doc.document_element().child("devices").children("disk")) {
    if (std::string(d.child("target").attribute("dev").value()) != target) continue;
    std::ostringstream out;
    d.print(out, "", pugi::format_raw | pugi::format_attribute_single_quote);
    return out.str();
  }
  return "(no disk " + target + ")";
}

RewriteResult Rewrite(const std::string& xml, const std::vector<RbdDiskRewrite>& disks,
                      const RbdRewriteOptions& o = Opts()) {
  Result<RewriteResult> r = RewriteDisksToRbd(xml, disks, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : RewriteResult{};
}

const std::string kAuth = "<auth username='libvirt'><secret type='ceph' uuid='" + std::string(kUuid) +
                          "'/></auth>";
const std::string kHosts = "<host name='10.0.0.1' port='6789'/><host name='10.0.0.2' port='6789'/>";

TEST(DomainXml, ParsesARealisticLibvirtDomain) {
  Result<DomainInfo> info = ParseDomainXml(ReadFixture("q35-two-block-disks.xml"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "web01");
  EXPECT_EQ(info->uuid, "6f4c2b3a-9d1e-4c57-8a2b-1f0e3d5c7b91");
  EXPECT_EQ(info->type, "kvm");
  ASSERT_EQ(info->disks.size(), 3u);
  const DiskInfo& vda = info->disks[0];
  EXPECT_EQ(vda.type, "block");
  EXPECT_EQ(vda.device, "disk");
  EXPECT_EQ(vda.source, "/dev/disk/by-id/scsi-3600a0980383030523424457a4a695a41");
  EXPECT_EQ(vda.target, "vda");
  EXPECT_EQ(vda.bus, "virtio");
  EXPECT_EQ(vda.driver_name, "qemu");
  EXPECT_EQ(vda.driver_type, "raw");
  EXPECT_EQ(vda.cache, "none");
  EXPECT_EQ(vda.io, "native");
  EXPECT_EQ(info->disks[1].target, "sda");
  EXPECT_EQ(info->disks[2].device, "cdrom");
  EXPECT_TRUE(info->disks[2].readonly);
  Result<std::vector<std::string>> targets = DiskTargets(ReadFixture("q35-two-block-disks.xml"));
  ASSERT_TRUE(targets.ok());
  EXPECT_EQ(*targets, (std::vector<std::string>{"vda", "sda", "sdb"}));
}

TEST(DomainXml, ParsesNetworkDisksWithHostsAndAuthInEitherPlace) {
  std::string xml = Domain(
      "    <disk type='network' device='disk'>\n      <auth username='a'><secret type='ceph' uuid='u'/></auth>\n"
      "      <source protocol='rbd' name='p/i'><host name='m1' port='6789'/><host name='m2'/></source>\n"
      "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
      "    <disk type='network'>\n      <source protocol='rbd' name='p/j'><auth username='b'/></source>\n"
      "      <target dev='vdb'/>\n    </disk>\n");
  Result<DomainInfo> info = ParseDomainXml(xml);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->disks.size(), 2u);
  EXPECT_EQ(info->disks[0].protocol, "rbd");
  EXPECT_EQ(info->disks[0].source, "p/i");
  EXPECT_EQ(info->disks[0].hosts, (std::vector<std::pair<std::string, int>>{{"m1", 6789}, {"m2", 0}}));
  EXPECT_EQ(info->disks[0].auth_username, "a");
  EXPECT_EQ(info->disks[1].auth_username, "b");
  EXPECT_EQ(info->disks[1].device, "disk");  // libvirt's default
}

TEST(DomainXml, MalformedXmlIsRefusedWithTheParserMessageAndOffset) {
  Result<DomainInfo> r = ParseDomainXml("<domain><name>x</nam></domain>");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kRefused);
  EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("offset 17"), std::string::npos) << r.status().message();
  EXPECT_EQ(ParseDomainXml("").status().kind(), Kind::kRefused);
  Result<DomainInfo> net = ParseDomainXml("<network><name>default</name></network>");
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("<network>"), std::string::npos);
}

DiskInfo Disk(std::string type, std::string device, std::string bus = "virtio") {
  DiskInfo d;
  d.type = std::move(type);
  d.device = std::move(device);
  d.source = "/dev/sdx";
  d.target = "vda";
  d.bus = std::move(bus);
  return d;
}

TEST(DomainXml, ClassifyMovesRawBlockAndFileDisks) {
  EXPECT_EQ(ClassifyDisk(Disk("block", "disk")).decision, DiskDecision::kMove);
  DiskInfo f = Disk("file", "disk", "scsi");
  EXPECT_EQ(ClassifyDisk(f).decision, DiskDecision::kMove);  // no driver type
  f.driver_type = "raw";
  EXPECT_EQ(ClassifyDisk(f).decision, DiskDecision::kMove);
  DiskInfo inferred = Disk("block", "disk", "");
  inferred.target = "sdc";  // scsi, inferred as libvirt does
  EXPECT_EQ(ClassifyDisk(inferred).decision, DiskDecision::kMove);
  // Images in a format qemu reads move too (read through qemu-nbd), in files
  // and on block devices (a qcow2 logical volume: host_device).
  for (const char* type : {"file", "block"}) {
    for (const char* format : {"qcow2", "qcow", "vmdk", "vdi", "vhdx", "vpc", "qed"}) {
      DiskInfo img = Disk(type, "disk");
      img.driver_type = format;
      EXPECT_EQ(ClassifyDisk(img).decision, DiskDecision::kMove) << type << " " << format;
    }
  }
}

TEST(DomainXml, ClassifyKeepsRemovableNetworkNonRawAndOtherTypesWithAReason) {
  auto stays = [](const DiskInfo& d, const std::string& reason) {
    DiskClassification c = ClassifyDisk(d);
    EXPECT_EQ(c.decision, DiskDecision::kStay) << reason;
    EXPECT_EQ(c.reason, reason);
  };
  stays(Disk("file", "cdrom", "sata"), "removable media stays");
  stays(Disk("file", "floppy", "fdc"), "removable media stays");
  DiskInfo rbd = Disk("network", "disk");
  rbd.protocol = "rbd";
  rbd.source = "pool/img";
  rbd.bus = "virtio";
  EXPECT_EQ(ClassifyDisk(rbd).decision, DiskDecision::kMove);  // the planner decides (ClassifyRbdSource)
  DiskInfo nbd = Disk("network", "disk");
  nbd.protocol = "nbd";
  stays(nbd, "already on the network (protocol nbd)");
  DiskInfo iso = Disk("file", "disk");
  iso.driver_type = "iso";
  stays(iso, "iso file: not raw");
  DiskInfo qed_lv = Disk("block", "disk");
  qed_lv.driver_type = "iso";
  stays(qed_lv, "iso block device: not raw");
  DiskInfo empty = Disk("block", "disk");
  empty.source.clear();
  stays(empty, "no source: nothing to move");
  stays(Disk("dir", "disk"), "type 'dir' is not supported: stays");
  stays(Disk("nvme", "disk"), "type 'nvme' is not supported: stays");
}

TEST(DomainXml, ClassifyRefusesLunShareableEncryptedAndOddBusesNamingTheFix) {
  auto refused = [](const DiskInfo& d, const std::string& part) {
    DiskClassification c = ClassifyDisk(d);
    EXPECT_EQ(c.decision, DiskDecision::kRefuse) << part;
    EXPECT_NE(c.reason.find(part), std::string::npos) << c.reason;
  };
  refused(Disk("block", "lun", "scsi"),
          "SCSI passthrough (device='lun') cannot move to RBD (qemu passes SCSI commands to a host device); "
          "convert it to device='disk' with --lun-as-disk, or exclude it with --disks");
  DiskInfo shared = Disk("block", "disk");
  shared.shareable = true;
  refused(shared, "shared with other VMs");
  DiskInfo enc = Disk("file", "disk");
  enc.encrypted = true;
  refused(enc, "has <encryption> (an encrypted image");
  refused(enc, "--disks");
  DiskInfo transient = Disk("file", "disk");
  transient.driver_type = "qcow2";
  transient.transient = true;
  refused(transient, "is <transient/> (its changes are discarded when the VM stops");
  refused(transient, "remove <transient/>; exclude it with --disks");
  refused(Disk("block", "disk", "xen"), "bus 'xen' is not supported; change it to virtio, scsi, sata, ide, usb or sd");
  refused(Disk("block", "disk", "xen"), "--disks");
}

TEST(DomainXml, ClassifyMovesUsbAndSdBusDisks) {
  // libvirt allows a network (RBD) disk on both.
  EXPECT_EQ(ClassifyDisk(Disk("block", "disk", "usb")).decision, DiskDecision::kMove);
  EXPECT_EQ(ClassifyDisk(Disk("file", "disk", "sd")).decision, DiskDecision::kMove);
}

TEST(DomainXml, ClassifyMovesALunOnlyWhenAskedTo) {
  DiskInfo lun = Disk("block", "lun", "scsi");
  EXPECT_EQ(ClassifyDisk(lun).decision, DiskDecision::kRefuse);
  EXPECT_EQ(ClassifyDisk(lun, {.lun_as_disk = true}).decision, DiskDecision::kMove);
  // Still refused for what else it is.
  lun.shareable = true;
  EXPECT_EQ(ClassifyDisk(lun, {.lun_as_disk = true}).decision, DiskDecision::kRefuse);
}

TEST(DomainXml, AStorageSliceOfARawDiskMovesOtherSlicesAreRefused) {
  auto parse = [](const std::string& driver, const std::string& slices) {
    auto info = ParseDomainXml(
        Domain("    <disk type='file' device='disk'>\n      <driver name='qemu' type='" + driver + "'/>\n"
               "      <source file='/a.img'>\n        <slices>\n" + slices + "        </slices>\n"
               "      </source>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n"));
    EXPECT_TRUE(info.ok()) << info.status().message();
    return info->disks[0];
  };
  DiskInfo raw = parse("raw", "          <slice type='storage' offset='9876' size='123456789'/>\n");
  EXPECT_TRUE(raw.sliced);
  EXPECT_EQ(raw.slice_offset, 9876u);
  EXPECT_EQ(raw.slice_size, 123456789u);
  EXPECT_EQ(ClassifyDisk(raw).decision, DiskDecision::kMove);
  DiskInfo qcow2 = parse("qcow2", "          <slice type='storage' offset='0' size='1048576'/>\n");
  EXPECT_EQ(ClassifyDisk(qcow2).decision, DiskDecision::kRefuse);
  EXPECT_NE(ClassifyDisk(qcow2).reason.find("is a qcow2 image in a slice of its source"), std::string::npos);
  DiskInfo two = parse("raw", "          <slice type='storage' offset='0' size='512'/>\n"
                              "          <slice type='storage' offset='512' size='512'/>\n");
  EXPECT_EQ(two.slice_size, 0u);
  EXPECT_NE(ClassifyDisk(two).reason.find("not as one storage slice with a size"), std::string::npos);
}

TEST(DomainXml, TransientIsParsed) {
  auto info = ParseDomainXml(
      Domain("    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
             "      <source file='/a.qcow2'/>\n      <target dev='vda' bus='virtio'/>\n      <transient/>\n"
             "    </disk>\n"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_TRUE(info->disks[0].transient);
  EXPECT_EQ(ClassifyDisk(info->disks[0]).decision, DiskDecision::kRefuse);
}

TEST(DomainXml, LunAsDiskBecomesADiskDroppingLunOnlySettingsListed) {
  const std::string in = Domain(
      "    <disk type='block' device='lun' rawio='yes' sgio='unfiltered'>\n"
      "      <driver name='qemu' type='raw'/>\n      <source dev='/dev/sdb'>\n"
      "        <reservations managed='yes'/>\n      </source>\n      <target dev='sda' bus='scsi'/>\n"
      "    </disk>\n");
  // Without the option the rewrite refuses, as the plan does.
  auto refused = RewriteDisksToRbd(in, {{"sda", "rbd", "i"}}, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--lun-as-disk"), std::string::npos) << refused.status().message();

  RbdRewriteOptions opt;
  opt.lun_as_disk = true;
  auto r = RewriteDisksToRbd(in, {{"sda", "rbd", "i"}}, opt);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string disk = DiskOf(r->xml, "sda");
  EXPECT_EQ(disk.rfind("<disk type='network' device='disk'>", 0), 0u) << disk;
  for (const char* gone : {"rawio", "sgio", "reservations", "lun"})
    EXPECT_EQ(disk.find(gone), std::string::npos) << gone << " in " << disk;
  for (const char* line : {"sda: device='lun' (SCSI passthrough: now device='disk', as --lun-as-disk asks)",
                           "sda: <disk rawio='yes'> (lun devices only)",
                           "sda: <disk sgio='unfiltered'> (lun devices only)",
                           "sda: <reservations> (SCSI persistent reservations: lun devices only)"})
    EXPECT_NE(std::find(r->dropped.begin(), r->dropped.end(), line), r->dropped.end()) << line;
}

TEST(DomainXml, RealisticDomainChangesOnlyTheMigratedDisks) {
  const std::string in = ReadFixture("q35-two-block-disks.xml");
  RewriteResult r = Rewrite(in, {{"vda", "libvirt", "web01-vda"}, {"sda", "libvirt", "web01-sda"}});

  // The whole domain but the two disks is the same, and byte for byte so.
  EXPECT_EQ(WithoutDisks(r.xml, {"vda", "sda"}), WithoutDisks(in, {"vda", "sda"}));
  size_t first = in.find("    <disk"), last = in.find("<disk type='file' device='cdrom'>");
  EXPECT_EQ(r.xml.substr(0, first), in.substr(0, first));
  EXPECT_EQ(r.xml.substr(r.xml.find("<disk type='file' device='cdrom'>")), in.substr(last));
  EXPECT_NE(r.xml.find("passwd='s3cr&amp;t&apos;pw'"), std::string::npos);  // secure info kept
  EXPECT_NE(r.xml.find("<app:rack>r12</app:rack>"), std::string::npos);
  EXPECT_NE(r.xml.find("<qemu:arg value='name=opt/com.example/role,string=web'/>"), std::string::npos);
  EXPECT_EQ(r.xml.rfind("<?xml", 0), std::string::npos);  // no declaration added

  EXPECT_EQ(DiskOf(r.xml, "vda"),
            "<disk type='network' device='disk'><driver name='qemu' type='raw' cache='writeback' "
            "discard='unmap' iothread='1'/><source protocol='rbd' name='libvirt/web01-vda'>" +
                kHosts + kAuth +
                "</source><target dev='vda' bus='virtio'/><boot order='1'/><address type='pci' "
                "domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></disk>");
  EXPECT_EQ(DiskOf(r.xml, "sda"),
            "<disk type='network' device='disk'><driver name='qemu' type='raw' cache='writeback' "
            "discard='unmap'/><source protocol='rbd' name='libvirt/web01-sda'>" +
                kHosts + kAuth +
                "</source><target dev='sda' bus='scsi'/><serial>SAN-LUN-42</serial><address "
                "type='drive' controller='0' bus='0' target='0' unit='0'/></disk>");
  EXPECT_EQ(r.dropped,
            (std::vector<std::string>{
                "vda: <driver io='native'> (io='native' needs cache='none' or 'directsync')",
                "vda: <source dev='/dev/disk/by-id/scsi-3600a0980383030523424457a4a695a41'> (replaced by "
                "the RBD source)",
                "sda: <driver io='native'> (io='native' needs cache='none' or 'directsync')",
                "sda: <source dev='/dev/disk/by-id/scsi-3600a0980383030523424457a4a695a42'> (replaced by "
                "the RBD source)"}));

  // The whole result, checked once with libvirt 9 itself: `virsh -c test:///default` defines it
  // and dumps it back identically (but for the qemu namespace, which that driver lacks).
  EXPECT_EQ(r.xml, ReadFixture("q35-two-block-disks.rbd.xml"));

  // The new disk is indented like its neighbours.
  EXPECT_NE(r.xml.find("    <disk type='network' device='disk'>\n"
                       "      <driver name='qemu' type='raw' cache='writeback' discard='unmap' iothread='1'/>\n"
                       "      <source protocol='rbd' name='libvirt/web01-vda'>\n"
                       "        <host name='10.0.0.1' port='6789'/>\n"
                       "        <host name='10.0.0.2' port='6789'/>\n"
                       "        <auth username='libvirt'>\n"
                       "          <secret type='ceph' uuid='" + std::string(kUuid) + "'/>\n"
                       "        </auth>\n"
                       "      </source>\n"
                       "      <target dev='vda' bus='virtio'/>\n"),
            std::string::npos)
      << r.xml;

  // A diff of the two shows disk lines only.
  std::string diff = UnifiedDiff(in, r.xml, "before", "after");
  std::istringstream lines(diff);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("-", 0) == 0 && line.rfind("---", 0) != 0) {
      EXPECT_TRUE(line.find("<disk") != std::string::npos || line.find("<driver") != std::string::npos ||
                  line.find("<source") != std::string::npos || line.find("<reservations") != std::string::npos ||
                  line.find("</source>") != std::string::npos)
          << line;
    }
  }
  // The result parses and moves nothing more.
  Result<DomainInfo> after = ParseDomainXml(r.xml);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->disks[0].type, "network");
  EXPECT_EQ(after->disks[0].protocol, "rbd");
  EXPECT_EQ(after->disks[0].auth_username, "libvirt");
}

TEST(DomainXml, OnlyTheNamedDisksChangeAmongSeveral) {
  const std::string vda = BlockDisk("/dev/loop0", "vda"), vdb = BlockDisk("/dev/loop1", "vdb"),
                    vdc = BlockDisk("/dev/loop2", "vdc");
  const std::string in = Domain(vda + vdb + vdc);
  RewriteResult r = Rewrite(in, {{"vdb", "rbd", "t1-vdb"}});
  EXPECT_NE(r.xml.find(vda + "    <disk type='network'"), std::string::npos) << r.xml;
  EXPECT_NE(r.xml.find("</disk>\n" + vdc), std::string::npos) << r.xml;
  EXPECT_EQ(WithoutDisks(r.xml, {"vdb"}), WithoutDisks(in, {"vdb"}));
  EXPECT_NE(DiskOf(r.xml, "vdb").find("name='rbd/t1-vdb'"), std::string::npos);
}

TEST(DomainXml, CdromAndFloppyStayAndAreNotRewritten) {
  const std::string cd =
      "    <disk type='file' device='cdrom'>\n      <source file='/x.iso'/>\n      <target dev='sda' "
      "bus='sata'/>\n      <readonly/>\n    </disk>\n";
  const std::string fd =
      "    <disk type='file' device='floppy'>\n      <source file='/f.img'/>\n      <target dev='fda' "
      "bus='fdc'/>\n    </disk>\n";
  const std::string in = Domain(BlockDisk("/dev/loop0", "vda") + cd + fd);
  RewriteResult r = Rewrite(in, {{"vda", "rbd", "t1-vda"}});
  EXPECT_NE(r.xml.find(cd + fd), std::string::npos);
  for (std::string t : {"sda", "fda"}) {
    Result<RewriteResult> bad = RewriteDisksToRbd(in, {{t, "rbd", "x"}}, Opts());
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().kind(), Kind::kRefused);
    EXPECT_NE(bad.status().message().find("removable media stays"), std::string::npos);
  }
}

TEST(DomainXml, KeepsBootAddressIotuneSerialReadonlyAndOtherChildren) {
  const std::string extra =
      "      <iotune>\n        <total_iops_sec>500</total_iops_sec>\n      </iotune>\n"
      "      <boot order='2'/>\n      <readonly/>\n      <serial>S-1</serial>\n      <wwn>5000c50015ea71ac</wwn>\n"
      "      <blockio logical_block_size='512' physical_block_size='4096'/>\n      <!-- keep me -->\n"
      "      <alias name='ua-data'/>\n"
      "      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>\n";
  RewriteResult r = Rewrite(Domain(BlockDisk("/dev/loop0", "vdb", extra)), {{"vdb", "rbd", "img"}});
  EXPECT_NE(r.xml.find("      <target dev='vdb' bus='virtio'/>\n" + extra + "    </disk>"), std::string::npos)
      << r.xml;
}

TEST(DomainXml, IoNativeIsDroppedOnlyWhenTheCacheNeedsIt) {
  const std::string in = Domain(BlockDisk("/dev/loop0", "vda"));
  RewriteResult wb = Rewrite(in, {{"vda", "rbd", "i"}});
  EXPECT_EQ(DiskOf(wb.xml, "vda").find("io="), std::string::npos);
  EXPECT_EQ(wb.dropped.at(0), "vda: <driver io='native'> (io='native' needs cache='none' or 'directsync')");
  RbdRewriteOptions none = Opts();
  none.cache = "none";
  RewriteResult kept = Rewrite(in, {{"vda", "rbd", "i"}}, none);
  EXPECT_NE(DiskOf(kept.xml, "vda").find("<driver name='qemu' type='raw' cache='none' io='native' discard='unmap'/>"),
            std::string::npos)
      << kept.xml;
  EXPECT_EQ(kept.dropped.size(), 1u);  // only the old source
}

TEST(DomainXml, FileDiskWithoutDriverGetsOneAndNoHostsOrAuthWhenNotAsked) {
  const std::string in = Domain(
      "    <disk type='file' device='disk'>\n      <source file='/var/lib/libvirt/images/a.img' "
      "startupPolicy='optional'>\n        <seclabel model='dac' relabel='no'/>\n      </source>\n"
      "      <backingStore/>\n      <target dev='hda' bus='ide'/>\n    </disk>\n");
  RbdRewriteOptions bare;
  RewriteResult r = Rewrite(in, {{"hda", "rbd", "a"}}, bare);
  EXPECT_NE(r.xml.find("    <disk type='network' device='disk'>\n"
                       "      <driver name='qemu' type='raw' cache='writeback' discard='unmap'/>\n"
                       "      <source protocol='rbd' name='rbd/a'/>\n      <backingStore/>\n"
                       "      <target dev='hda' bus='ide'/>\n    </disk>"),
            std::string::npos)
      << r.xml;
  EXPECT_EQ(r.dropped, (std::vector<std::string>{
                           "hda: <source file='/var/lib/libvirt/images/a.img'> (replaced by the RBD source)",
                           "hda: <source startupPolicy='optional'> (not valid for network disks)",
                           "hda: <seclabel> (file and block sources only)"}));
}

TEST(DomainXml, SourceReservationsAreDroppedAndListed) {
  // libvirt 9 accepts <reservations> only on device='lun' (refused here), but
  // an older definition may still carry one.
  RewriteResult r = Rewrite(
      Domain("    <disk type='block' device='disk'>\n      <source dev='/dev/sdb'>\n"
             "        <reservations managed='yes'/>\n      </source>\n      <target dev='sda' bus='scsi'/>\n"
             "    </disk>\n"),
      {{"sda", "rbd", "i"}});
  EXPECT_EQ(r.dropped.back(), "sda: <reservations> (SCSI persistent reservations: lun devices only)");
  EXPECT_EQ(DiskOf(r.xml, "sda").find("reservations"), std::string::npos);
}

TEST(DomainXml, NonEmptyBackingStoreIsDroppedAndListed) {
  RewriteResult r = Rewrite(
      Domain(BlockDisk("/dev/loop0", "vda",
                       "      <backingStore type='file'>\n        <format type='raw'/>\n"
                       "        <source file='/old'/>\n      </backingStore>\n")),
      {{"vda", "rbd", "i"}});
  EXPECT_EQ(DiskOf(r.xml, "vda").find("backingStore"), std::string::npos);
  EXPECT_NE(std::find(r.dropped.begin(), r.dropped.end(),
                      "vda: <backingStore> (describes the old source's chain; the RBD image is a flat raw copy)"),
            r.dropped.end());
  EXPECT_NE(r.xml.find("      <target dev='vda' bus='virtio'/>\n    </disk>"), std::string::npos) << r.xml;
}

TEST(DomainXml, DeclarationCommentsAndOneLineDisksArePreserved) {
  const std::string in =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- edited by hand -->\n<domain type=\"qemu\">\n"
      "<name>x</name><devices><disk type=\"block\"><source dev=\"/dev/sdb\"/><target dev=\"vda\" "
      "bus=\"virtio\"/></disk></devices>\n</domain>";
  RewriteResult r = Rewrite(in, {{"vda", "rbd", "x"}}, RbdRewriteOptions{});
  EXPECT_EQ(r.xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- edited by hand -->\n<domain type=\"qemu\">\n"
            "<name>x</name><devices><disk type='network' device='disk'><driver name='qemu' type='raw' "
            "cache='writeback' discard='unmap'/><source protocol='rbd' name='rbd/x'/><target dev='vda' "
            "bus='virtio'/></disk></devices>\n</domain>");
}

TEST(DomainXml, ByteOrderMarkAndCrlfLineEndsOutsideTheDiskAreKept) {
  std::string in = Domain(BlockDisk("/dev/loop0", "vda"));
  for (size_t p = 0; (p = in.find('\n', p)) != std::string::npos; p += 2) in.replace(p, 1, "\r\n");
  in = "\xEF\xBB\xBF" + in;
  RewriteResult r = Rewrite(in, {{"vda", "rbd", "i"}});
  size_t start = in.find("    <disk"), tail = in.find("\r\n    <graphics");
  EXPECT_EQ(r.xml.substr(0, start), in.substr(0, start));
  EXPECT_EQ(r.xml.substr(r.xml.find("\r\n    <graphics")), in.substr(tail));
  EXPECT_NE(DiskOf(r.xml, "vda").find("name='rbd/i'"), std::string::npos);
}

TEST(DomainXml, EveryTruncationIsRefusedWithoutCrashing) {
  const std::string in = ReadFixture("q35-two-block-disks.xml");
  for (size_t len = 0; len + 1 < in.size(); ++len) {  // the last byte is a newline
    Result<RewriteResult> r = RewriteDisksToRbd(in.substr(0, len), {{"vda", "rbd", "x"}}, Opts());
    ASSERT_FALSE(r.ok()) << len;
    ASSERT_EQ(r.status().kind(), Kind::kRefused) << len << ": " << r.status().message();
  }
}

TEST(DomainXml, DisksThatDoNotMoveAreRefusedByTheRewrite) {
  auto refused = [](const std::string& disk, const std::string& part) {
    Result<RewriteResult> r = RewriteDisksToRbd(Domain(disk), {{"vda", "rbd", "x"}}, Opts());
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().kind(), Kind::kRefused);
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  refused("    <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' "
          "name='p/i'/><target dev='vda' bus='virtio'/></disk>\n",
          "already on the network");
  refused("    <disk type='block' device='disk'><driver name='qemu' type='cloop'/><source dev='/dev/vg/a'/>"
          "<target dev='vda' bus='virtio'/></disk>\n",
          "cloop block device: not raw");
  refused("    <disk type='block' device='lun'><source dev='/dev/sdb'/><target dev='vda' bus='scsi'/></disk>\n",
          "device='lun'");
  refused(BlockDisk("/dev/sdb", "vda", "      <shareable/>\n"), "shared with other VMs");
  refused(BlockDisk("/dev/sdb", "vda", "      <encryption format='luks'><secret type='passphrase' uuid='u'/>"
                                       "</encryption>\n"),
          "has <encryption>");
  refused("    <disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda' bus='xen'/></disk>\n",
          "bus 'xen' is not supported");
  refused("    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/a.qcow2'/>"
          "<target dev='vda' bus='virtio'/><transient/></disk>\n",
          "is <transient/>");
}

TEST(DomainXml, UnknownTargetIsRefusedNamingItAndTheDisksThere) {
  Result<RewriteResult> r = RewriteDisksToRbd(Domain(BlockDisk("/dev/sdb", "vda")), {{"vdz", "rbd", "x"}}, Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kRefused);
  EXPECT_EQ(r.status().message(), "disk 'vdz' is not in domain 't1'");
  EXPECT_EQ(r.status().hint(), "its disks: vda");
}

TEST(DomainXml, BadOptionsAreUsageErrors) {
  const std::string in = Domain(BlockDisk("/dev/sdb", "vda"));
  auto usage = [&](const std::vector<RbdDiskRewrite>& d, const RbdRewriteOptions& o) {
    Result<RewriteResult> r = RewriteDisksToRbd(in, d, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().kind(), Kind::kUsage) << r.status().message();
  };
  RbdRewriteOptions o = Opts();
  o.auth_username = "client.libvirt";
  usage({{"vda", "rbd", "x"}}, o);
  o = Opts();
  o.secret_uuid.clear();
  usage({{"vda", "rbd", "x"}}, o);
  o = Opts();
  o.cache = "fast";
  usage({{"vda", "rbd", "x"}}, o);
  usage({{"vda", "", "x"}}, Opts());
  usage({{"vda", "rbd", "x@snap"}}, Opts());
  usage({{"vda", "rbd", "x"}, {"vda", "rbd", "y"}}, Opts());
}


TEST(DomainXml, AnRbdSourceIsRewrittenWithItsHostsAndAuthReplaced) {
  const std::string in = Domain(
      "    <disk type='network' device='disk'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <source protocol='rbd' name='old/img'>\n"
      "        <host name='10.9.9.9' port='6789'/>\n"
      "        <auth username='legacy'><secret type='ceph' usage='legacy-key'/></auth>\n"
      "      </source>\n"
      "      <target dev='vda' bus='virtio'/>\n"
      "    </disk>\n");
  auto info = ParseDomainXml(in);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->disks[0].auth_username, "legacy");
  EXPECT_EQ(info->disks[0].auth_secret_usage, "legacy-key");
  EXPECT_EQ(info->disks[0].hosts.size(), 1u);
  Result<RewriteResult> r = RewriteDisksToRbd(in, {{"vda", "rbd", "x"}}, Opts());
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto after = ParseDomainXml(r->xml);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->disks[0].source, "rbd/x");
  EXPECT_NE(after->disks[0].auth_username, "legacy");
  EXPECT_TRUE(after->disks[0].auth_secret_usage.empty());
  EXPECT_EQ(r->xml.find("10.9.9.9"), std::string::npos);
  std::string dropped;
  for (const std::string& d : r->dropped) dropped += d + "\n";
  EXPECT_NE(dropped.find("<host> (a monitor of the old source's cluster"), std::string::npos) << dropped;
}

}  // namespace
}  // namespace v2r
