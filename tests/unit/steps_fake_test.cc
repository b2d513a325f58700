// The steps that change libvirt, over the fake hypervisor: the switch of the
// definition (with the source guard) and the libvirt secret.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "fake_run.h"
#include "migrate/guard.h"
#include "migrate/steps.h"

namespace v2r::fake {
namespace {

// A plan that moves vm1's one disk (vda) to rbd/vm1-vda, user client.libvirt.
Plan PlanFor(FakeLibvirt& virt, const std::string& name) {
  FakeDomain d = virt.Get(name);
  Plan p;
  p.domain = d.name;
  p.uuid = d.uuid;
  p.pool = "rbd";
  p.old_xml = d.xml;
  auto info = ParseDomainXml(d.xml);
  EXPECT_TRUE(info.ok());
  DiskPlan disk;
  disk.disk = info->disks.at(0);
  disk.decision = DiskDecision::kMove;
  disk.image = name + "-vda";
  p.disks.push_back(disk);
  p.hosts = {{"10.0.0.1", 6789}};
  p.user_id = "libvirt";
  p.user_entity = "client.libvirt";
  p.secret_usage = "client.libvirt secret";
  p.cache = "none";
  return p;
}

// V2R_FAULT for the scope of one test.
struct Fault {
  explicit Fault(const char* spec) { ::setenv("V2R_FAULT", spec, 1); }
  ~Fault() { ::unsetenv("V2R_FAULT"); }
};

SecretBytes TestKey() { return SecretBytes("KEY-BYTES", 9); }

// A Runner on `name` connected to a cluster where only client.libvirt
// exists, with the key TestKey().
std::unique_ptr<Runner> OpenKeyed(FakeRun& f, const std::string& name) {
  auto r = f.Open(name);
  f.ceph.AddUser("client.libvirt", {{"mon", "profile rbd"}}, std::string(TestKey().data(), TestKey().size()));
  if (r) {
    auto cluster = r->s.open_cluster(CephOptions{}, {});
    EXPECT_TRUE(cluster.ok());
    if (cluster.ok()) r->s.cluster = std::move(*cluster);
  }
  return r;
}

// A Runner on `name` with the secret step done, as the switch finds it.
std::unique_ptr<Runner> OpenWithSecret(FakeRun& f, const Plan& plan) {
  auto r = OpenKeyed(f, plan.domain);
  if (!r) return r;
  Status st = EnsureSecret(*r, plan);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return st.ok() ? std::move(r) : nullptr;
}

// vm1, shut off, its plan, and a Runner on it with the secret step done.
class SwitchDefinitionOverFake : public ::testing::Test {
 protected:
  FakeRun f;
  std::string uuid = f.virt.AddDomain("vm1");
  Plan plan = PlanFor(f.virt, "vm1");
  std::unique_ptr<Runner> r = OpenWithSecret(f, plan);
};

TEST_F(SwitchDefinitionOverFake, DefinesTheRbdDefinitionAndJournalsIt) {
  ASSERT_TRUE(r);
  Status st = SwitchDefinition(*r, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  FakeDomain d = f.virt.Get("vm1");
  EXPECT_NE(d.xml.find("<source protocol='rbd' name='rbd/vm1-vda'>"), std::string::npos) << d.xml;
  EXPECT_NE(d.xml.find("uuid='" + r->State().secret_uuid + "'"), std::string::npos) << d.xml;
  EXPECT_EQ(d.xml.find("disk.img"), std::string::npos) << d.xml;
  EXPECT_TRUE(r->State().switched);
  // Resumed after the switch: nothing is defined again.
  ASSERT_TRUE(SwitchDefinition(*r, plan).ok());
  EXPECT_EQ(f.virt.Calls("DefineXml"), 1);
}

TEST_F(SwitchDefinitionOverFake, AFailedDefineLeavesTheOldDefinition) {
  ASSERT_TRUE(r);
  f.virt.FailCall("DefineXml", 1, Status::Failed("defining a domain at fake:///system: XML error: injected"));
  Status st = SwitchDefinition(*r, plan);
  EXPECT_EQ(st.kind(), Kind::kFailed);
  EXPECT_NE(st.message().find("defining the switched domain"), std::string::npos) << st.message();
  FakeDomain d = f.virt.Get("vm1");
  EXPECT_EQ(d.xml, plan.old_xml);
  EXPECT_EQ(d.defines, 0);
  EXPECT_FALSE(r->State().switched);
}

TEST_F(SwitchDefinitionOverFake, AGuardTrippedBeforeTheDefineDefinesNothing) {
  ASSERT_TRUE(r);
  Status st = SwitchDefinition(*r, plan, [] { return Status::SourceChanged("domain vm1 ran"); });
  EXPECT_EQ(st.kind(), Kind::kSourceChanged);
  EXPECT_EQ(f.virt.Calls("DefineXml"), 0);
  EXPECT_FALSE(r->State().switch_intent);
}

// The VM is started between the guard's last look and the define: the
// guard's look right after the define sees it, and the old definition (its
// original disks, on which it runs) is put back.
TEST_F(SwitchDefinitionOverFake, AStartJustAfterTheDefinePutsTheSavedDefinitionBack) {
  ASSERT_TRUE(r);
  std::atomic<bool> stop{false};
  auto g = DomainGuard::Start(r->s.open_hypervisor, f.virt.uri(), uuid, "vm1", &stop, nullptr,
                              {"while it was being switched", "rerun"});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  int looks = 0;
  auto guard = [&] {
    if (++looks == 2) f.virt.SetState("vm1", DomainState::kRunning);  // the define is done by now
    return (*g)->Check();
  };
  Status st = SwitchDefinition(*r, plan, guard);
  EXPECT_EQ(st.kind(), Kind::kSourceChanged) << st.ToString();
  EXPECT_NE(st.message().find("domain vm1 ran while it was being switched"), std::string::npos) << st.message();
  FakeDomain d = f.virt.Get("vm1");
  EXPECT_EQ(d.defines, 2) << "switched, then put back";
  EXPECT_EQ(d.xml, plan.old_xml);
  EXPECT_FALSE(r->State().switched);
  EXPECT_TRUE(stop.load());
}

TEST_F(SwitchDefinitionOverFake, PuttingTheDefinitionBackFailingIsAFailure) {
  ASSERT_TRUE(r);
  f.virt.FailCall("DefineXml", 2, Status::Failed("defining a domain: injected"));
  int looks = 0;
  Status st = SwitchDefinition(*r, plan, [&] {
    return ++looks == 1 ? Status::Ok() : Status::SourceChanged("domain vm1 ran");
  });
  EXPECT_EQ(st.kind(), Kind::kFailed) << st.ToString();
  EXPECT_NE(st.message().find("putting the saved definition back failed"), std::string::npos) << st.message();
}

// vm1, shut off, and its plan.
class EnsureSecretOverFake : public ::testing::Test {
 protected:
  FakeRun f;
  std::string uuid = f.virt.AddDomain("vm1");
  Plan plan = PlanFor(f.virt, "vm1");
};

TEST_F(EnsureSecretOverFake, DefinesTheSecretAndSetsItsValueOnce) {
  auto r = OpenKeyed(f, "vm1");
  ASSERT_TRUE(r);
  Status st = EnsureSecret(*r, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto secrets = f.virt.Secrets();
  ASSERT_EQ(secrets.size(), 1u);
  EXPECT_EQ(secrets[0].usage, "client.libvirt secret");
  EXPECT_EQ(secrets[0].value, std::optional<std::string>("KEY-BYTES"));
  EXPECT_EQ(secrets[0].value_sets, 1);
  MigrationState ms = r->State();
  EXPECT_EQ(ms.secret_uuid, secrets[0].uuid);
  EXPECT_TRUE(ms.secret_created);
  EXPECT_TRUE(ms.secret_value_set);
}

// Another migration on the host (a fleet runs several at once) defines the
// same user's secret between our lookup and our define: ours is refused by
// libvirt, and the step reuses theirs instead of failing the migration.
TEST_F(EnsureSecretOverFake, ASecretDefinedMeanwhileByAnotherRunIsReused) {
  auto r = OpenKeyed(f, "vm1");
  ASSERT_TRUE(r);
  f.virt.OnCallAddSecret("DefineCephSecret", "client.libvirt secret");
  Status st = EnsureSecret(*r, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto secrets = f.virt.Secrets();
  ASSERT_EQ(secrets.size(), 1u);
  EXPECT_EQ(secrets[0].description, "another run's");
  EXPECT_EQ(secrets[0].value, std::optional<std::string>("KEY-BYTES"));
  MigrationState ms = r->State();
  EXPECT_EQ(ms.secret_uuid, secrets[0].uuid);
  EXPECT_FALSE(ms.secret_created) << "a rollback must not remove the other run's secret";
}

TEST_F(EnsureSecretOverFake, ARerunAfterACrashAfterTheDefineReusesTheSecret) {
  {
    auto r = OpenKeyed(f, "vm1");
    ASSERT_TRUE(r);
    Fault fault("after-secret-define=fail");  // dies after the define, before its record
    EXPECT_FALSE(EnsureSecret(*r, plan).ok());
    EXPECT_TRUE(r->State().secret_define_intent);
  }
  ASSERT_EQ(f.virt.Secrets().size(), 1u);
  auto r = OpenKeyed(f, "vm1");
  ASSERT_TRUE(r);
  Status st = EnsureSecret(*r, plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto secrets = f.virt.Secrets();
  ASSERT_EQ(secrets.size(), 1u) << "defined a second secret";
  EXPECT_EQ(f.virt.Calls("DefineCephSecret"), 1);
  EXPECT_EQ(secrets[0].value, std::optional<std::string>("KEY-BYTES"));
  MigrationState ms = r->State();
  EXPECT_EQ(ms.secret_uuid, secrets[0].uuid);
  EXPECT_TRUE(ms.secret_created) << "the secret is ours: an undo must remove it";
}

TEST_F(EnsureSecretOverFake, TheOperatorsSecretIsReusedNotOurs) {
  const std::string theirs = f.virt.AddSecret("client.libvirt secret");
  auto r = OpenKeyed(f, "vm1");
  ASSERT_TRUE(r);
  ASSERT_TRUE(EnsureSecret(*r, plan).ok());
  EXPECT_EQ(f.virt.Calls("DefineCephSecret"), 0);
  EXPECT_EQ(f.virt.Secrets().at(0).value, std::optional<std::string>("KEY-BYTES"));
  MigrationState ms = r->State();
  EXPECT_EQ(ms.secret_uuid, theirs);
  EXPECT_FALSE(ms.secret_created);
}

TEST_F(EnsureSecretOverFake, AFailedDefineIsReturnedAndNoValueIsSet) {
  auto r = OpenKeyed(f, "vm1");
  ASSERT_TRUE(r);
  f.virt.FailCall("DefineCephSecret", 1, Status::Failed("defining secret: injected"));
  EXPECT_EQ(EnsureSecret(*r, plan).kind(), Kind::kFailed);
  EXPECT_TRUE(f.virt.Secrets().empty());
  EXPECT_EQ(f.virt.Calls("SetSecretValue"), 0);
}

}  // namespace
}  // namespace v2r::fake
