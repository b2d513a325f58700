// The control stream (--control-fd): its lines parsed, the RunControl the
// run reads, the rate limiter changed while copies wait on it, and the
// reader thread over a pipe.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "cli/control_reader.h"
#include "copy/rate_limiter.h"
#include "migrate/run_control.h"

namespace v2r {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(ControlLine, BandwidthIsWholeBytesPerSecondZeroUnlimited) {
  ControlMessage m = ParseControlLine(R"({"bandwidth": 1048576})");
  EXPECT_TRUE(m.problems.empty());
  EXPECT_EQ(m.bandwidth, 1048576u);
  EXPECT_FALSE(m.go);
  EXPECT_EQ(ParseControlLine(R"({"bandwidth":0})").bandwidth, 0u);
  EXPECT_EQ(ParseControlLine(R"({"bandwidth":18446744073709551615})").bandwidth, UINT64_MAX);
  for (const char* bad : {R"({"bandwidth":-1})", R"({"bandwidth":1.5})", R"({"bandwidth":"10M"})",
                          R"({"bandwidth":null})"}) {
    ControlMessage b = ParseControlLine(bad);
    EXPECT_FALSE(b.bandwidth) << bad;
    ASSERT_EQ(b.problems.size(), 1u) << bad;
    EXPECT_NE(b.problems[0].find("bandwidth"), std::string::npos) << b.problems[0];
  }
}

TEST(ControlLine, PivotGoOnly) {
  EXPECT_TRUE(ParseControlLine(R"({"pivot":"go"})").go);
  ControlMessage m = ParseControlLine(R"({"pivot":"now"})");
  EXPECT_FALSE(m.go);
  EXPECT_EQ(m.problems.size(), 1u);
}

TEST(ControlLine, UnknownKeysAndGarbageAreProblemsNotFailures) {
  ControlMessage m = ParseControlLine(R"({"bandwidth":5,"priority":"high"})");
  EXPECT_EQ(m.bandwidth, 5u);  // what is known still applies
  ASSERT_EQ(m.problems.size(), 1u);
  EXPECT_NE(m.problems[0].find("unknown key \"priority\""), std::string::npos) << m.problems[0];
  for (const char* bad : {"", "bandwidth=5", "[1,2]", "42", R"({"bandwidth":)", "\"go\""}) {
    ControlMessage b = ParseControlLine(bad);
    EXPECT_FALSE(b.bandwidth) << bad;
    EXPECT_FALSE(b.go) << bad;
    EXPECT_EQ(b.problems, std::vector<std::string>{"not a JSON object"}) << bad;
  }
  EXPECT_TRUE(ParseControlLine("{}").problems.empty());
}

TEST(RunControl, BandwidthChangeReportsEachNewSettingOnce) {
  RunControl c;
  uint64_t seen = 0;
  EXPECT_FALSE(c.Bandwidth());
  EXPECT_FALSE(c.BandwidthChange(&seen));
  c.SetBandwidth(100);
  c.SetBandwidth(200);
  EXPECT_EQ(c.BandwidthChange(&seen), 200u);  // the last one
  EXPECT_FALSE(c.BandwidthChange(&seen));
  c.SetBandwidth(200);  // the same value again is asked again
  EXPECT_EQ(c.BandwidthChange(&seen), 200u);
  c.Close();
  EXPECT_EQ(c.Bandwidth(), 200u) << "the last setting stays after the stream ends";
}

TEST(RunControl, ListenerGetsTheEarlierRateAtOnceThenEachChangeUntilItEnds) {
  RunControl c;
  c.SetBandwidth(7);
  std::vector<uint64_t> got;
  {
    RunControl::Listen listen(&c, [&](uint64_t b) { got.push_back(b); });
    c.SetBandwidth(0);
    std::thread t([&] { c.SetBandwidth(9); });  // the reader's thread
    t.join();
  }
  c.SetBandwidth(11);  // nobody listens
  EXPECT_EQ(got, (std::vector<uint64_t>{7, 0, 9}));
}

TEST(RunControl, GateOpensOnGoOrWhenTheStreamEnds) {
  RunControl c;
  EXPECT_EQ(c.WaitGo(std::chrono::milliseconds(10)), RunControl::Gate::kWaiting);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.Go();
  });
  auto t0 = Clock::now();
  EXPECT_EQ(c.WaitGo(std::chrono::seconds(5)), RunControl::Gate::kGo);
  EXPECT_LT(Since(t0), 2.0);
  t.join();
  c.Close();
  EXPECT_EQ(c.WaitGo(std::chrono::milliseconds(1)), RunControl::Gate::kGo) << "a go given stays given";
  RunControl d;
  d.Close();
  EXPECT_EQ(d.WaitGo(std::chrono::seconds(5)), RunControl::Gate::kClosed);
}

TEST(RateLimiter, ZeroIsUnlimited) {
  std::atomic<bool> stop{false};
  RateLimiter r(0);
  auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.Acquire(64u << 20, stop));
  EXPECT_LT(Since(t0), 0.5);
  EXPECT_EQ(r.rate(), 0u);
}

TEST(RateLimiter, HoldsItsRate) {
  std::atomic<bool> stop{false};
  RateLimiter r(1000000);  // 1 MB/s: 300 KB take about 0.3 s
  auto t0 = Clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(r.Acquire(10000, stop));
  double s = Since(t0);
  EXPECT_GT(s, 0.2);
  EXPECT_LT(s, 1.5);
}

TEST(RateLimiter, UnlimitingReleasesAWaiterAndLimitingSlowsTheNext) {
  std::atomic<bool> stop{false};
  RateLimiter r(1000);  // 1 KB/s: 1 MB would take 1000 s
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r.SetRate(0);
  });
  auto t0 = Clock::now();
  ASSERT_TRUE(r.Acquire(1000000, stop));
  EXPECT_LT(Since(t0), 1.0);
  t.join();
  r.SetRate(1000000);
  EXPECT_EQ(r.rate(), 1000000u);
  t0 = Clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(r.Acquire(10000, stop));
  EXPECT_GT(Since(t0), 0.2) << "the new limit holds from the change";
}

TEST(RateLimiter, StopEndsAWait) {
  std::atomic<bool> stop{false};
  RateLimiter r(1);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop = true;
  });
  EXPECT_FALSE(r.Acquire(1000, stop));
  t.join();
}

// Keeps the warnings, from any thread.
class Warnings : public Observer {
 public:
  void PhaseStarted(const std::string&, const ProgressCounters&) override {}
  void PhaseEnded() override {}
  void Warn(const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    all_.push_back(message);
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock(mu_);
    return all_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> all_;
};

template <typename F>
bool Eventually(F f) {
  for (int i = 0; i < 200 && !f(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return f();
}

TEST(ControlReader, AppliesLinesWarnsOnceForEachBadOneAndClosesAtEof) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Warnings w;
  auto r = ControlReader::Start(p[0], &w);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RunControl* c = (*r)->control();
  std::string lines = "{\"bandwidth\":1000}\n\nnot json\n{\"colour\":\"red\"}\n{\"bandwidth\":";
  ASSERT_EQ(::write(p[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  EXPECT_TRUE(Eventually([&] { return c->Bandwidth() == 1000u && w.all().size() == 2; }));
  std::string rest = "0}\n{\"pivot\":\"go\"}";  // the last line without its newline
  ASSERT_EQ(::write(p[1], rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ::close(p[1]);
  EXPECT_TRUE(Eventually([&] { return c->closed(); }));
  EXPECT_EQ(c->Bandwidth(), 0u);
  EXPECT_EQ(c->WaitGo(std::chrono::milliseconds(1)), RunControl::Gate::kGo);
  std::vector<std::string> all = w.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NE(all[0].find("not a JSON object"), std::string::npos) << all[0];
  EXPECT_NE(all[1].find("unknown key \"colour\""), std::string::npos) << all[1];
  r->reset();
  ::close(p[0]);
}

TEST(ControlReader, StopsAtOnceThoughTheWriterStaysOpen) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto r = ControlReader::Start(p[0], nullptr);
  ASSERT_TRUE(r.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto t0 = Clock::now();
  r->reset();
  EXPECT_LT(Since(t0), 1.0);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(ControlReader, RefusesAnFdNotOpenForReading) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto r = ControlReader::Start(p[1], nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  EXPECT_FALSE(ControlReader::Start(987654, nullptr).ok());
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace v2r
