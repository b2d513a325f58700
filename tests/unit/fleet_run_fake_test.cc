// fleet_run.h's coordinator over fake hosts: the plan's transport ssh_command
// is a fake ssh (a sh script) that runs the remote command under /bin/sh with
// the host's fake bin directory first on PATH: `virt2rbd` (python3: --version,
// plan, migrate per a per-VM scenario, rollback) and `virsh` (the host's
// domains). The migrate and reattach scripts themselves run for real.
#include "fleet/fleet_run.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet/fleet_journal.h"

namespace v2r::fleet {
namespace {

using nlohmann::json;

// The fake ssh: options, the destination (a host directory under ROOT), "--",
// the command. Without "--" (ssh -O exit) it does nothing.
const char* kFakeSsh = R"(#!/bin/sh
root=$(dirname "$0")
dest=
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -o|-p|-i|-O) shift 2 ;;
    *) dest=$1; shift ;;
  esac
done
[ $# -eq 0 ] && exit 0
[ -d "$root/$dest" ] || { echo "ssh: Could not resolve hostname $dest" >&2; exit 255; }
FAKE_HOST=$root/$dest PATH=$root/$dest/bin:$PATH exec /bin/sh -c "$1"
)";

const char* kFakeVirsh = R"(#!/bin/sh
cat "$FAKE_HOST/domains"
)";

const char* kFakeCeph = R"(#!/bin/sh
echo '{"status":"HEALTH_OK","checks":{}}'
)";

// The fake virt2rbd. Scenarios (HOST/scen/VM): ok, slow, fail4, resumable_once, pivot, hang.
const char* kFakeVirt2rbd = R"PY(#!/usr/bin/env python3
import json, os, signal, sys, threading, time
H = os.environ["FAKE_HOST"]
ROOT = os.path.dirname(H)
HOST = os.path.basename(H)
args = sys.argv[1:]
def append(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")
def now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)
if args[:1] == ["--version"]:
    print("virt2rbd " + os.environ.get("FAKE_VERSION", "@VERSION@"))
    sys.exit(0)
cmd, vm = args[0], args[1]
append(os.path.join(H, "log"), " ".join(args[:2]))
if cmd == "plan":
    print(json.dumps({"uuid": "uuid-%s-%s" % (HOST, vm), "state": "shut off",
                      "disks": [{"decision": "moves", "image": "libvirt/%s-%s-vda" % (HOST, vm)}],
                      "known_bytes": 1000, "upper_bytes": 1000, "available_bytes": 10**12,
                      "refusals": [], "would_proceed": True}))
    sys.exit(0)
if cmd == "rollback":
    sys.exit(0)
append(os.path.join(H, "argv." + vm), " ".join(args))
count_file = os.path.join(H, "count." + vm)
count = int(open(count_file).read()) + 1 if os.path.exists(count_file) else 1
open(count_file, "w").write(str(count))
scenario = open(os.path.join(H, "scen", vm)).read().strip()
out = os.fdopen(3, "w")
def emit(**e):
    e.setdefault("time", now())
    out.write(json.dumps(e) + "\n")
    out.flush()
def report(code, error=None, mode="offline"):
    summary = {"migration": {"mode": mode, "disks": [{"target": "vda", "bytes_copied": 1000, "digest": "xxh3:" + vm}]}}
    if mode == "live":
        summary["migration"]["live"] = {"paused_ms": 100}
    if error:
        summary = {"error": {"message": error}}
    emit(type="report", exit_code=code, summary=summary)
    sys.exit(code)
def on_int(sig, frame):
    report(75, "interrupted")
signal.signal(signal.SIGINT, on_int)
go = threading.Event()
def read_stdin():
    for line in sys.stdin:
        append(os.path.join(H, "stdin." + vm), "%.3f %s" % (time.time(), line.strip()))
        if '"pivot":"go"' in line:
            append(os.path.join(ROOT, "pivots"), "go %s %.3f" % (vm, time.time()))
            go.set()
threading.Thread(target=read_stdin, daemon=True).start()
emit(type="started", pid=os.getpid())
if scenario == "hang":
    time.sleep(10)
    report(1, "never cancelled")
if scenario == "fail4":
    emit(type="phase-started", phase="copy", total=1000)
    report(4, "disk vda: read error")
if scenario == "resumable_once" and count == 1:
    report(75, "stopped resumable")
if scenario == "pivot":
    emit(type="step-started", step="copy", title="live copy 1 disk")
    emit(type="phase-started", phase="live copy", total=1000)
    emit(type="progress", phase="live copy", done=1000, total=1000, data=1000)
    emit(type="pivot-waiting")
    if not go.wait(8):
        report(1, "no pivot permission")
    time.sleep(0.3)
    append(os.path.join(ROOT, "pivots"), "end %s %.3f" % (vm, time.time()))
    emit(type="phase-ended", phase="live copy")
    emit(type="step-ended", step="pivot", result="ok")
    report(0, mode="live")
emit(type="step-started", step="stop", title="stop the VM")
emit(type="step-ended", step="stop", result="ok")
emit(type="phase-started", phase="copy", total=1000)
time.sleep(1.5 if scenario == "slow" else 0.2)
emit(type="progress", phase="copy", done=1000, total=1000, data=1000, rate_bps=5000)
emit(type="phase-ended", phase="copy")
emit(type="step-started", step="start", title="start the VM")
emit(type="step-ended", step="start", result="ok")
report(0)
)PY";

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

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

struct FakeVm {
  std::string name, scenario, extra;  // extra: YAML lines of its entry ("mode: live", "priority: 3")
};

class FakeFleet : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/v2r-fleet-fake.XXXXXX";
    root_ = ::mkdtemp(t);
    std::filesystem::create_directories(root_ + "/localbin");
    WriteFile(root_ + "/ssh", kFakeSsh, true);
    WriteFile(root_ + "/localbin/ceph", kFakeCeph, true);
    old_path_ = ::getenv("PATH") ? ::getenv("PATH") : "/usr/bin:/bin";
    ::setenv("PATH", (root_ + "/localbin:" + old_path_).c_str(), 1);  // the coordinator's `ceph health`
    opts_.tick_s = 0.05;
    opts_.state_dir = root_ + "/coordinator";
    opts_.plan_path = root_ + "/fleet.yaml";
    opts_.on_event = [this](const json& e) {
      std::lock_guard<std::mutex> l(events_mu_);
      events_.push_back(e);
    };
  }
  void TearDown() override {
    ::setenv("PATH", old_path_.c_str(), 1);
    std::filesystem::remove_all(root_);
  }

  void AddHost(const std::string& name, const std::vector<FakeVm>& vms, const std::string& extra = "") {
    std::string h = root_ + "/" + name;
    std::filesystem::create_directories(h + "/bin");
    std::filesystem::create_directories(h + "/scen");
    std::string script = kFakeVirt2rbd;
    script.replace(script.find("@VERSION@"), 9, V2R_VERSION);
    WriteFile(h + "/bin/virt2rbd", script, true);
    WriteFile(h + "/bin/virsh", kFakeVirsh, true);
    std::string domains, yaml = "  - name: " + name + "\n    ssh: " + name + "\n    state_dir: " + h + "/state\n" +
                                extra + "    vms:\n";
    for (const FakeVm& v : vms) {
      domains += v.name + "\n";
      WriteFile(h + "/scen/" + v.name, v.scenario);
      yaml += "      - name: " + v.name + "\n";
      for (const std::string& l : Lines(v.extra)) yaml += "        " + l + "\n";
    }
    WriteFile(h + "/domains", domains + "unlisted-vm\n");
    hosts_yaml_ += yaml;
  }

  void SetScenario(const std::string& host, const std::string& vm, const std::string& s) {
    WriteFile(root_ + "/" + host + "/scen/" + vm, s);
  }
  int Count(const std::string& host, const std::string& vm) {
    std::string c = ReadFile(root_ + "/" + host + "/count." + vm);
    return c.empty() ? 0 : std::stoi(c);
  }

  // Writes and parses the plan file with these limits (YAML lines).
  PlanFile Plan(const std::string& limits) {
    std::string text = "version: 1\ncluster:\n  pool: libvirt\ntransport:\n  ssh_command: " + root_ +
                       "/ssh\n  connect_timeout: 5\nlimits:\n" + limits + "defaults:\n  mode: offline\n"
                       "  stop: force-off\nhosts:\n" + hosts_yaml_;
    WriteFile(opts_.plan_path, text);
    auto p = ParsePlanFile(text, "fleet.yaml");
    EXPECT_TRUE(p.ok()) << p.status().message() << "\n" << text;
    return p.ok() ? *p : PlanFile{};
  }

  Status Run(const PlanFile& plan, FleetRunReport* r) {
    std::atomic<bool> cancel{false};
    return RunFleet(plan, "", opts_, &cancel, r);
  }

  static const VmOutcome* Find(const FleetRunReport& r, const std::string& vm) {
    for (const VmOutcome& o : r.vms)
      if (o.name == vm) return &o;
    return nullptr;
  }

  std::string root_, old_path_, hosts_yaml_;
  RunOptions opts_;
  std::mutex events_mu_;
  std::vector<json> events_;
};

TEST_F(FakeFleet, OneFailureDoesNotStopTheOthers) {
  AddHost("hv1", {{"a", "fail4", ""}, {"b", "ok", ""}});
  AddHost("hv2", {{"c", "ok", ""}});
  PlanFile plan = Plan("  slots: 4\n  host_slots: 2\n");
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("1 of 3 VMs failed"), std::string::npos) << s.message();
  ASSERT_EQ(r.vms.size(), 3u) << "the unlisted domain is not in the plan";
  EXPECT_EQ(r.done, 2);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.left, 0);
  const VmOutcome* a = Find(r, "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->result, "failed");
  EXPECT_EQ(a->exit_code, 4);
  EXPECT_EQ(a->error, "disk vda: read error");
  const VmOutcome* c = Find(r, "c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->result, "done");
  EXPECT_EQ(c->host, "hv2");
  EXPECT_EQ(c->facts.bytes, 1000u);
  ASSERT_EQ(c->facts.digests.size(), 1u);
  EXPECT_EQ(c->facts.digests[0], "vda xxh3:c");
  EXPECT_EQ(r.bytes, 2000u);

  json j = FleetRunJson(r);
  EXPECT_EQ(j["type"], "report");
  for (const char* k : {"done", "failed", "cancelled", "left", "bytes", "makespan_s", "lower_bound_s",
                        "fleet_rate_bps", "copy_rate_bps", "makespan_over_lb", "stopped"})
    EXPECT_TRUE(j.contains(k)) << k;
  ASSERT_EQ(j["vms"].size(), 3u);
  for (const json& v : j["vms"])
    for (const char* k : {"host", "vm", "mode", "result", "exit_code", "error", "attempts", "duration_s",
                          "downtime_s", "bytes", "digests"})
      EXPECT_TRUE(v.contains(k)) << k << " in " << v.dump();
  EXPECT_NE(FleetRunText(r).find("disk vda: read error"), std::string::npos);

  // The host's events file and the coordinator's journal.
  EXPECT_NE(ReadFile(root_ + "/hv2/state/fleet/c.events").find("\"type\":\"exit\",\"code\":0"), std::string::npos);
  auto journal = FleetJournal::Open(FleetDir(opts_.state_dir, opts_.plan_path));
  ASSERT_TRUE(journal.ok());
  FleetJournalState js = (*journal)->State();
  EXPECT_EQ(js.vms["hv1/a"].result, "failed");
  EXPECT_EQ(js.vms["hv1/b"].result, "done");
  EXPECT_GT(js.vms["hv2/c"].remote_pid, 0) << "vm-remote journalled";

  // What the run showed.
  std::lock_guard<std::mutex> l(events_mu_);
  bool fleet_event = false, b_done = false;
  for (const json& e : events_) {
    fleet_event |= e["type"] == "fleet";
    b_done |= e["type"] == "vm" && e["vm"] == "b" && e["state"] == "done";
  }
  EXPECT_TRUE(fleet_event);
  EXPECT_TRUE(b_done);
}

TEST_F(FakeFleet, MaxFailuresStopsNewStarts) {
  AddHost("hv1", {{"a", "fail4", "priority: 3"}, {"b", "ok", "priority: 2"}, {"c", "ok", "priority: 1"}},
          "    slots: 1\n");
  PlanFile plan = Plan("  slots: 1\n");
  opts_.max_failures = "1";
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.done, 0);
  EXPECT_EQ(r.left, 2);
  EXPECT_NE(r.stopped.find("max failures"), std::string::npos) << r.stopped;
  EXPECT_EQ(Find(r, "a")->result, "failed");
  EXPECT_EQ(Find(r, "b")->result, "not started");
  EXPECT_EQ(Count("hv1", "b"), 0);
  EXPECT_EQ(Count("hv1", "c"), 0);
}

TEST_F(FakeFleet, RerunSkipsWhatEndedAndOnlyRetriesAFailedVm) {
  AddHost("hv1", {{"a", "fail4", ""}, {"b", "ok", ""}});
  PlanFile plan = Plan("  slots: 2\n");
  FleetRunReport r1;
  EXPECT_FALSE(Run(plan, &r1).ok());
  EXPECT_EQ(Count("hv1", "a"), 1);
  EXPECT_EQ(Count("hv1", "b"), 1);

  SetScenario("hv1", "a", "ok");
  FleetRunReport r2;
  (void)Run(plan, &r2);
  EXPECT_EQ(Count("hv1", "a"), 1) << "a failed VM is kept until --only names it";
  EXPECT_EQ(Count("hv1", "b"), 1) << "a done VM is not migrated again";
  EXPECT_EQ(Find(r2, "b")->result, "kept: done");
  EXPECT_EQ(Find(r2, "a")->result, "kept: failed");

  opts_.only = {"a"};
  FleetRunReport r3;
  Status s = Run(plan, &r3);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Count("hv1", "a"), 2);
  EXPECT_EQ(Count("hv1", "b"), 1);
  EXPECT_EQ(Find(r3, "a")->result, "done");
  EXPECT_EQ(Find(r3, "b")->result, "kept: done");
  EXPECT_EQ(Find(r3, "a")->attempts, 2) << "attempts count across runs";
}

TEST_F(FakeFleet, AResumableStopIsRetriedAndResumes) {  // ~5 s: the coordinator waits 5 s before resuming
  AddHost("hv1", {{"a", "resumable_once", ""}});
  PlanFile plan = Plan("  slots: 1\n");
  opts_.retries = 3;
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Count("hv1", "a"), 2);
  ASSERT_EQ(r.vms.size(), 1u);
  EXPECT_EQ(r.vms[0].result, "done");
  EXPECT_EQ(r.vms[0].attempts, 2);
  EXPECT_EQ(r.vms[0].exit_code, 0);
}

TEST_F(FakeFleet, ResumableWithoutRetriesIsInterruptedAndResumesOnARerun) {
  AddHost("hv1", {{"a", "resumable_once", ""}});
  PlanFile plan = Plan("  slots: 1\n");
  opts_.retries = 1;
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(r.vms[0].result, "interrupted");
  EXPECT_EQ(r.vms[0].exit_code, 75);
  EXPECT_EQ(r.left, 1);
  int plans = static_cast<int>(Lines(ReadFile(root_ + "/hv1/log")).size());
  FleetRunReport r2;
  s = Run(plan, &r2);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r2.vms[0].result, "done");
  EXPECT_EQ(Count("hv1", "a"), 2);
  std::vector<std::string> log = Lines(ReadFile(root_ + "/hv1/log"));
  EXPECT_EQ(std::count(log.begin() + plans, log.end(), "plan a"), 0) << "an interrupted VM is not planned again";
}

TEST_F(FakeFleet, CutoverCapHoldsForPivots) {
  AddHost("hv1", {{"a", "pivot", "mode: live"}, {"b", "pivot", "mode: live"}}, "    slots: 2\n");
  AddHost("hv2", {{"c", "pivot", "mode: live"}});
  PlanFile plan = Plan("  slots: 3\n  cutovers: 1\n");
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r.done, 3);
  std::map<std::string, std::pair<double, double>> span;  // vm -> go, end
  for (const std::string& l : Lines(ReadFile(root_ + "/pivots"))) {
    std::istringstream in(l);
    std::string what, vm;
    double t;
    in >> what >> vm >> t;
    (what == "go" ? span[vm].first : span[vm].second) = t;
  }
  ASSERT_EQ(span.size(), 3u);
  std::vector<std::pair<double, double>> spans;
  for (auto& [vm, se] : span) {
    EXPECT_GT(se.first, 0) << vm;
    EXPECT_GE(se.second, se.first) << vm;
    spans.push_back(se);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    EXPECT_GE(spans[i].first, spans[i - 1].second) << "two pivots at once with cutovers: 1";
  EXPECT_NEAR(Find(r, "a")->facts.downtime_s, 0.1, 1e-9) << "a live VM's pause";
}

TEST_F(FakeFleet, BandwidthSharesFollowTheBudget) {
  AddHost("hv1", {{"a", "ok", "priority: 2"}, {"b", "slow", "priority: 1"}});
  PlanFile plan = Plan("  slots: 2\n  bandwidth: 100MiB/s\n");
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_TRUE(s.ok()) << s.message();
  std::string argv = ReadFile(root_ + "/hv1/argv.b");
  size_t at = argv.find("--bandwidth ");
  ASSERT_NE(at, std::string::npos) << argv;
  double first = std::stod(argv.substr(at + 12)) * 1048576;
  EXPECT_LT(first, 100.0 * 1048576) << "b started sharing the budget with a";
  uint64_t later = 0;
  for (const std::string& l : Lines(ReadFile(root_ + "/hv1/stdin.b"))) {
    json e = json::parse(l.substr(l.find(' ') + 1), nullptr, false);
    if (e.is_object() && e.contains("bandwidth")) later = e["bandwidth"].get<uint64_t>();
  }
  EXPECT_EQ(later, 100u * 1048576) << "a ended: b was given the whole budget on its stdin";
}

TEST_F(FakeFleet, CancelBesideARunningCoordinatorRollsBack) {
  AddHost("hv1", {{"a", "hang", ""}, {"b", "ok", ""}});
  PlanFile plan = Plan("  slots: 2\n");
  FleetRunReport r;
  Status s = Status::Ok();
  std::thread run([&] { s = Run(plan, &r); });
  // Its migration began on the host (the journal is not opened beside the run: Open repairs its tail).
  for (int i = 0; i < 100 && Count("hv1", "a") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Count("hv1", "a"), 1);
  FleetRunReport cr;
  Status c = CancelFleet(plan, "", opts_, {"a"}, nullptr, &cr);
  EXPECT_TRUE(c.ok()) << c.message();
  EXPECT_NE(cr.note.find("asked the running fleet run"), std::string::npos) << cr.note;
  run.join();
  EXPECT_EQ(Find(r, "a")->result, "cancelled");
  EXPECT_EQ(Find(r, "b")->result, "done");
  std::vector<std::string> log = Lines(ReadFile(root_ + "/hv1/log"));
  EXPECT_NE(std::find(log.begin(), log.end(), "rollback a"), log.end()) << "stopped, then rolled back";
  EXPECT_EQ(std::find(log.begin(), log.end(), "rollback b"), log.end());
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(FakeFleet, AHostWithAnotherReleaseRefusesTheRun) {
  AddHost("hv1", {{"a", "ok", ""}});
  std::string v = root_ + "/hv1/bin/virt2rbd";
  std::string text = ReadFile(v);
  text.replace(text.find(V2R_VERSION), std::string(V2R_VERSION).size(), "99.0.0");
  WriteFile(v, text, true);
  PlanFile plan = Plan("  slots: 1\n");
  FleetRunReport r;
  Status s = Run(plan, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("99.0.0"), std::string::npos) << s.message();
  EXPECT_EQ(Count("hv1", "a"), 0) << "nothing started";
}

}  // namespace
}  // namespace v2r::fleet
