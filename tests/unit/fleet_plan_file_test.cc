#include "fleet/plan_file.h"

#include <gtest/gtest.h>

#include <string>

namespace v2r::fleet {
namespace {

const char* kExample = R"(version: 1
cluster:
  conf: /etc/ceph/ceph.conf
  id: admin
  keyring: /etc/ceph/ceph.client.admin.keyring
  pool: libvirt
  client_user: libvirt
limits:
  slots: 8
  host_slots: 3
  cutovers: 2
  bandwidth: 800MiB/s
  max_failures: 10%
defaults:
  mode: offline
  stop: shutdown,force-off
  window: 22:00-04:00
hosts:
  - name: hv1
    ssh: root@10.0.0.11
    identity: /root/.ssh/fleet
    slots: 2
    bandwidth: 200M
    vms:
      - web1
      - name: db1
        mode: live
        priority: 10
      - match: "app-*"
        exclude: ["app-test*"]
        wave: 2
  - name: hv2
    ssh: 10.0.0.12
    port: 2222
    libvirt: qemu+tcp://localhost/system
    vms:
      - all: true
        exclude: scratch
)";

Result<PlanFile> Parse(const std::string& text) { return ParsePlanFile(text, "fleet.yaml"); }

TEST(FleetPlanFile, ParsesTheDocumentedExample) {
  auto p = Parse(kExample);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->cluster.pool, "libvirt");
  EXPECT_EQ(p->cluster.id, "admin");
  EXPECT_EQ(p->cluster.client_user, "libvirt");
  EXPECT_EQ(p->limits.slots, 8);
  EXPECT_EQ(p->limits.host_slots, 3);
  EXPECT_EQ(p->limits.cutovers, 2);
  EXPECT_EQ(p->limits.bandwidth, 800ull << 20);
  EXPECT_EQ(p->limits.max_failures.Describe(), "10%");
  ASSERT_EQ(p->hosts.size(), 2u);
  const HostSpec& h1 = p->hosts[0];
  EXPECT_EQ(h1.ssh, "root@10.0.0.11");
  EXPECT_EQ(h1.port, 22);
  EXPECT_EQ(h1.libvirt, "qemu:///system");
  EXPECT_EQ(h1.slots, 2);
  EXPECT_EQ(h1.bandwidth, 200ull << 20);
  ASSERT_EQ(h1.vms.size(), 3u);
  EXPECT_EQ(h1.vms[0].name, "web1");
  EXPECT_EQ(h1.vms[0].line, 25);
  EXPECT_EQ(h1.vms[2].match, "app-*");
  EXPECT_EQ(h1.vms[2].exclude, std::vector<std::string>{"app-test*"});
  EXPECT_EQ(p->hosts[1].port, 2222);
  EXPECT_EQ(p->hosts[1].libvirt, "qemu+tcp://localhost/system");
  EXPECT_TRUE(p->hosts[1].vms[0].all);
  EXPECT_EQ(p->hosts[1].vms[0].exclude, std::vector<std::string>{"scratch"});
}

TEST(FleetPlanFile, SelectsByNameGlobAndAllWithSettingsResolved) {
  auto p = Parse(kExample);
  ASSERT_TRUE(p.ok()) << p.status().message();
  std::vector<std::string> missing;
  auto vms = SelectVms(*p, p->hosts[0], {"app-1", "db1", "app-test1", "other", "app-2"}, &missing);
  EXPECT_EQ(missing, std::vector<std::string>{"web1"});
  ASSERT_EQ(vms.size(), 3u);
  EXPECT_EQ(vms[0].name, "db1");
  EXPECT_EQ(vms[0].mode, Mode::kLive);
  EXPECT_EQ(vms[0].priority, 10);
  EXPECT_FALSE(vms[0].window.has_value()) << "a live VM has no cutover window";
  EXPECT_TRUE(vms[0].named);
  EXPECT_EQ(vms[1].name, "app-1");
  EXPECT_EQ(vms[1].wave, 2);
  EXPECT_EQ(vms[1].mode, Mode::kOffline);
  EXPECT_EQ(vms[1].stop, StopPolicy::kShutdownThenForceOff);
  ASSERT_TRUE(vms[1].window.has_value());
  EXPECT_EQ(vms[1].window->Describe(), "22:00-04:00");
  EXPECT_FALSE(vms[1].named);
  EXPECT_EQ(vms[2].name, "app-2");

  auto all = SelectVms(*p, p->hosts[1], {"a", "scratch", "b"}, nullptr);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[1].name, "b");
}

TEST(FleetPlanFile, AVmPickedByTwoRulesTakesTheFirst) {
  auto p = Parse(R"(version: 1
cluster: {pool: p}
hosts:
  - name: h
    ssh: h
    vms:
      - name: a
        priority: 5
      - all: true
        priority: 1
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto vms = SelectVms(*p, p->hosts[0], {"b", "a"}, nullptr);
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0].name, "a");
  EXPECT_EQ(vms[0].priority, 5);
  EXPECT_EQ(vms[1].name, "b");
  EXPECT_EQ(vms[1].priority, 1);
}

TEST(FleetPlanFile, WindowsWrapMidnight) {
  Window w{22 * 60, 4 * 60};
  EXPECT_TRUE(w.Contains(23 * 60));
  EXPECT_TRUE(w.Contains(3 * 60 + 59));
  EXPECT_FALSE(w.Contains(4 * 60));
  EXPECT_FALSE(w.Contains(12 * 60));
  Window day{9 * 60, 17 * 60};
  EXPECT_TRUE(day.Contains(9 * 60));
  EXPECT_FALSE(day.Contains(17 * 60));
}

TEST(FleetPlanFile, FailureLimits) {
  auto n = ParseFailureLimit("3");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->For(100), 3u);
  auto pct = ParseFailureLimit("10%");
  ASSERT_TRUE(pct.ok());
  EXPECT_EQ(pct->For(100), 10u);
  EXPECT_EQ(pct->For(3), 1u) << "a percentage lets at least one fail";
  for (const char* bad : {"", "x", "0%", "101%", "-1", "3.5", "10 %"})
    EXPECT_FALSE(ParseFailureLimit(bad).ok()) << bad;
}

// Each bad plan: a usage error naming the file, the line and the fix.
struct BadPlan {
  std::string text;
  const char* want;  // substring of the message
};

TEST(FleetPlanFile, BadPlansAreRefusedWithTheLineAndTheFix) {
  const std::string host = "hosts:\n  - name: h\n    ssh: h\n    vms: [a]\n";
  const BadPlan cases[] = {
      {"", "the plan is empty"},
      {"version: 1\ncluster: {pool: p}\n  bad: [", "not valid YAML"},
      {"cluster: {pool: p}\n" "hosts: []\n", "no 'version: 1'"},
      {"version: 2\ncluster: {pool: p}\n", "version 2 is not known"},
      {"version: 1\nhosts: []\n", "no 'cluster:' section"},
      {"version: 1\ncluster: {conf: /c}\n", "'pool:' is required"},
      {"version: 1\ncluster: {pool: p, key: AQAB}\n", "a cephx key does not go into the plan file"},
      {"version: 1\ncluster: {pool: p, id: client.admin}\n", "without 'client.'"},
      {"version: 1\ncluster: {pool: p}\nlimit: {slots: 3}\n", "unknown key 'limit' in the plan"},
      {"version: 1\ncluster: {pool: p}\nlimits: {slot: 3}\n", "unknown key 'slot' in limits"},
      {"version: 1\ncluster: {pool: p}\nlimits: {slots: 0}\n", "slots must be a whole number from 1"},
      {"version: 1\ncluster: {pool: p}\nlimits: {bandwidth: fast}\n", "must be a rate such as 200MiB/s"},
      {"version: 1\ncluster: {pool: p}\nlimits: {max_failures: 200%}\n", "not a failure limit"},
      {"version: 1\ncluster: {pool: p}\n", "no hosts:"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - ssh: h\n    vms: [a]\n", "a host needs name:"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    vms: [a]\n", "host h needs ssh:"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: -oProxyCommand=x\n    vms: [a]\n",
       "must not start with '-'"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n", "host h needs vms:"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    port: 70000\n    vms: [a]\n",
       "port of host h must be a whole number from 1 to 65535"},
      {("version: 1\ncluster: {pool: p}\n" + host + "  - name: h\n    ssh: x\n    vms: [b]\n"),
       "host name h is used twice"},
      {("version: 1\ncluster: {pool: p}\n" + host + "  - name: g\n    ssh: h\n    vms: [b]\n"),
       "share the ssh target h port 22"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms: [a, a]\n",
       "VM a is listed twice for host h"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n      - {name: a, match: b}\n",
       "exactly one of name:"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n      - {name: a, mode: fast}\n",
       "mode of VM a of host h must be offline or live"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n"
       "      - {name: a, mode: live, stop: force-off}\n",
       "a live VM keeps running, so it takes no stop policy"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n"
       "      - {name: a, window: 25:00-01:00}\n",
       "window of VM a of host h must be a daily window HH:MM-HH:MM"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n      - {all: true, wave: 0}\n",
       "wave of a VM entry of host h must be a whole number from 1"},
      {"version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    vms:\n      - {name: a, exclude: b}\n",
       "exclude: goes with match: or all:"},
  };
  for (const BadPlan& c : cases) {
    const std::string& text = c.text;
    auto p = Parse(text);
    ASSERT_FALSE(p.ok()) << "accepted:\n" << text;
    EXPECT_EQ(p.status().kind(), Kind::kUsage) << text;
    EXPECT_NE(p.status().message().find(c.want), std::string::npos)
        << "message: " << p.status().message() << "\nwanted: " << c.want << "\nplan:\n" << text;
    EXPECT_EQ(p.status().message().rfind("fleet.yaml", 0), 0u) << p.status().message();
  }
}

TEST(FleetPlanFile, ErrorsNameTheLine) {
  auto p = Parse("version: 1\ncluster: {pool: p}\nhosts:\n  - name: h\n    ssh: h\n    bogus: 1\n    vms: [a]\n");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message().rfind("fleet.yaml:6: unknown key 'bogus'", 0), 0u) << p.status().message();
}

TEST(FleetPlanFile, AMissingFileIsAUsageError) {
  auto p = LoadPlanFile("/nonexistent/fleet.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().kind(), Kind::kUsage);
  EXPECT_NE(p.status().message().find("/nonexistent/fleet.yaml"), std::string::npos);
}

}  // namespace
}  // namespace v2r::fleet
