#include "ceph/snapshot_view.h"

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

}  // namespace v2r
