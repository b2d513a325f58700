// The event stream (--progress-fd), the run log and the step lines.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/exit_codes.h"
#include "cli/event_writer.h"
#include "cli/render.h"
#include "cli/run_log.h"
#include "cli/step_printer.h"

namespace v2r {
namespace {

// Reads everything written to the pipe so far (the write end closed first).
std::vector<nlohmann::json> ReadEvents(int fd) {
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
  std::vector<nlohmann::json> out;
  std::istringstream lines(all);
  for (std::string l; std::getline(lines, l);) out.push_back(nlohmann::json::parse(l));  // throws: not JSON
  EXPECT_TRUE(all.empty() || all.back() == '\n');
  return out;
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    r = p[0];
    w = p[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  void CloseWrite() {
    ::close(w);
    w = -1;
  }
};

TEST(EventWriter, RefusesAnFdNotOpenForWriting) {
  auto closed = EventWriter::Open(987, "migrate", std::string("vm1"));
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(ExitCodeFor(closed.status()), kExitUsage);
  EXPECT_NE(closed.status().message().find("987"), std::string::npos);
  Pipe p;
  auto read_end = EventWriter::Open(p.r, "migrate", std::string("vm1"));
  ASSERT_FALSE(read_end.ok());
  EXPECT_EQ(ExitCodeFor(read_end.status()), kExitUsage);
  EXPECT_FALSE(EventWriter::Open(-1, "migrate", std::nullopt).ok());
}

TEST(EventWriter, EveryEventHasTypeTimeSeqCommandAndDomain) {
  Pipe p;
  {
    auto w = EventWriter::Open(p.w, "migrate", std::string("vm1"));
    ASSERT_TRUE(w.ok()) << w.status().message();
    (*w)->Started();
    Step step{"secret", "define the libvirt secret", 3, 9};
    (*w)->StepStarted(step);
    (*w)->StepEnded(step, Status::Ok(), 0.25);
    (*w)->Warn("careful");
    (*w)->Report({{"message", "done"}}, 0);
  }
  p.CloseWrite();
  auto ev = ReadEvents(p.r);
  ASSERT_EQ(ev.size(), 5u);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_TRUE(ev[i]["type"].is_string());
    EXPECT_EQ(ev[i]["seq"], i + 1);
    EXPECT_EQ(ev[i]["command"], "migrate");
    EXPECT_EQ(ev[i]["domain"], "vm1");
    std::string t = ev[i]["time"];
    EXPECT_EQ(t.size(), 24u) << t;  // 2025-01-31T12:34:56.789Z
    EXPECT_EQ(t.back(), 'Z');
  }
  EXPECT_EQ(ev[0]["type"], "started");
  EXPECT_EQ(ev[0]["version"], V2R_VERSION);
  EXPECT_EQ(ev[1]["type"], "step-started");
  EXPECT_EQ(ev[1]["step"], "secret");
  EXPECT_EQ(ev[1]["index"], 3);
  EXPECT_EQ(ev[1]["count"], 9);
  EXPECT_EQ(ev[2]["type"], "step-ended");
  EXPECT_EQ(ev[2]["result"], "ok");
  EXPECT_DOUBLE_EQ(ev[2]["duration_s"].get<double>(), 0.25);
  EXPECT_FALSE(ev[2].contains("error"));
  EXPECT_EQ(ev[3]["type"], "warning");
  EXPECT_EQ(ev[3]["message"], "careful");
  EXPECT_EQ(ev[4]["type"], "report");
  EXPECT_EQ(ev[4]["exit_code"], 0);
  EXPECT_EQ(ev[4]["summary"]["message"], "done");
}

TEST(EventWriter, AFailedStepCarriesItsErrorAndExitCode) {
  Pipe p;
  {
    auto w = EventWriter::Open(p.w, "copy", std::nullopt);
    ASSERT_TRUE(w.ok());
    (*w)->StepEnded({"copy", "copy 1 disk", 5, 9}, Status::Refused("pool full", "free some space"), 1.5);
  }
  p.CloseWrite();
  auto ev = ReadEvents(p.r);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0]["domain"].is_null());
  EXPECT_EQ(ev[0]["result"], "failed");
  EXPECT_EQ(ev[0]["error"]["message"], "pool full");
  EXPECT_EQ(ev[0]["error"]["hint"], "free some space");
  EXPECT_EQ(ev[0]["error"]["exit_code"], kExitRefused);
  EXPECT_TRUE(ev[0]["error"]["meaning"].is_string());
}

TEST(EventWriter, ProgressIsSampledAndEndsWithAFinalSampleAtTheTotal) {
  Pipe p;
  {
    auto w = EventWriter::Open(p.w, "copy", std::nullopt, /*sample_interval_s=*/0.02);
    ASSERT_TRUE(w.ok());
    ProgressCounters c;
    c.total = 1000;
    (*w)->PhaseStarted("copy", c);
    for (int i = 0; i < 10; ++i) {
      c.written += 60;
      c.zero += 40;
      c.done += 100;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    (*w)->PhaseEnded();
  }
  p.CloseWrite();
  auto ev = ReadEvents(p.r);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.front()["type"], "phase-started");
  EXPECT_EQ(ev.front()["total"], 1000);
  EXPECT_EQ(ev.back()["type"], "phase-ended");
  const nlohmann::json& last = ev[ev.size() - 2];
  EXPECT_EQ(last["type"], "progress");
  EXPECT_TRUE(last["final"].get<bool>());
  EXPECT_EQ(last["done"], 1000);
  EXPECT_EQ(last["data"], 600);
  EXPECT_EQ(last["zeros"], 400);
  EXPECT_EQ(last["eta_s"], 0);
  uint64_t prev = 0;
  for (const auto& e : ev) {
    if (e["type"] != "progress") continue;
    EXPECT_EQ(e["phase"], "copy");
    EXPECT_GE(e["done"].get<uint64_t>(), prev);
    EXPECT_GE(e["rate_bps"].get<double>(), 0);
    prev = e["done"];
  }
}

TEST(EventWriter, AReaderGoneEndsTheStreamNotTheRun) {
  std::signal(SIGPIPE, SIG_IGN);  // as main() does: EPIPE, not death
  Pipe p;
  ::close(p.r);
  p.r = -1;
  auto w = EventWriter::Open(p.w, "migrate", std::string("vm1"));
  ASSERT_TRUE(w.ok());
  (*w)->Warn("first");  // EPIPE
  EXPECT_TRUE((*w)->broken());
  (*w)->Warn("second");  // no write, no crash
  EXPECT_TRUE((*w)->broken());
  EXPECT_FALSE(EventWriter::WriteLine(p.w, "x\n"));
  EXPECT_FALSE(EventWriter::WriteLine(-1, "x\n"));  // EBADF
}

// A line longer than the pipe's buffer arrives whole, in one piece.
TEST(EventWriter, WritesLongLinesWhole) {
  Pipe p;
  std::vector<nlohmann::json> ev;
  std::thread reader([&] { ev = ReadEvents(p.r); });
  {
    auto w = EventWriter::Open(p.w, "migrate", std::string("vm1"));
    ASSERT_TRUE(w.ok());
    (*w)->Warn(std::string(200000, 'a'));
  }
  p.CloseWrite();
  reader.join();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["message"].get<std::string>().size(), 200000u);
}

TEST(StepLines, RenderIndexTitleOutcomeAndTime) {
  Step s{"secret", "define the libvirt secret", 3, 9};
  EXPECT_EQ(StepLine(s), "[3/9] define the libvirt secret");
  EXPECT_EQ(StepLine({"x", "undo", 4, 0}), "[4] undo");
  EXPECT_EQ(StepOutcome(Status::Ok(), 0.234), "ok (0.2 s)");
  EXPECT_EQ(StepOutcome(Status::Failed("no room"), 1.26), "failed (1.3 s): no room");
  EXPECT_EQ(FormatStepTime(-1), "0.0 s");
  EXPECT_EQ(FormatStepTime(125), "2:05");
}

// The terminal: the line stays open while nothing else prints, and is
// repeated whole after progress or a warning came between.
TEST(StepLines, PrinterClosesAndRepeatsAnInterruptedLine) {
  OutputOptions out;
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  {
    StepPrinter p(out, f, f);
    Step a{"stop", "stop the VM", 1, 2}, b{"copy", "copy 1 disk", 2, 2};
    p.StepStarted(a);
    p.StepEnded(a, Status::Ok(), 0.1);
    p.StepStarted(b);
    ProgressCounters c;
    p.PhaseStarted("copy", c);
    std::fputs("copy 100%\n", f);
    p.StepEnded(b, Status::Failed("broken"), 2.0);
  }
  std::fclose(f);
  std::string text(buf, len);
  std::free(buf);
  EXPECT_EQ(text,
            "  [1/2] stop the VM ... ok (0.1 s)\n"
            "  [2/2] copy 1 disk ...\n"
            "copy 100%\n"
            "  [2/2] copy 1 disk ... failed (2.0 s): broken\n");
}

TEST(StepLines, QuietPrintsNothing) {
  OutputOptions out;
  out.quiet = true;
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  {
    StepPrinter p(out, f, f);
    p.StepStarted({"stop", "stop the VM", 1, 2});
    p.StepEnded({"stop", "stop the VM", 1, 2}, Status::Ok(), 0.1);
  }
  std::fclose(f);
  EXPECT_EQ(len, 0u);
  std::free(buf);
}

TEST(RunLog, WritesTimestampedLinesToTheStateDirLog0600) {
  char tmpl[] = "/tmp/v2r-runlog-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string extra = dir + "/extra.log";
  std::ofstream(dir + "/journal") << "";  // the run recorded something: its log stays
  {
    RunLog log("migrate", "vm1", /*use_syslog=*/false);
    ASSERT_TRUE(log.AddFile(extra).ok());
    log.DomainOpened("vm1", "uuid-1", dir);
    Step s{"secret", "define the libvirt secret", 3, 9};
    log.StepStarted(s);
    log.StepEnded(s, Status::Ok(), 0.2);
    log.Warn("careful");
    log.Finished(Status::Failed("it broke", "fix it"), 4, "");
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const std::string& path : {dir + "/log", extra}) {
    std::ifstream in(path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The line before the state dir opened is there too.
    EXPECT_NE(all.find("migrate started (virt2rbd"), std::string::npos) << path << all;
    EXPECT_NE(all.find(" migrate vm1: [3/9] define the libvirt secret: ok (0.2 s)\n"), std::string::npos) << all;
    EXPECT_NE(all.find("warning: careful"), std::string::npos);
    EXPECT_NE(all.find("result: failed (exit 4): it broke; hint: fix it"), std::string::npos);
    EXPECT_EQ(all.substr(0, 2), "20");  // a UTC timestamp starts each line
  }
  std::remove((dir + "/log").c_str());
  std::remove((dir + "/journal").c_str());
  std::remove(extra.c_str());
  ::rmdir(dir.c_str());
}

// A run that recorded nothing leaves no trace in the state dir (~Runner
// removed its journal): not even its log.
TEST(RunLog, ARunWithoutAJournalLeavesNoLogBehind) {
  char tmpl[] = "/tmp/v2r-runlog-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string parent = tmpl, dir = parent + "/domains";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  {
    RunLog log("migrate", "vm1", false);
    log.DomainOpened("vm1", "uuid-1", dir);
    ASSERT_EQ(::access((dir + "/log").c_str(), F_OK), 0);
    log.Finished(Status::Refused("no"), 3, "");
  }
  EXPECT_NE(::access((dir + "/log").c_str(), F_OK), 0);
  EXPECT_NE(::access(dir.c_str(), F_OK), 0);  // emptied, removed as ~Runner would have
  ::rmdir(parent.c_str());
}

TEST(RunLog, AnUnwritableLogFileIsAUsageError) {
  RunLog log("migrate", "vm1", false);
  Status st = log.AddFile("/nonexistent-dir/x.log");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(ExitCodeFor(st), kExitUsage);
}

}  // namespace
}  // namespace v2r
