// remote_vm.h: the event stream's fold, the migrate/rollback argv, and the
// host scripts (MigrateScript, ReattachScript) run for real under /bin/sh
// with a fake virt2rbd.
#include "fleet/remote_vm.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace v2r::fleet {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& a, const std::string& w) { return std::find(a.begin(), a.end(), w) != a.end(); }

// The word after `w` in `a` ("" when none).
std::string After(const std::vector<std::string>& a, const std::string& w) {
  auto it = std::find(a.begin(), a.end(), w);
  return it == a.end() || it + 1 == a.end() ? "" : *(it + 1);
}

TEST(FleetRemoteVm, EventTimeParsesIsoWithFraction) {
  EXPECT_DOUBLE_EQ(EventTime("1970-01-01T00:00:10Z"), 10.0);
  EXPECT_NEAR(EventTime("2025-01-31T12:00:00.250Z"), 1738324800.25, 1e-6);
  EXPECT_EQ(EventTime(""), 0);
  EXPECT_EQ(EventTime("yesterday"), 0);
}

TEST(FleetRemoteVm, ApplyEventLineFoldsAnOfflineStream) {
  VmLive v;
  const char* lines[] = {
      R"({"type":"shell","pid":4242,"attempt":"r1-1"})",
      "virt2rbd: some stray text",
      R"({"type":"started","pid":4243,"time":"2025-01-31T12:00:00Z"})",
      R"({"type":"step-started","step":"stop","title":"stop the VM","time":"2025-01-31T12:00:01Z"})",
      R"({"type":"step-ended","step":"stop","result":"ok","time":"2025-01-31T12:00:02Z"})",
      R"({"type":"step-started","step":"copy","title":"copy and verify 1 disk","time":"2025-01-31T12:00:02Z"})",
      R"({"type":"phase-started","phase":"copy","total":1000,"time":"2025-01-31T12:00:02Z"})",
      R"({"type":"progress","phase":"copy","done":500,"total":1000,"data":400,"rate_bps":100.5,"eta_s":5})",
      "[1, 2, 3]",
      "{\"type\":",
      R"({"type":"warning","message":"slow disk"})"};
  for (const char* l : lines) ApplyEventLine(l, &v);
  EXPECT_EQ(v.attempt, "r1-1");
  EXPECT_EQ(v.shell_pid, 4242);
  EXPECT_EQ(v.remote_pid, 4243);
  EXPECT_EQ(v.step, "copy and verify 1 disk");
  EXPECT_EQ(v.phase, "copy");
  EXPECT_EQ(v.done, 500u);
  EXPECT_EQ(v.total, 1000u);
  EXPECT_DOUBLE_EQ(v.rate_bps, 100.5);
  ASSERT_TRUE(v.eta_s.has_value());
  EXPECT_DOUBLE_EQ(*v.eta_s, 5);
  EXPECT_EQ(v.warning, "slow disk");
  EXPECT_DOUBLE_EQ(v.downtime_begin, EventTime("2025-01-31T12:00:01Z"));
  EXPECT_DOUBLE_EQ(v.copy_begin, EventTime("2025-01-31T12:00:02Z"));
  EXPECT_FALSE(v.exit_code.has_value());

  // A progress line without eta: it is unknown now.
  ApplyEventLine(R"({"type":"progress","phase":"copy","done":1000,"total":1000,"data":800})", &v);
  EXPECT_FALSE(v.eta_s.has_value());
  EXPECT_EQ(v.rate_bps, 0);
  const char* rest[] = {
      R"({"type":"phase-ended","phase":"copy","time":"2025-01-31T12:00:12Z"})",
      R"({"type":"phase-started","phase":"verify","total":1000,"time":"2025-01-31T12:00:12Z"})",
      R"({"type":"progress","phase":"verify","done":1000,"total":1000,"data":800})",
      R"({"type":"phase-ended","phase":"verify","time":"2025-01-31T12:00:14Z"})",
      R"({"type":"step-started","step":"start","title":"start the VM","time":"2025-01-31T12:00:14Z"})",
      R"({"type":"step-ended","step":"start","result":"ok","time":"2025-01-31T12:00:20Z"})",
      R"({"type":"report","exit_code":0,"summary":{"migration":{"mode":"offline","disks":[
          {"target":"vda","bytes_copied":800,"digest":"xxh3:aa"},{"target":"vdb","bytes_copied":200}]}}})",
      R"({"type":"exit","code":0})"};
  for (const char* l : rest) EXPECT_TRUE(ApplyEventLine(l, &v)) << l;
  EXPECT_EQ(v.copy_data, 800u) << "only the copy phase counts, not verify";
  EXPECT_DOUBLE_EQ(v.copy_end, EventTime("2025-01-31T12:00:12Z"));
  EXPECT_DOUBLE_EQ(v.downtime_end, EventTime("2025-01-31T12:00:20Z"));
  ASSERT_TRUE(v.exit_code.has_value());
  EXPECT_EQ(*v.exit_code, 0);
  EXPECT_TRUE(v.error.empty());

  MigrationFacts f = SummaryFacts(v);
  EXPECT_EQ(f.mode, "offline");
  EXPECT_EQ(f.bytes, 1000u);
  ASSERT_EQ(f.digests.size(), 1u);
  EXPECT_EQ(f.digests[0], "vda xxh3:aa");
  EXPECT_DOUBLE_EQ(f.downtime_s, 19.0) << "stop began 12:00:01, start ended 12:00:20";
}

TEST(FleetRemoteVm, GarbageLinesAreNotEvents) {
  VmLive v;
  EXPECT_FALSE(ApplyEventLine("", &v));
  EXPECT_FALSE(ApplyEventLine("not json", &v));
  EXPECT_FALSE(ApplyEventLine("42", &v));
  EXPECT_FALSE(ApplyEventLine("[\"type\"]", &v));
  EXPECT_FALSE(ApplyEventLine("{\"type\":\"exit\",", &v));
  EXPECT_TRUE(ApplyEventLine(R"({"type":"something-new"})", &v)) << "an unknown event is an event, ignored";
  EXPECT_FALSE(v.exit_code.has_value());
}

TEST(FleetRemoteVm, PivotWaitingClearsWhenTheStreamMovesOn) {
  VmLive v;
  ApplyEventLine(R"({"type":"phase-started","phase":"live copy","total":10})", &v);
  ApplyEventLine(R"({"type":"pivot-waiting"})", &v);
  EXPECT_TRUE(v.pivot_waiting);
  ApplyEventLine(R"({"type":"progress","phase":"live copy","done":10,"total":10})", &v);
  EXPECT_TRUE(v.pivot_waiting) << "progress while waiting does not end the wait";
  ApplyEventLine(R"({"type":"phase-ended","phase":"live copy"})", &v);
  EXPECT_FALSE(v.pivot_waiting);
  EXPECT_EQ(v.copy_begin, 0) << "a live copy is not an offline copy phase";
  ApplyEventLine(R"({"type":"pivot-waiting"})", &v);
  ApplyEventLine(R"({"type":"step-ended","step":"pivot","result":"ok"})", &v);
  EXPECT_FALSE(v.pivot_waiting);
  ApplyEventLine(R"({"type":"pivot-waiting"})", &v);
  ApplyEventLine(R"({"type":"report","exit_code":0,"summary":{"migration":{"mode":"live","live":{"paused_ms":250},
      "disks":[{"target":"vda","bytes_copied":7,"digest":"xxh3:bb"}]}}})", &v);
  EXPECT_FALSE(v.pivot_waiting);
  MigrationFacts f = SummaryFacts(v);
  EXPECT_EQ(f.mode, "live");
  EXPECT_DOUBLE_EQ(f.downtime_s, 0.25) << "a live VM's downtime is its pause";
  EXPECT_EQ(f.bytes, 7u);
}

TEST(FleetRemoteVm, AReportGivesTheExitCodeAndErrorUntilTheExitLine) {
  VmLive v;
  ApplyEventLine(R"({"type":"report","exit_code":4,"summary":{"error":{"message":"disk vda: read error"}}})", &v);
  ASSERT_TRUE(v.exit_code.has_value());
  EXPECT_EQ(*v.exit_code, 4);
  EXPECT_EQ(v.error, "disk vda: read error");
  ApplyEventLine(R"({"type":"exit","code":5})", &v);
  EXPECT_EQ(*v.exit_code, 5) << "the shell's exit line is the last word";
  VmLive w;
  ApplyEventLine(R"({"type":"exit"})", &w);
  EXPECT_EQ(*w.exit_code, -1);
  EXPECT_EQ(SummaryFacts(w).bytes, 0u) << "no summary: no facts, no crash";
}

TEST(FleetRemoteVm, OfflineDowntimeNeedsBothEnds) {
  VmLive v;
  ApplyEventLine(R"({"type":"step-started","step":"stop","time":"2025-01-31T12:00:01Z"})", &v);
  ApplyEventLine(R"({"type":"step-ended","step":"start","result":"failed","time":"2025-01-31T12:00:05Z"})", &v);
  EXPECT_EQ(v.downtime_end, 0);
  EXPECT_EQ(SummaryFacts(v).downtime_s, 0);
}

PlanFile Plan() {
  PlanFile p;
  p.cluster.pool = "libvirt";
  p.cluster.conf = "/etc/ceph/c.conf";
  p.cluster.id = "admin";
  p.cluster.keyring = "/etc/ceph/k";
  p.cluster.client_user = "libvirt";
  p.cluster.image_name = "{vm}-{disk}";
  return p;
}

HostSpec Host() {
  HostSpec h;
  h.name = "hv1";
  h.ssh = "root@hv1";
  h.libvirt = "qemu:///system";
  h.virt2rbd = "/opt/virt2rbd";
  h.state_dir = "/srv/v2r";
  return h;
}

TEST(FleetRemoteVm, HostPathsFollowTheStateDir) {
  HostSpec h = Host();
  EXPECT_EQ(HostEventsPath(h, "web1"), "/srv/v2r/fleet/web1.events");
  h.state_dir.clear();
  EXPECT_EQ(HostStateDir(h), "/var/lib/virt2rbd");
  EXPECT_EQ(HostEventsPath(h, "web1"), "/var/lib/virt2rbd/fleet/web1.events");
}

TEST(FleetRemoteVm, RemoteMigrateArgvOffline) {
  SelectedVm vm;
  vm.name = "web1";
  vm.stop = StopPolicy::kShutdownThenForceOff;
  auto a = RemoteMigrateArgv(Plan(), Host(), vm, 3, 2 * 1048576);
  ASSERT_GE(a.size(), 3u);
  EXPECT_EQ(a[0], "/opt/virt2rbd");
  EXPECT_EQ(a[1], "migrate");
  EXPECT_EQ(a[2], "web1");
  EXPECT_EQ(After(a, "--pool"), "libvirt");
  EXPECT_EQ(After(a, "--connect"), "qemu:///system");
  EXPECT_EQ(After(a, "--conf"), "/etc/ceph/c.conf");
  EXPECT_EQ(After(a, "--id"), "admin");
  EXPECT_EQ(After(a, "--keyring"), "-") << "the key comes on stdin, never on the command line";
  EXPECT_FALSE(Has(a, "/etc/ceph/k"));
  EXPECT_EQ(After(a, "--state-dir"), "/srv/v2r");
  EXPECT_EQ(After(a, "--client-user"), "libvirt");
  EXPECT_EQ(After(a, "--image-name"), "{vm}-{disk}");
  EXPECT_EQ(After(a, "--control-fd"), "0");
  EXPECT_EQ(After(a, "--parallel-disks"), "3");
  EXPECT_EQ(After(a, "--bandwidth"), "2.000000") << "MiB/s";
  EXPECT_TRUE(Has(a, "--quiet"));
  EXPECT_TRUE(Has(a, "--shutdown"));
  EXPECT_TRUE(Has(a, "--force-off"));
  EXPECT_FALSE(Has(a, "--live"));
  EXPECT_FALSE(Has(a, "--progress-fd")) << "MigrateScript adds it";

  vm.stop = StopPolicy::kShutdown;
  a = RemoteMigrateArgv(Plan(), Host(), vm, 0, 0);
  EXPECT_TRUE(Has(a, "--shutdown"));
  EXPECT_FALSE(Has(a, "--force-off"));
  EXPECT_FALSE(Has(a, "--bandwidth")) << "0: unlimited";
  EXPECT_EQ(After(a, "--parallel-disks"), "1") << "at least one slot";
  vm.stop = StopPolicy::kForceOff;
  a = RemoteMigrateArgv(Plan(), Host(), vm, 1, 0);
  EXPECT_FALSE(Has(a, "--shutdown"));
  EXPECT_TRUE(Has(a, "--force-off"));
}

TEST(FleetRemoteVm, RemoteMigrateArgvLiveAndMinimalCluster) {
  PlanFile p;
  p.cluster.pool = "rbd";
  HostSpec h;
  h.name = "hv";
  SelectedVm vm;
  vm.name = "db";
  vm.mode = Mode::kLive;
  vm.stop = StopPolicy::kShutdownThenForceOff;
  auto a = RemoteMigrateArgv(p, h, vm, 2, 0);
  EXPECT_EQ(a[0], "virt2rbd");
  EXPECT_TRUE(Has(a, "--live"));
  EXPECT_TRUE(Has(a, "--pivot-gate"));
  EXPECT_FALSE(Has(a, "--shutdown")) << "a live VM is never stopped";
  EXPECT_FALSE(Has(a, "--force-off"));
  for (const char* absent : {"--conf", "--id", "--keyring", "--cluster", "--state-dir", "--client-user", "--image-name"})
    EXPECT_FALSE(Has(a, absent)) << absent;
}

TEST(FleetRemoteVm, RemoteRollbackArgvRemovesImagesButNeverDiscardsChanges) {
  SelectedVm vm;
  vm.name = "web1";
  vm.stop = StopPolicy::kForceOff;
  auto a = RemoteRollbackArgv(Plan(), Host(), vm);
  EXPECT_EQ(a[1], "rollback");
  EXPECT_EQ(a[2], "web1");
  EXPECT_TRUE(Has(a, "--remove-images"));
  EXPECT_TRUE(Has(a, "--force-off"));
  EXPECT_FALSE(Has(a, "--shutdown"));
  EXPECT_FALSE(Has(a, "--copy-back"));
  EXPECT_FALSE(Has(a, "--discard-changes"));
  EXPECT_EQ(After(a, "--keyring"), "-");
}

// A temp directory, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/v2r-remote-vm.XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void WriteFile(const std::string& path, const std::string& text, bool exec = false) {
  std::ofstream(path) << text;
  if (exec) std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `script` under /bin/sh (from a file: no quoting), its stdout and exit code.
std::string RunSh(const std::string& dir, const std::string& script, int* code = nullptr) {
  WriteFile(dir + "/script.sh", script);
  FILE* p = ::popen(("/bin/sh " + dir + "/script.sh").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (code) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The fake virt2rbd: its argv and HUP disposition as events on fd 3, a line on
// stdout (must go to /dev/null) and stderr (to VM.events.err), exit 4.
const char* kFakeMigrate = R"(#!/bin/sh
printf '{"type":"started","pid":%d}\n' $$ >&3
ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
printf '{"type":"warning","message":"sigign %s args %s"}\n' "$ign" "$*" >&3
echo "stdout noise"
echo "stderr noise" >&2
printf '{"type":"report","exit_code":4,"summary":{"error":{"message":"boom"}}}\n' >&3
exit 4
)";

TEST(FleetRemoteVm, MigrateScriptFramesTeesAndIgnoresHup) {
  TempDir t;
  WriteFile(t.path + "/virt2rbd", kFakeMigrate, true);
  std::string events = t.path + "/state/fleet/vm1.events";
  std::string script = MigrateScript({t.path + "/virt2rbd", "migrate", "vm 1", "--x"}, events, "run-1");
  int code = -1;
  std::string out = RunSh(t.path, script, &code);
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 5u) << out;
  json shell = json::parse(lines[0]);
  EXPECT_EQ(shell["type"], "shell");
  EXPECT_EQ(shell["attempt"], "run-1");
  EXPECT_GT(shell["pid"].get<int>(), 0);
  EXPECT_EQ(json::parse(lines[1])["type"], "started");
  std::string warning = json::parse(lines[2])["message"];
  EXPECT_NE(warning.find("args migrate vm 1 --x --progress-fd 3"), std::string::npos) << warning;
  // SigIgn is a hex mask; SIGHUP is bit 0.
  std::string mask = warning.substr(std::string("sigign ").size(), 16);
  EXPECT_EQ(std::stoull(mask, nullptr, 16) & 1u, 1u) << "HUP ignored in virt2rbd: " << warning;
  EXPECT_EQ(lines[4], R"({"type":"exit","code":4})");
  EXPECT_EQ(out.find("stdout noise"), std::string::npos) << "stdout goes to /dev/null";
  EXPECT_EQ(ReadFile(events), out) << "the events file holds the whole framed stream";
  EXPECT_EQ(ReadFile(events + ".err"), "stderr noise\n");
  EXPECT_NE(script.find("trap '' HUP"), std::string::npos);
  VmLive v;
  for (const std::string& l : lines) ApplyEventLine(l, &v);
  EXPECT_EQ(*v.exit_code, 4);
  EXPECT_EQ(v.error, "boom");
  EXPECT_EQ(v.attempt, "run-1");
}

TEST(FleetRemoteVm, MigrateScriptReportsAStateDirItCannotMake) {
  TempDir t;
  WriteFile(t.path + "/file", "x");
  std::string out = RunSh(t.path, MigrateScript({"true"}, t.path + "/file/fleet/vm.events", "a"));
  EXPECT_NE(out.find(R"({"type":"exit","code":97})"), std::string::npos) << out;
}

TEST(FleetRemoteVm, ReattachScriptNoneOrFinishedFile) {
  TempDir t;
  std::string f = t.path + "/vm.events";
  EXPECT_EQ(RunSh(t.path, ReattachScript(f)), "{\"type\":\"none\"}\n");
  // A finished attempt: its shell is gone (a child reaped already).
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  std::string text = "{\"type\":\"shell\",\"pid\":" + std::to_string(dead) + ",\"attempt\":\"a\"}\n" +
                     "{\"type\":\"exit\",\"code\":0}\n";
  WriteFile(f, text);
  EXPECT_EQ(RunSh(t.path, ReattachScript(f)), text);
}

TEST(FleetRemoteVm, ReattachScriptFollowsALiveAttempt) {
  TempDir t;
  std::string f = t.path + "/vm.events";
  // The attempt's "shell" lives 1.5 s: not a child of the reattach script (a
  // child would stay a zombie, alive to kill -0), reaped here when it ends.
  pid_t shell = ::fork();
  if (shell == 0) {
    ::execlp("sleep", "sleep", "1.5", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::thread reaper([shell] { ::waitpid(shell, nullptr, 0); });
  WriteFile(f, "{\"type\":\"shell\",\"pid\":" + std::to_string(shell) + ",\"attempt\":\"a\"}\n");
  // A line arrives after the follow began.
  std::string script = "( sleep 0.5; echo '{\"type\":\"exit\",\"code\":0}' >> '" + f + "' ) &\n" +
                       ReattachScript(f) + "\n";
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> lines = Lines(RunSh(t.path, script));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  reaper.join();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["type"], "shell");
  EXPECT_EQ(lines[1], R"({"type":"exit","code":0})") << "the line appended while following";
  EXPECT_GE(took, 1.0) << "it followed until the shell ended";
  EXPECT_LT(took, 5.0);
}

}  // namespace
}  // namespace v2r::fleet
