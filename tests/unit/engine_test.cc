#include "copy/engine.h"

#include <gtest/gtest.h>

#include "copy/hasher.h"
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
  auto h = HashSource(src, HashOptions{}, nullptr);
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
  for (const auto& op : sink.ops()) EXPECT_NE(op.kind, 'f') << "flushed after an error";
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
