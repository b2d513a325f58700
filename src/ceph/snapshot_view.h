// Reading an RBD image as it was at one of its snapshots, and taking one
// without the quiesce round trip.
//
// Lifetime and threads as for RbdImage (ceph/image.h).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "ceph/image.h"

namespace v2r {

// Opens `name` read-only, positioned at snapshot `snap`: reads (and extents,
// through an RbdSource) return the snapshot's content. A missing image is
// kRefused, a missing snapshot kFailed.
Result<std::unique_ptr<RbdImage>> OpenAtSnapshot(IoCtx& io, const std::string& name, const std::string& snap);

// Creates snapshot `snap` without asking the image's clients to quiesce
// first (RBD_SNAP_CREATE_SKIP_QUIESCE): for an image whose only writer is
// paused and drained already (a VM paused by libvirt), it saves a round trip
// to every watcher. An existing snapshot is fine, as for CreateSnapshot.
Status CreateSnapshotSkipQuiesce(RbdImage& image, const std::string& snap);

}  // namespace v2r
