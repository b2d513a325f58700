#include "ceph/snapshots.h"

#include <rbd/librbd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include <fmt/format.h>

namespace v2r {
namespace {

Status RbdError(const RbdImage& image, const std::string& what, int r, std::string hint = {}) {
  if (hint.empty() && (r == -EROFS)) hint = "the image was opened read-only";
  return Status::FromErrno(Kind::kFailed, fmt::format("{} of image {}", what, image.name()), r, std::move(hint));
}

// Collected from rbd_diff_iterate2's callback (which librbd may call from
// its own threads).
struct ChangeState {
  std::mutex mu;
  std::vector<Extent> extents;
};

int ChangeCallback(uint64_t offset, size_t length, int exists, void* arg) {
  if (length == 0) return 0;
  auto* st = static_cast<ChangeState*>(arg);
  std::lock_guard<std::mutex> lock(st->mu);
  st->extents.push_back(Extent{offset, length, exists == 0});
  return 0;
}

}  // namespace

// ---------------------------------------------------------------- snapshots

Status CreateSnapshot(RbdImage& image, const std::string& snap) {
  int r = rbd_snap_create(image.handle(), snap.c_str());
  if (r == 0 || r == -EEXIST) return Status::Ok();
  return RbdError(image, fmt::format("creating snapshot '{}'", snap), r);
}

Status RemoveSnapshot(RbdImage& image, const std::string& snap) {
  const std::string what = fmt::format("removing snapshot '{}'", snap);
  int is_protected = 0;
  int r = rbd_snap_is_protected(image.handle(), snap.c_str(), &is_protected);
  if (r == -ENOENT) return Status::Ok();
  if (r < 0) return RbdError(image, what, r);
  if (is_protected != 0) {
    r = rbd_snap_unprotect(image.handle(), snap.c_str());
    if (r < 0 && r != -EINVAL) {  // EINVAL: no longer protected
      return RbdError(image, fmt::format("unprotecting snapshot '{}'", snap), r,
                      r == -EBUSY ? fmt::format("it has clones: rbd children {}@{}", image.name(), snap)
                                  : std::string());
    }
  }
  r = rbd_snap_remove(image.handle(), snap.c_str());
  if (r == 0 || r == -ENOENT) return Status::Ok();
  return RbdError(image, what, r);
}

Result<std::vector<std::string>> SnapshotNames(RbdImage& image) {
  std::vector<rbd_snap_info_t> snaps(16);
  int max = static_cast<int>(snaps.size());
  int r;
  for (int attempt = 0;; ++attempt) {
    r = rbd_snap_list(image.handle(), snaps.data(), &max);
    if (r != -ERANGE || attempt >= 8) break;
    snaps.resize(static_cast<size_t>(max) + 1);
    max = static_cast<int>(snaps.size());
  }
  if (r < 0) return RbdError(image, "listing the snapshots", r);
  std::vector<std::pair<uint64_t, std::string>> byid;
  for (int i = 0; i < r; ++i) byid.emplace_back(snaps[i].id, snaps[i].name);
  rbd_snap_list_end(snaps.data());
  std::sort(byid.begin(), byid.end());
  std::vector<std::string> names;
  for (auto& [id, name] : byid) names.push_back(std::move(name));
  return names;
}

// --------------------------------------------------------------- changes

Result<std::vector<Extent>> ChangedSince(RbdImage& image, const std::string& snap) {
  uint64_t size = 0;
  int r = rbd_get_size(image.handle(), &size);
  if (r < 0) return RbdError(image, "reading the size", r);
  ChangeState st;
  r = rbd_diff_iterate2(image.handle(), snap.c_str(), 0, size, /*include_parent=*/0, /*whole_object=*/0,
                        ChangeCallback, &st);
  if (r < 0) {
    return RbdError(image, fmt::format("listing the changes since snapshot '{}'", snap), r,
                    r == -ENOENT ? fmt::format("no snapshot '{}': see rbd snap ls {}", snap, image.name())
                                 : std::string());
  }
  std::vector<Extent>& in = st.extents;
  std::sort(in.begin(), in.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  std::vector<Extent> out;
  for (const Extent& e : in) {
    if (!out.empty() && out.back().end() == e.offset && out.back().zero == e.zero) {
      out.back().length += e.length;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

Result<uint64_t> ChangedBytesSince(RbdImage& image, const std::string& snap) {
  Result<std::vector<Extent>> changed = ChangedSince(image, snap);
  if (!changed.ok()) return changed.status();
  uint64_t total = 0;
  for (const Extent& e : changed.value()) total += e.length;
  return total;
}

// --------------------------------------------------------------- watchers

Result<std::vector<std::string>> Watchers(RbdImage& image) {
  std::vector<rbd_image_watcher_t> watchers(8);
  size_t max = watchers.size();
  int r;
  for (int attempt = 0;; ++attempt) {
    r = rbd_watchers_list(image.handle(), watchers.data(), &max);
    if (r != -ERANGE || attempt >= 8) break;
    watchers.resize(max + 4);
    max = watchers.size();
  }
  if (r < 0) return RbdError(image, "listing the watchers", r);
  std::vector<std::string> out;
  for (size_t i = 0; i < max; ++i) out.emplace_back(watchers[i].addr != nullptr ? watchers[i].addr : "");
  rbd_watchers_list_cleanup(watchers.data(), max);
  return out;
}

// --------------------------------------------------------------- metadata

Status SetMeta(RbdImage& image, const std::string& key, const std::string& value) {
  int r = rbd_metadata_set(image.handle(), key.c_str(), value.c_str());
  if (r < 0) return RbdError(image, fmt::format("setting metadata '{}'", key), r);
  return Status::Ok();
}

Result<std::optional<std::string>> GetMeta(RbdImage& image, const std::string& key) {
  std::string buf(256, '\0');
  size_t len = buf.size();
  int r = rbd_metadata_get(image.handle(), key.c_str(), buf.data(), &len);
  if (r == -ERANGE) {
    buf.assign(len, '\0');
    r = rbd_metadata_get(image.handle(), key.c_str(), buf.data(), &len);
  }
  if (r == -ENOENT) return std::optional<std::string>();
  if (r < 0) return RbdError(image, fmt::format("reading metadata '{}'", key), r);
  // On success librbd leaves `len` as it was: the value ends at its NUL.
  buf.resize(std::strlen(buf.c_str()));
  return std::optional<std::string>(std::move(buf));
}

// ---------------------------------------------------------------- sparsify

Status Sparsify(RbdImage& image, size_t sparse_size) {
  const bool power_of_two = sparse_size != 0 && (sparse_size & (sparse_size - 1)) == 0;
  if (!power_of_two || sparse_size < 4096) {
    return Status::Internal(
        fmt::format("sparsifying image {}: sparse size {} is not a power of two of at least 4096", image.name(),
                    sparse_size));
  }
  int r = rbd_sparsify(image.handle(), sparse_size);
  if (r < 0) return RbdError(image, fmt::format("sparsifying (runs of {} zero bytes)", sparse_size), r);
  return Status::Ok();
}

}  // namespace v2r

namespace v2r {

Result<int> BreakLocks(RbdImage& image) {
  rbd_lock_mode_t mode;
  char* owners[8];
  size_t max = 8;
  int r = rbd_lock_get_owners(image.handle(), &mode, owners, &max);
  if (r == -ENOENT) return 0;  // not locked
  if (r < 0) return Status::FromErrno(Kind::kFailed, fmt::format("listing lock owners of {}", image.name()), r);
  int broken = 0;
  Status err;
  for (size_t i = 0; i < max; ++i) {
    int b = rbd_lock_break(image.handle(), mode, owners[i]);
    if (b < 0 && b != -ENOENT && err.ok())
      err = Status::FromErrno(Kind::kFailed, fmt::format("breaking the lock of {} held by {}", image.name(), owners[i]), b);
    else if (b == 0) ++broken;
  }
  rbd_lock_get_owners_cleanup(owners, max);
  if (!err.ok()) return err;
  return broken;
}

}  // namespace v2r
