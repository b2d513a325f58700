#include "base/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace v2r {
namespace {

TEST(ParallelFor, RunsEveryItemOnAtMostNThreads) {
  std::atomic<int> running{0}, peak{0}, calls{0};
  Status st = ParallelFor(20, 3, [&](size_t) {
    int now = ++running;
    for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --running;
    ++calls;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(calls.load(), 20);
  EXPECT_LE(peak.load(), 3);
}

TEST(ParallelFor, FirstErrorWinsAndNothingStartsAfterIt) {
  std::atomic<int> calls{0};
  Status st = ParallelFor(100, 1, [&](size_t i) {
    ++calls;
    return i == 4 ? Status::Failed("item 4") : Status::Ok();
  });
  EXPECT_EQ(st.kind(), Kind::kFailed);
  EXPECT_EQ(st.message(), "item 4");
  EXPECT_EQ(calls.load(), 5);
}

TEST(AllAtOnce, RunsEveryItemTogetherAndReturnsTheLowestIndexError) {
  std::atomic<int> arrived{0}, calls{0};
  Status st = AllAtOnce(4, [&](size_t i) {
    ++arrived;
    // Every item is running at the same time: each waits for all four.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (arrived.load() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ++calls;
    if (i == 3) return Status::Failed("item 3");
    if (i == 1) return Status::Refused("item 1");
    return Status::Ok();
  });
  EXPECT_EQ(arrived.load(), 4);
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ(st.message(), "item 1");
  EXPECT_TRUE(AllAtOnce(0, [](size_t) { return Status::Failed("never"); }).ok());
}

}  // namespace
}  // namespace v2r
