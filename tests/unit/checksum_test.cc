#include "copy/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "copy/frontier.h"
#include "copy/hash_sink.h"
#include "memory_endpoints.h"

namespace v2r {
namespace {

using testing::MakeData;
using testing::MemorySource;

TEST(BlockHashes, ZeroBlocksHashLikeZeroBytes) {
  std::vector<unsigned char> z(kHashBlock, 0);
  EXPECT_EQ(ZeroHash(kHashBlock), HashBytes(z.data(), z.size()));
  EXPECT_EQ(ZeroHash(513), HashBytes(z.data(), 513));
}

TEST(BlockHashes, LastBlockIsShort) {
  BlockHashes h(2 * kHashBlock + 7);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.BlockLength(2), 7u);
  EXPECT_EQ(h.BlockLength(0), kHashBlock);
}

TEST(BlockHashes, DigestDependsOnBytesNotOnHoles) {
  uint64_t size = 3 * kHashBlock + 4096;
  auto data = MakeData(size, {{100, 200, false}});
  MemorySource plain(data);
  MemorySource with_holes(data, {{kHashBlock, 2 * kHashBlock, true}});
  auto a = HashDisk(plain, HashOptions{}, nullptr);
  auto b = HashDisk(with_holes, HashOptions{}, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Digest(), b->Digest());
  EXPECT_EQ(a->Digest().rfind("xxh3-128-4m:", 0), 0u);
  EXPECT_EQ(a->Digest().size(), std::string("xxh3-128-4m:").size() + 32);
}

TEST(BlockHashes, OneChangedByteChangesTheDigestAndIsLocated) {
  uint64_t size = 5 * kHashBlock;
  auto data = MakeData(size, {{0, size, false}});
  MemorySource a(data);
  data[3 * kHashBlock + 17] ^= 0x40;
  MemorySource b(data);
  auto ha = HashDisk(a, HashOptions{}, nullptr);
  auto hb = HashDisk(b, HashOptions{}, nullptr);
  ASSERT_TRUE(ha.ok() && hb.ok());
  EXPECT_NE(ha->Digest(), hb->Digest());
  auto diff = CompareHashes(*ha, *hb);
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0].offset, 3 * kHashBlock);
  EXPECT_EQ(diff[0].length, kHashBlock);
  EXPECT_NE(DescribeMismatch(diff).find("12582912..16777216"), std::string::npos) << DescribeMismatch(diff);
}

TEST(BlockHashes, AdjacentMismatchesMerge) {
  BlockHashes a(4 * kHashBlock), b(4 * kHashBlock);
  b.Set(1, Hash128{1, 2});
  b.Set(2, Hash128{3, 4});
  auto diff = CompareHashes(a, b);
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0], (Extent{kHashBlock, 2 * kHashBlock, false}));
}

// The hashes of a read-back are those HashSource (the verifier before the
// engine did read-backs) recorded for the same bytes: journals, state files
// and `status` digests written before stay comparable. The values were
// computed by HashSource; blocks of zeros stored as data, zeros inside a
// data block, a hole and a short last block.
std::vector<unsigned char> KnownPattern(uint64_t size) {
  std::vector<unsigned char> d(size);
  uint32_t x = 12345;
  for (uint64_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    d[i] = static_cast<unsigned char>(x >> 16);
  }
  std::fill(d.begin() + kHashBlock, d.begin() + 2 * kHashBlock, 0);
  std::fill(d.begin() + 3 * kHashBlock + 4096, d.begin() + 3 * kHashBlock + 65536 * 3, 0);
  std::fill(d.begin() + 4 * kHashBlock, d.begin() + 5 * kHashBlock, 0);  // block 4: a hole
  return d;
}

TEST(HashDisk, GivesTheHashesAndDigestHashSourceGave) {
  const uint64_t size = 6 * kHashBlock + 12345;
  const std::vector<unsigned char> data = KnownPattern(size);
  MemorySource src(data, {{4 * kHashBlock, kHashBlock, true}});
  const char* known[] = {"62c5cc433810c0a6b5b2a7a9e7f276a6", "34001ae2f947e773165f453a5f35c459",
                         "d1019854a275d440c4b819a87bda1b85", "89aebf735661b5634b81e2f54954fe15",
                         "34001ae2f947e773165f453a5f35c459", "f4319f64b3ecb45b9d6ef5fa1e185965",
                         "9af39edd63d3a862648cb3ef90704f3a"};
  for (int threads : {1, 4}) {
    ProgressCounters progress;
    auto h = HashDisk(src, HashOptions{threads, nullptr, {}, {}}, &progress);
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_EQ(h->Digest(), "xxh3-128-4m:7614e7f8acf745ba17f685590dc3367a");
    ASSERT_EQ(h->count(), 7u);
    for (uint64_t b = 0; b < h->count(); ++b) {
      EXPECT_EQ(h->Get(b).Hex(), known[b]) << b;
      EXPECT_EQ(h->Get(b), HashBytes(data.data() + b * kHashBlock, h->BlockLength(b))) << b;
    }
    // As HashSource counted: blocks read are "written" (hashed), holes zero.
    EXPECT_EQ(progress.done.load(), size);
    EXPECT_EQ(progress.zero.load(), kHashBlock);
    EXPECT_EQ(progress.written.load(), size - kHashBlock);
  }
  EXPECT_EQ(src.reads.load(), 12) << "every block but the hole read, once per run";
}

TEST(HashDisk, ACancelledHashIsInterruptedAndNamesTheSource) {
  MemorySource src(MakeData(4 * kHashBlock, {{0, 4 * kHashBlock, false}}));
  std::atomic<bool> cancel{true};
  auto h = HashDisk(src, HashOptions{2, &cancel, {}, {}}, nullptr);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().kind(), Kind::kInterrupted);
  EXPECT_EQ(h.status().message(), "hashing mem interrupted");
}

// A thin source of a large virtual size: one data block (filled with 0x5a) at
// `data_block`, holes elsewhere; counts extent queries and reads.
class ThinSource : public Source {
 public:
  ThinSource(uint64_t size, uint64_t data_block) : size_(size), data_block_(data_block) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    ++queries;
    std::vector<Extent> out;
    uint64_t d0 = data_block_ * kHashBlock, d1 = d0 + kHashBlock, end = offset + length;
    uint64_t b = std::max(offset, d0), e = std::min(end, d1);
    if (e <= b) return std::vector<Extent>{{offset, length, true}};
    if (b > offset) out.push_back({offset, b - offset, true});
    out.push_back({b, e - b, false});
    if (end > e) out.push_back({e, end - e, true});
    return out;
  }
  Status Read(uint64_t offset, void* buf, size_t length) override {
    ++reads;
    std::memset(buf, offset / kHashBlock == data_block_ ? 0x5a : 0, length);
    return Status::Ok();
  }
  std::atomic<int> queries{0}, reads{0};

 private:
  std::string name_ = "thin";
  uint64_t size_, data_block_;
};

TEST(HashDisk, AThinSourceIsQueriedBySpansAndOnlyItsDataIsRead) {
  const uint64_t blocks = 16384;  // 64 GiB virtual
  ThinSource thin(blocks * kHashBlock, 9000);
  auto h = HashDisk(thin, HashOptions{4, nullptr, {}, {}}, nullptr);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(thin.reads.load(), 1);
  EXPECT_LE(thin.queries.load(), static_cast<int>(blocks / 4096 + 1));  // windows of up to 4096 blocks
  std::vector<unsigned char> data(kHashBlock, 0x5a);
  for (uint64_t b = 0; b < blocks; ++b)
    ASSERT_EQ(h->Get(b), b == 9000 ? HashBytes(data.data(), data.size()) : ZeroHash(kHashBlock)) << b;
}

TEST(HashDisk, ASmallSourceIsQueriedOnce) {
  ThinSource thin(40 * kHashBlock + 100, 39);
  auto h = HashDisk(thin, HashOptions{4, nullptr, {}, {}}, nullptr);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(thin.queries.load(), 1);
  EXPECT_EQ(thin.reads.load(), 1);
  EXPECT_EQ(h->BlockLength(40), 100u);
  EXPECT_EQ(h->Get(40), ZeroHash(100));
}

// Reads of one query's data blocks run on several threads at once.
class SlowSource : public Source {
 public:
  explicit SlowSource(uint64_t size) : size_(size) {}
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return std::vector<Extent>{{offset, length, false}};
  }
  Status Read(uint64_t, void* buf, size_t length) override {
    int now = ++active;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::memset(buf, 7, length);
    --active;
    return Status::Ok();
  }
  std::atomic<int> active{0}, peak{0};

 private:
  std::string name_ = "slow";
  uint64_t size_;
};

TEST(HashDisk, DataBlocksAreReadInParallel) {
  SlowSource slow(16 * kHashBlock);
  auto h = HashDisk(slow, HashOptions{4, nullptr, {}, {}}, nullptr);
  ASSERT_TRUE(h.ok());
  EXPECT_GE(slow.peak.load(), 3);
  EXPECT_LE(slow.peak.load(), 4);
}

TEST(HashDisk, ReadErrorIsReturned) {
  MemorySource src(MakeData(3 * kHashBlock, {{0, 3 * kHashBlock, false}}));
  src.fail_at = kHashBlock + 5;
  auto h = HashDisk(src, HashOptions{}, nullptr);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("offset"), std::string::npos);
}

TEST(DurableFrontier, IsTheEndOfTheLongestDurablePrefix) {
  DurableFrontier f(10 * kHashBlock + 100, kHashBlock);  // 11 chunks, the last one short
  EXPECT_EQ(f.frontier(), 0u);
  f.MarkDone({1, 2, 5});
  EXPECT_EQ(f.frontier(), 0u) << "chunk 0 is not done";
  f.MarkDone({0});
  EXPECT_EQ(f.frontier(), 3 * kHashBlock);
  f.MarkDone({3, 4, 6, 7, 8, 9, 10, 99});  // 99: out of range, ignored
  EXPECT_EQ(f.frontier(), 10 * kHashBlock + 100) << "ends at the size, not at 11 chunks";
  EXPECT_EQ(f.WaitPast(10 * kHashBlock + 100), 10 * kHashBlock + 100);
  EXPECT_EQ(f.WaitPast(UINT64_MAX), 10 * kHashBlock + 100);
}

TEST(DurableFrontier, StopReleasesAWaiterWithFalse) {
  DurableFrontier f(8 * kHashBlock, kHashBlock);
  f.MarkDone({0, 1});
  EXPECT_GE(f.WaitPast(2 * kHashBlock), 2 * kHashBlock);
  std::atomic<int> got{-1};
  std::thread t([&] { got = f.WaitPast(3 * kHashBlock) >= 3 * kHashBlock ? 1 : 0; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(got.load(), -1) << "returned before chunk 2 was done";
  f.Stop();
  t.join();
  EXPECT_EQ(got.load(), 0);
}

// A source that fails the test if anything at or past the frontier is read
// or queried.
class FollowedSource : public Source {
 public:
  FollowedSource(MemorySource& inner, DurableFrontier& f) : inner_(inner), f_(f) {}
  const std::string& name() const override { return inner_.name(); }
  uint64_t size() const override { return inner_.size(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    if (offset + length > f_.frontier()) ahead++;
    return inner_.Extents(offset, length);
  }
  Status Read(uint64_t offset, void* buf, size_t length) override {
    if (offset + length > f_.frontier()) ahead++;
    return inner_.Read(offset, buf, length);
  }
  std::atomic<int> ahead{0};

 private:
  MemorySource& inner_;
  DurableFrontier& f_;
};

TEST(HashDisk, FollowingAFrontierNeverReadsAheadOfIt) {
  const uint64_t size = 24 * kHashBlock + 4096;
  auto data = MakeData(size, {{0, size, false}});
  MemorySource mem(data);
  DurableFrontier f(size, kHashBlock);
  FollowedSource src(mem, f);
  HashOptions o;
  o.threads = 3;
  o.durable = [&](uint64_t need) { return f.WaitPast(need); };
  Result<BlockHashes> h = Status::Internal("not run");
  std::thread hasher([&] { h = HashDisk(src, o, nullptr); });
  // The copy completes chunks out of order, a few at a time.
  std::vector<uint64_t> order = {1, 0, 3, 2, 4, 6, 5, 7, 9, 8, 10, 11, 13, 12, 14, 15, 16, 18, 17, 19, 20, 22, 21, 24, 23};
  for (uint64_t c : order) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    f.MarkDone({c});
  }
  hasher.join();
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(src.ahead.load(), 0) << "read or queried past the durable frontier";
  EXPECT_EQ(h->Digest(), HashDisk(mem, HashOptions{}, nullptr)->Digest());
}

TEST(HashDisk, AStoppedFrontierEndsItInterrupted) {
  const uint64_t size = 8 * kHashBlock;
  MemorySource mem(MakeData(size, {{0, size, false}}));
  DurableFrontier f(size, kHashBlock);
  HashOptions o;
  o.durable = [&](uint64_t need) { return f.WaitPast(need); };
  f.MarkDone({0, 1});
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    f.Stop();
  });
  auto h = HashDisk(mem, o, nullptr);
  stopper.join();
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().kind(), Kind::kInterrupted);
}

}  // namespace
}  // namespace v2r
