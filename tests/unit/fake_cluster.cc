#include "fake_cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace v2r::fake {

uint64_t FakeImage::AllocatedBytes() const {
  uint64_t n = 0;
  for (size_t b = 0; b < allocated.size(); ++b)
    if (allocated[b]) n += std::min<uint64_t>(kFakeBlock, data.size() - b * kFakeBlock);
  return n;
}

namespace {

struct Failure {
  std::string op;
  int at;     // fails when Calls(op) reaches this
  bool from;  // and every call after it
  Status status;
};

size_t Blocks(uint64_t size) { return (size + kFakeBlock - 1) / kFakeBlock; }

// Extents of [offset, offset+length) by block flag: want(b) true is a
// "data" extent; the others are returned with zero = true when keep_zero,
// else left out. Adjacent extents of one kind merged.
template <typename F>
std::vector<Extent> BlockExtents(uint64_t size, uint64_t offset, uint64_t length, bool keep_zero, F kind) {
  std::vector<Extent> out;
  const uint64_t end = std::min(size, offset + length);
  for (uint64_t pos = offset; pos < end;) {
    uint64_t b = pos / kFakeBlock;
    uint64_t next = std::min(end, (b + 1) * kFakeBlock);
    int k = kind(b);  // 0: leave out, 1: data, 2: zero
    if (k == 2 && !keep_zero) k = 0;
    if (k != 0) {
      bool zero = k == 2;
      if (!out.empty() && out.back().end() == pos && out.back().zero == zero) out.back().length += next - pos;
      else out.push_back({pos, next - pos, zero});
    }
    pos = next;
  }
  return out;
}

}  // namespace

struct FakeCluster::World {
  mutable std::mutex mu;
  std::map<std::string, FakePool> pools;
  std::map<std::string, FakeUser> users;
  std::vector<MonAddress> mons{{"10.0.0.1", 6789, "a"}};
  std::map<std::string, int> calls;
  std::vector<Failure> failures;
  std::function<std::vector<std::string>(const std::string&, const std::string&)> watchers_hook;

  // Counts the call, then fails it as scripted. Callers hold mu.
  Status Gate(const std::string& op) {
    int n = ++calls[op];
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (it->op != op || n < it->at || (!it->from && n != it->at)) continue;
      Status st = it->status;
      if (!it->from) failures.erase(it);
      return st;
    }
    return Status::Ok();
  }
  FakeImage* Find(const std::string& pool, const std::string& image) {
    auto p = pools.find(pool);
    if (p == pools.end()) return nullptr;
    auto i = p->second.images.find(image);
    return i == p->second.images.end() ? nullptr : &i->second;
  }
  // Marks blocks [offset, offset+length) dirty in every snapshot.
  static void Touch(FakeImage& img, uint64_t offset, uint64_t length) {
    for (uint64_t b = offset / kFakeBlock; b * kFakeBlock < offset + length; ++b)
      for (FakeSnapshot& s : img.snaps) s.dirty[b] = true;
  }
};

namespace {

using World = FakeCluster::World;

Status Gone(const std::string& name) {
  return Status::Failed(fmt::format("image {}: no such image", name)).WithCause(Cause::kNotFound);
}

class FakeImageHandle : public v2r::Image {
 public:
  FakeImageHandle(std::shared_ptr<World> w, std::string pool, std::string image, const FakeImage& img, bool read_only,
                  std::optional<std::string> snap)
      : w_(std::move(w)), pool_(std::move(pool)), image_(std::move(image)), name_(pool_ + "/" + image_),
        size_(img.data.size()), object_size_(img.object_size), read_only_(read_only), snap_(std::move(snap)) {}
  ~FakeImageHandle() override {
    if (read_only_) return;
    std::lock_guard<std::mutex> lock(w_->mu);
    if (FakeImage* img = w_->Find(pool_, image_)) --img->open_writers;
  }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  uint64_t object_size() const override { return object_size_; }

  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return Locked<std::vector<Extent>>("Extents", [&](FakeImage& img) -> Result<std::vector<Extent>> {
      const std::vector<bool>& alloc = View(img).second;
      return BlockExtents(size_, offset, length, true, [&](uint64_t b) { return alloc[b] ? 1 : 2; });
    });
  }
  Status Read(uint64_t offset, void* buf, size_t length) override {
    return Locked<bool>("Read", [&](FakeImage& img) -> Result<bool> {
      if (offset > size_ || length > size_ - offset)
        return Status::Internal(fmt::format("reading {} at offset {}: beyond its size", name_, offset));
      std::memcpy(buf, View(img).first.data() + offset, length);
      return true;
    }).status();
  }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override {
    done(Change("Write", offset, length, [&](FakeImage& img) {
      std::memcpy(img.data.data() + offset, buf, length);
      for (uint64_t b = offset / kFakeBlock; b * kFakeBlock < offset + length; ++b) img.allocated[b] = true;
    }));
  }
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override {
    done(Change("WriteZeroes", offset, length, [&](FakeImage& img) {
      std::memset(img.data.data() + offset, 0, length);
      for (uint64_t b = offset / kFakeBlock; b * kFakeBlock < offset + length; ++b) {
        uint64_t bs = b * kFakeBlock, be = std::min<uint64_t>(bs + kFakeBlock, size_);
        if (bs >= offset && be <= offset + length) img.allocated[b] = false;  // whole block: a hole again
      }
    }));
  }
  void Flush(Completion done) override {
    done(Locked<bool>("Flush", [](FakeImage&) -> Result<bool> { return true; }).status());
  }

  Status CreateSnapshot(const std::string& snap) override { return Snap("CreateSnapshot", snap); }
  Status CreateSnapshotSkipQuiesce(const std::string& snap) override {
    return Snap("CreateSnapshotSkipQuiesce", snap);
  }
  Status RemoveSnapshot(const std::string& snap) override {
    return Writable("RemoveSnapshot", [&](FakeImage& img) {
      img.snaps.erase(std::remove_if(img.snaps.begin(), img.snaps.end(),
                                     [&](const FakeSnapshot& s) { return s.name == snap; }),
                      img.snaps.end());
      return Status::Ok();
    });
  }
  Result<std::vector<std::string>> SnapshotNames() override {
    return Locked<std::vector<std::string>>("SnapshotNames", [](FakeImage& img) -> Result<std::vector<std::string>> {
      std::vector<std::string> names;
      for (const FakeSnapshot& s : img.snaps) names.push_back(s.name);
      return names;
    });
  }
  Result<std::vector<Extent>> ChangedSince(const std::string& snap) override { return Changed("ChangedSince", snap); }
  Result<uint64_t> ChangedBytesSince(const std::string& snap) override {
    auto changed = Changed("ChangedBytesSince", snap);
    if (!changed.ok()) return changed.status();
    uint64_t n = 0;
    for (const Extent& e : *changed) n += e.length;
    return n;
  }
  Result<std::vector<std::string>> Watchers() override {
    auto w = Locked<std::vector<std::string>>("Watchers", [](FakeImage& img) -> Result<std::vector<std::string>> {
      std::vector<std::string> out = img.watchers;
      for (int i = 0; i < img.open_writers; ++i) out.push_back(fmt::format("127.0.0.1:0/{}", 1000 + i));
      return out;
    });
    if (!w.ok()) return w;
    std::function<std::vector<std::string>(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(w_->mu);
      hook = w_->watchers_hook;
    }
    if (hook)
      for (const std::string& c : hook(pool_, image_)) w->push_back(c);
    return w;
  }
  Status SetMeta(const std::string& key, const std::string& value) override {
    return Writable("SetMeta", [&](FakeImage& img) {
      img.meta[key] = value;
      return Status::Ok();
    });
  }
  Result<std::optional<std::string>> GetMeta(const std::string& key) override {
    return Locked<std::optional<std::string>>("GetMeta", [&](FakeImage& img) -> Result<std::optional<std::string>> {
      auto it = img.meta.find(key);
      if (it == img.meta.end()) return std::optional<std::string>();
      return std::optional<std::string>(it->second);
    });
  }
  Status Sparsify(size_t) override {
    return Writable("Sparsify", [](FakeImage& img) {
      for (size_t b = 0; b < img.allocated.size(); ++b) {
        uint64_t bs = b * kFakeBlock, len = std::min<uint64_t>(kFakeBlock, img.data.size() - bs);
        if (img.allocated[b] && std::all_of(img.data.begin() + bs, img.data.begin() + bs + len,
                                            [](char c) { return c == 0; }))
          img.allocated[b] = false;
      }
      return Status::Ok();
    });
  }
  Result<int> BreakLocks() override {
    return Locked<int>("BreakLocks", [](FakeImage&) -> Result<int> { return 0; });
  }

 private:
  // The bytes and allocation this handle reads: the image's, or its snapshot's.
  std::pair<const std::string&, const std::vector<bool>&> View(const FakeImage& img) const {
    if (snap_)
      for (const FakeSnapshot& s : img.snaps)
        if (s.name == *snap_) return {s.data, s.allocated};
    return {img.data, img.allocated};
  }
  template <typename T, typename F>
  Result<T> Locked(const std::string& op, F f) {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(op).Wrap(fmt::format("{} of image {}", op, name_)));
    FakeImage* img = w_->Find(pool_, image_);
    if (!img) return Gone(name_);
    return f(*img);
  }
  template <typename F>
  Status Writable(const std::string& op, F f) {
    return Locked<bool>(op, [&](FakeImage& img) -> Result<bool> {
      if (read_only_ || snap_) return Status::Failed(fmt::format("{} of image {}: Read-only file system", op, name_));
      V2R_RETURN_IF_ERROR(f(img));
      return true;
    }).status();
  }
  template <typename F>
  Status Change(const std::string& op, uint64_t offset, uint64_t length, F apply) {
    return Writable(op, [&](FakeImage& img) {
      if (offset > size_ || length > size_ - offset)
        return Status::Internal(fmt::format("writing {} at offset {}: beyond its size", name_, offset));
      apply(img);
      World::Touch(img, offset, length);
      ++img.writes;
      return Status::Ok();
    });
  }
  Status Snap(const std::string& op, const std::string& snap) {
    return Writable(op, [&](FakeImage& img) {
      for (const FakeSnapshot& s : img.snaps)
        if (s.name == snap) return Status::Ok();
      img.snaps.push_back({snap, img.data, img.allocated, std::vector<bool>(img.allocated.size(), false)});
      return Status::Ok();
    });
  }
  Result<std::vector<Extent>> Changed(const std::string& op, const std::string& snap) {
    return Locked<std::vector<Extent>>(op, [&](FakeImage& img) -> Result<std::vector<Extent>> {
      for (const FakeSnapshot& s : img.snaps)
        if (s.name == snap)
          return BlockExtents(size_, 0, size_, true, [&](uint64_t b) {
            return !s.dirty[b] ? 0 : img.allocated[b] ? 1 : 2;
          });
      return Status::Failed(fmt::format("changes of image {} since snapshot '{}': no such snapshot", name_, snap))
          .WithCause(Cause::kNotFound);
    });
  }

  std::shared_ptr<World> w_;
  std::string pool_, image_, name_;
  uint64_t size_, object_size_;
  bool read_only_;
  std::optional<std::string> snap_;
};

class FakePoolHandle : public Pool {
 public:
  FakePoolHandle(std::shared_ptr<World> w, std::string pool) : w_(std::move(w)), pool_(std::move(pool)) {}

  const std::string& name() const override { return pool_; }
  Status CheckRbd() override {
    return InPool<bool>("CheckRbd", [&](FakePool& p) -> Result<bool> {
      if (!p.rbd)
        return Status::Refused(fmt::format("pool {} is not initialised for RBD", pool_), "rbd pool init " + pool_);
      return true;
    }).status();
  }
  Result<bool> ImageExists(const std::string& image) override {
    return InPool<bool>("ImageExists", [&](FakePool& p) -> Result<bool> {
      auto it = p.images.find(image);
      return it != p.images.end() && !it->second.half_created;
    });
  }
  Result<bool> ImageListed(const std::string& image) override {
    return InPool<bool>("ImageListed", [&](FakePool& p) -> Result<bool> { return p.images.count(image) > 0; });
  }
  Status CreateImage(const std::string& image, uint64_t size) override {
    return InPool<bool>("CreateImage", [&](FakePool& p) -> Result<bool> {
      if (p.images.count(image))
        return Status::Refused(fmt::format("image {}/{} already exists", pool_, image)).WithCause(Cause::kExists);
      FakeImage img;
      img.data.assign(size, '\0');
      img.allocated.assign(Blocks(size), false);
      p.images[image] = std::move(img);
      return true;
    }).status();
  }
  Status RemoveImage(const std::string& image) override {
    auto watched = Watched(image);
    if (!watched.ok()) return watched.status();
    return InPool<bool>("RemoveImage", [&](FakePool& p) -> Result<bool> {
      auto it = p.images.find(image);
      if (it == p.images.end()) return true;
      const std::string path = pool_ + "/" + image;
      if (it->second.open_writers > 0 || *watched)
        return Status::Failed(fmt::format("removing image {}: Device or resource busy", path)).WithCause(Cause::kBusy);
      if (!it->second.snaps.empty())
        return Status::Failed(fmt::format("removing image {}: Directory not empty", path), "it has snapshots");
      p.images.erase(it);
      return true;
    }).status();
  }
  Result<std::unique_ptr<v2r::Image>> OpenImage(const std::string& image, bool read_only) override {
    return Open("OpenImage", image, read_only, std::nullopt);
  }
  Result<std::unique_ptr<v2r::Image>> OpenAtSnapshot(const std::string& image, const std::string& snap) override {
    return Open("OpenAtSnapshot", image, true, snap);
  }
  Result<std::unique_ptr<v2r::Image>> OpenSourceAtSnapshot(const std::string& image, const std::string& snap) override {
    return Open("OpenAtSnapshot", image, true, snap);
  }
  std::unique_ptr<FullTryScope> FullTry() override {
    std::lock_guard<std::mutex> lock(w_->mu);
    ++w_->calls["FullTry"];
    return std::make_unique<FullTryScope>();
  }

 private:
  template <typename T, typename F>
  Result<T> InPool(const std::string& op, F f) {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(op).Wrap(fmt::format("{} in pool '{}'", op, pool_)));
    auto p = w_->pools.find(pool_);
    if (p == w_->pools.end())
      return Status::Refused(fmt::format("pool '{}' does not exist", pool_)).WithCause(Cause::kNotFound);
    return f(p->second);
  }
  // Another client (the hook's qemu) has it open.
  Result<bool> Watched(const std::string& image) {
    std::function<std::vector<std::string>(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(w_->mu);
      FakeImage* img = w_->Find(pool_, image);
      if (img && !img->watchers.empty()) return true;
      hook = w_->watchers_hook;
    }
    return hook && !hook(pool_, image).empty();
  }
  Result<std::unique_ptr<v2r::Image>> Open(const std::string& op, const std::string& image, bool read_only,
                                           std::optional<std::string> snap) {
    std::lock_guard<std::mutex> lock(w_->mu);
    const std::string path = pool_ + "/" + image;
    V2R_RETURN_IF_ERROR(w_->Gate(op).Wrap("opening image " + path));
    FakeImage* img = w_->Find(pool_, image);
    if (!img || img->half_created)
      return Status::Refused(fmt::format("image {} does not exist", path)).WithCause(Cause::kNotFound);
    if (snap && std::none_of(img->snaps.begin(), img->snaps.end(), [&](const FakeSnapshot& s) { return s.name == *snap; }))
      return Status::Failed(fmt::format("opening {} at snapshot {}: No such file or directory", path, *snap))
          .WithCause(Cause::kNotFound);
    if (!read_only) ++img->open_writers;
    return std::unique_ptr<v2r::Image>(new FakeImageHandle(w_, pool_, image, *img, read_only, std::move(snap)));
  }

  std::shared_ptr<World> w_;
  std::string pool_;
};

class FakeClusterHandle : public Cluster {
 public:
  explicit FakeClusterHandle(std::shared_ptr<World> w) : w_(std::move(w)) {}

  Result<std::vector<MonAddress>> MonitorAddresses() override {
    return Locked<std::vector<MonAddress>>("MonitorAddresses", [&]() -> Result<std::vector<MonAddress>> {
      return w_->mons;
    });
  }
  Result<PoolSpace> GetPoolSpace(const std::string& pool) override {
    return Locked<PoolSpace>("GetPoolSpace", [&]() -> Result<PoolSpace> {
      auto p = w_->pools.find(pool);
      if (p == w_->pools.end())
        return Status::Refused(fmt::format("pool '{}' does not exist", pool)).WithCause(Cause::kNotFound);
      return p->second.space;
    });
  }
  Result<std::optional<CephUser>> GetUser(const std::string& entity) override {
    return Locked<std::optional<CephUser>>("GetUser", [&]() -> Result<std::optional<CephUser>> {
      auto u = w_->users.find(entity);
      if (u == w_->users.end()) return std::optional<CephUser>();
      return std::optional<CephUser>(CephUser{entity, u->second.caps});
    });
  }
  Result<SecretBytes> KeyBytes(const std::string& entity) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate("KeyBytes").Wrap("auth get-key " + entity));
    auto u = w_->users.find(entity);
    if (u == w_->users.end())
      return Status::Refused(fmt::format("auth get-key {}: no such user", entity)).WithCause(Cause::kNotFound);
    return SecretBytes(u->second.key.data(), u->second.key.size());
  }
  Status CreateUser(const std::string& entity, const std::map<std::string, std::string>& caps) override {
    return Locked<bool>("CreateUser", [&]() -> Result<bool> {
      auto u = w_->users.find(entity);
      if (u != w_->users.end() && u->second.caps != caps)
        return Status::Refused(fmt::format("auth get-or-create {}: it exists with other caps", entity));
      if (u == w_->users.end()) w_->users[entity] = {caps, "AQ-fake-key-of-" + entity};
      return true;
    }).status();
  }
  Status SetCaps(const std::string& entity, const std::map<std::string, std::string>& caps) override {
    return Locked<bool>("SetCaps", [&]() -> Result<bool> {
      auto u = w_->users.find(entity);
      if (u == w_->users.end())
        return Status::Refused(fmt::format("auth caps {}: no such user", entity)).WithCause(Cause::kNotFound);
      u->second.caps = caps;
      return true;
    }).status();
  }
  Status DeleteUser(const std::string& entity) override {
    return Locked<bool>("DeleteUser", [&]() -> Result<bool> {
      w_->users.erase(entity);
      return true;
    }).status();
  }
  Result<std::unique_ptr<Pool>> OpenPool(const std::string& pool) override {
    return Locked<std::unique_ptr<Pool>>("OpenPool", [&]() -> Result<std::unique_ptr<Pool>> {
      if (!w_->pools.count(pool))
        return Status::Refused(fmt::format("pool '{}' does not exist", pool)).WithCause(Cause::kNotFound);
      return std::unique_ptr<Pool>(new FakePoolHandle(w_, pool));
    });
  }

 private:
  template <typename T, typename F>
  Result<T> Locked(const std::string& op, F f) {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(op).Wrap(op));
    return f();
  }

  std::shared_ptr<World> w_;
};

}  // namespace

FakeCluster::FakeCluster() : w_(std::make_shared<World>()) {}
FakeCluster::~FakeCluster() = default;

ClusterOpener FakeCluster::Opener() const {
  return [w = w_](const CephOptions&, const CephConfOverrides&) -> Result<std::unique_ptr<Cluster>> {
    std::lock_guard<std::mutex> lock(w->mu);
    V2R_RETURN_IF_ERROR(w->Gate("Connect").Wrap("connecting to the fake cluster"));
    return std::unique_ptr<Cluster>(new FakeClusterHandle(w));
  };
}

void FakeCluster::AddPool(const std::string& pool, bool rbd) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->pools[pool].rbd = rbd;
}

void FakeCluster::SetPoolSpace(const std::string& pool, const PoolSpace& space) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->pools[pool].space = space;
}

void FakeCluster::SetMons(std::vector<MonAddress> mons) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->mons = std::move(mons);
}

void FakeCluster::AddUser(const std::string& entity, std::map<std::string, std::string> caps, std::string key) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->users[entity] = {std::move(caps), std::move(key)};
}

void FakeCluster::AddImage(const std::string& pool, const std::string& image, uint64_t size, const std::string& data) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeImage img;
  img.data.assign(size, '\0');
  img.allocated.assign(Blocks(size), false);
  std::memcpy(img.data.data(), data.data(), std::min<uint64_t>(size, data.size()));
  for (uint64_t b = 0; b * kFakeBlock < std::min<uint64_t>(size, data.size()); ++b) img.allocated[b] = true;
  w_->pools[pool].images[image] = std::move(img);
}

std::optional<FakeImage> FakeCluster::GetImage(const std::string& pool, const std::string& image) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeImage* img = w_->Find(pool, image);
  return img ? std::optional<FakeImage>(*img) : std::nullopt;
}

std::vector<std::string> FakeCluster::ImageNames(const std::string& pool) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  std::vector<std::string> names;
  auto p = w_->pools.find(pool);
  if (p != w_->pools.end())
    for (const auto& [name, img] : p->second.images) names.push_back(name);
  return names;
}

std::string FakeCluster::ImageBytes(const std::string& pool, const std::string& image) const {
  auto img = GetImage(pool, image);
  if (!img) return {};
  std::string out = img->data;
  for (size_t b = 0; b < img->allocated.size(); ++b)
    if (!img->allocated[b])
      std::fill(out.begin() + b * kFakeBlock, out.begin() + std::min<uint64_t>(out.size(), (b + 1) * kFakeBlock), '\0');
  return out;
}

std::optional<FakeUser> FakeCluster::User(const std::string& entity) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  auto u = w_->users.find(entity);
  return u == w_->users.end() ? std::nullopt : std::optional<FakeUser>(u->second);
}

std::map<std::string, FakeUser> FakeCluster::Users() const {
  std::lock_guard<std::mutex> lock(w_->mu);
  return w_->users;
}

void FakeCluster::UpdateImage(const std::string& pool, const std::string& image,
                              const std::function<void(FakeImage&)>& change) {
  std::lock_guard<std::mutex> lock(w_->mu);
  if (FakeImage* img = w_->Find(pool, image)) change(*img);
}

void FakeCluster::SetWatchersHook(
    std::function<std::vector<std::string>(const std::string& pool, const std::string& image)> h) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->watchers_hook = std::move(h);
}

void FakeCluster::FailCall(const std::string& op, int nth, Status st) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->failures.push_back({op, w_->calls[op] + nth, false, std::move(st)});
}

void FakeCluster::FailFrom(const std::string& op, int nth, Status st) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->failures.push_back({op, w_->calls[op] + nth, true, std::move(st)});
}

void FakeCluster::ClearFailures() {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->failures.clear();
}

int FakeCluster::Calls(const std::string& op) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  auto it = w_->calls.find(op);
  return it == w_->calls.end() ? 0 : it->second;
}

std::map<std::string, int> FakeCluster::AllCalls() const {
  std::lock_guard<std::mutex> lock(w_->mu);
  return w_->calls;
}

Status FakeCluster::Definite(const std::string& what) {
  return Status::Failed(what + ": Input/output error (injected)");
}

Status FakeCluster::Timeout(const std::string& what) {
  return Status::Failed(what + ": Connection timed out (injected)").WithCause(Cause::kTimeout);
}

}  // namespace v2r::fake
