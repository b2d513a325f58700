// ClipSink (copy/clip_sink.h): the copy-back into an image file copies whole
// chunks, but only the changed extents, rounded out to the cluster size,
// reach the image; an error of any piece fails the write.
#include <gtest/gtest.h>

#include "copy/clip_sink.h"
#include "copy/engine.h"
#include "memory_endpoints.h"

namespace v2r {
namespace {

using testing::MemorySink;
using testing::MemorySource;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kK = 64 << 10;

TEST(ClipSink, OnlyTheChangedExtentsRoundedToTheGranularityReachTheSink) {
  std::vector<unsigned char> bytes(8 * kMiB, 'b');
  std::fill(bytes.begin() + 6 * kMiB, bytes.begin() + 7 * kMiB, 0);  // a hole reads as zeros
  MemorySource src(bytes, {{6 * kMiB, kMiB, true}});  // a zero run in a changed range
  auto inner = std::make_unique<MemorySink>(8 * kMiB, 4 * kMiB, 'a');
  MemorySink* mem = inner.get();
  // 4 KiB at 4 KiB, 100 bytes at 5 MiB, and 6 MiB..6 MiB+200 KiB (zeros).
  ClipSink clip(std::move(inner), {{4096, 4096, false}, {5 * kMiB, 100, false}, {6 * kMiB, 200 << 10, true}}, kK);
  CopyOptions opts;
  opts.target_fresh = false;
  auto r = CopyDisk(src, clip, opts, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<unsigned char> got = mem->data();
  auto expect = [&](uint64_t from, uint64_t to, unsigned char c) {
    for (uint64_t i = from; i < to; ++i)
      if (got[i] != c) {
        ADD_FAILURE() << "byte " << i << " is " << int(got[i]) << ", want " << int(c);
        return;
      }
  };
  expect(0, kK, 'b');
  expect(kK, 5 * kMiB, 'a');
  expect(5 * kMiB, 5 * kMiB + kK, 'b');
  expect(5 * kMiB + kK, 6 * kMiB, 'a');
  expect(6 * kMiB, 6 * kMiB + 4 * kK, 0);  // 200 KiB rounded out to 256 KiB
  expect(6 * kMiB + 4 * kK, 8 * kMiB, 'a');
  EXPECT_EQ(clip.passed(), 6 * kK);
  for (const MemorySink::Op& op : mem->ops()) {
    if (op.kind == 'f') continue;
    bool inside = (op.offset + op.length <= kK) ||
                  (op.offset >= 5 * kMiB && op.offset + op.length <= 5 * kMiB + kK) ||
                  (op.offset >= 6 * kMiB && op.offset + op.length <= 6 * kMiB + 4 * kK);
    EXPECT_TRUE(inside) << op.kind << " at " << op.offset << " +" << op.length;
  }
}

TEST(ClipSink, AFailedPieceFailsTheWriteAndNothingOutsideIsWritten) {
  std::vector<unsigned char> bytes(4 * kMiB, 'b');
  MemorySource src(bytes);
  auto inner = std::make_unique<MemorySink>(4 * kMiB, 4 * kMiB, 'a');
  MemorySink* mem = inner.get();
  mem->fail_write_n = 2;  // the second of the chunk's two pieces
  ClipSink clip(std::move(inner), {{0, 10, false}, {2 * kMiB, 10, false}}, kK);
  CopyOptions opts;
  opts.target_fresh = false;
  auto r = CopyDisk(src, clip, opts, nullptr);
  EXPECT_FALSE(r.ok());
  for (const MemorySink::Op& op : mem->ops()) EXPECT_LE(op.length, kK) << op.kind << " at " << op.offset;
}

TEST(ClipSink, AChunkWithoutAChangedExtentCompletesAtOnce) {
  auto inner = std::make_unique<MemorySink>(4 * kMiB, 4 * kMiB, 'a');
  MemorySink* mem = inner.get();
  ClipSink clip(std::move(inner), {{3 * kMiB, 1, false}}, kK);
  std::vector<char> buf(kMiB, 'c');
  Status got = Status::Internal("not completed");
  clip.Write(0, buf.data(), buf.size(), [&](Status st) { got = st; });
  EXPECT_TRUE(got.ok()) << got.ToString();
  EXPECT_TRUE(mem->ops().empty());
  EXPECT_EQ(clip.passed(), 0u);
}

}  // namespace
}  // namespace v2r
