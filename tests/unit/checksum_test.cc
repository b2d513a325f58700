#include "copy/checksum.h"

#include <gtest/gtest.h>

#include "copy/hasher.h"
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
  auto a = HashSource(plain, HashOptions{}, nullptr);
  auto b = HashSource(with_holes, HashOptions{}, nullptr);
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
  auto ha = HashSource(a, HashOptions{}, nullptr);
  auto hb = HashSource(b, HashOptions{}, nullptr);
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

TEST(HashSource, ReadErrorIsReturned) {
  MemorySource src(MakeData(3 * kHashBlock, {{0, 3 * kHashBlock, false}}));
  src.fail_at = kHashBlock + 5;
  auto h = HashSource(src, HashOptions{}, nullptr);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("offset"), std::string::npos);
}

}  // namespace
}  // namespace v2r
