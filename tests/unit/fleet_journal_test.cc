// fleet_journal.h: the fold a rerun relies on, the run lock, cancel requests;
// and cli/fleet_printer.h's json and quiet modes.
#include "fleet/fleet_journal.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/fleet_printer.h"

namespace v2r::fleet {
namespace {

using nlohmann::json;

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/v2r-fleet-journal.XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

json Started(const std::string& vm, const std::string& attempt) {
  return {{"event", "vm-started"}, {"vm", vm}, {"attempt", attempt}, {"host", "hv1"}, {"mode", "offline"}};
}
json Ended(const std::string& vm, const std::string& attempt, const std::string& result, int code,
           const std::string& error = "") {
  return {{"event", "vm-ended"}, {"vm", vm}, {"attempt", attempt}, {"result", result}, {"exit_code", code},
          {"error", error}, {"summary", {{"bytes", 5}}}};
}

TEST(FleetJournalFold, AttemptsRetriesAndPids) {
  std::vector<json> r = {
      {{"event", "run-started"}, {"run", "r1"}},
      Started("hv1/a", "r1-1"),
      {{"event", "vm-remote"}, {"vm", "hv1/a"}, {"attempt", "r1-1"}, {"shell_pid", 10}, {"pid", 11}},
      Ended("hv1/a", "r1-1", "interrupted", 75, "stopped resumable"),
      Started("hv1/a", "r1-2"),
      {{"event", "vm-remote"}, {"vm", "hv1/a"}, {"attempt", "r1-1"}, {"shell_pid", 98}, {"pid", 99}},  // stale attempt
      Ended("hv1/a", "r1-2", "done", 0),
      Started("hv1/b", "r1-1"),
      Ended("hv1/b", "r1-1", "failed", 4, "disk error"),
      Started("hv1/c", "r1-1"),
      {{"event", "vm-remote"}, {"vm", "hv1/c"}, {"attempt", "r1-1"}, {"shell_pid", 20}, {"pid", 21}},
      {{"event", "run-ended"}, {"run", "r1"}},
      {{"event", "run-started"}, {"run", "r2"}},
      {{"event", "vm-retry"}, {"vm", "hv1/b"}},
  };
  FleetJournalState s = Fold(r);
  EXPECT_EQ(s.runs, 2);
  EXPECT_FALSE(s.cancel_all);
  const VmJournalState& a = s.vms["hv1/a"];
  EXPECT_EQ(a.attempts, 2);
  EXPECT_EQ(a.attempt, "r1-2");
  EXPECT_FALSE(a.open);
  EXPECT_EQ(a.result, "done");
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.shell_pid, 0) << "a record of an earlier attempt does not count";
  EXPECT_EQ(a.summary["bytes"], 5);
  const VmJournalState& b = s.vms["hv1/b"];
  EXPECT_EQ(b.result, "") << "vm-retry: the failure no longer stands";
  EXPECT_EQ(b.exit_code, 4);
  EXPECT_EQ(b.error, "disk error");
  const VmJournalState& c = s.vms["hv1/c"];
  EXPECT_TRUE(c.open) << "began, never ended: may still run on its host";
  EXPECT_EQ(c.shell_pid, 20);
  EXPECT_EQ(c.remote_pid, 21);
  EXPECT_EQ(c.started["host"], "hv1");
  EXPECT_EQ(s.vms.size(), 3u);
}

TEST(FleetJournalFold, CancelRequestsAndFleetCancel) {
  std::vector<json> r = {
      Started("hv1/a", "r1-1"),
      {{"event", "vm-cancel-requested"}, {"vm", "hv1/a"}},
      {{"event", "vm-cancel-requested"}, {"vm", "hv1/b"}},
      {{"event", "fleet-cancelled"}},
  };
  FleetJournalState s = Fold(r);
  EXPECT_TRUE(s.cancel_all);
  EXPECT_TRUE(s.vms["hv1/a"].cancel_requested);
  EXPECT_TRUE(s.vms["hv1/a"].open);
  EXPECT_TRUE(s.vms["hv1/b"].cancel_requested);
  EXPECT_EQ(s.vms["hv1/b"].attempts, 0);

  r.push_back(Ended("hv1/a", "r1-1", "cancelled", 0));
  r.push_back({{"event", "vm-retry"}, {"vm", "hv1/b"}});
  s = Fold(r);
  EXPECT_FALSE(s.vms["hv1/a"].cancel_requested) << "carried out";
  EXPECT_EQ(s.vms["hv1/a"].result, "cancelled");
  EXPECT_FALSE(s.vms["hv1/b"].cancel_requested) << "a retry drops the request";
  EXPECT_TRUE(s.cancel_all);
  r.push_back({{"event", "fleet-retry"}});
  EXPECT_FALSE(Fold(r).cancel_all) << "fleet run --only after fleet cancel";
  r.push_back({{"event", "fleet-cancelled"}});
  EXPECT_TRUE(Fold(r).cancel_all);
}

TEST(FleetJournalFold, IgnoresRecordsItDoesNotKnow) {
  FleetJournalState s = Fold({json::object(), {{"event", "vm-started"}}, {{"event", "odd"}, {"vm", "hv/x"}}});
  EXPECT_EQ(s.runs, 0);
  EXPECT_EQ(s.vms.count(""), 0u) << "no vm: no entry";
  EXPECT_EQ(s.vms["hv/x"].attempts, 0);
}

TEST(FleetJournal, AppendsAndFoldsAcrossOpens) {
  TempDir t;
  std::string dir = t.path + "/fleet/x";
  {
    auto j = FleetJournal::Open(dir);
    ASSERT_TRUE(j.ok()) << j.status().message();
    ASSERT_TRUE((*j)->Append(Started("hv1/a", "r1-1")).ok());
    ASSERT_TRUE((*j)->Append(Ended("hv1/a", "r1-1", "done", 0)).ok());
  }
  EXPECT_EQ(std::filesystem::status(dir).permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  auto j = FleetJournal::Open(dir);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)->State().vms["hv1/a"].result, "done");
}

TEST(FleetJournal, FleetDirHashesTheRealPath) {
  TempDir t;
  std::filesystem::create_directories(t.path + "/a");
  std::filesystem::create_directories(t.path + "/b");
  std::string a = FleetDir("/s", t.path + "/a/my fleet.yaml");
  std::string b = FleetDir("/s", t.path + "/b/my fleet.yaml");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("/s/fleet/my_fleet-", 0), 0u) << a;
  EXPECT_EQ(a, FleetDir("/s", t.path + "/a/../a/my fleet.yaml")) << "the same file, another spelling";
}

TEST(FleetRunLock, ExclusiveAcrossOpensWithHolder) {
  TempDir t;
  EXPECT_FALSE(RunLock::Holder(t.path).has_value()) << "no lock file";
  {
    auto l = RunLock::Acquire(t.path);
    ASSERT_TRUE(l.ok()) << l.status().message();
    auto again = RunLock::Acquire(t.path);
    ASSERT_FALSE(again.ok()) << "a second open of the same file is refused (flock per open)";
    EXPECT_NE(again.status().message().find(std::to_string(::getpid())), std::string::npos)
        << again.status().message();
    auto holder = RunLock::Holder(t.path);
    ASSERT_TRUE(holder.has_value());
    EXPECT_EQ(*holder, ::getpid());
    // Another process sees it held too.
    pid_t child = ::fork();
    if (child == 0) ::_exit(RunLock::Acquire(t.path).ok() ? 1 : 0);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_FALSE(RunLock::Holder(t.path).has_value()) << "released with its owner";
  auto l = RunLock::Acquire(t.path);
  EXPECT_TRUE(l.ok());
}

TEST(FleetCancelRequests, AppendAndReadIncrementally) {
  TempDir t;
  uint64_t off = 0;
  EXPECT_TRUE(ReadCancelRequests(t.path, &off).empty()) << "no file";
  ASSERT_TRUE(RequestCancel(t.path, {"hv1/a", "b"}).ok());
  EXPECT_EQ(ReadCancelRequests(t.path, &off), (std::vector<std::string>{"hv1/a", "b"}));
  EXPECT_TRUE(ReadCancelRequests(t.path, &off).empty()) << "read once";
  ASSERT_TRUE(RequestCancel(t.path, {}).ok());
  EXPECT_EQ(ReadCancelRequests(t.path, &off), (std::vector<std::string>{"*"}));
  // A line still being written is left for the next read.
  {
    std::ofstream f(t.path + "/cancel", std::ios::app);
    f << "\nhv2/c\nhv2/d";
  }
  EXPECT_EQ(ReadCancelRequests(t.path, &off), (std::vector<std::string>{"hv2/c"})) << "empty lines skipped";
  {
    std::ofstream f(t.path + "/cancel", std::ios::app);
    f << "\n";
  }
  EXPECT_EQ(ReadCancelRequests(t.path, &off), (std::vector<std::string>{"hv2/d"}));
  EXPECT_EQ(off, std::filesystem::file_size(t.path + "/cancel"));
}

std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(FleetPrinter, JsonModeWritesOneLinePerEvent) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  {
    FleetPrinter printer(FleetPrinter::Mode::kJson, p[1]);
    printer({{"type", "vm"}, {"host", "hv1"}, {"vm", "a"}, {"state", "running"}});
    printer({{"type", "fleet"}, {"running", 1}, {"text", "bad \xff utf8"}});
  }
  ::close(p[1]);
  std::string out = Drain(p[0]);
  ::close(p[0]);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  std::string first = out.substr(0, out.find('\n'));
  json e = json::parse(first);
  EXPECT_EQ(e["type"], "vm");
  EXPECT_EQ(e["vm"], "a");
  json f = json::parse(out.substr(first.size() + 1, out.size() - first.size() - 2));
  EXPECT_EQ(f["running"], 1) << "invalid UTF-8 is replaced, never a throw";
}

TEST(FleetPrinter, JsonModeSurvivesAClosedReader) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);
  auto old = ::signal(SIGPIPE, SIG_IGN);
  FleetPrinter printer(FleetPrinter::Mode::kJson, p[1]);
  printer({{"type", "fleet"}});  // EPIPE: dropped, the run goes on
  ::signal(SIGPIPE, old);
  ::close(p[1]);
  FleetPrinter none(FleetPrinter::Mode::kJson, -1);
  none({{"type", "fleet"}});
}

TEST(FleetPrinter, QuietPrintsNothing) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int saved = ::dup(2);
  ::dup2(p[1], 2);  // stderr too: lines and table modes write there
  {
    FleetPrinter printer(FleetPrinter::Mode::kQuiet, p[1]);
    printer({{"type", "vm"}, {"host", "hv1"}, {"vm", "a"}, {"doing", "copy"}});
    printer({{"type", "fleet"}, {"running", 1}});
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(p[1]);
  EXPECT_EQ(Drain(p[0]), "");
  ::close(p[0]);
}

TEST(FleetPrinter, LinesModeShowsChangesAndThrottlesTheFleetLine) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int saved = ::dup(2);
  ::dup2(p[1], 2);
  {
    FleetPrinter printer(FleetPrinter::Mode::kLines, -1);
    printer({{"type", "vm"}, {"host", "hv1"}, {"vm", "a"}, {"doing", "copying"}, {"changed", true}});
    printer({{"type", "vm"}, {"host", "hv1"}, {"vm", "a"}, {"doing", "copying"}, {"changed", false}});  // < 10 s
    printer({{"type", "fleet"}, {"running", 1}, {"waiting", 2}});
    printer({{"type", "fleet"}, {"running", 1}, {"waiting", 2}});  // < 30 s
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(p[1]);
  std::string out = Drain(p[0]);
  ::close(p[0]);
  EXPECT_EQ(out, "fleet: hv1/a: copying\nfleet: 1 running, 2 waiting, 0 done, 0 failed, 0 cancelled; 0 B/s; ETA -\n")
      << out;
}

}  // namespace
}  // namespace v2r::fleet
