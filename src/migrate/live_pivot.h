// The pause of `migrate --live` (docs/live-migration.md, step 7): the VM is
// paused, every disk pivots onto its image, each image gets its rollback
// snapshot, the VM resumes. Only libvirt and Ceph calls happen inside it; the
// caller journals the intents before and the outcomes (PausedPivot) after.
//
// Inside the pause, in order: virDomainSuspend (qemu drains the requests
// in flight); each disk's pivot, one after another (a synchronous
// virDomainBlockJobAbort PIVOT: libvirt serialises a domain's block-job work,
// so asynchronous pivots finished no sooner); then the snapshots of all
// pivoted images at once, one thread each (skip-quiesce); virDomainResume,
// whatever happened. Each snapshot is exact: its disk's copy has ended (the
// pivot returned) and the paused guest writes nothing, so the image holds
// what the original holds. Taken together after the last pivot, their
// snapshot-id requests reach the monitor leader together and share one
// proposal (it batches what it holds about paxos_min_wait, 50 ms, after the
// first); started each after its own pivot, overlapping the next pivots,
// they measured the same (docs/benchmarks.md, "Live pause").
//
// Threads: the snapshots run on threads of their own, joined before it
// returns; everything else on the calling thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/cluster_api.h"
#include "migrate/live_mirror.h"
#include "virt/hypervisor.h"

namespace v2r {

struct PausedPivot {
  struct Disk {
    bool pivoted = false;  // its pivot returned
    double ms = 0;         // the pivot call (PivotOne: retries included)
    int64_t at_ms = 0;     // epoch ms when it returned
    Status snap = Status::Failed("not taken");
    double snap_ms = 0;    // its snapshot's creation
  };
  std::vector<Disk> disks;  // in the order of the disks passed
  Status st;                // the first failure inside the pause (pivot or snapshot)
  Status resumed;           // of virDomainResume
  // suspend; first pivot's start to last pivot's end; from then until every
  // snapshot is done; resume; the whole pause.
  double suspend_ms = 0, pivots_ms = 0, snapshots_ms = 0, resume_ms = 0, paused_ms = 0;
};

// Pauses the VM and does the above. `images[i]` is disks[i]'s image, opened
// read-write (opening costs round trips the paused VM need not wait for).
// The pivots stop at the first that fails (st); those
// before it have pivoted and get their snapshots. A pivot refused as not
// possible yet is retried for up to `timeout_s`. Fault point "pivot:TARGET"
// before each. Fails (nothing changed, the VM not paused) only if the
// suspend does.
Result<PausedPivot> PauseAndPivot(Domain& dom, const std::vector<MirrorDisk*>& disks,
                                  const std::vector<Image*>& images, const std::string& snap, double timeout_s);

}  // namespace v2r
