// An RBD source's connection (migrate/rbd_source.h): its options from the
// disk's definition, the key from the libvirt secret in memory only.
#include <gtest/gtest.h>

#include "fake_cluster.h"
#include "fake_hypervisor.h"
#include "migrate/rbd_source.h"
#include "migrate/records.h"

namespace v2r {
namespace {

using fake::FakeCluster;
using fake::FakeLibvirt;

DiskInfo Disk(const std::string& name) {
  DiskInfo d;
  d.type = "network";
  d.protocol = "rbd";
  d.source = name;
  d.target = "vdb";
  return d;
}

CephOptions Operator() {
  CephOptions o;
  o.conf = "/etc/ceph/target.conf";
  o.name = "client.admin";
  o.keyring = "/etc/ceph/admin.keyring";
  o.extra_args = {"--mon-host", "10.0.0.1"};
  return o;
}

std::string Override(const CephConfOverrides& o, const std::string& key) {
  for (const auto& [k, v] : o)
    if (k == key) return v;
  return "(unset)";
}

TEST(RbdSourceRef, ComesFromTheDefinitionAndBackFromTheRecord) {
  DiskInfo d = Disk("old/img");
  d.hosts = {{"10.9.9.9", 6789}, {"fd00::1", 3300}, {"mon.example", 0}};
  d.auth_username = "legacy";
  d.auth_secret_uuid = "u-1";
  RbdSourceRef ref = RbdSourceRefOf(d);
  EXPECT_EQ(ref.pool, "old");
  EXPECT_EQ(ref.image, "img");
  EXPECT_EQ(ref.Name(), "old/img");
  EXPECT_EQ(MonHostOption(ref.hosts), "10.9.9.9:6789,[fd00::1]:3300,mon.example");
  EXPECT_EQ(RbdSourceRefOf(Disk("img")).pool, "rbd");

  rec::SourceSnapshotAt at{"vdb", ref.Name(), "snap1", {}, ref.user, ref.secret_uuid, ref.secret_usage};
  for (const auto& h : ref.hosts) at.hosts.push_back(MonHostOption({h}));
  nlohmann::json r = rec::SourceSnapshot(at);
  EXPECT_FALSE(r.dump().empty());
  RbdSourceRef back = RbdSourceRefFrom(r);
  EXPECT_EQ(back.Name(), "old/img");
  EXPECT_EQ(back.hosts, ref.hosts);
  EXPECT_EQ(back.user, "legacy");
  EXPECT_EQ(back.secret_uuid, "u-1");
}

TEST(RbdSourceCeph, HostsReplaceTheOperatorsConfAndAuthItsIdentity) {
  DiskInfo d = Disk("old/img");
  RbdSourceCeph same = RbdSourceCephOptions(Operator(), RbdSourceRefOf(d));
  EXPECT_EQ(same.options.conf, "/etc/ceph/target.conf");  // no <host>: the target cluster's conf
  EXPECT_EQ(same.options.name, "client.admin");
  EXPECT_EQ(Override(same.overrides, "mon_host"), "(unset)");

  d.hosts = {{"10.9.9.9", 6789}};
  d.auth_username = "legacy";
  RbdSourceCeph other = RbdSourceCephOptions(Operator(), RbdSourceRefOf(d));
  EXPECT_EQ(other.options.conf, "/dev/null");
  EXPECT_TRUE(other.options.extra_args.empty());
  EXPECT_TRUE(other.options.keyring.empty());
  EXPECT_EQ(other.options.EntityName(), "client.legacy");
  EXPECT_EQ(Override(other.overrides, "mon_host"), "10.9.9.9:6789");
  EXPECT_EQ(Override(other.overrides, "rbd_cache"), "false");
  EXPECT_FALSE(other.options.key_bytes);
}

TEST(ConnectRbdSource, HandsTheSecretsKeyToTheConnectionInMemory) {
  FakeLibvirt virt;
  const std::string key("\x01\x00raw-key-bytes\xff", 16);
  const std::string uuid = virt.AddSecret("legacy-key", key);
  auto hv = virt.Opener()("");
  ASSERT_TRUE(hv.ok());
  FakeCluster ceph;
  ceph.AddPool("old");
  ClusterOpener real = ceph.Opener();
  std::string seen_key, seen_name, seen_mon;
  ClusterOpener spy = [&](const CephOptions& o, const CephConfOverrides& ov) {
    if (o.key_bytes) seen_key.assign(o.key_bytes->data(), o.key_bytes->size());
    seen_name = o.EntityName();
    seen_mon = Override(ov, "mon_host");
    return real(o, ov);
  };
  DiskInfo d = Disk("old/img");
  d.hosts = {{"10.9.9.9", 6789}};
  d.auth_username = "legacy";
  d.auth_secret_uuid = uuid;
  auto conn = ConnectRbdSource(spy, **hv, Operator(), RbdSourceRefOf(d));
  ASSERT_TRUE(conn.ok()) << conn.status().message();
  EXPECT_EQ(seen_key, key);
  EXPECT_EQ(seen_name, "client.legacy");
  EXPECT_EQ(seen_mon, "10.9.9.9:6789");
  EXPECT_EQ(conn->pool->name(), "old");

  // By usage too.
  d.auth_secret_uuid.clear();
  d.auth_secret_usage = "legacy-key";
  EXPECT_TRUE(ConnectRbdSource(spy, **hv, Operator(), RbdSourceRefOf(d)).ok());
}

TEST(ConnectRbdSource, RefusesAnUnknownSecretASecretWithoutValueAndAMissingPool) {
  FakeLibvirt virt;
  const std::string empty = virt.AddSecret("no-value");
  auto hv = virt.Opener()("");
  ASSERT_TRUE(hv.ok());
  FakeCluster ceph;
  ceph.AddPool("old");
  DiskInfo d = Disk("old/img");
  d.auth_username = "legacy";
  d.auth_secret_uuid = "00000000-0000-0000-0000-00000000dead";
  auto unknown = ConnectRbdSource(ceph.Opener(), **hv, Operator(), RbdSourceRefOf(d));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().kind(), Kind::kRefused);
  EXPECT_NE(unknown.status().message().find("the key of client.legacy cannot be read"), std::string::npos)
      << unknown.status().message();
  d.auth_secret_uuid = empty;
  EXPECT_FALSE(ConnectRbdSource(ceph.Opener(), **hv, Operator(), RbdSourceRefOf(d)).ok());
  d.auth_secret_uuid.clear();
  auto nosecret = ConnectRbdSource(ceph.Opener(), **hv, Operator(), RbdSourceRefOf(d));
  ASSERT_FALSE(nosecret.ok());
  EXPECT_NE(nosecret.status().message().find("names no <secret>"), std::string::npos);
  DiskInfo nopool = Disk("gone/img");
  EXPECT_FALSE(ConnectRbdSource(ceph.Opener(), **hv, Operator(), RbdSourceRefOf(nopool)).ok());
}

TEST(SourceSnapshotName, IsTheDomainsAndDatedSoThatATakeAgainDiffers) {
  EXPECT_EQ(SourceSnapshotName("u", 5), "virt2rbd-source-u-5");
  EXPECT_TRUE(IsSourceSnapshotOf(SourceSnapshotName("u", 5), "u"));
  EXPECT_FALSE(IsSourceSnapshotOf(SourceSnapshotName("v", 5), "u"));
  EXPECT_FALSE(IsSourceSnapshotOf("mine", "u"));
}

}  // namespace
}  // namespace v2r
