// Several migrations in one process, over the fakes: each its own world
// (domain, libvirt, cluster, state dir), all sharing one copy budget (window,
// rate limit, buffers) and one abandonment flag through their RunContext.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "copy/engine.h"
#include "fake_world.h"
#include "migrate/migrate.h"

namespace v2r::fake {
namespace {

TEST(SharedBudgetOverFakes, TwoMigrationsInOneProcessShareOneBudget) {
  CopyBudget budget(/*max_requests=*/4, /*max_bytes=*/16 << 20, /*bandwidth=*/0, kDefaultChunkSize);
  Abandonment abandonment;
  std::vector<std::unique_ptr<FakeWorld>> worlds;
  for (int i = 0; i < 2; ++i) worlds.push_back(std::make_unique<FakeWorld>());
  std::vector<Result<MigrateReport>> results(worlds.size(), Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < worlds.size(); ++i)
    threads.emplace_back([&, i] {
      RunContext ctx = worlds[i]->Context();
      ctx.budget = &budget;
      ctx.abandonment = &abandonment;
      results[i] = RunMigrate(worlds[i]->Options(), ctx);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < worlds.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << "migration " << i << ": " << results[i].status().ToString();
    MigrationState ms = worlds[i]->Folded();
    EXPECT_TRUE(ms.completed) << "migration " << i;
    WorldState s = worlds[i]->Snapshot();
    EXPECT_TRUE(s.images["vm1-vda"] == s.sources.at("vm1-vda.img")) << "migration " << i;
  }
  // The copies took their buffers from the shared pool (a run with its own
  // budget would leave it empty) and gave them back; nothing is in flight.
  EXPECT_GT(budget.buffers.idle(), 0u);
  EXPECT_EQ(budget.window.in_flight(), 0u);
  EXPECT_FALSE(abandonment.marked());
}

}  // namespace
}  // namespace v2r::fake
