// What one run of a mode (migrate, rollback, commit) is given by its caller:
// where it reports, what stops it, and how it reaches libvirt and Ceph. The
// CLI builds one per command; a unit test builds one over the fakes
// (tests/unit/fake_hypervisor.h, tests/unit/fake_cluster.h).
//
// Lifetime: the context (and what it points to) must outlive the run it is
// given to; the run copies the openers and the hook.
#pragma once

#include <atomic>
#include <functional>

#include <nlohmann/json.hpp>

#include "base/abandon.h"
#include "base/observer.h"
#include "base/status.h"
#include "ceph/cluster_api.h"
#include "copy/budget.h"
#include "migrate/run_control.h"
#include "virt/hypervisor.h"

namespace v2r {

struct RunContext {
  Observer* observer = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  HypervisorOpener open_hypervisor = LibvirtOpener();
  ClusterOpener open_cluster = RadosOpener();
  // Marked when the run leaves writes in flight to a stalled cluster (its
  // handles are leaked, the owner must end the process with _Exit). Null:
  // the run marks one of its own, which nobody can see; give one.
  Abandonment* abandonment = nullptr;
  // Shared with other runs in the process (one window, rate limit and
  // buffer pool for all their copies); null: the run makes its own from
  // its options (--in-flight, --in-flight-bytes, --bandwidth).
  CopyBudget* budget = nullptr;
  // The orchestrator's steering (--control-fd): the copy rate, the go of a
  // gated pivot. Null: none, the options hold.
  RunControl* control = nullptr;
  // Test hook: called after each journal record is durably written; an
  // error return makes Runner::Log fail with it (simulates a crash: every
  // later Log of that run fails the same way and writes nothing).
  std::function<Status(const nlohmann::json&)> after_record;
};

}  // namespace v2r
