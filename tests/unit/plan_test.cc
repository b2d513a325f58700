// Planning (migrate/plan.h): MakePlan() is a pure function from facts to a
// plan, so every behaviour of `virt2rbd plan` / the preflight of `migrate`
// required by the spec (issue 3) can be checked here without libvirt or Ceph:
// which disks move and which stay (and why), every refusal (alone and all at
// once), warnings, the cephx user and libvirt secret, the monitors, and the
// rewritten XML with its diff.
#include "migrate/plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "virt/domain_xml.h"

namespace v2r {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

const char kDomainUuid[] = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const char kSecretUuid[] = "3c9a9a61-7d1e-4f3b-a2d4-0d6e5b7c8f90";
const char kPool[] = "vmpool";

// ------------------------------------------------------------------ the domain

// The pieces of a realistic domain, each a <disk> element (indented as virsh
// dumpxml does). Tests assemble a domain from the ones they need.
std::string BlockDisk(const std::string& dev, const std::string& target, const std::string& extra = "") {
  return "    <disk type='block' device='disk'>\n"
         "      <driver name='qemu' type='raw' cache='none' io='native'/>\n"
         "      <source dev='" + dev + "'/>\n"
         "      <target dev='" + target + "' bus='virtio'/>\n" + extra +
         "    </disk>\n";
}

const std::string kVda = BlockDisk("/dev/loop3", "vda", "      <boot order='1'/>\n");
const std::string kVdb = BlockDisk("/dev/loop4", "vdb", "      <serial>data-1</serial>\n");
const std::string kCdrom =
    "    <disk type='file' device='cdrom'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/var/lib/libvirt/images/debian-12.iso'/>\n"
    "      <target dev='sda' bus='sata'/>\n"
    "      <readonly/>\n"
    "    </disk>\n";
// A cloop image on a logical volume: stays (a format virt2rbd does not read;
// a qcow2 one moves, read through qemu).
const std::string kCloop =
    "    <disk type='block' device='disk'>\n"
    "      <driver name='qemu' type='cloop'/>\n"
    "      <source dev='/dev/vg0/scratch'/>\n"
    "      <target dev='vdc' bus='virtio'/>\n"
    "    </disk>\n";
const std::string kRbd =
    "    <disk type='network' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source protocol='rbd' name='vmpool/shared-data'>\n"
    "        <host name='10.0.0.1' port='6789'/>\n"
    "      </source>\n"
    "      <target dev='vdd' bus='virtio'/>\n"
    "    </disk>\n";
// A raw file: its allocated size is known (not an upper bound).
const std::string kRawFile =
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/var/lib/libvirt/images/logs.img'/>\n"
    "      <target dev='vde' bus='virtio'/>\n"
    "    </disk>\n";
const std::string kLun =
    "    <disk type='block' device='lun'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source dev='/dev/sdz'/>\n"
    "      <target dev='sdb' bus='scsi'/>\n"
    "    </disk>\n";

std::string DomainXml(const std::string& disks) {
  return "<domain type='kvm'>\n"
         "  <name>web1</name>\n"
         "  <uuid>" + std::string(kDomainUuid) + "</uuid>\n"
         "  <metadata>\n"
         "    <app:owner xmlns:app='http://example.com/app'>team-a</app:owner>\n"
         "  </metadata>\n"
         "  <memory unit='KiB'>1048576</memory>\n"
         "  <vcpu placement='static'>1</vcpu>\n"
         "  <os>\n"
         "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
         "  </os>\n"
         "  <devices>\n"
         "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n" +
         disks +
         "    <interface type='network'>\n"
         "      <source network='default'/>\n"
         "      <model type='virtio'/>\n"
         "    </interface>\n"
         "    <graphics type='vnc' port='-1' passwd='s3cret'/>\n"
         "  </devices>\n"
         "</domain>\n";
}

// Two block disks on loop devices, a cdrom, a cloop logical volume and a disk already on RBD.
std::string StandardDisks() { return kVda + kVdb + kCdrom + kCloop + kRbd; }

// ------------------------------------------------------------------ the facts

SourceFacts BlockSource(const std::string& path, uint64_t size) {
  SourceFacts s;
  s.path = path;
  s.readable = true;
  s.is_block = true;
  s.size = size;
  s.allocated = size;  // a device: the size is an upper bound
  return s;
}

SourceFacts FileSource(const std::string& path, uint64_t size, uint64_t allocated) {
  SourceFacts s;
  s.path = path;
  s.readable = true;
  s.is_block = false;
  s.size = size;
  s.allocated = allocated;
  return s;
}

// Facts of a healthy setup: a shut-off, persistent, local domain with the
// standard disks, readable sources, a pool with plenty of room, three
// monitors, no user, no images.
struct Facts {
  MigrateOptions opts;
  DomainFacts domain;
  std::map<std::string, SourceFacts> sources;
  ClusterFacts cluster;

  Facts() {
    opts.domain = "web1";
    opts.pool = kPool;
    domain.uri = "qemu:///system";
    domain.uri_is_local = true;
    domain.xml = DomainXml(StandardDisks());
    domain.state = RunState::kShutoff;
    domain.persistent = true;
    sources["/dev/loop3"] = BlockSource("/dev/loop3", 1 * kGiB + 4096);
    sources["/dev/loop4"] = BlockSource("/dev/loop4", 512 * kMiB + 512);
    sources["/var/lib/libvirt/images/logs.img"] =
        FileSource("/var/lib/libvirt/images/logs.img", 8 * kGiB, 2 * kGiB);
    cluster.pool_exists = true;
    cluster.pool_is_rbd = true;
    cluster.max_avail = 100 * kGiB;
    cluster.monmap = {{"10.0.0.1", 6789}, {"10.0.0.2", 6789}, {"10.0.0.3", 6789}};
    cluster.user_exists = false;
  }

  Plan Make() const { return MakePlan(opts, domain, sources, cluster); }
};

// ------------------------------------------------------------------ helpers

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += "  " + s + "\n";
  return out.empty() ? "  (none)\n" : out;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// How many of `lines` contain `needle`.
int Count(const std::vector<std::string>& lines, const std::string& needle) {
  int n = 0;
  for (const std::string& l : lines) n += Contains(l, needle) ? 1 : 0;
  return n;
}

// The one refusal that contains `needle` ("" when there is not exactly one).
std::string RefusalWith(const Plan& p, const std::string& needle) {
  std::string found;
  int n = 0;
  for (const std::string& r : p.refusals)
    if (Contains(r, needle)) found = r, ++n;
  return n == 1 ? found : "";
}

#define EXPECT_REFUSED_ONLY_FOR(plan, needle)                                               \
  do {                                                                                      \
    const Plan& p_ = (plan);                                                                \
    EXPECT_FALSE(p_.ok());                                                                  \
    EXPECT_EQ(p_.refusals.size(), 1u) << "refusals:\n" << Join(p_.refusals);                \
    EXPECT_EQ(Count(p_.refusals, needle), 1) << "no refusal with '" << (needle) << "':\n"   \
                                             << Join(p_.refusals);                          \
  } while (0)

const DiskPlan* DiskOf(const Plan& p, const std::string& target) {
  for (const DiskPlan& d : p.disks)
    if (d.disk.target == target) return &d;
  return nullptr;
}

const DiskInfo* InfoOf(const DomainInfo& info, const std::string& target) {
  for (const DiskInfo& d : info.disks)
    if (d.target == target) return &d;
  return nullptr;
}

// ================================================================== the happy path

TEST(Plan, ShutOffDomainMovesBothBlockDisksAndKeepsTheRestWithReasons) {
  Facts f;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_TRUE(p.warnings.empty()) << Join(p.warnings);
  EXPECT_EQ(p.domain, "web1");
  EXPECT_EQ(p.uuid, kDomainUuid);
  EXPECT_EQ(p.pool, kPool);
  ASSERT_EQ(p.disks.size(), 5u);  // every disk of the domain, in document order

  const char* order[] = {"vda", "vdb", "sda", "vdc", "vdd"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(p.disks[i].disk.target, order[i]);

  const DiskPlan* vda = DiskOf(p, "vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_EQ(vda->decision, DiskDecision::kMove);
  EXPECT_EQ(vda->image, "web1-vda");
  EXPECT_EQ(vda->disk.source, "/dev/loop3");
  EXPECT_EQ(vda->size, 1 * kGiB + 4096);
  EXPECT_EQ(vda->allocated, 1 * kGiB + 4096);
  EXPECT_TRUE(vda->allocated_upper_bound);  // labelled as an upper bound
  EXPECT_TRUE(vda->is_block);

  const DiskPlan* vdb = DiskOf(p, "vdb");
  ASSERT_NE(vdb, nullptr);
  EXPECT_EQ(vdb->decision, DiskDecision::kMove);
  EXPECT_EQ(vdb->image, "web1-vdb");
  EXPECT_EQ(vdb->size, 512 * kMiB + 512);

  const DiskPlan* cdrom = DiskOf(p, "sda");
  ASSERT_NE(cdrom, nullptr);
  EXPECT_EQ(cdrom->decision, DiskDecision::kStay);
  EXPECT_EQ(cdrom->reason, "removable media stays");
  EXPECT_TRUE(cdrom->image.empty());

  const DiskPlan* cloop = DiskOf(p, "vdc");
  ASSERT_NE(cloop, nullptr);
  EXPECT_EQ(cloop->decision, DiskDecision::kStay);
  EXPECT_EQ(cloop->reason, "cloop block device: not raw");

  const DiskPlan* net = DiskOf(p, "vdd");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->decision, DiskDecision::kStay);
  EXPECT_EQ(net->reason, "already on RBD in vmpool");

  ASSERT_EQ(p.Moving().size(), 2u);
  EXPECT_EQ(p.Moving()[0]->disk.target, "vda");
  EXPECT_EQ(p.Moving()[1]->disk.target, "vdb");
  for (const DiskPlan& d : p.disks) {
    if (d.decision != DiskDecision::kMove) {
      EXPECT_FALSE(d.reason.empty()) << d.disk.target;
    }
  }
}

TEST(Plan, ShutOffDomainIsNotStoppedAndNotStartedAfter) {
  Facts f;
  Plan p = f.Make();
  EXPECT_EQ(p.state, RunState::kShutoff);
  EXPECT_EQ(p.stop, StopAction::kNone);
  EXPECT_FALSE(p.start_after);
}

TEST(Plan, CountsBlockDevicesAsUpperBoundAndFilesAsKnownData) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRawFile);
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.known_bytes, 2 * kGiB);                      // the file's allocated blocks
  EXPECT_EQ(p.upper_bytes, 2 * kGiB + 1 * kGiB + 4096);    // plus the device at full size
  EXPECT_EQ(p.available_bytes, 100 * kGiB);
  const DiskPlan* vde = DiskOf(p, "vde");
  ASSERT_NE(vde, nullptr);
  EXPECT_EQ(vde->decision, DiskDecision::kMove);
  EXPECT_FALSE(vde->allocated_upper_bound);
  EXPECT_FALSE(vde->is_block);
  EXPECT_EQ(vde->size, 8 * kGiB);
  EXPECT_EQ(vde->allocated, 2 * kGiB);
}

const std::string kQcow2File =
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/libvirt/images/app.qcow2'/>\n"
    "      <target dev='vdf' bus='virtio'/>\n"
    "    </disk>\n";

// What GatherSourceFacts says of a qcow2 with a raw backing file and a snapshot.
SourceFacts Qcow2Source() {
  SourceFacts s = FileSource("/var/lib/libvirt/images/app.qcow2", 20 * kGiB, 3 * kGiB);
  s.chain = "qcow2 <- raw";
  s.snapshots = {"pre-upgrade"};
  return s;
}

TEST(Plan, AQcow2FileMovesAtItsVirtualSizeReadThroughQemuAndItsSnapshotsAreNamed) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kQcow2File);
  f.sources["/var/lib/libvirt/images/app.qcow2"] = Qcow2Source();
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  const DiskPlan* vdf = DiskOf(p, "vdf");
  ASSERT_NE(vdf, nullptr);
  EXPECT_EQ(vdf->decision, DiskDecision::kMove);
  EXPECT_EQ(vdf->size, 20 * kGiB);
  EXPECT_EQ(vdf->allocated, 3 * kGiB);
  EXPECT_EQ(vdf->read_path, "qemu-nbd (qcow2 <- raw)");
  EXPECT_EQ(DiskOf(p, "vda")->read_path, "direct");
  EXPECT_TRUE(Contains(Join(p.warnings), "internal snapshots (pre-upgrade)")) << Join(p.warnings);
  // The switched definition names a flat raw image, not the old chain.
  EXPECT_TRUE(Contains(p.new_xml, "vmpool/web1-vdf")) << p.new_xml;
  EXPECT_FALSE(Contains(p.new_xml, "app.qcow2")) << p.new_xml;
}

TEST(Plan, AQcow2LogicalVolumeMovesReadThroughQemu) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kCloop.substr(0, kCloop.find("cloop")) + "qcow2" +
                           kCloop.substr(kCloop.find("cloop") + 5));
  SourceFacts lv = BlockSource("/dev/vg0/scratch", 4 * kGiB);
  lv.size = 2 * kGiB;  // the qcow2's virtual size
  lv.chain = "qcow2";
  f.sources["/dev/vg0/scratch"] = lv;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  const DiskPlan* vdc = DiskOf(p, "vdc");
  EXPECT_EQ(vdc->decision, DiskDecision::kMove);
  EXPECT_EQ(vdc->size, 2 * kGiB);
  EXPECT_EQ(vdc->read_path, "qemu-nbd (qcow2)");
  EXPECT_TRUE(vdc->allocated_upper_bound);
  EXPECT_TRUE(Contains(p.new_xml, "vmpool/web1-vdc")) << p.new_xml;
}

TEST(Plan, AQcow2FileMovesLiveAndAnUnreadableOneIsRefusedWithQemusReason) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kQcow2File);
  f.domain.state = RunState::kRunning;
  f.opts.live = true;
  f.sources["/var/lib/libvirt/images/app.qcow2"] = Qcow2Source();
  Plan live = f.Make();
  EXPECT_FALSE(Contains(Join(live.refusals), "vdf")) << Join(live.refusals);
  const DiskPlan* vdf = DiskOf(live, "vdf");
  ASSERT_NE(vdf, nullptr);
  EXPECT_EQ(vdf->decision, DiskDecision::kMove);
  EXPECT_EQ(vdf->size, 20 * kGiB);  // the chain's virtual size: the mirror flattens it
  EXPECT_EQ(vdf->read_path, "qemu-nbd (qcow2 <- raw)");  // how the verification reads it
  Facts g;
  g.domain.xml = DomainXml(kVda + kQcow2File);
  SourceFacts broken;
  broken.path = "/var/lib/libvirt/images/app.qcow2";
  broken.error = "Could not open backing file base.raw";
  g.sources[broken.path] = broken;
  Plan p = g.Make();
  EXPECT_TRUE(Contains(Join(p.refusals), "is not readable: Could not open backing file base.raw")) << Join(p.refusals);
}

TEST(Plan, CreatesTheUserWithLeastPrivilege) {
  Facts f;
  Plan p = f.Make();
  EXPECT_EQ(p.user_action, UserAction::kCreate);
  EXPECT_EQ(p.user_entity, "client.libvirt");
  EXPECT_EQ(p.user_id, "libvirt");
  EXPECT_TRUE(p.user_caps_before.empty());
  CephCaps want = {{"mon", "profile rbd"}, {"osd", "profile rbd pool=vmpool"}};
  EXPECT_EQ(p.user_caps_after, want);
}

TEST(Plan, UsesTheClientUserOption) {
  Facts f;
  f.opts.client_user = "vm-web";
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_entity, "client.vm-web");
  EXPECT_EQ(p.user_id, "vm-web");
  EXPECT_EQ(p.secret_usage, "client.vm-web secret");
  EXPECT_TRUE(Contains(p.new_xml, "<auth username='vm-web'>")) << p.new_xml;
}

TEST(Plan, DefinesANewSecretWhenNoneExists) {
  Facts f;
  Plan p = f.Make();
  EXPECT_EQ(p.secret_usage, "client.libvirt secret");
  EXPECT_FALSE(p.secret_uuid.has_value());
  // The XML shown uses a placeholder until the secret exists.
  EXPECT_TRUE(Contains(p.new_xml, std::string("uuid='") + kNewSecretPlaceholder + "'")) << p.new_xml;
}

TEST(Plan, ReusesTheExistingSecretAndPutsItsUuidInTheXml) {
  Facts f;
  f.domain.secret_uuid = kSecretUuid;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  ASSERT_TRUE(p.secret_uuid.has_value());
  EXPECT_EQ(*p.secret_uuid, kSecretUuid);
  EXPECT_EQ(p.secret_usage, "client.libvirt secret");
  EXPECT_TRUE(Contains(p.new_xml, std::string("<secret type='ceph' uuid='") + kSecretUuid + "'/>")) << p.new_xml;
  EXPECT_FALSE(Contains(p.new_xml, kNewSecretPlaceholder));
}

TEST(Plan, MonitorsAreTheMonmapByDefault) {
  Facts f;
  Plan p = f.Make();
  ASSERT_EQ(p.hosts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.hosts[i].host, f.cluster.monmap[i].host);
    EXPECT_EQ(p.hosts[i].port, f.cluster.monmap[i].port);
  }
  auto info = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  for (const char* t : {"vda", "vdb"}) {
    const DiskInfo* d = InfoOf(*info, t);
    ASSERT_NE(d, nullptr);
    std::vector<std::pair<std::string, int>> want = {{"10.0.0.1", 6789}, {"10.0.0.2", 6789}, {"10.0.0.3", 6789}};
    EXPECT_EQ(d->hosts, want) << t;
  }
}

TEST(Plan, MonHostsOptionReplacesTheMonmap) {
  Facts f;
  f.opts.mon_hosts = "mon-a.example:3300,[2001:db8::7]:6789";
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  ASSERT_EQ(p.hosts.size(), 2u);
  EXPECT_EQ(p.hosts[0].host, "mon-a.example");
  EXPECT_EQ(p.hosts[0].port, 3300);
  EXPECT_EQ(p.hosts[1].host, "2001:db8::7");
  EXPECT_EQ(p.hosts[1].port, 6789);
  EXPECT_TRUE(Contains(p.new_xml, "mon-a.example")) << p.new_xml;
  EXPECT_FALSE(Contains(p.new_xml, "10.0.0.2")) << p.new_xml;
}

TEST(Plan, MonHostsNoneLeavesNoHostInTheXml) {
  Facts f;
  f.opts.mon_hosts = "none";
  f.cluster.monmap.clear();  // not needed then
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_TRUE(p.hosts.empty());
  auto info = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(InfoOf(*info, "vda")->hosts.empty());
  EXPECT_EQ(InfoOf(*info, "vdd")->hosts.size(), 1u);  // the disk already on RBD is untouched
}

TEST(Plan, NewXmlTurnsTheMovedDisksIntoRbdNetworkDisksAndKeepsTheOthers) {
  Facts f;
  Plan p = f.Make();
  EXPECT_EQ(p.old_xml, f.domain.xml);
  ASSERT_FALSE(p.new_xml.empty());
  auto info = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "web1");
  EXPECT_EQ(info->uuid, kDomainUuid);
  ASSERT_EQ(info->disks.size(), 5u);

  for (const char* t : {"vda", "vdb"}) {
    const DiskInfo* d = InfoOf(*info, t);
    ASSERT_NE(d, nullptr) << t;
    EXPECT_EQ(d->type, "network") << t;
    EXPECT_EQ(d->device, "disk") << t;
    EXPECT_EQ(d->protocol, "rbd") << t;
    EXPECT_EQ(d->source, std::string("vmpool/web1-") + t);
    EXPECT_EQ(d->auth_username, "libvirt") << t;
    EXPECT_EQ(d->driver_type, "raw") << t;
    EXPECT_EQ(d->cache, "writeback") << t;  // the default --cache
    EXPECT_EQ(d->bus, "virtio") << t;
  }
  const DiskInfo* cdrom = InfoOf(*info, "sda");
  EXPECT_EQ(cdrom->type, "file");
  EXPECT_EQ(cdrom->source, "/var/lib/libvirt/images/debian-12.iso");
  const DiskInfo* cloop = InfoOf(*info, "vdc");
  EXPECT_EQ(cloop->type, "block");
  EXPECT_EQ(cloop->driver_type, "cloop");
  const DiskInfo* net = InfoOf(*info, "vdd");
  EXPECT_EQ(net->source, "vmpool/shared-data");

  // Everything else of the domain stays.
  for (const char* kept : {"<boot order='1'/>", "<serial>data-1</serial>", "passwd='s3cret'",
                           "<app:owner xmlns:app='http://example.com/app'>team-a</app:owner>",
                           "<source network='default'/>", kCdrom.c_str(), kCloop.c_str(), kRbd.c_str()})
    EXPECT_TRUE(Contains(p.new_xml, kept)) << "lost: " << kept << "\n" << p.new_xml;
  EXPECT_FALSE(Contains(p.new_xml, "/dev/loop3"));
  EXPECT_FALSE(Contains(p.new_xml, "/dev/loop4"));
}

TEST(Plan, DiffIsUnifiedAndMentionsTheImageNamesAndOldSources) {
  Facts f;
  Plan p = f.Make();
  ASSERT_FALSE(p.xml_diff.empty());
  EXPECT_EQ(p.xml_diff.rfind("--- web1.xml (now)\n+++ web1.xml (after)\n", 0), 0u) << p.xml_diff;
  EXPECT_TRUE(Contains(p.xml_diff, "\n@@ -")) << p.xml_diff;
  EXPECT_TRUE(Contains(p.xml_diff, "vmpool/web1-vda")) << p.xml_diff;
  EXPECT_TRUE(Contains(p.xml_diff, "vmpool/web1-vdb")) << p.xml_diff;
  EXPECT_TRUE(Contains(p.xml_diff, "\n-      <source dev='/dev/loop3'/>\n")) << p.xml_diff;
  EXPECT_TRUE(Contains(p.xml_diff, "\n-      <source dev='/dev/loop4'/>\n")) << p.xml_diff;
  // Disks that stay are not part of any change.
  EXPECT_FALSE(Contains(p.xml_diff, "-      <source dev='/dev/vg0/scratch'/>"));
  EXPECT_FALSE(Contains(p.xml_diff, "+      <source dev='/dev/vg0/scratch'/>"));
}

TEST(Plan, ListsWhatIsDroppedFromEachMovedDisk) {
  Facts f;
  Plan p = f.Make();
  // io='native' needs cache none; the default cache is writeback.
  EXPECT_EQ(Count(p.dropped, "io='native'"), 2) << Join(p.dropped);
  for (const std::string& d : p.dropped)
    EXPECT_TRUE(d.rfind("vda: ", 0) == 0 || d.rfind("vdb: ", 0) == 0) << d;
}

TEST(Plan, CacheNoneKeepsIoNative) {
  Facts f;
  f.opts.cache = "none";
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.cache, "none");
  EXPECT_EQ(Count(p.dropped, "io='native'"), 0) << Join(p.dropped);
  auto info = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(InfoOf(*info, "vda")->cache, "none");
  EXPECT_EQ(InfoOf(*info, "vda")->io, "native");
}

TEST(Plan, ImageNameTemplateAppliesToEveryMovedDisk) {
  Facts f;
  f.opts.image_template = "{uuid}.{target}";
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "vda")->image, std::string(kDomainUuid) + ".vda");
  EXPECT_EQ(DiskOf(p, "vdb")->image, std::string(kDomainUuid) + ".vdb");
  EXPECT_TRUE(Contains(p.new_xml, std::string("name='vmpool/") + kDomainUuid + ".vda'")) << p.new_xml;
}

TEST(Plan, DisksOptionMovesOnlyTheSelectedDisks) {
  Facts f;
  f.opts.disks = {"vdb"};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "vda")->decision, DiskDecision::kStay);
  EXPECT_EQ(DiskOf(p, "vda")->reason, "not selected (--disks)");
  EXPECT_EQ(DiskOf(p, "vdb")->decision, DiskDecision::kMove);
  ASSERT_EQ(p.Moving().size(), 1u);
  EXPECT_TRUE(Contains(p.new_xml, "<source dev='/dev/loop3'/>"));  // vda untouched
  EXPECT_TRUE(Contains(p.new_xml, "vmpool/web1-vdb"));
  EXPECT_FALSE(Contains(p.new_xml, "vmpool/web1-vda"));
}

TEST(Plan, IsDeterministic) {
  Facts f;
  f.domain.state = RunState::kRunning;
  f.opts.shutdown = true;
  Plan a = f.Make();
  Plan b = f.Make();
  EXPECT_EQ(a.new_xml, b.new_xml);
  EXPECT_EQ(a.xml_diff, b.xml_diff);
  EXPECT_EQ(a.refusals, b.refusals);
  EXPECT_EQ(a.dropped, b.dropped);
}

// ================================================================== stopping and starting

TEST(Plan, RunningDomainWithShutdownIsShutDownAndStartedAfter) {
  Facts f;
  f.domain.state = RunState::kRunning;
  f.opts.shutdown = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.state, RunState::kRunning);
  EXPECT_EQ(p.stop, StopAction::kShutdown);
  EXPECT_TRUE(p.start_after);
}

TEST(Plan, RunningDomainWithForceOffIsDestroyed) {
  Facts f;
  f.domain.state = RunState::kRunning;
  f.opts.force_off = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.stop, StopAction::kForceOff);
  EXPECT_TRUE(p.start_after);
}

TEST(Plan, RunningDomainWithShutdownAndForceOffShutsDownThenForces) {
  Facts f;
  f.domain.state = RunState::kRunning;
  f.opts.shutdown = true;
  f.opts.force_off = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.stop, StopAction::kShutdownThenForce);
}

TEST(Plan, PausedDomainCanBeForcedOff) {
  Facts f;
  f.domain.state = RunState::kPaused;
  f.opts.force_off = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.state, RunState::kPaused);
  EXPECT_EQ(p.stop, StopAction::kForceOff);
}

TEST(Plan, ShutOffDomainNeedsNoStopEvenWhenAsked) {
  Facts f;
  f.opts.shutdown = true;
  f.opts.force_off = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.stop, StopAction::kNone);
  EXPECT_FALSE(p.start_after);
}

TEST(Plan, StartOptionStartsAShutOffDomain) {
  Facts f;
  f.opts.start = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_TRUE(p.start_after);
}

TEST(Plan, NoStartOptionLeavesARunningDomainOff) {
  Facts f;
  f.domain.state = RunState::kRunning;
  f.opts.shutdown = true;
  f.opts.start = false;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.stop, StopAction::kShutdown);
  EXPECT_FALSE(p.start_after);
}

// ================================================================== refusals, one at a time

TEST(Plan, RefusesARunningDomainWithoutStopOptions) {
  Facts f;
  f.domain.state = RunState::kRunning;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "domain web1 is running");
  std::string r = RefusalWith(p, "is running");
  EXPECT_TRUE(Contains(r, "--shutdown")) << r;
  EXPECT_TRUE(Contains(r, "--force-off")) << r;
  EXPECT_EQ(p.stop, StopAction::kNone);
}

TEST(Plan, RefusesAPausedDomainWithoutStopOptions) {
  Facts f;
  f.domain.state = RunState::kPaused;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "domain web1 is paused");
}

TEST(Plan, RefusesADomainInAnotherActiveStateWithoutStopOptions) {
  Facts f;
  f.domain.state = RunState::kOther;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "--force-off");
}

TEST(Plan, RefusesATransientDomain) {
  Facts f;
  f.domain.persistent = false;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "transient");
  EXPECT_TRUE(Contains(RefusalWith(p, "transient"), "virsh define")) << Join(p.refusals);
}

TEST(Plan, RefusesADomainWithAManagedSaveImage) {
  Facts f;
  f.domain.managed_save = true;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "managed save");
  EXPECT_TRUE(Contains(RefusalWith(p, "managed save"), "virsh managedsave-remove web1")) << Join(p.refusals);
}

TEST(Plan, RefusesADomainWithSnapshotsNamingThem) {
  Facts f;
  f.domain.snapshots = {"before-upgrade", "clean"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "snapshots");
  std::string r = RefusalWith(p, "snapshots");
  EXPECT_TRUE(Contains(r, "before-upgrade, clean")) << r;
  EXPECT_TRUE(Contains(r, "virsh snapshot-delete")) << r;
}

TEST(Plan, RefusesADomainWithCheckpoints) {
  Facts f;
  f.domain.checkpoints = {"backup-1"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "checkpoints (backup-1)");
}

TEST(Plan, RefusesARemoteUri) {
  Facts f;
  f.domain.uri = "qemu+ssh://hv2.example/system";
  f.domain.uri_is_local = false;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "qemu+ssh://hv2.example/system");
  EXPECT_TRUE(Contains(RefusalWith(p, "qemu+ssh"), "not local")) << Join(p.refusals);
}

TEST(Plan, RefusesADisksOptionNamingAMissingDiskAndListsTheDomainsDisks) {
  Facts f;
  f.opts.disks = {"vda", "vdz"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "vdz");
  std::string r = RefusalWith(p, "vdz");
  EXPECT_TRUE(Contains(r, "not in domain web1")) << r;
  EXPECT_TRUE(Contains(r, "vda, vdb, sda, vdc, vdd")) << r;
}

TEST(Plan, RefusesADisksOptionNamingACdrom) {
  Facts f;
  f.opts.disks = {"vda", "sda"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk sda");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk sda"), "removable media")) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "sda")->decision, DiskDecision::kStay);
}

TEST(Plan, RefusesADisksOptionNamingADiskAlreadyOnRbd) {
  Facts f;
  f.opts.disks = {"vdd"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vdd");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vdd"), "already on RBD")) << Join(p.refusals);
}

TEST(Plan, RefusesALunDisk) {
  Facts f;
  f.domain.xml = DomainXml(StandardDisks() + kLun);
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk sdb");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk sdb"), "device='lun'")) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "sdb")->decision, DiskDecision::kRefuse);
}

TEST(Plan, ALunDiskMovesAsADiskWithLunAsDiskAndSaysSo) {
  Facts f;
  f.domain.xml = DomainXml(StandardDisks() + kLun);
  f.sources["/dev/sdz"] = BlockSource("/dev/sdz", 64 * kMiB);
  EXPECT_TRUE(Contains(RefusalWith(f.Make(), "disk sdb"), "--lun-as-disk")) << Join(f.Make().refusals);
  f.opts.lun_as_disk = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "sdb")->decision, DiskDecision::kMove);
  EXPECT_EQ(Count(p.dropped, "sdb: device='lun'"), 1) << Join(p.dropped);
  auto info = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(InfoOf(*info, "sdb")->device, "disk");
  EXPECT_EQ(InfoOf(*info, "sdb")->type, "network");
}

TEST(Plan, ARawSliceMovesAtTheSlicesSizeOfflineOnly) {
  Facts f;
  const std::string sliced =
      "    <disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
      "      <source dev='/dev/loop4'>\n        <slices>\n"
      "          <slice type='storage' offset='1048576' size='33554432'/>\n        </slices>\n"
      "      </source>\n      <target dev='vdb' bus='virtio'/>\n    </disk>\n";
  f.domain.xml = DomainXml(kVda + sliced);
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "vdb")->decision, DiskDecision::kMove);
  EXPECT_EQ(DiskOf(p, "vdb")->size, 32 * kMiB);
  EXPECT_EQ(DiskOf(p, "vdb")->read_path, "qemu-nbd (raw slice: 33554432 bytes at offset 1048576)");
  EXPECT_FALSE(Contains(DiskOf(p, "vdb")->disk.source, "slice"));
  // The slice is the old source's: the RBD disk has none (dropped, listed).
  EXPECT_FALSE(Contains(p.new_xml, "<slices>")) << p.new_xml;
  EXPECT_EQ(Count(p.dropped, "vdb: <slices>"), 1) << Join(p.dropped);
  f.opts.live = true;
  f.domain.state = RunState::kRunning;
  EXPECT_TRUE(Contains(RefusalWith(f.Make(), "disk vdb"), "not moved live")) << Join(f.Make().refusals);
}

TEST(Plan, UsbAndSdDisksMoveAndATransientOneIsRefused) {
  Facts f;
  const std::string usb =
      "    <disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
      "      <source dev='/dev/loop4'/>\n      <target dev='sdb' bus='usb'/>\n    </disk>\n";
  f.domain.xml = DomainXml(kVda + usb);
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "sdb")->decision, DiskDecision::kMove);
  f.domain.xml = DomainXml(kVda + BlockDisk("/dev/loop4", "vdb", "      <transient/>\n"));
  p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vdb");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vdb"), "<transient/>")) << Join(p.refusals);
}

TEST(Plan, ALunDiskLeftOutWithTheDisksOptionIsNoReasonToRefuse) {
  Facts f;
  f.domain.xml = DomainXml(StandardDisks() + kLun);
  f.opts.disks = {"vda", "vdb"};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "sdb")->decision, DiskDecision::kStay);
  EXPECT_EQ(p.Moving().size(), 2u);
}

TEST(Plan, RefusesAShareableDisk) {
  Facts f;
  f.domain.xml = DomainXml(kVda + BlockDisk("/dev/loop4", "vdb", "      <shareable/>\n") + kCdrom);
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vdb");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vdb"), "shareable")) << Join(p.refusals);
}

TEST(Plan, RefusesAnUnreadableSourceWithTheReason) {
  Facts f;
  f.sources["/dev/loop4"].readable = false;
  f.sources["/dev/loop4"].error = "Permission denied";
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "/dev/loop4");
  std::string r = RefusalWith(p, "/dev/loop4");
  EXPECT_TRUE(Contains(r, "disk vdb")) << r;
  EXPECT_TRUE(Contains(r, "not readable")) << r;
  EXPECT_TRUE(Contains(r, "Permission denied")) << r;
}

TEST(Plan, RefusesASourceThatWasNotExamined) {
  Facts f;
  f.sources.erase("/dev/loop3");
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "/dev/loop3");
}

TEST(Plan, RefusesAnEmptySource) {
  Facts f;
  f.sources["/dev/loop4"].size = 0;
  f.sources["/dev/loop4"].allocated = 0;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "/dev/loop4");
  EXPECT_TRUE(Contains(RefusalWith(p, "/dev/loop4"), "empty")) << Join(p.refusals);
}

TEST(Plan, RefusesASourceUsedByAnotherDomain) {
  Facts f;
  f.sources["/dev/loop3"].used_by = {"db1"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "db1");
  std::string r = RefusalWith(p, "db1");
  EXPECT_TRUE(Contains(r, "disk vda")) << r;
  EXPECT_TRUE(Contains(r, "/dev/loop3")) << r;
}

TEST(Plan, RefusesAnImageThatAlreadyExists) {
  Facts f;
  f.cluster.existing_images = {"web1-vdb", "unrelated"};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "vmpool/web1-vdb");
  EXPECT_TRUE(Contains(RefusalWith(p, "web1-vdb"), "already exists")) << Join(p.refusals);
}

TEST(Plan, RefusesTwoDisksMappedToTheSameImageName) {
  Facts f;
  f.opts.image_template = "{domain}-disk";
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "web1-disk");
  std::string r = RefusalWith(p, "web1-disk");
  EXPECT_TRUE(Contains(r, "disk vdb")) << r;
  EXPECT_TRUE(Contains(r, "{target}")) << r;
}

TEST(Plan, RefusesABadImageNameTemplate) {
  Facts f;
  f.opts.image_template = "{name}-{target}";
  Plan p = f.Make();
  EXPECT_FALSE(p.ok());
  EXPECT_GE(Count(p.refusals, "unknown field {name}"), 1) << Join(p.refusals);
  for (const std::string& r : p.refusals) EXPECT_TRUE(Contains(r, "{name}")) << r;
}

TEST(Plan, RefusesAMissingPool) {
  Facts f;
  f.cluster.pool_exists = false;
  f.cluster.pool_is_rbd = false;
  f.cluster.max_avail = 0;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "pool 'vmpool' does not exist");
  EXPECT_TRUE(Contains(RefusalWith(p, "does not exist"), "ceph osd pool create vmpool")) << Join(p.refusals);
}

TEST(Plan, AMissingPoolStillPlansTheUserAndMonitors) {
  // The refusal for the pool must not hide the rest of the plan: the user and
  // monitors are shown, and their own refusals are listed too.
  Facts f;
  f.cluster.pool_exists = false;
  f.cluster.pool_is_rbd = false;
  f.cluster.max_avail = 0;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "allow r"}, {"osd", "allow r"}};
  f.opts.mon_hosts = "mon1:70000";
  Plan p = f.Make();
  EXPECT_EQ(p.refusals.size(), 3u) << Join(p.refusals);
  EXPECT_EQ(Count(p.refusals, "does not exist"), 1) << Join(p.refusals);
  EXPECT_EQ(Count(p.refusals, "ceph auth caps client.libvirt"), 1) << Join(p.refusals);
  EXPECT_EQ(Count(p.refusals, "bad port"), 1) << Join(p.refusals);
  EXPECT_EQ(p.user_entity, "client.libvirt");
  EXPECT_EQ(p.user_action, UserAction::kUpdateCaps);
}

TEST(Plan, AMissingPoolWithoutOtherProblemsShowsUserHostsAndXml) {
  Facts f;
  f.cluster.pool_exists = false;
  f.cluster.pool_is_rbd = false;
  f.cluster.max_avail = 0;
  f.domain.xml = DomainXml(kVda + kRawFile);  // known data, but no room refusal for a pool that is not there
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "does not exist");
  EXPECT_EQ(p.known_bytes, 2 * kGiB);  // the data is still shown
  EXPECT_EQ(p.upper_bytes, 3 * kGiB + 4096);
  EXPECT_EQ(p.user_action, UserAction::kCreate);
  EXPECT_EQ(p.user_id, "libvirt");
  EXPECT_EQ(p.hosts.size(), 3u);
  EXPECT_TRUE(Contains(p.new_xml, "<auth username='libvirt'>")) << p.new_xml;
  EXPECT_TRUE(Contains(p.new_xml, "10.0.0.3")) << p.new_xml;
}

TEST(Plan, RefusesAPoolThatIsNotAnRbdPool) {
  Facts f;
  f.cluster.pool_is_rbd = false;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "not initialised for RBD");
  EXPECT_TRUE(Contains(RefusalWith(p, "RBD"), "rbd pool init vmpool")) << Join(p.refusals);
}

TEST(Plan, RefusesWhenTheKnownDataDoesNotFit) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRawFile);
  f.cluster.max_avail = 1 * kGiB;  // the file alone holds 2 GiB
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "pool 'vmpool' has room for");
  EXPECT_TRUE(Contains(RefusalWith(p, "has room"), "free space")) << Join(p.refusals);
  EXPECT_TRUE(p.warnings.empty()) << Join(p.warnings);  // refused, not also warned
  EXPECT_EQ(p.available_bytes, 1 * kGiB);
}

TEST(Plan, RefusesWhenTheQuotaLeavesTooLittleRoom) {
  Facts f;
  f.domain.xml = DomainXml(kRawFile);
  f.cluster.max_avail = 100 * kGiB;
  f.cluster.quota_max_bytes = 10 * kGiB;
  f.cluster.pool_stored = 9 * kGiB;  // 1 GiB left under the quota
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "has room for");
  EXPECT_TRUE(Contains(RefusalWith(p, "has room"), "quota")) << Join(p.refusals);
  EXPECT_EQ(p.available_bytes, 1 * kGiB);
}

TEST(Plan, AQuotaAlreadyExceededLeavesNoRoom) {
  Facts f;
  f.domain.xml = DomainXml(kRawFile);
  f.cluster.quota_max_bytes = 10 * kGiB;
  f.cluster.pool_stored = 11 * kGiB;
  Plan p = f.Make();
  EXPECT_EQ(p.available_bytes, 0u);
  EXPECT_REFUSED_ONLY_FOR(p, "has room for");
}

TEST(Plan, AQuotaLargerThanFreeSpaceDoesNotAddRoom) {
  Facts f;
  f.domain.xml = DomainXml(kRawFile);
  f.cluster.max_avail = 1 * kGiB;
  f.cluster.quota_max_bytes = 1000 * kGiB;
  Plan p = f.Make();
  EXPECT_EQ(p.available_bytes, 1 * kGiB);
  EXPECT_REFUSED_ONLY_FOR(p, "has room for");
}

TEST(Plan, RefusesAnExistingUserWithoutAccessNamingTheCommand) {
  Facts f;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "allow r"}, {"osd", "allow rwx pool=other"}};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "client.libvirt");
  std::string r = RefusalWith(p, "client.libvirt");
  EXPECT_TRUE(Contains(r, "ceph auth caps client.libvirt mon 'allow r, profile rbd' "
                          "osd 'allow rwx pool=other, profile rbd pool=vmpool'"))
      << r;
  EXPECT_TRUE(Contains(r, "--update-caps")) << r;
  EXPECT_EQ(p.user_action, UserAction::kUpdateCaps);
}

TEST(Plan, RefusesAUserWhoseMonCapIsNotEnough) {
  Facts f;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "allow r"}, {"osd", "profile rbd pool=vmpool"}};
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "ceph auth caps");
}

TEST(Plan, RefusesBadMonHosts) {
  for (const char* bad : {"10.0.0.1:notaport", "mon1,,mon2", "mon1:0", "[::1"}) {
    Facts f;
    f.opts.mon_hosts = bad;
    Plan p = f.Make();
    EXPECT_REFUSED_ONLY_FOR(p, "--mon-hosts");
    EXPECT_TRUE(p.hosts.empty()) << bad;
  }
}

TEST(Plan, RefusesAnEmptyMonmapWithoutMonHosts) {
  Facts f;
  f.cluster.monmap.clear();
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "--mon-hosts");
  EXPECT_TRUE(Contains(RefusalWith(p, "monitor"), "no monitors")) << Join(p.refusals);
}

TEST(Plan, RefusesADomainWithNoDiskThatCanMove) {
  Facts f;
  f.domain.xml = DomainXml(kCdrom + kCloop + kRbd);
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "no disk that can move");
  EXPECT_TRUE(p.Moving().empty());
  EXPECT_TRUE(p.new_xml.empty());
  EXPECT_TRUE(p.xml_diff.empty());
  EXPECT_EQ(p.disks.size(), 3u);  // still shown, with their reasons
}

TEST(Plan, RefusesMalformedDomainXml) {
  Facts f;
  f.domain.xml = "<domain><name>web1</name><devices>";
  Plan p = f.Make();
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.refusals.size(), 1u) << Join(p.refusals);
  EXPECT_TRUE(p.disks.empty());
}

// ================================================================== every refusal at once

TEST(Plan, ListsEveryRefusalAtOnce) {
  Facts f;
  f.domain.state = RunState::kRunning;                 // 1
  f.domain.persistent = false;                         // 2
  f.domain.managed_save = true;                        // 3
  f.domain.snapshots = {"snap1"};                      // 4
  f.domain.checkpoints = {"cp1"};                      // 5
  f.domain.uri = "qemu+tcp://far/system";              // 6
  f.domain.uri_is_local = false;
  f.domain.xml = DomainXml(kVda + BlockDisk("/dev/loop4", "vdb", "      <shareable/>\n") + kLun + kCdrom +
                           kRawFile);
  f.opts.disks = {"vda", "vdb", "sdb", "sda", "vde", "vdq"};  // 7 vdb shareable, 8 sdb lun, 9 sda cdrom, 10 vdq
  f.sources["/dev/loop3"].used_by = {"db1"};           // 11
  f.sources["/var/lib/libvirt/images/logs.img"].readable = false;  // 12
  f.sources["/var/lib/libvirt/images/logs.img"].error = "No such file or directory";
  f.cluster.existing_images = {"web1-vda"};            // 13
  f.cluster.pool_is_rbd = false;                       // 14
  f.cluster.user_exists = true;                        // 15
  f.cluster.user_caps = {{"mon", "allow r"}};
  f.opts.mon_hosts = "mon1:99999";                     // 16
  Plan p = f.Make();

  const char* expected[] = {
      "is running",          "transient",          "managed save",       "snapshots (snap1)",
      "checkpoints (cp1)",   "qemu+tcp://far",     "disk vdb: shared",   "disk sdb: SCSI passthrough",
      "disk sda was selected", "disk vdq is not in domain", "also a disk of domain db1",
      "No such file or directory", "web1-vda already exists", "not initialised for RBD",
      "ceph auth caps client.libvirt", "bad port",
  };
  for (const char* e : expected) EXPECT_EQ(Count(p.refusals, e), 1) << e << " in:\n" << Join(p.refusals);
  EXPECT_EQ(p.refusals.size(), std::size(expected)) << Join(p.refusals);
}

TEST(Plan, ListsRefusalsOfSeveralDisks) {
  Facts f;
  f.sources["/dev/loop3"].readable = false;
  f.sources["/dev/loop3"].error = "Permission denied";
  f.sources["/dev/loop4"].used_by = {"db1", "db2"};
  Plan p = f.Make();
  EXPECT_EQ(p.refusals.size(), 2u) << Join(p.refusals);
  EXPECT_EQ(Count(p.refusals, "disk vda"), 1);
  EXPECT_EQ(Count(p.refusals, "db1, db2"), 1);
}

// ================================================================== warnings

TEST(Plan, WarnsWhenBlockDevicesMayNotFit) {
  Facts f;
  f.cluster.max_avail = 1 * kGiB;  // vda alone is 1 GiB + 4 KiB at full size
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  ASSERT_EQ(p.warnings.size(), 1u) << Join(p.warnings);
  EXPECT_TRUE(Contains(p.warnings[0], "pool 'vmpool'")) << p.warnings[0];
  EXPECT_TRUE(Contains(p.warnings[0], "at most")) << p.warnings[0];
  EXPECT_EQ(p.known_bytes, 0u);
  EXPECT_EQ(p.upper_bytes, 1 * kGiB + 4096 + 512 * kMiB + 512);
  EXPECT_EQ(p.available_bytes, 1 * kGiB);
}

TEST(Plan, WarnsWhenKnownDataFitsButTheUpperBoundDoesNot) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRawFile);
  f.cluster.max_avail = 3 * kGiB;  // 2 GiB known fits; 3 GiB + 4 KiB upper bound does not
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.warnings.size(), 1u) << Join(p.warnings);
}

TEST(Plan, NoWarningWhenEverythingFitsExactly) {
  Facts f;
  f.cluster.max_avail = 1 * kGiB + 4096 + 512 * kMiB + 512;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_TRUE(p.warnings.empty()) << Join(p.warnings);
}

// ================================================================== the cephx user

TEST(Plan, ReusesAUserWithProfileRbdOnThePool) {
  Facts f;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "profile rbd"}, {"osd", "profile rbd pool=images, profile rbd pool=vmpool"}};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_action, UserAction::kReuse);
  EXPECT_EQ(p.user_caps_before, f.cluster.user_caps);
  EXPECT_EQ(p.user_caps_after, f.cluster.user_caps);
}

TEST(Plan, ReusesAUserWithProfileRbdOnEveryPool) {
  Facts f;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "profile rbd"}, {"osd", "profile rbd"}};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_action, UserAction::kReuse);
}

TEST(Plan, ReusesAUserWithAllowRwx) {
  for (const char* osd : {"allow rwx", "allow rwx pool=vmpool", "allow *"}) {
    Facts f;
    f.cluster.user_exists = true;
    f.cluster.user_caps = {{"mon", "profile rbd"}, {"osd", osd}};
    Plan p = f.Make();
    EXPECT_TRUE(p.ok()) << osd << "\n" << Join(p.refusals);
    EXPECT_EQ(p.user_action, UserAction::kReuse) << osd;
  }
}

TEST(Plan, DoesNotReuseAUserLimitedToANamespace) {
  Facts f;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "profile rbd"}, {"osd", "profile rbd pool=vmpool namespace=ns1"}};
  Plan p = f.Make();
  EXPECT_EQ(p.user_action, UserAction::kUpdateCaps);
  EXPECT_REFUSED_ONLY_FOR(p, "--update-caps");
}

TEST(Plan, UpdateCapsAddsThePoolGrantAndKeepsEveryCap) {
  Facts f;
  f.opts.update_caps = true;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "allow r"}, {"osd", "allow rwx pool=other"}, {"mgr", "profile rbd"}};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_action, UserAction::kUpdateCaps);
  EXPECT_EQ(p.user_caps_before, f.cluster.user_caps);
  CephCaps want = {{"mon", "allow r, profile rbd"},
                   {"osd", "allow rwx pool=other, profile rbd pool=vmpool"},
                   {"mgr", "profile rbd"}};
  EXPECT_EQ(p.user_caps_after, want);
}

TEST(Plan, UpdateCapsIsNotUsedWhenTheUserAlreadyHasAccess) {
  Facts f;
  f.opts.update_caps = true;
  f.cluster.user_exists = true;
  f.cluster.user_caps = {{"mon", "profile rbd"}, {"osd", "profile rbd pool=vmpool"}};
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_action, UserAction::kReuse);
  EXPECT_EQ(p.user_caps_after, f.cluster.user_caps);
}

TEST(Plan, UpdateCapsIsNotNeededForANewUser) {
  Facts f;
  f.opts.update_caps = true;
  Plan p = f.Make();
  ASSERT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(p.user_action, UserAction::kCreate);
  EXPECT_EQ(p.user_caps_after, LeastPrivilegeCaps(kPool));
}

// ================================================================== ExpandImageName

TEST(ImageName, ExpandsEveryField) {
  auto r = ExpandImageName("{domain}-{target}", "web1", "vda", kDomainUuid);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "web1-vda");
  r = ExpandImageName("vm_{uuid}.{target}", "web1", "sdb", kDomainUuid);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::string("vm_") + kDomainUuid + ".sdb");
  r = ExpandImageName("{target}{target}", "web1", "vda", kDomainUuid);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "vdavda");
  r = ExpandImageName("fixed-name", "web1", "vda", kDomainUuid);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "fixed-name");
}

TEST(ImageName, RefusesAnUnknownField) {
  auto r = ExpandImageName("{domain}-{disk}", "web1", "vda", kDomainUuid);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  EXPECT_TRUE(Contains(r.status().message(), "{disk}")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().hint(), "{target}")) << r.status().hint();
}

TEST(ImageName, RefusesAnUnclosedBrace) {
  auto r = ExpandImageName("{domain-{target", "web1", "vda", kDomainUuid);
  // "{domain-{target" has no '}' at all.
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  EXPECT_TRUE(Contains(r.status().message(), "unclosed")) << r.status().message();
}

TEST(ImageName, RefusesCharactersOutsideTheSafeSet) {
  for (const char* tmpl : {"{domain}/{target}", "{domain} {target}", "{domain}@snap", "a'b"}) {
    auto r = ExpandImageName(tmpl, "web1", "vda", kDomainUuid);
    EXPECT_FALSE(r.ok()) << tmpl;
    EXPECT_EQ(r.status().kind(), Kind::kUsage) << tmpl;
  }
  // Characters in the domain name count too.
  auto r = ExpandImageName("{domain}-{target}", "web 1", "vda", kDomainUuid);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "'web 1-vda'")) << r.status().message();
}

TEST(ImageName, RefusesAnEmptyName) {
  auto r = ExpandImageName("", "web1", "vda", kDomainUuid);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  r = ExpandImageName("{uuid}", "web1", "vda", "");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "empty")) << r.status().message();
}

// ================================================================== ResolveMonHosts

const std::vector<MonHost> kMonmap = {{"10.0.0.1", 6789}, {"10.0.0.2", 3300}};

std::vector<std::pair<std::string, int>> Pairs(const std::vector<MonHost>& hosts) {
  std::vector<std::pair<std::string, int>> out;
  for (const MonHost& h : hosts) out.emplace_back(h.host, h.port);
  return out;
}

TEST(MonHosts, ParsesAListWithPorts) {
  auto r = ResolveMonHosts("10.1.0.1:6789,mon-b.example:3300,10.1.0.3:6789", kMonmap);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::pair<std::string, int>> want = {{"10.1.0.1", 6789}, {"mon-b.example", 3300}, {"10.1.0.3", 6789}};
  EXPECT_EQ(Pairs(*r), want);
}

TEST(MonHosts, AHostWithoutPortHasNoPort) {
  auto r = ResolveMonHosts("mon1,10.1.0.2:6789", kMonmap);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::pair<std::string, int>> want = {{"mon1", 0}, {"10.1.0.2", 6789}};
  EXPECT_EQ(Pairs(*r), want);
}

TEST(MonHosts, ParsesIpv6Addresses) {
  auto r = ResolveMonHosts("[2001:db8::1]:6789,[2001:db8::2],2001:db8::3", kMonmap);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::pair<std::string, int>> want = {{"2001:db8::1", 6789}, {"2001:db8::2", 0}, {"2001:db8::3", 0}};
  EXPECT_EQ(Pairs(*r), want);
}

TEST(MonHosts, NoneMeansNoHosts) {
  auto r = ResolveMonHosts("none", kMonmap);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(MonHosts, EmptyMeansTheMonmap) {
  auto r = ResolveMonHosts("", kMonmap);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Pairs(*r), Pairs(kMonmap));
}

TEST(MonHosts, RefusesBadPorts) {
  for (const char* bad : {"mon1:", "mon1:0", "mon1:65536", "mon1:-1", "mon1:67x", "mon1:+80", "[::1]:",
                          "[::1]:99999", "mon1:99999999999999999999"}) {
    auto r = ResolveMonHosts(bad, kMonmap);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().kind(), Kind::kUsage) << bad;
    EXPECT_TRUE(Contains(r.status().message(), "bad port")) << bad << ": " << r.status().message();
  }
  auto ok = ResolveMonHosts("mon1:65535,mon2:1", kMonmap);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(MonHosts, RefusesEmptyEntriesAndHosts) {
  for (const char* bad : {",", "mon1,", ",mon1", "mon1,,mon2", ":6789", "[]:6789", "[::1", "[::1]6789"}) {
    auto r = ResolveMonHosts(bad, kMonmap);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().kind(), Kind::kUsage) << bad;
  }
}


// ================================================================== RBD sources (issue 12)

DiskInfo RbdDisk(const std::string& name, std::vector<std::pair<std::string, int>> hosts) {
  DiskInfo d;
  d.type = "network";
  d.device = "disk";
  d.protocol = "rbd";
  d.source = name;
  d.target = "vdb";
  d.bus = "virtio";
  d.hosts = std::move(hosts);
  return d;
}

TEST(RbdSource, StaysInTheTargetPoolOfTheTargetCluster) {
  const std::vector<MonHost> monmap = {{"10.0.0.1", 6789}, {"10.0.0.2", 6789}};
  RbdSourcePlace p = ClassifyRbdSource(RbdDisk("vmpool/a", {{"10.0.0.1", 6789}}), "vmpool", monmap);
  EXPECT_FALSE(p.moves);
  EXPECT_EQ(p.reason, "already on RBD in vmpool");
  // No port, and the msgr v2 port of a monitor on the default v1 port: the same monitor.
  EXPECT_FALSE(ClassifyRbdSource(RbdDisk("vmpool/a", {{"10.0.0.2", 0}}), "vmpool", monmap).moves);
  EXPECT_FALSE(ClassifyRbdSource(RbdDisk("vmpool/a", {{"10.0.0.2", 3300}}), "vmpool", monmap).moves);
  // No <host>: qemu reads ceph.conf, taken as the target cluster.
  RbdSourcePlace none = ClassifyRbdSource(RbdDisk("vmpool/a", {}), "vmpool", monmap);
  EXPECT_FALSE(none.moves);
  EXPECT_FALSE(none.other_cluster);
}

TEST(RbdSource, MovesFromAnotherPoolOrAnotherCluster) {
  const std::vector<MonHost> monmap = {{"10.0.0.1", 6789}};
  RbdSourcePlace pool = ClassifyRbdSource(RbdDisk("old/img", {{"10.0.0.1", 6789}}), "vmpool", monmap);
  EXPECT_TRUE(pool.moves);
  EXPECT_FALSE(pool.other_cluster);
  EXPECT_EQ(pool.pool, "old");
  EXPECT_EQ(pool.image, "img");
  RbdSourcePlace noport = ClassifyRbdSource(RbdDisk("old/img", {}), "vmpool", monmap);
  EXPECT_TRUE(noport.moves);
  // Same pool name, but one monitor is not in the target's monmap: another cluster.
  RbdSourcePlace other =
      ClassifyRbdSource(RbdDisk("vmpool/img", {{"10.0.0.1", 6789}, {"10.9.9.9", 6789}}), "vmpool", monmap);
  EXPECT_TRUE(other.moves);
  EXPECT_TRUE(other.other_cluster);
  // Same host, another port: another cluster on that host.
  EXPECT_TRUE(ClassifyRbdSource(RbdDisk("vmpool/img", {{"10.0.0.1", 6790}}), "vmpool", monmap).other_cluster);
  // No monmap known: the hosts are not compared.
  EXPECT_FALSE(ClassifyRbdSource(RbdDisk("vmpool/img", {{"10.9.9.9", 6789}}), "vmpool", {}).moves);
  // A name without a pool is in librbd's default pool.
  RbdSourcePlace bare = ClassifyRbdSource(RbdDisk("img", {}), "vmpool", monmap);
  EXPECT_TRUE(bare.moves);
  EXPECT_EQ(bare.pool, "rbd");
  EXPECT_FALSE(ClassifyRbdSource(RbdDisk("img", {}), "rbd", monmap).moves);
}

TEST(RbdSource, SnapshotsAndNamespacesStay) {
  const std::vector<MonHost> monmap = {{"10.0.0.1", 6789}};
  RbdSourcePlace snap = ClassifyRbdSource(RbdDisk("old/img@s1", {}), "vmpool", monmap);
  EXPECT_FALSE(snap.moves);
  EXPECT_TRUE(Contains(snap.reason, "snapshot")) << snap.reason;
  RbdSourcePlace ns = ClassifyRbdSource(RbdDisk("old/ns/img", {}), "vmpool", monmap);
  EXPECT_FALSE(ns.moves);
  EXPECT_TRUE(Contains(ns.reason, "namespace")) << ns.reason;
}

const std::string kRbdOther =
    "    <disk type='network' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source protocol='rbd' name='old/img'>\n"
    "        <host name='10.9.9.9' port='6789'/>\n"
    "        <auth username='legacy'><secret type='ceph' uuid='11111111-2222-3333-4444-555555555555'/></auth>\n"
    "      </source>\n"
    "      <target dev='vde' bus='virtio'/>\n"
    "    </disk>\n";

SourceFacts RbdImageSource(const std::string& name, uint64_t size, uint64_t allocated) {
  SourceFacts s;
  s.path = name;
  s.rbd = true;
  s.readable = true;
  s.size = size;
  s.allocated = allocated;
  return s;
}

TEST(Plan, MovesAnRbdDiskOfAnotherClusterAndRewritesItsSource) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRbd + kRbdOther);
  f.sources["old/img"] = RbdImageSource("old/img", 1 * kGiB, 100 * kMiB);
  Plan p = f.Make();
  EXPECT_TRUE(p.ok()) << Join(p.refusals);
  const DiskPlan* d = DiskOf(p, "vde");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, DiskDecision::kMove);
  EXPECT_EQ(d->size, 1 * kGiB);
  EXPECT_EQ(d->allocated, 100 * kMiB);
  EXPECT_TRUE(Contains(d->read_path, "another cluster")) << d->read_path;
  EXPECT_EQ(DiskOf(p, "vdd")->decision, DiskDecision::kStay);
  auto after = ParseDomainXml(p.new_xml);
  ASSERT_TRUE(after.ok());
  const DiskInfo* vde = InfoOf(*after, "vde");
  ASSERT_NE(vde, nullptr);
  EXPECT_EQ(vde->source, std::string(kPool) + "/" + d->image);
  EXPECT_EQ(vde->hosts.size(), 3u);  // the target's monitors only
  EXPECT_EQ(vde->auth_username, p.user_id);
  EXPECT_NE(vde->auth_secret_uuid, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(InfoOf(*after, "vdd")->source, "vmpool/shared-data");  // untouched
}

TEST(Plan, RefusesAnRbdSourceThatCannotBeReachedOrIsInUse) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRbdOther);
  SourceFacts bad;
  bad.path = "old/img";
  bad.rbd = true;
  bad.error = "RBD image old/img: the key of client.legacy cannot be read: libvirt secret not found";
  f.sources["old/img"] = bad;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vde");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vde"), "cannot be read")) << Join(p.refusals);

  f.sources["old/img"] = RbdImageSource("old/img", 1 * kGiB, 1 * kGiB);
  f.sources["old/img"].watchers = {"192.168.0.5:0/123"};
  p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vde");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vde"), "open read-write by 192.168.0.5:0/123")) << Join(p.refusals);

  // A running VM's own qemu watches it: stopped first, checked again then.
  f.domain.state = RunState::kRunning;
  f.opts.shutdown = true;
  p = f.Make();
  EXPECT_TRUE(p.ok()) << Join(p.refusals);
}

TEST(Plan, RefusesAnRbdSourceLive) {
  Facts f;
  f.domain.xml = DomainXml(kVda + kRbdOther);
  f.sources["old/img"] = RbdImageSource("old/img", 1 * kGiB, 1 * kGiB);
  f.domain.state = RunState::kRunning;
  f.opts.live = true;
  Plan p = f.Make();
  EXPECT_REFUSED_ONLY_FOR(p, "disk vde");
  EXPECT_TRUE(Contains(RefusalWith(p, "disk vde"), "not moved live")) << Join(p.refusals);
}

TEST(Plan, AnRbdDiskAlreadyInThePoolStaysEvenWhenShared) {
  Facts f;
  std::string shared = kRbd;
  shared.replace(shared.find("<target"), 0, "<shareable/>");
  f.domain.xml = DomainXml(kVda + shared);
  Plan p = f.Make();
  EXPECT_TRUE(p.ok()) << Join(p.refusals);
  EXPECT_EQ(DiskOf(p, "vdd")->decision, DiskDecision::kStay);
}

}  // namespace
}  // namespace v2r
