// Reading an RBD image as it was at one of its snapshots.
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

}  // namespace v2r
