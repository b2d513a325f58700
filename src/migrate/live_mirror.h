// Block copies of a running domain's disks, through libvirt (qemu's mirror),
// shared by `migrate --live` and `rollback --live`: start a copy per disk (or
// adopt one a killed run left behind), wait until every copy is in sync while
// reporting progress, then pivot the disks one after another, or cancel the
// copies. Each step is journalled through the Runner before it is made; the
// event names depend on the direction (MirrorEvents). docs/live-migration.md
// describes the whole flow.
//
// Threads: everything here runs on the calling thread; the ProgressCounters
// are read by the progress printer's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "ceph/cluster_api.h"
#include "migrate/runner.h"
#include "virt/domain_xml.h"
#include "virt/hypervisor.h"

namespace v2r {

// The journal events of one direction.
struct MirrorEvents {
  RecordType start;      // a copy is about to be started
  RecordType adopted;    // a copy left by an earlier run is taken over
  RecordType cancelled;  // a copy was cancelled: the disk stays on its source
  RecordType pivot;      // a pivot is about to be asked
  RecordType pivoted;    // the disk now runs on the copy
};
inline constexpr MirrorEvents kForwardEvents{RecordType::kBlockcopyStart, RecordType::kBlockcopyAdopted,
                                             RecordType::kBlockcopyCancelled, RecordType::kPivot,
                                             RecordType::kPivoted};
inline constexpr MirrorEvents kBackEvents{RecordType::kBlockcopyBackStart, RecordType::kBlockcopyBackAdopted,
                                          RecordType::kBlockcopyBackCancelled, RecordType::kPivotBack,
                                          RecordType::kPivotedBack};

// One disk being copied.
struct MirrorDisk {
  std::string target;        // "vda"
  std::string dest;          // the destination as the live XML's <mirror> names it: "pool/image" or a path
  std::string dest_xml;      // the <disk> element handed to virDomainBlockCopy
  uint64_t size = 0;
  uint64_t bandwidth = 0;    // bytes/s; 0: unlimited
  ProgressCounters progress; // done: size × cur/end until in sync, then size
  double seconds = 0;        // from start (or adoption) to in sync
  uint64_t copied = 0;       // the job's end when it became ready
};
using MirrorDisks = std::vector<std::unique_ptr<MirrorDisk>>;

// Milliseconds since the epoch (for journal records a test can line up with
// host-stamped guest output).
int64_t EpochMs();

// The running domain's disks by target, from its live XML.
Result<std::map<std::string, DiskInfo>> LiveDisks(Domain& dom);

// Splits `total` bytes/s across the disks in proportion to their sizes, so
// that the sum never exceeds it and the copies end together; 0 leaves every
// disk unlimited. Each disk gets at least 1 byte/s (0 would mean unlimited).
void SplitBandwidth(uint64_t total, const std::vector<MirrorDisk*>& disks);

// Journals `ev.start`, then starts the copy (REUSE_EXT | TRANSIENT_JOB).
Status StartCopy(Runner& r, MirrorDisk& d, const MirrorEvents& ev);
// Journals `ev.adopted` and applies the disk's bandwidth to the running job.
Status AdoptCopy(Runner& r, MirrorDisk& d, const MirrorEvents& ev);

// Waits until every copy is in sync (<mirror ready='yes'>), reporting the
// phase `label` with one part per disk. kInterrupted when cancelled (the
// copies keep running: the caller cancels them); kFailed when a copy ends
// before it is in sync (qemu stopped it) or the domain stops. `tick`, when
// set, is called at each poll (~5 times a second): its error ends the wait.
Status WaitInSync(Runner& r, const std::string& label, const std::vector<MirrorDisk*>& disks,
                  const std::function<Status()>& tick = {});

// The copies of `disks` still run (the live XML shows each <mirror>):
// kFailed, naming the first that ended, otherwise.
Status CopiesRunning(Domain& dom, const std::vector<MirrorDisk*>& disks);

// Pivots one disk (its copy must be in sync), retrying for up to timeout_s
// while libvirt says the copy is not ready (it fell behind for a moment).
// Returns how long it took. Journals nothing.
struct PivotTiming {
  double ms = 0;       // the pivot call, retries included
  int64_t at_ms = 0;   // epoch ms when it was done
};
Result<PivotTiming> PivotOne(Domain& dom, const std::string& target, double timeout_s);

// Pivots the disks one after another, each journalled before (`ev.pivot`,
// with the time) and after (`ev.pivoted`, with the time and how long it
// took). A copy that is briefly not ready is retried for up to 30 s. Not
// interruptible: once the first disk pivoted, the others follow. On failure
// the disks before the failing one have pivoted (the journal says which).
Status PivotAll(Runner& r, const std::vector<MirrorDisk*>& disks, const MirrorEvents& ev);

// Cancels the copy of `target` if the live XML shows one to `dest` (the disk
// stays on its source), journalling `ev.cancelled`. A disk without such a copy
// is fine; one with a copy elsewhere is left alone and kRefused.
Status CancelCopy(Runner& r, const std::string& target, const std::string& dest, const MirrorEvents& ev);

// Waits until no client (qemu) has `image` open, up to timeout_s.
Status WaitUnwatched(Pool& pool, const std::string& image, int timeout_s);

// Bytes the image uses, counted in whole objects as `rbd du` does.
Result<uint64_t> ImageUsedBytes(Pool& pool, const std::string& image);

}  // namespace v2r
