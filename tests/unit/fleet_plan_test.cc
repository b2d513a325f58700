#include "fleet/fleet_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "fleet/ssh.h"

namespace v2r::fleet {
namespace {

using nlohmann::json;

json VmPlan(const std::string& uuid, const std::vector<std::string>& images, uint64_t known, uint64_t upper,
            uint64_t available, std::vector<std::string> refusals = {}) {
  json disks = json::array();
  for (const std::string& i : images) disks.push_back({{"decision", "moves"}, {"image", i}});
  disks.push_back({{"decision", "stays"}, {"image", nullptr}});
  return {{"uuid", uuid},          {"disks", disks},          {"known_bytes", known}, {"upper_bytes", upper},
          {"available_bytes", available}, {"refusals", refusals}, {"would_proceed", refusals.empty()}};
}

VmFacts Vm(const std::string& name, json plan, bool named = true) {
  VmFacts v;
  v.vm.name = name;
  v.vm.named = named;
  v.plan = std::move(plan);
  v.exit_code = 0;
  return v;
}

HostFacts Host(const std::string& name, std::vector<VmFacts> vms, std::string version = "0.1.0") {
  HostFacts h;
  h.name = name;
  h.reachable = true;
  h.version = std::move(version);
  h.vms = std::move(vms);
  return h;
}

bool HasReason(const FleetPlanReport& r, const std::string& want) {
  return std::any_of(r.reasons.begin(), r.reasons.end(),
                     [&](const std::string& s) { return s.find(want) != std::string::npos; });
}

TEST(FleetJudge, AGoodFleetWouldProceedWithTotals) {
  FleetPlanReport r;
  r.hosts.push_back(Host("hv1", {Vm("a", VmPlan("u1", {"p/a-vda", "p/a-vdb"}, 10, 20, 1000))}));
  r.hosts.push_back(Host("hv2", {Vm("b", VmPlan("u2", {"p/b-vda"}, 5, 5, 900))}, "0.1.3"));
  Judge("0.1.0", &r);
  EXPECT_TRUE(r.would_proceed()) << r.reasons.front();
  EXPECT_EQ(r.vms_moving, 2);
  EXPECT_EQ(r.disks_moving, 3);
  EXPECT_EQ(r.known_bytes, 15u);
  EXPECT_EQ(r.upper_bytes, 25u);
  ASSERT_TRUE(r.available_bytes.has_value());
  EXPECT_EQ(*r.available_bytes, 900u) << "the least room any host sees";
}

TEST(FleetJudge, EveryReasonIsListed) {
  FleetPlanReport r;
  HostFacts down;
  down.name = "hv0";
  down.error = "ssh root@10.0.0.9 failed: Connection refused";
  r.hosts.push_back(down);
  HostFacts h1 = Host("hv1", {Vm("a", VmPlan("u1", {"p/a-vda"}, 10, 10, 100)),
                              Vm("r", VmPlan("u3", {"p/r-vda"}, 1, 1, 100, {"domain r is running: add --shutdown"}))});
  h1.missing = {"ghost"};
  h1.domains = {"a", "r"};
  r.hosts.push_back(h1);
  VmFacts broken = Vm("c", nullptr);
  broken.error = "virt2rbd plan exited 4: connecting to the monitors timed out";
  r.hosts.push_back(Host("hv2", {Vm("a", VmPlan("u1", {"p/a-vda"}, 95, 95, 100)), broken}, "0.2.0"));
  Judge("0.1.0", &r);
  EXPECT_TRUE(HasReason(r, "host hv0: ssh root@10.0.0.9 failed: Connection refused"));
  EXPECT_TRUE(HasReason(r, "host hv1: VM ghost is not defined there (its domains: a, r)"));
  EXPECT_TRUE(HasReason(r, "hv1/r: domain r is running: add --shutdown"));
  EXPECT_TRUE(HasReason(r, "host hv2: virt2rbd 0.2.0 is installed there; this coordinator is 0.1.0"));
  EXPECT_TRUE(HasReason(r, "hv2/c: cannot be planned: virt2rbd plan exited 4"));
  EXPECT_TRUE(HasReason(r, "image p/a-vda would be written by hv1/a and hv2/a"));
  EXPECT_TRUE(HasReason(r, "VM u1 is defined on more than one host (hv1/a, hv2/a)"));
  EXPECT_TRUE(HasReason(r, "the pool has room for 100 B but the fleet's disks hold 106 B of data"));
  EXPECT_FALSE(r.would_proceed());
}

TEST(FleetJudge, APickedVmWithNothingToMoveIsANoteUnlessNamed) {
  json nothing = {{"uuid", "u9"},
                  {"disks", json::array({{{"decision", "stays"}}})},
                  {"refusals", {"domain x has no disk that can move to RBD"}}};
  FleetPlanReport r;
  r.hosts.push_back(Host("hv1", {Vm("x", nothing, /*named=*/false)}));
  Judge("0.1.0", &r);
  EXPECT_TRUE(r.would_proceed());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0], "hv1/x: nothing to move (skipped)");

  FleetPlanReport named;
  named.hosts.push_back(Host("hv1", {Vm("x", nothing, /*named=*/true)}));
  Judge("0.1.0", &named);
  EXPECT_TRUE(HasReason(named, "hv1/x: domain x has no disk that can move to RBD"));
}

TEST(FleetRemotePlan, TheArgvCarriesTheClusterAndTheModeButNeverTheKey) {
  auto plan = ParsePlanFile(R"(version: 1
cluster: {pool: libvirt, conf: /etc/ceph/c.conf, id: admin, keyring: /k, client_user: vmuser, image_name: "{uuid}-{target}"}
hosts:
  - {name: h, ssh: root@h, libvirt: "qemu:///system", virt2rbd: /opt/v2r, state_dir: /srv/v2r, vms: [a]}
)",
                            "f.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  SelectedVm vm;
  vm.name = "a";
  vm.stop = StopPolicy::kShutdownThenForceOff;
  auto argv = RemotePlanArgv(*plan, plan->hosts[0], vm);
  std::vector<std::string> want = {"/opt/v2r", "plan", "a", "--pool", "libvirt", "--format", "json", "--quiet",
                                   "--connect", "qemu:///system", "--conf", "/etc/ceph/c.conf", "--id", "admin",
                                   "--keyring", "-", "--client-user", "vmuser", "--image-name", "{uuid}-{target}",
                                   "--state-dir", "/srv/v2r", "--shutdown", "--force-off"};
  EXPECT_EQ(argv, want);
  vm.mode = Mode::kLive;
  argv = RemotePlanArgv(*plan, plan->hosts[0], vm);
  EXPECT_EQ(argv.back(), "--live");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--shutdown"), 0);
}

TEST(FleetSsh, ShellQuoting) {
  EXPECT_EQ(ShellQuote("plain-word_1.2/x:y@z"), "plain-word_1.2/x:y@z");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("{uuid}-{target}"), "'{uuid}-{target}'");
  EXPECT_EQ(ShellQuote("it's $HOME; rm -rf /"), "'it'\\''s $HOME; rm -rf /'");
  // What a shell makes of it is the word again.
  auto r = RunProgram({"sh", "-c", "printf %s " + ShellQuote("it's $HOME; `x` \"y\"")}, "", std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->out, "it's $HOME; `x` \"y\"");
}

TEST(FleetSsh, RunProgramFeedsStdinAndCollectsBothOutputs) {
  std::string big(300000, 'k');  // more than a pipe holds: written while the outputs are read
  auto r = RunProgram({"sh", "-c", "wc -c; echo oops >&2; exit 7"}, big, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->out, "300000\n");
  EXPECT_EQ(r->err, "oops\n");
}

TEST(FleetSsh, RunProgramKillsAProgramPastItsTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunProgram({"sleep", "30"}, "", std::chrono::seconds(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kInterrupted);
}

TEST(FleetSsh, AMissingProgramIsRefused) {
  auto r = RunProgram({"/nonexistent/ssh"}, "", std::chrono::seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kRefused);
}

TEST(FleetSsh, TheSshArgvIsBatchModeMultiplexedAndEndsWithTheCommand) {
  SshHost h({"root@h", 2222, "/id"}, {"ssh", 7, "/tmp/ctl"});
  auto a = h.SshArgv("virt2rbd --version");
  auto has = [&](const std::string& w) { return std::find(a.begin(), a.end(), w) != a.end(); };
  EXPECT_TRUE(has("BatchMode=yes"));
  EXPECT_TRUE(has("ConnectTimeout=7"));
  EXPECT_TRUE(has("ControlMaster=auto"));
  EXPECT_TRUE(has("ControlPath=/tmp/ctl/%C"));
  EXPECT_TRUE(has("2222"));
  EXPECT_TRUE(has("/id"));
  ASSERT_GE(a.size(), 3u);
  EXPECT_EQ(a[a.size() - 3], "root@h");
  EXPECT_EQ(a[a.size() - 2], "--");
  EXPECT_EQ(a.back(), "virt2rbd --version");
}

}  // namespace
}  // namespace v2r::fleet
