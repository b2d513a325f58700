#include "copy/zero.h"

#include <gtest/gtest.h>

#include <vector>

namespace v2r {
namespace {

TEST(IsZero, DetectsASingleNonZeroByteAnywhere) {
  for (size_t len : {1u, 15u, 16u, 17u, 4095u, 4096u, 65537u}) {
    std::vector<unsigned char> b(len, 0);
    EXPECT_TRUE(IsZero(b.data(), len));
    for (size_t pos : {size_t{0}, len / 2, len - 1}) {
      b[pos] = 1;
      EXPECT_FALSE(IsZero(b.data(), len)) << "len " << len << " pos " << pos;
      b[pos] = 0;
    }
  }
  EXPECT_TRUE(IsZero(nullptr, 0));
}

TEST(SplitZeroRuns, CoversTheBufferExactlyAndMergesNeighbours) {
  const size_t g = 4096;
  std::vector<unsigned char> b(10 * g, 0);
  b[3 * g] = 7;          // block 3 is data
  b[4 * g + 100] = 7;    // block 4 is data
  auto runs = SplitZeroRuns(b.data(), 0, b.size(), g);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], (Extent{0, 3 * g, true}));
  EXPECT_EQ(runs[1], (Extent{3 * g, 2 * g, false}));
  EXPECT_EQ(runs[2], (Extent{5 * g, 5 * g, true}));
}

TEST(SplitZeroRuns, BlocksAlignToAbsoluteOffsetsNotTheBufferStart) {
  const size_t g = 4096;
  // A buffer that starts 1000 bytes into a block: the first block is short.
  std::vector<unsigned char> b(3 * g, 0);
  b[g - 1000] = 1;  // absolute offset base + g - 1000 = 6*g: block 6
  uint64_t base = 5 * g + 1000;
  auto runs = SplitZeroRuns(b.data(), base, b.size(), g);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], (Extent{base, g - 1000, true}));           // the short head block
  EXPECT_EQ(runs[1], (Extent{6 * g, g, false}));                 // the block holding the byte
  EXPECT_EQ(runs[2], (Extent{7 * g, base + 3 * g - 7 * g, true}));  // the rest, short tail
}

TEST(SplitZeroRuns, OddSizedTailIsItsOwnBlock) {
  const size_t g = 65536;
  std::vector<unsigned char> b(g + 513, 0);
  b[g + 512] = 9;  // the very last byte
  auto runs = SplitZeroRuns(b.data(), 0, b.size(), g);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (Extent{0, g, true}));
  EXPECT_EQ(runs[1], (Extent{g, 513, false}));
}

TEST(SplitZeroRuns, AllZeroAndAllDataAreOneRun) {
  std::vector<unsigned char> z(12345, 0), d(12345, 1);
  auto rz = SplitZeroRuns(z.data(), 0, z.size(), 4096);
  ASSERT_EQ(rz.size(), 1u);
  EXPECT_TRUE(rz[0].zero);
  auto rd = SplitZeroRuns(d.data(), 0, d.size(), 4096);
  ASSERT_EQ(rd.size(), 1u);
  EXPECT_FALSE(rd[0].zero);
  EXPECT_EQ(rd[0].length, 12345u);
}

TEST(ZeroPolicy, SkipsOnlyOnAFreshTarget) {
  EXPECT_EQ(ZeroPolicy(true), ZeroAction::kSkip);
  EXPECT_EQ(ZeroPolicy(false), ZeroAction::kWriteZeroes);
  // A sink that keeps nothing reads as zeros whatever the caller says.
  EXPECT_EQ(ZeroPolicy(false, SinkCapabilities{.fresh = true}), ZeroAction::kSkip);
}

}  // namespace
}  // namespace v2r
