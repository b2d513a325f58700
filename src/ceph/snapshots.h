// Snapshots, changed extents, watchers, image metadata and sparsify of an
// open RBD image (librbd C API).
//
// Every failure is kFailed and names the image ("pool/image") and the
// snapshot or key; callers turn it into kRefused where nothing had changed.
// Operations that change the image need it opened read-write (a read-only
// handle gives "Read-only file system").
// Lifetime: the RbdImage must outlive each call; nothing is kept.
// Threads: librbd image handles are thread-safe; these calls block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/image.h"
#include "copy/endpoint.h"

namespace v2r {

// ---------------------------------------------------------------- snapshots

// Creates snapshot `snap` of the image as it is now. One that exists already
// is fine (its contents are not checked: it is the earlier rollback point).
Status CreateSnapshot(RbdImage& image, const std::string& snap);

// Removes snapshot `snap`, unprotecting it first if needed. A missing one is
// fine. A protected snapshot with clones cannot be removed (kFailed, hint).
Status RemoveSnapshot(RbdImage& image, const std::string& snap);

// Names of the image's snapshots, in creation order.
Result<std::vector<std::string>> SnapshotNames(RbdImage& image);

// --------------------------------------------------------------- changes

// The extents of the image written since snapshot `snap` (rbd_diff_iterate2
// over the whole current size, parent excluded, not whole objects), sorted
// and with adjacent extents of the same kind merged. `zero` is set where the
// range was discarded or zeroed since the snapshot (it now reads as zeros).
// Empty if nothing changed. A missing snapshot is kFailed (ENOENT).
Result<std::vector<Extent>> ChangedSince(RbdImage& image, const std::string& snap);

// The total length of ChangedSince (data and zeroed ranges alike).
Result<uint64_t> ChangedBytesSince(RbdImage& image, const std::string& snap);

// --------------------------------------------------------------- watchers

// Addresses ("127.0.0.1:0/1234567") of the clients watching the image's
// header: every client that has it open read-write (qemu does). A handle
// opened read-write, including `image` itself, is a watcher too; one opened
// read-only is not: open read-only to see only the others.
Result<std::vector<std::string>> Watchers(RbdImage& image);

// --------------------------------------------------------------- metadata

// Image metadata (rbd image-meta): small key/value strings kept with the image.
Status SetMeta(RbdImage& image, const std::string& key, const std::string& value);
// nullopt if the key is not set.
Result<std::optional<std::string>> GetMeta(RbdImage& image, const std::string& key);

// ---------------------------------------------------------------- sparsify

// Deallocates every run of zeros of at least `sparse_size` bytes (a power of
// two, at least 4096, at most the object size; e.g. 64 KiB) so the image is
// thin again after a copy that wrote zeros (e.g. a libvirt block copy).
// Other clients may keep writing meanwhile.
Status Sparsify(RbdImage& image, size_t sparse_size);

}  // namespace v2r

namespace v2r {

// Breaks the exclusive lock of `image` held by another client (which is
// blocklisted by Ceph so it can never write again). Only for an image whose
// previous writer is known to be dead — e.g. our own earlier run, killed —
// otherwise a new writer waits for the dead one's watch to time out (~30 s).
// Returns the number of owners whose locks were broken.
Result<int> BreakLocks(RbdImage& image);

}  // namespace v2r
