#include "ceph/snapshot_view.h"

#include <rbd/librbd.h>

#include <fmt/format.h>

namespace v2r {

Result<std::unique_ptr<RbdImage>> OpenAtSnapshot(IoCtx& io, const std::string& name, const std::string& snap) {
  auto image = RbdImage::Open(io, name, /*read_only=*/true);
  if (!image.ok()) return image.status();
  int r = rbd_snap_set((*image)->handle(), snap.c_str());
  if (r < 0)
    return Status::FromErrno(Kind::kFailed, fmt::format("opening {} at snapshot {}", (*image)->name(), snap), r);
  return std::move(*image);
}

Status CreateSnapshotSkipQuiesce(RbdImage& image, const std::string& snap) {
  librbd_progress_fn_t no_progress = [](uint64_t, uint64_t, void*) { return 0; };
  int r = rbd_snap_create2(image.handle(), snap.c_str(), RBD_SNAP_CREATE_SKIP_QUIESCE, no_progress, nullptr);
  if (r == 0 || r == -EEXIST) return Status::Ok();
  return Status::FromErrno(Kind::kFailed, fmt::format("creating snapshot '{}' of {}", snap, image.name()), r);
}

}  // namespace v2r
