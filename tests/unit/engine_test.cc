#include "copy/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "copy/hash_sink.h"
#include "memory_endpoints.h"

namespace v2r {
namespace {

using testing::MakeData;
using testing::MemorySink;
using testing::MemorySource;

constexpr uint64_t MiB = 1 << 20;

CopyOptions SmallOptions() {
  CopyOptions o;
  o.chunk_size = 4 * MiB;
  o.max_requests = 4;
  o.max_bytes = 16 * MiB;
  o.zero_granularity = 64 << 10;
  o.readers = 2;
  return o;
}

BlockHashes HashOf(MemorySource& src) {
  auto h = HashDisk(src, HashOptions{}, nullptr);
  EXPECT_TRUE(h.ok());
  return *h;
}

TEST(CopyEngine, CopiesSourceOfOddSizeExactlyAndHashesMatchARead) {
  // Not a multiple of 4 KiB, of the chunk or of the object; data crosses
  // chunk edges and ends at the last byte.
  uint64_t size = 13 * MiB + 12345;
  auto data = MakeData(size, {{0, 1000, false}, {4 * MiB - 10, 20, false}, {9 * MiB, 2 * MiB, false},
                              {size - 77, 77, false}});
  MemorySource src(data);
  MemorySink sink(size, 4 * MiB);
  auto r = CopyDisk(src, sink, SmallOptions(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(sink.data(), data);
  EXPECT_EQ(r->hashes.Digest(), HashOf(src).Digest());
  EXPECT_EQ(r->bytes_written + r->bytes_zero, size);
}

TEST(CopyEngine, AllZeroSourceWritesNothing) {
  uint64_t size = 10 * MiB + 512;
  MemorySource src(std::vector<unsigned char>(size, 0));
  MemorySink sink(size, 4 * MiB);
  auto r = CopyDisk(src, sink, SmallOptions(), nullptr);
  ASSERT_TRUE(r.ok());
  for (const auto& op : sink.ops()) EXPECT_NE(op.kind, 'w');
  EXPECT_EQ(r->bytes_written, 0u);
  EXPECT_EQ(r->bytes_zero, size);
  EXPECT_EQ(r->hashes.Digest(), HashOf(src).Digest());
}

TEST(CopyEngine, ZeroRunsAreNotWrittenAndWritesStayInsideObjects) {
  uint64_t size = 16 * MiB;
  // Data that ends exactly at an object edge, and data that starts at one.
  auto data = MakeData(size, {{4 * MiB - 64 * 1024, 64 * 1024, false}, {8 * MiB, 4096, false}});
  MemorySource src(data);
  MemorySink sink(size, 4 * MiB);
  auto r = CopyDisk(src, sink, SmallOptions(), nullptr);
  ASSERT_TRUE(r.ok());
  uint64_t written = 0;
  for (const auto& op : sink.ops()) {
    if (op.kind != 'w') continue;
    written += op.length;
    EXPECT_EQ(op.offset / (4 * MiB), (op.offset + op.length - 1) / (4 * MiB)) << "write crosses an object";
  }
  // 64 KiB at the edge, and the 4 KiB island rounded to one 64 KiB zero block.
  EXPECT_EQ(written, 64u * 1024 + 64 * 1024);
  EXPECT_EQ(sink.data(), data);
}

TEST(CopyEngine, HolesReportedByTheSourceAreNeverRead) {
  uint64_t size = 32 * MiB;
  auto data = MakeData(size, {{0, MiB, false}, {28 * MiB, MiB, false}});
  MemorySource src(data, {{4 * MiB, 24 * MiB, true}});
  MemorySink sink(size, 4 * MiB);
  auto r = CopyDisk(src, sink, SmallOptions(), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(src.read_bytes.load(), 8 * MiB);  // two chunks with data, six holes skipped
  EXPECT_EQ(sink.data(), data);
  EXPECT_EQ(r->hashes.Digest(), HashOf(src).Digest());
}

TEST(CopyEngine, ResumedTargetGetsZeroesWrittenOverOldData) {
  uint64_t size = 9 * MiB + 100;
  auto data = MakeData(size, {{MiB, MiB, false}});
  MemorySource src(data);
  MemorySink sink(size, 4 * MiB, /*fill=*/0xAB);  // stale data everywhere
  CopyOptions o = SmallOptions();
  o.target_fresh = false;
  auto r = CopyDisk(src, sink, o, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.data(), data);
}

TEST(CopyEngine, FirstErrorWinsAndEverythingInFlightDrains) {
  uint64_t size = 64 * MiB;
  auto data = MakeData(size, {{0, size, false}});
  MemorySource src(data);
  MemorySink sink(size, 4 * MiB);
  sink.fail_write_n = 3;
  sink.delay = std::chrono::microseconds(2000);
  CopyOptions o = SmallOptions();
  o.readers = 1;  // so the third write is the third chunk's
  auto r = CopyDisk(src, sink, o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kFailed);
  EXPECT_NE(r.status().message().find("offset 8388608"), std::string::npos) << r.status().message();
  EXPECT_EQ(sink.outstanding.load(), 0) << "returned with writes in flight";
  // After the failure only what readers had already started may be issued.
  EXPECT_LE(sink.issued_after_failure.load(), o.readers);
  int writes = 0;
  for (const auto& op : sink.ops()) writes += op.kind == 'w';
  EXPECT_LT(writes, 16) << "kept writing after the first error";
}

TEST(CopyEngine, OnlyCompletedFlushedChunksAreReportedDurable) {
  uint64_t size = 40 * MiB;
  auto data = MakeData(size, {{0, size, false}});
  MemorySource src(data);
  MemorySink sink(size, 4 * MiB);
  sink.delay = std::chrono::microseconds(1500);
  sink.fail_write_n = 7;
  CopyOptions o = SmallOptions();
  o.readers = 1;
  o.durable_interval_s = 0.005;
  std::vector<uint64_t> reported;
  int flushes_seen_at_report = 0;
  o.on_durable = [&](const std::vector<uint64_t>& chunks, const BlockHashes&) {
    int flushes = 0;
    for (const auto& op : sink.ops()) flushes += op.kind == 'f';
    flushes_seen_at_report = std::max(flushes_seen_at_report, flushes);
    EXPECT_GT(flushes, 0) << "reported before any flush";
    // What is reported is on the target already.
    auto target = sink.data();
    for (uint64_t c : chunks)
      EXPECT_TRUE(std::equal(data.begin() + c * 4 * MiB, data.begin() + (c + 1) * 4 * MiB, target.begin() + c * 4 * MiB))
          << "chunk " << c << " reported but not written";
    reported.insert(reported.end(), chunks.begin(), chunks.end());
    return Status::Ok();
  };
  auto r = CopyDisk(src, sink, o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(reported.empty()) << "completed chunks before the failure were not reported";
  // The 7th write is chunk 6: it failed and must never be reported; no
  // chunk is reported twice.
  std::sort(reported.begin(), reported.end());
  EXPECT_EQ(std::adjacent_find(reported.begin(), reported.end()), reported.end());
  EXPECT_EQ(std::count(reported.begin(), reported.end(), 6u), 0);
}

TEST(CopyEngine, EveryChunkIsReportedOnSuccess) {
  uint64_t size = 21 * MiB + 5;
  MemorySource src(MakeData(size, {{3 * MiB, 2 * MiB, false}}));
  MemorySink sink(size, 4 * MiB);
  CopyOptions o = SmallOptions();
  std::vector<uint64_t> reported;
  o.on_durable = [&](const std::vector<uint64_t>& c, const BlockHashes&) {
    reported.insert(reported.end(), c.begin(), c.end());
    return Status::Ok();
  };
  ASSERT_TRUE(CopyDisk(src, sink, o, nullptr).ok());
  std::sort(reported.begin(), reported.end());
  std::vector<uint64_t> all = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(reported, all);
}

TEST(CopyEngine, ResumeSkipsDoneChunksAndOverwritesTheRest) {
  uint64_t size = 17 * MiB + 4096;
  auto data = MakeData(size, {{0, MiB, false}, {9 * MiB, 3 * MiB, false}, {size - 100, 100, false}});
  MemorySource full(data);
  BlockHashes expected = *HashDisk(full, HashOptions{}, nullptr);
  // The target holds stale bytes (0xAB), except chunks 0 and 2, done before.
  MemorySink sink(size, 4 * MiB, 0xAB);
  // Put the "done" data in place through the sink itself.
  std::atomic<int> pending{2};
  sink.Write(0, data.data(), 4 * MiB, [&](Status) { pending--; });
  sink.Write(8 * MiB, data.data() + 8 * MiB, 4 * MiB, [&](Status) { pending--; });
  while (pending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  MemorySource src(data);
  std::vector<bool> done(5, false);
  done[0] = done[2] = true;
  CopyOptions o = SmallOptions();
  o.target_fresh = false;
  o.done_chunks = &done;
  o.initial_hashes = &expected;
  ProgressCounters p;
  p.total = size;
  auto r = CopyDisk(src, sink, o, &p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(sink.data(), data);
  EXPECT_EQ(r->hashes.Digest(), expected.Digest());
  EXPECT_EQ(src.read_bytes.load(), size - 8 * MiB) << "done chunks were read again";
  EXPECT_EQ(r->bytes_resumed, 8 * MiB);
  EXPECT_EQ(p.done.load(), size);
}

// The VM ran while the copy was stopped: chunk 1 changed on the source after
// it was recorded. A recheck reads every done chunk again, writes only chunk 1
// (and the chunks never done), and says so.
TEST(CopyEngine, RecheckRewritesOnlyDoneChunksThatChanged) {
  uint64_t size = 20 * MiB;
  auto before = MakeData(size, {{0, size, false}});
  MemorySource old_src(before);
  BlockHashes recorded = *HashDisk(old_src, HashOptions{}, nullptr);
  auto now = before;
  for (uint64_t i = 5 * MiB; i < 5 * MiB + 8192; ++i) now[i] ^= 0x5a;  // the guest wrote in chunk 1
  MemorySink sink(size, 4 * MiB);
  std::atomic<int> pending{3};
  for (uint64_t c : {0, 1, 2}) sink.Write(c * 4 * MiB, before.data() + c * 4 * MiB, 4 * MiB, [&](Status) { pending--; });
  while (pending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  size_t ops_before = sink.ops().size();
  std::vector<bool> done = {true, true, true, false, false};
  CopyOptions o = SmallOptions();
  o.target_fresh = false;
  o.done_chunks = &done;
  o.initial_hashes = &recorded;
  o.recheck_done = true;
  std::mutex mu;
  std::vector<uint64_t> unchanged, durable;
  o.on_unchanged = [&](uint64_t c) { std::lock_guard<std::mutex> l(mu); unchanged.push_back(c); };
  o.on_durable = [&](const std::vector<uint64_t>& chunks, const BlockHashes&) {
    std::lock_guard<std::mutex> l(mu);
    durable.insert(durable.end(), chunks.begin(), chunks.end());
    return Status::Ok();
  };
  MemorySource src(now);
  ProgressCounters p;
  auto r = CopyDisk(src, sink, o, &p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(sink.data(), now);
  EXPECT_EQ(r->chunks_rechecked, 3u);
  EXPECT_EQ(r->chunks_rewritten, 1u);
  EXPECT_EQ(r->bytes_resumed, 8 * MiB);  // chunks 0 and 2, read and found unchanged
  EXPECT_EQ(r->hashes.Digest(), HashOf(src).Digest());
  std::sort(unchanged.begin(), unchanged.end());
  std::sort(durable.begin(), durable.end());
  EXPECT_EQ(unchanged, (std::vector<uint64_t>{0, 2}));
  EXPECT_EQ(durable, (std::vector<uint64_t>{1, 3, 4}));
  // Nothing was written inside chunks 0 and 2.
  auto ops = sink.ops();
  for (size_t i = ops_before; i < ops.size(); ++i) {
    if (ops[i].kind == 'f') continue;
    bool in_0 = ops[i].offset < 4 * MiB, in_2 = ops[i].offset >= 8 * MiB && ops[i].offset < 12 * MiB;
    EXPECT_FALSE(in_0 || in_2) << ops[i].kind << " at " << ops[i].offset;
  }
  EXPECT_EQ(p.done.load(), size);
}

TEST(CopyEngine, RecheckNeedsRecordsAndATargetThatIsNotFresh) {
  uint64_t size = 8 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  CopyOptions o = SmallOptions();
  o.recheck_done = true;
  EXPECT_EQ(CopyDisk(src, sink, o, nullptr).status().kind(), Kind::kInternal);
}

TEST(CopyEngine, HaltStopsWithInterrupted) {
  uint64_t size = 64 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  std::atomic<bool> halt{true};
  CopyOptions o = SmallOptions();
  o.halt = &halt;
  auto r = CopyDisk(src, sink, o, nullptr);
  EXPECT_EQ(r.status().kind(), Kind::kInterrupted);
}

TEST(CopyEngine, StallTimeoutReturnsWithoutWaitingForWritesInFlight) {
  uint64_t size = 16 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  auto* sink = new MemorySink(size, 4 * MiB);  // leaked: writes stay in flight for ever
  sink->hang = true;
  CopyOptions o = SmallOptions();
  o.stall_warn_s = 0.2;
  o.stall_timeout_s = 0.6;
  std::atomic<int> warnings{0};
  o.on_stall_warning = [&](double) { warnings++; };
  bool abandoned = false;
  auto start = std::chrono::steady_clock::now();
  auto r = CopyDisk(src, *sink, o, nullptr, &abandoned);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kInterrupted);
  EXPECT_TRUE(abandoned);
  EXPECT_EQ(warnings.load(), 1);
  EXPECT_LT(took, 5.0);
  EXPECT_NE(r.status().message().find("no write"), std::string::npos) << r.status().message();
}

TEST(CopyEngine, BandwidthLimitHoldsTheRate) {
  uint64_t size = 48 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  RateLimiter rate(16 * MiB);
  CopyOptions o = SmallOptions();
  o.rate = &rate;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(CopyDisk(src, sink, o, nullptr).ok());
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(took, 2.4);  // 48 MiB at 16 MiB/s, no initial burst: ~3 s
  EXPECT_LT(took, 8.0);
}

TEST(CopyEngine, SourceReadErrorNamesTheOffset) {
  uint64_t size = 12 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  src.fail_at = 5 * MiB;
  MemorySink sink(size, 4 * MiB);
  auto r = CopyDisk(src, sink, SmallOptions(), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("offset 5242880"), std::string::npos) << r.status().message();
  EXPECT_EQ(sink.outstanding.load(), 0);
}

TEST(CopyEngine, BytesInFlightStayWithinTheBudget) {
  uint64_t size = 64 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  sink.delay = std::chrono::microseconds(500);
  CopyOptions o = SmallOptions();
  o.max_requests = 3;
  o.max_bytes = 8 * MiB;
  auto r = CopyDisk(src, sink, o, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(sink.peak_bytes.load(), 8 * MiB);
  EXPECT_GT(sink.peak_bytes.load(), 4 * MiB) << "never had two chunks in flight";
}

// The source is read ahead of the window: with one request in flight and one
// reader, the next chunk is read while the write before it is still out
// (reading inside the window left the only place idle during every read).
TEST(CopyEngine, ReadsOverlapTheWriteInFlight) {
  uint64_t size = 32 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  sink.delay = std::chrono::microseconds(20000);
  src.busy_probe = &sink.outstanding;
  CopyOptions o = SmallOptions();
  o.max_requests = 1;
  o.readers = 1;
  auto r = CopyDisk(src, sink, o, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.data(), MakeData(size, {{0, size, false}}));
  EXPECT_LE(sink.peak_bytes.load(), 4 * MiB);
  // 8 chunks: every read after the first can overlap the write before it.
  EXPECT_GE(src.reads_while_busy.load(), 6);
}

TEST(CopyEngine, CancelStopsWithInterrupted) {
  uint64_t size = 64 * MiB;
  MemorySource src(MakeData(size, {{0, size, false}}));
  MemorySink sink(size, 4 * MiB);
  sink.delay = std::chrono::microseconds(3000);
  std::atomic<bool> cancel{false};
  CopyOptions o = SmallOptions();
  o.cancel = &cancel;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cancel = true;
  });
  auto r = CopyDisk(src, sink, o, nullptr);
  t.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kInterrupted);
  EXPECT_EQ(sink.outstanding.load(), 0);
}

TEST(CopyEngine, ProgressCountsCompletedBytes) {
  uint64_t size = 20 * MiB + 3;
  MemorySource src(MakeData(size, {{MiB, 5 * MiB, false}}));
  MemorySink sink(size, 4 * MiB);
  ProgressCounters p;
  p.total = size;
  auto r = CopyDisk(src, sink, SmallOptions(), &p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(p.done.load(), size);
  EXPECT_EQ(p.written.load(), r->bytes_written);
  EXPECT_EQ(p.zero.load(), r->bytes_zero);
}

TEST(CopyEngine, RefusesTargetOfAnotherSizeAndBadChunkSize) {
  MemorySource src(std::vector<unsigned char>(8 * MiB, 0));
  MemorySink small(4 * MiB, 4 * MiB);
  EXPECT_EQ(CopyDisk(src, small, SmallOptions(), nullptr).status().kind(), Kind::kRefused);
  MemorySink sink(8 * MiB, 4 * MiB);
  CopyOptions o = SmallOptions();
  o.chunk_size = 3 * MiB;
  EXPECT_EQ(CopyDisk(src, sink, o, nullptr).status().kind(), Kind::kUsage);
}

}  // namespace
}  // namespace v2r
