#include "migrate/rbd_source.h"

#include <fmt/format.h>

#include "base/json_field.h"

namespace v2r {

RbdSourceRef RbdSourceRefOf(const DiskInfo& disk) {
  RbdSourceRef r;
  size_t slash = disk.source.find('/');
  r.pool = slash == std::string::npos ? std::string("rbd") : disk.source.substr(0, slash);
  r.image = slash == std::string::npos ? disk.source : disk.source.substr(slash + 1);
  r.hosts = disk.hosts;
  r.user = disk.auth_username;
  r.secret_uuid = disk.auth_secret_uuid;
  r.secret_usage = disk.auth_secret_usage;
  return r;
}

RbdSourceRef RbdSourceRefFrom(const nlohmann::json& rec) {
  DiskInfo d;
  d.source = JsonField<std::string>(rec, "image", "");
  if (rec.contains("hosts") && rec["hosts"].is_array())
    for (const auto& h : rec["hosts"]) {
      if (!h.is_string()) continue;
      std::string s = h.get<std::string>();
      size_t colon = s.rfind(':');
      int port = 0;
      if (colon != std::string::npos && s.find(']') == std::string::npos && s.find(':') == colon) {
        port = std::atoi(s.c_str() + colon + 1);
        s = s.substr(0, colon);
      } else if (s.starts_with('[')) {
        size_t rb = s.find(']');
        if (rb + 1 < s.size() && s[rb + 1] == ':') port = std::atoi(s.c_str() + rb + 2);
        s = s.substr(1, rb - 1);
      }
      d.hosts.emplace_back(s, port);
    }
  d.auth_username = JsonField<std::string>(rec, "user", "");
  d.auth_secret_uuid = JsonField<std::string>(rec, "secret_uuid", "");
  d.auth_secret_usage = JsonField<std::string>(rec, "secret_usage", "");
  RbdSourceRef r = RbdSourceRefOf(d);
  r.other_cluster = JsonField<bool>(rec, "other_cluster", true);
  return r;
}

std::string MonHostOption(const std::vector<std::pair<std::string, int>>& hosts) {
  std::string out;
  for (const auto& [host, port] : hosts) {
    if (!out.empty()) out += ',';
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port > 0) out += fmt::format(":{}", port);
  }
  return out;
}

RbdSourceCeph RbdSourceCephOptions(const CephOptions& op, const RbdSourceRef& ref) {
  RbdSourceCeph c;
  c.options = op;
  c.options.key_bytes.reset();
  c.overrides = kBulkIoConf;
  if (!ref.hosts.empty()) {
    // Everything qemu is told: the disk's monitors, nothing of the target's.
    c.options.conf = "/dev/null";
    c.options.extra_args.clear();
    c.options.keyring.clear();
    c.overrides.emplace_back("mon_host", MonHostOption(ref.hosts));
  }
  if (!ref.user.empty()) {
    c.options.name = "client." + ref.user;
    c.options.id.clear();
    c.options.keyring.clear();
  }
  return c;
}

Result<RbdSourceConnection> ConnectRbdSource(const ClusterOpener& opener, Hypervisor& virt, const CephOptions& op,
                                             const RbdSourceRef& ref) {
  RbdSourceCeph c = RbdSourceCephOptions(op, ref);
  const std::string who = c.options.EntityName();
  const std::string where =
      ref.hosts.empty() ? std::string("the cluster of the Ceph conf") : "monitors " + MonHostOption(ref.hosts);
  if (!ref.user.empty()) {
    if (ref.secret_uuid.empty() && ref.secret_usage.empty())
      return Status::Refused(fmt::format("RBD image {}: its <auth username='{}'> names no <secret>: its key cannot "
                                         "be read",
                                         ref.Name(), ref.user));
    auto raw = virt.GetSecretValue(ref.secret_uuid, ref.secret_usage);
    if (!raw.ok() && raw.status().cause() == Cause::kPermission && !ref.other_cluster) {
      c.options = op;  // the target cluster: read as the operator
      c.options.key_bytes.reset();
      c.overrides = kBulkIoConf;
    } else if (!raw.ok()) {
      return raw.status().Wrap(fmt::format("RBD image {}: the key of {} cannot be read", ref.Name(), who));
    } else {
      auto key = std::make_shared<SecretBytes>(raw->data(), raw->size());
      WipeString(*raw);
      c.options.key_bytes = std::move(key);
    }
  }
  auto cluster = opener(c.options, c.overrides);
  c.options.key_bytes.reset();
  if (!cluster.ok())
    return cluster.status().Wrap(
        fmt::format("RBD image {}: its cluster ({}) cannot be reached as {}", ref.Name(), where, who));
  RbdSourceConnection conn;
  conn.cluster = std::move(*cluster);
  auto pool = conn.cluster->OpenPool(ref.pool);
  if (!pool.ok()) return pool.status().Wrap(fmt::format("RBD image {} ({})", ref.Name(), where));
  conn.pool = std::move(*pool);
  return conn;
}

std::string SourceSnapshotName(const std::string& domain_uuid, int64_t unix_seconds) {
  return fmt::format("virt2rbd-source-{}-{}", domain_uuid, unix_seconds);
}
bool IsSourceSnapshotOf(const std::string& snap, const std::string& domain_uuid) {
  return snap.starts_with("virt2rbd-source-" + domain_uuid + "-");
}

namespace {

class RbdSnapshotSource : public Source {
 public:
  RbdSnapshotSource(RbdSourceConnection conn, std::unique_ptr<Image> image, std::string name)
      : conn_(std::move(conn)), image_(std::move(image)), name_(std::move(name)) {}
  ~RbdSnapshotSource() override { image_.reset(); }
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return image_->size(); }
  Result<std::vector<Extent>> Extents(uint64_t offset, uint64_t length) override {
    return image_->Extents(offset, length);
  }
  Status Read(uint64_t offset, void* buf, size_t length) override { return image_->Read(offset, buf, length); }

 private:
  RbdSourceConnection conn_;
  std::unique_ptr<Image> image_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenRbdSourceAtSnapshot(RbdSourceConnection conn, const std::string& image,
                                                        const std::string& snap) {
  auto img = conn.pool->OpenSourceAtSnapshot(image, snap);
  if (!img.ok()) return img.status();
  std::string name = fmt::format("{}/{}@{}", conn.pool->name(), image, snap);
  return std::unique_ptr<Source>(new RbdSnapshotSource(std::move(conn), std::move(*img), std::move(name)));
}

}  // namespace v2r
