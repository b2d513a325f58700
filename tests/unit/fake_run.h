// A Runner over a FakeLibvirt, a FakeCluster and a state dir of its own
// (removed after): for unit tests of the migration steps. (Whole modes:
// fake_world.h.)
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "fake_cluster.h"
#include "fake_hypervisor.h"
#include "migrate/runner.h"

namespace v2r::fake {

struct FakeRun {
  FakeLibvirt virt;
  FakeCluster ceph;
  std::string state_dir;

  FakeRun() {
    char tmpl[] = "/tmp/v2r-fake-run.XXXXXX";
    const char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    state_dir = made ? made : "";
  }
  ~FakeRun() {
    std::error_code ec;
    if (!state_dir.empty()) std::filesystem::remove_all(state_dir, ec);
  }

  // A Runner opened on `domain` through the fake (a test failure and null
  // when Open fails). A second one on the same domain is a rerun: destroy
  // the first one before (a crash leaves its journal, not its lock).
  std::unique_ptr<Runner> Open(const std::string& domain, const std::atomic<bool>* cancel = nullptr) {
    RunContext ctx;
    ctx.cancel = cancel;
    ctx.open_hypervisor = virt.Opener();
    ctx.open_cluster = ceph.Opener();
    auto r = std::make_unique<Runner>(ctx);
    Status st = r->Open(virt.uri(), domain, state_dir);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok() ? std::move(r) : nullptr;
  }
};

}  // namespace v2r::fake
