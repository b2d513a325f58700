// The real Cluster, Pool and Image (ceph/cluster_api.h): thin adapters over
// the librados / librbd wrappers of this part (cluster.h, image.h,
// snapshots.h, snapshot_view.h, admin.h), whose comments hold the details.
#include <utility>

#include "ceph/admin.h"
#include "ceph/cluster.h"
#include "ceph/cluster_api.h"
#include "ceph/image.h"
#include "ceph/snapshot_view.h"
#include "ceph/snapshots.h"

namespace v2r {
namespace {

class RbdImageApi : public Image {
 public:
  explicit RbdImageApi(std::unique_ptr<RbdImage> image, bool exact_extents = false)
      : image_(std::move(image)), source_(*image_, exact_extents), sink_(*image_) {}

  const std::string& name() const override { return image_->name(); }
  uint64_t size() const override { return image_->size(); }
  uint64_t object_size() const override { return image_->object_size(); }

  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return source_.Extents(offset, length);
  }
  Status Read(uint64_t offset, void* buf, size_t length) override { return source_.Read(offset, buf, length); }
  void Write(uint64_t offset, const void* buf, size_t length, Completion done) override {
    sink_.Write(offset, buf, length, std::move(done));
  }
  void WriteZeroes(uint64_t offset, uint64_t length, Completion done) override {
    sink_.WriteZeroes(offset, length, std::move(done));
  }
  void Flush(Completion done) override { sink_.Flush(std::move(done)); }

  Status CreateSnapshot(const std::string& snap) override { return v2r::CreateSnapshot(*image_, snap); }
  Status CreateSnapshotSkipQuiesce(const std::string& snap) override {
    return v2r::CreateSnapshotSkipQuiesce(*image_, snap);
  }
  Status RemoveSnapshot(const std::string& snap) override { return v2r::RemoveSnapshot(*image_, snap); }
  Result<std::vector<std::string>> SnapshotNames() override { return v2r::SnapshotNames(*image_); }
  Result<std::vector<Extent>> ChangedSince(const std::string& snap) override {
    return v2r::ChangedSince(*image_, snap);
  }
  Result<uint64_t> ChangedBytesSince(const std::string& snap) override {
    return v2r::ChangedBytesSince(*image_, snap);
  }
  Result<std::vector<std::string>> Watchers() override { return v2r::Watchers(*image_); }
  Status SetMeta(const std::string& key, const std::string& value) override {
    return v2r::SetMeta(*image_, key, value);
  }
  Result<std::optional<std::string>> GetMeta(const std::string& key) override { return v2r::GetMeta(*image_, key); }
  Status Sparsify(size_t sparse_size) override { return v2r::Sparsify(*image_, sparse_size); }
  Result<int> BreakLocks() override { return v2r::BreakLocks(*image_); }

 private:
  std::unique_ptr<RbdImage> image_;
  RbdSource source_;  // both refer to *image_
  RbdSink sink_;
};

Result<std::unique_ptr<Image>> Wrapped(Result<std::unique_ptr<RbdImage>> image, bool exact_extents = false) {
  if (!image.ok()) return image.status();
  return std::unique_ptr<Image>(new RbdImageApi(std::move(*image), exact_extents));
}

class PoolFullTryScope : public FullTryScope {
 public:
  explicit PoolFullTryScope(IoCtx& io) : scope_(io) {}

 private:
  PoolFullTry scope_;
};

class RadosPool : public Pool {
 public:
  explicit RadosPool(IoCtx io) : io_(std::move(io)) {}

  const std::string& name() const override { return io_.pool(); }
  Status CheckRbd() override { return CheckRbdPool(io_); }
  Result<bool> ImageExists(const std::string& image) override { return v2r::ImageExists(io_, image); }
  Result<bool> ImageListed(const std::string& image) override { return ImageNameListed(io_, image); }
  Status CreateImage(const std::string& image, uint64_t size) override {
    return v2r::CreateImage(io_, image, size);
  }
  Status RemoveImage(const std::string& image) override { return v2r::RemoveImage(io_, image); }
  Result<std::unique_ptr<Image>> OpenImage(const std::string& image, bool read_only) override {
    return Wrapped(RbdImage::Open(io_, image, read_only));
  }
  Result<std::unique_ptr<Image>> OpenAtSnapshot(const std::string& image, const std::string& snap) override {
    return Wrapped(v2r::OpenAtSnapshot(io_, image, snap));
  }
  Result<std::unique_ptr<Image>> OpenSourceAtSnapshot(const std::string& image, const std::string& snap) override {
    return Wrapped(v2r::OpenAtSnapshot(io_, image, snap), /*exact_extents=*/true);
  }
  std::unique_ptr<FullTryScope> FullTry() override { return std::make_unique<PoolFullTryScope>(io_); }

 private:
  IoCtx io_;
};

class RadosClusterApi : public Cluster {
 public:
  explicit RadosClusterApi(std::unique_ptr<RadosCluster> c) : c_(std::move(c)) {}

  Result<std::vector<MonAddress>> MonitorAddresses() override { return v2r::MonitorAddresses(*c_); }
  Result<PoolSpace> GetPoolSpace(const std::string& pool) override { return v2r::GetPoolSpace(*c_, pool); }
  Result<std::optional<CephUser>> GetUser(const std::string& entity) override { return v2r::GetUser(*c_, entity); }
  Result<SecretBytes> KeyBytes(const std::string& entity) override { return GetKeyBytes(*c_, entity); }
  Status CreateUser(const std::string& entity, const std::map<std::string, std::string>& caps) override {
    return v2r::CreateUser(*c_, entity, caps);
  }
  Status SetCaps(const std::string& entity, const std::map<std::string, std::string>& caps) override {
    return v2r::SetCaps(*c_, entity, caps);
  }
  Status DeleteUser(const std::string& entity) override { return v2r::DeleteUser(*c_, entity); }
  Result<std::unique_ptr<Pool>> OpenPool(const std::string& pool) override {
    auto io = c_->OpenPool(pool);
    if (!io.ok()) return io.status();
    return std::unique_ptr<Pool>(new RadosPool(std::move(*io)));
  }

 private:
  std::unique_ptr<RadosCluster> c_;
};

}  // namespace

ClusterOpener RadosOpener() {
  return [](const CephOptions& resolved, const CephConfOverrides& overrides) -> Result<std::unique_ptr<Cluster>> {
    auto c = RadosCluster::Connect(resolved, overrides);
    if (!c.ok()) return c.status();
    return std::unique_ptr<Cluster>(new RadosClusterApi(std::move(*c)));
  };
}

}  // namespace v2r
