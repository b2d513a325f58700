// A fake Ceph cluster for unit tests: the Cluster seam (ceph/cluster_api.h)
// over an in-memory world, so that the migration code that talks to RADOS
// and RBD runs without a cluster.
//
// A FakeCluster is "the cluster": pools (with their space and whether they
// are RBD pools), images (bytes and an allocation map, so a hole stays a
// hole; snapshots as copies, with what was written since each; metadata;
// watchers), cephx users with caps and keys, and the monitors. Its Opener()
// goes into RunContext::open_cluster; every connection sees the same world.
// Writes complete on the calling thread.
//
// Failures are scripted per operation, as in fake_hypervisor.h:
// FailCall("CreateImage", 1, Timeout("...")) makes the next CreateImage fail
// and change nothing. Operation names are the seam's method names
// ("Connect" for the opener itself, "Write", "Flush", "Read", "OpenImage",
// "SetMeta", ...); FailWrites(n, st) fails every write from the nth on.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ceph/cluster_api.h"

namespace v2r::fake {

// One image as the test sets it up and inspects it. The allocation map has
// one entry per kFakeBlock bytes.
inline constexpr uint64_t kFakeBlock = 64 << 10;

struct FakeSnapshot {
  std::string name;
  std::string data;
  std::vector<bool> allocated;
  std::vector<bool> dirty;  // blocks written since the snapshot
};

struct FakeImage {
  std::string data;            // size() bytes
  std::vector<bool> allocated; // a block never written (or discarded) reads as zeros
  uint64_t object_size = 4 << 20;
  std::map<std::string, std::string> meta;
  std::vector<FakeSnapshot> snaps;
  std::vector<std::string> watchers;  // other clients (qemu); handles of ours opened writable add theirs
  int open_writers = 0;
  bool half_created = false;  // listed, does not open (an interrupted creation)
  int writes = 0;             // Write and WriteZeroes calls that changed it
  uint64_t AllocatedBytes() const;
};

struct FakeUser {
  std::map<std::string, std::string> caps;
  std::string key;  // raw key bytes
};

struct FakePool {
  bool rbd = true;  // the 'rbd' application enabled
  PoolSpace space{uint64_t{1} << 40, 0, 0, 0, false, true};
  std::map<std::string, FakeImage> images;
};

class FakeCluster {
 public:
  FakeCluster();
  ~FakeCluster();
  FakeCluster(const FakeCluster&) = delete;
  FakeCluster& operator=(const FakeCluster&) = delete;

  // Connects to this fake (the options are only remembered: Connects()).
  ClusterOpener Opener() const;

  void AddPool(const std::string& pool, bool rbd = true);
  void SetPoolSpace(const std::string& pool, const PoolSpace& space);
  void SetMons(std::vector<MonAddress> mons);
  void AddUser(const std::string& entity, std::map<std::string, std::string> caps, std::string key);
  // An image of `size` bytes; `data`, when given, is written at offset 0.
  void AddImage(const std::string& pool, const std::string& image, uint64_t size, const std::string& data = {});

  std::optional<FakeImage> GetImage(const std::string& pool, const std::string& image) const;
  std::vector<std::string> ImageNames(const std::string& pool) const;
  // The image's bytes as a reader sees them (holes read as zeros).
  std::string ImageBytes(const std::string& pool, const std::string& image) const;
  std::optional<FakeUser> User(const std::string& entity) const;
  std::map<std::string, FakeUser> Users() const;
  // Changes an image in place (no calls counted).
  void UpdateImage(const std::string& pool, const std::string& image, const std::function<void(FakeImage&)>& change);
  // Called for every Watchers() (in addition to FakeImage::watchers): e.g.
  // "qemu has the image open while the fake domain runs on it".
  void SetWatchersHook(std::function<std::vector<std::string>(const std::string& pool, const std::string& image)> h);

  // The nth call of `op` from now on (1: the next one) fails with `st` and
  // changes nothing. For "Write"/"WriteZeroes" the completion gets `st`.
  void FailCall(const std::string& op, int nth, Status st);
  // Every call of `op` from the nth on fails with `st` (a cluster gone).
  void FailFrom(const std::string& op, int nth, Status st);
  void ClearFailures();
  int Calls(const std::string& op) const;
  // Every call so far of every op, for counting the steps of a run.
  std::map<std::string, int> AllCalls() const;

  // A definite failure (kFailed, no environment cause) and an environment
  // fault (kFailed with cause timeout: monitors out of reach), naming `what`.
  static Status Definite(const std::string& what);
  static Status Timeout(const std::string& what);

  struct World;

 private:
  std::shared_ptr<World> w_;
};

}  // namespace v2r::fake
