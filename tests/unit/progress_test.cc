// The progress display's pure half (cli/progress_format.h) and the paired
// counters of a verify (base/progress.h).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cli/progress_format.h"
#include "cli/progress_printer.h"
#include "copy/hash_sink.h"
#include "base/progress.h"
#include "memory_endpoints.h"

namespace v2r {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

ProgressView View(const ProgressEstimator& e, const ProgressSample& s, const std::string& label = "copy") {
  ProgressView v;
  v.label = label;
  v.sample = s;
  v.data_rate = e.data_rate();
  v.eta = e.eta();
  return v;
}

TEST(ProgressFormat, CompactBytesNeverExceedEightCharacters) {
  EXPECT_EQ(FormatCompactBytes(0), "0 B");
  EXPECT_EQ(FormatCompactBytes(1023), "1023 B");
  EXPECT_EQ(FormatCompactBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatCompactBytes(310 * kMiB), "310 MiB");
  EXPECT_EQ(FormatCompactBytes(kGiB + kGiB / 5), "1.20 GiB");
  EXPECT_EQ(FormatCompactBytes(static_cast<uint64_t>(9.999 * kGiB)), "10.0 GiB");
  EXPECT_EQ(FormatCompactBytes(static_cast<uint64_t>(99.97 * kGiB)), "100 GiB");
  for (uint64_t b = 1; b < (1ull << 62); b = b * 3 + 7) EXPECT_LE(FormatCompactBytes(b).size(), 8u) << b;
  EXPECT_EQ(FormatCompactBytes(UINT64_MAX), "16.0 EiB");
}

TEST(ProgressFormat, ClockIsMinutesSecondsOrHours) {
  EXPECT_EQ(FormatClock(19), "0:19");
  EXPECT_EQ(FormatClock(754), "12:34");
  EXPECT_EQ(FormatClock(3723), "1:02:03");
  EXPECT_EQ(FormatClock(1e12), "99:59:59");
  EXPECT_EQ(FormatClock(-1), "0:00");
}

TEST(ProgressFormat, PlainLineShowsDataAndZerosApart) {
  ProgressView v;
  v.label = "copy";
  // 1.2 GiB less a few bytes: 29% (floored), though it shows as 1.20 GiB
  v.sample = {10, kGiB + kGiB / 5, 4 * kGiB, 310 * kMiB, kGiB + kGiB / 5 - 310 * kMiB};
  v.data_rate = 152 * kMiB;
  v.eta = 19;
  EXPECT_EQ(ProgressPlainLine(v, ""),
            "copy: 1.20 GiB / 4.00 GiB   29%  data  310 MiB at  152 MiB/s, zeros  919 MiB  ETA 0:19");
  v.eta.reset();
  EXPECT_NE(ProgressPlainLine(v, " [vda  40%]").find("ETA --:--   [vda  40%]"), std::string::npos);
  v.final = true;
  EXPECT_NE(ProgressPlainLine(v, "").find("in 0:10"), std::string::npos);
}

TEST(ProgressFormat, PercentIsHundredOnlyAtTheEnd) {
  ProgressView v;
  v.label = "copy";
  v.sample = {1, 4 * kGiB - 1, 4 * kGiB, 0, 0};
  EXPECT_NE(ProgressPlainLine(v, "").find(" 99%"), std::string::npos);
  v.sample.done = 4 * kGiB;
  EXPECT_NE(ProgressPlainLine(v, "").find("100%"), std::string::npos);
}

// Only zeros pass (a hole skipped at PiB/s): the rate is of data, so 0, and
// there is no ETA from it.
TEST(ProgressEstimator, NoAbsurdRateWhileOnlyZerosPass) {
  ProgressEstimator e;
  for (int i = 0; i <= 40; ++i) {
    uint64_t done = static_cast<uint64_t>(i) * 100 * kGiB;  // 400 TiB/s of holes
    e.Add({i * 0.25, done, 8000 * kGiB, 0, done});
    EXPECT_EQ(e.data_rate(), 0.0);
    EXPECT_FALSE(e.eta().has_value());
  }
  EXPECT_EQ(ProgressPlainLine(View(e, {10, 4000 * kGiB, 8000 * kGiB, 0, 4000 * kGiB}), "").find("PiB/s"),
            std::string::npos);
}

// A hole in the middle of data keeps the rate at the data's speed, not the
// done bytes' (which the old display showed: "3.4 PiB/s").
TEST(ProgressEstimator, RateIsDataRateThroughHoles) {
  ProgressEstimator e;
  uint64_t written = 0, zero = 0;
  for (int i = 0; i <= 80; ++i) {
    if (i == 40) zero += 500 * kGiB;          // one huge hole skipped at once
    e.Add({i * 0.25, written + zero, 1000 * kGiB, written, zero});
    written += 25 * kMiB;                      // 100 MiB/s of data
  }
  EXPECT_NEAR(e.data_rate(), 100.0 * kMiB, 5.0 * kMiB);
}

TEST(ProgressEstimator, EtaWaitsForSignal) {
  ProgressEstimator e;
  e.Add({0, 0, 4 * kGiB, 0, 0});
  e.Add({0.25, 25 * kMiB, 4 * kGiB, 25 * kMiB, 0});
  EXPECT_GT(e.data_rate(), 0);
  EXPECT_FALSE(e.eta().has_value());  // less than kMinSignalS of samples
  EXPECT_NE(ProgressPlainLine(View(e, {0.25, 25 * kMiB, 4 * kGiB, 25 * kMiB, 0}), "").find("ETA --:--"),
            std::string::npos);
}

// Steady 100 MiB/s of data, as many zeros: the ETA, once there, only goes
// down (by about the time passed) and is close to the truth.
TEST(ProgressEstimator, EtaIsMonotoneAndRightUnderSteadyRate) {
  ProgressEstimator e;
  const uint64_t total = 20 * kGiB;
  std::optional<double> prev;
  for (int i = 0; i <= 400; ++i) {
    double t = i * 0.25;
    uint64_t written = static_cast<uint64_t>(t * 100 * kMiB);
    uint64_t done = 2 * written;
    if (done >= total) break;
    e.Add({t, done, total, written, done - written});
    if (!e.eta()) continue;
    double truth = static_cast<double>(total - done) / (200.0 * kMiB);
    EXPECT_NEAR(*e.eta(), truth, 0.05 * truth + 0.5) << "t=" << t;
    if (prev) EXPECT_LE(*e.eta(), *prev + 1e-6) << "t=" << t;
    prev = e.eta();
  }
  ASSERT_TRUE(prev.has_value());
}

// A second's stall (no ack) moves the ETA by a few percent, not to
// "infinity" and back.
TEST(ProgressEstimator, EtaDoesNotJumpOnAShortStall) {
  ProgressEstimator e;
  const uint64_t total = 40 * kGiB;
  uint64_t written = 0;
  double before = 0, worst = 0;
  for (int i = 0; i <= 200; ++i) {
    double t = i * 0.25;
    bool stalled = i >= 100 && i < 104;
    if (!stalled && i > 0) written += 25 * kMiB;
    e.Add({t, written, total, written, 0});
    if (i == 99) before = *e.eta();
    if (i >= 100 && i < 120) worst = std::max(worst, *e.eta());
  }
  EXPECT_LT(worst, before * 1.05) << "before " << before;
}

// Data first, then a hole: the ETA from the data seen so far was long; once
// the hole is skipped it drops at once to what is left, never back up.
TEST(ProgressEstimator, EtaDropsAtOnceWhenAHoleIsSkipped) {
  ProgressEstimator e;
  const uint64_t total = 3 * kGiB;
  uint64_t written = 0, zero = 0;
  for (int i = 0; i <= 12; ++i) {  // 3 s of data at 40 MiB/s
    e.Add({i * 0.25, written + zero, total, written, zero});
    written += 10 * kMiB;
  }
  ASSERT_TRUE(e.eta().has_value());
  EXPECT_GT(*e.eta(), 60);  // all data so far: 2.9 GiB at 40 MiB/s
  zero += 2 * kGiB;         // a 2 GiB hole
  e.Add({3.25, written + zero, total, written, zero});
  // Left: about 0.9 GiB at a data fraction of 130/2178: about 1.4 s.
  EXPECT_LT(*e.eta(), 3);
}

ProgressView Steady(double t, bool final = false) {
  ProgressView v;
  v.label = "copy";
  uint64_t w = static_cast<uint64_t>(t * 100 * kMiB);
  v.sample = {t, 3 * w, 40 * kGiB, w, 2 * w};
  v.data_rate = 100.0 * kMiB + (static_cast<int>(t) % 3) * 37.0 * kMiB;
  if (t > 2) v.eta = 400 - t;
  v.final = final;
  return v;
}

// For one terminal width, every redraw has the same length (nothing jitters),
// and it fits (one column left free).
TEST(ProgressBarLine, WidthIsConstantAcrossRedraws) {
  for (int width : {60, 80, 100, 120, 200}) {
    std::set<size_t> lengths;
    for (double t = 0; t < 130; t += 0.25)
      lengths.insert(ProgressBarLine(Steady(t), " [vda  40%, vdb 100%]", width).size());
    lengths.insert(ProgressBarLine(Steady(130, true), " [vda 100%, vdb 100%]", width).size());
    EXPECT_EQ(lengths.size(), 1u) << "width " << width;
    EXPECT_LE(*lengths.begin(), static_cast<size_t>(width - 1)) << "width " << width;
  }
}

TEST(ProgressBarLine, DropsTheBarBeforeTheNumbers) {
  ProgressView v = Steady(30);
  std::string wide = ProgressBarLine(v, "", 140);
  EXPECT_EQ(wide.rfind("copy [", 0), 0u) << wide;
  EXPECT_NE(wide.find("data 2.93 GiB at"), std::string::npos) << wide;
  std::string narrow = ProgressBarLine(v, "", 80);
  EXPECT_NE(narrow.find("ETA 6:10"), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("zeros"), std::string::npos) << narrow;
  ProgressView end = Steady(130, true);
  end.sample.done = end.sample.total;
  std::string full = ProgressBarLine(end, "", 140);
  EXPECT_NE(full.find("[========================================]"), std::string::npos) << full;
}

TEST(ProgressBarLine, TerminalColumnsFallBackToColumnsThen80) {
  EXPECT_EQ(TerminalColumns(132, "50"), 132);
  EXPECT_EQ(TerminalColumns(0, "50"), 50);
  EXPECT_EQ(TerminalColumns(0, "x"), 80);
  EXPECT_EQ(TerminalColumns(0, nullptr), 80);
  EXPECT_EQ(TerminalColumns(5, nullptr), 80);
}

TEST(ProgressParts, PercentsArePadded) {
  ProgressCounters a, b;
  a.total = 100;
  a.done = 40;
  b.total = 100;
  b.done = 100;
  EXPECT_EQ(ProgressPrinter::PartsText({{"vda", &a}, {"vdb", &b}}), " [vda  40%, vdb 100%]");
}

// A verify reads both sides of a 1 GiB disk: 1 GiB to do, not 2, and it ends
// at 1 GiB.
TEST(PairedProgress, ShowsTheMeanOfBothSides) {
  ProgressCounters shown;
  shown.total = kGiB;
  PairedProgress pair(&shown);
  pair.side(0)->written += 512 * kMiB;
  pair.side(0)->done += kGiB;
  pair.side(0)->zero += 512 * kMiB;
  pair.Sync();
  EXPECT_EQ(shown.done.load(), 512 * kMiB);
  pair.side(1)->written += 256 * kMiB;
  pair.side(1)->zero += 768 * kMiB;
  pair.side(1)->done += kGiB;
  pair.Sync();
  EXPECT_EQ(shown.done.load(), kGiB);
  EXPECT_EQ(shown.written.load(), 384 * kMiB);
  EXPECT_EQ(shown.zero.load(), 640 * kMiB);
  EXPECT_EQ(shown.total.load(), kGiB);
}

// Both sides of a verify hashed at once (as VerifyAgainstRbd does) into a
// pair: the phase's counters end at the disk's size, data and zeros apart.
TEST(PairedProgress, AVerifyOfBothSidesEndsAtTheDiskSize) {
  const uint64_t size = 6 * kHashBlock + 12345;
  std::vector<unsigned char> data(size, 7);
  testing::MemorySource source(data, {{kHashBlock, 2 * kHashBlock, true}});
  testing::MemorySource image(data, {{kHashBlock, 3 * kHashBlock, true}});
  ProgressCounters shown;
  shown.total = size;
  PairedProgress pair(&shown);
  HashOptions hopts;
  hopts.on_progress = [&pair] { pair.Sync(); };
  auto a = HashDisk(source, hopts, pair.side(0));
  auto b = HashDisk(image, hopts, pair.side(1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(shown.total.load(), size);
  EXPECT_EQ(shown.done.load(), size);
  EXPECT_EQ(shown.zero.load(), 5 * kHashBlock / 2);  // the mean of 2 and 3 blocks of holes
  EXPECT_EQ(shown.written.load() + shown.zero.load(), size);
}

}  // namespace
}  // namespace v2r
