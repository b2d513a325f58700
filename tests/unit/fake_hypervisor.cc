#include "fake_hypervisor.h"
#include "fake_hypervisor_world.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "virt/domain_xml.h"
#include "virt/libvirt.h"  // DomainXmlUsesSecret

namespace v2r::fake {

namespace {

using World = FakeLibvirt::World;

class FakeDomainHandle : public Domain {
 public:
  FakeDomainHandle(std::shared_ptr<World> w, int gen, const FakeDomain& d)
      : w_(std::move(w)), gen_(gen), name_(d.name), uuid_(d.uuid), uri_(w_->uri) {}

  const std::string& name() const override { return name_; }
  const std::string& uuid() const override { return uuid_; }
  const std::string& uri() const override { return uri_; }

  Result<DomainState> State() override {
    return Query<DomainState>("State", "reading the state", [](FakeDomain& d) { return d.state; });
  }
  Result<bool> IsPersistent() override {
    return Query<bool>("IsPersistent", "reading persistence", [](FakeDomain& d) { return d.persistent; });
  }
  Result<bool> HasManagedSave() override {
    return Query<bool>("HasManagedSave", "reading the managed save", [](FakeDomain& d) { return d.managed_save; });
  }
  Result<std::vector<std::string>> SnapshotNames() override {
    return Query<std::vector<std::string>>("SnapshotNames", "listing the snapshots",
                                           [](FakeDomain& d) { return d.snapshots; });
  }
  Result<std::vector<std::string>> CheckpointNames() override {
    return Query<std::vector<std::string>>("CheckpointNames", "listing the checkpoints",
                                           [](FakeDomain& d) { return d.checkpoints; });
  }
  Result<int> Id() override {
    return Query<int>("Id", "reading the id",
                      [](FakeDomain& d) { return d.state == DomainState::kShutoff ? -1 : 1; });
  }
  Result<std::string> XmlDesc(unsigned flags) override {
    return Query<std::string>("XmlDesc", "reading the XML", [flags](FakeDomain& d) {
      bool live = (flags & kXmlInactive) == 0 && d.state != DomainState::kShutoff;
      return live ? d.live_xml : d.xml;
    });
  }

  Status Start() override {
    return Lifecycle("Start", "starting", DomainState::kShutoff, true, "domain is already running",
                     DomainState::kRunning);
  }
  Status Shutdown() override {
    return Lifecycle("Shutdown", "asking to shut down", DomainState::kShutoff, false, "domain is not running",
                     DomainState::kShutoff);
  }
  Status Destroy() override {
    return Lifecycle("Destroy", "powering off", DomainState::kShutoff, false, "domain is not running",
                     DomainState::kShutoff);
  }
  Status Suspend() override {
    return Lifecycle("Suspend", "pausing", DomainState::kRunning, true, "domain is not running",
                     DomainState::kPaused);
  }
  Status Resume() override {
    return Lifecycle("Resume", "resuming", DomainState::kPaused, true, "domain is not paused",
                     DomainState::kRunning);
  }
  Result<bool> Autostart() override {
    return Query<bool>("Autostart", "reading the autostart flag", [](FakeDomain& d) { return d.autostart; });
  }
  Status SetAutostart(bool on) override {
    return Change("SetAutostart", "setting autostart", [on](World&, FakeDomain& d) {
      d.autostart = on;
      return Status::Ok();
    });
  }

  // Block jobs: fake_block_jobs.cc.
  Status BlockCopy(const std::string& disk, const std::string& dest_xml, const BlockCopyParams& p) override {
    return Change("BlockCopy", "starting a block copy of disk " + disk + " of",
                  [&](World& w, FakeDomain& d) { return FakeBlockCopy(w, d, disk, dest_xml, p); });
  }
  Result<std::optional<BlockJobStatus>> BlockJob(const std::string& disk) override {
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(w_->mu);
      hook = w_->poll_hook;
    }
    if (hook) hook(name_, disk);  // e.g. the guest writes while the copy runs
    std::lock_guard<std::mutex> lock(w_->mu);
    std::string context = fmt::format("reading the block job of disk {} of domain '{}'", disk, name_);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "BlockJob", Kind::kRefused, context));
    FakeDomain* d = w_->Find(uuid_);
    if (!d) return NotFound(Kind::kRefused, context);
    auto job = FakeBlockJobInfo(*w_, *d, disk);
    if (!job.ok()) return job.status().Wrap(fmt::format("{} at {}", context, uri_));
    return job;
  }
  Status BlockJobAbort(const std::string& disk, bool pivot) override {
    return Change("BlockJobAbort", std::string(pivot ? "pivoting" : "cancelling") + " the block job of disk " + disk +
                                       " of",
                  [&](World& w, FakeDomain& d) { return FakeBlockJobAbort(w, d, disk, pivot); });
  }
  Status BlockJobSetSpeed(const std::string& disk, uint64_t bandwidth) override {
    return Change("BlockJobSetSpeed", "setting the bandwidth of the block job of disk " + disk + " of",
                  [&](World& w, FakeDomain& d) { return FakeBlockJobSetSpeed(w, d, disk, bandwidth); });
  }

 private:
  template <typename T, typename F>
  Result<T> Query(const std::string& op, const std::string& what, F read) {
    std::lock_guard<std::mutex> lock(w_->mu);
    std::string context = fmt::format("{} of domain '{}'", what, name_);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, op, Kind::kRefused, context));
    FakeDomain* d = w_->Find(uuid_);
    if (!d) return NotFound(Kind::kRefused, context);
    return read(*d);
  }
  template <typename F>
  Status Change(const std::string& op, const std::string& what, F change) {
    std::lock_guard<std::mutex> lock(w_->mu);
    std::string context = fmt::format("{} domain '{}'", what, name_);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, op, Kind::kFailed, context));
    FakeDomain* d = w_->Find(uuid_);
    if (!d) return NotFound(Kind::kFailed, context);
    Status st = change(*w_, *d);
    return st.ok() ? st : st.Wrap(fmt::format("{} at {}", context, uri_));
  }
  // A change of state, valid only when the domain is (is_from) or is not
  // (!is_from) in state `from`; a shutdown the guest ignores changes nothing.
  Status Lifecycle(const std::string& op, const std::string& what, DomainState from, bool is_from,
                   const char* invalid, DomainState to) {
    return Change(op, what, [&](World& w, FakeDomain& d) {
      if ((d.state == from) != is_from)
        return Status::Failed(std::string("Requested operation is not valid: ") + invalid);
      if (op != "Shutdown" || !d.ignores_shutdown) w.Transition(d, to);
      return Status::Ok();
    });
  }
  // The domain vanished (undefined by someone else).
  Status NotFound(Kind kind, const std::string& context) const {
    std::string msg = fmt::format("{} at {}: domain not found", context, uri_);
    return (kind == Kind::kFailed ? Status::Failed(msg) : Status::Refused(msg)).WithCause(Cause::kNotFound);
  }
  std::shared_ptr<World> w_;
  int gen_;
  std::string name_, uuid_, uri_;
};

class FakeWatch : public DomainWatch {
 public:
  FakeWatch(std::shared_ptr<World> w, int gen, std::unique_ptr<Domain> domain, std::shared_ptr<Watcher> watcher)
      : w_(std::move(w)), gen_(gen), domain_(std::move(domain)), watcher_(std::move(watcher)) {}
  std::vector<std::string> RunEvents() const override {
    std::lock_guard<std::mutex> lock(w_->mu);
    return watcher_->ran;
  }
  Result<DomainState> State() override { return domain_->State(); }
  bool Alive() const override {
    std::lock_guard<std::mutex> lock(w_->mu);
    return !w_->down && gen_ == w_->generation;
  }

 private:
  std::shared_ptr<World> w_;
  int gen_;
  std::unique_ptr<Domain> domain_;
  std::shared_ptr<Watcher> watcher_;
};

class FakeConnection : public Hypervisor {
 public:
  FakeConnection(std::shared_ptr<World> w, int gen) : w_(std::move(w)), gen_(gen), uri_(w_->uri) {}

  const std::string& uri() const override { return uri_; }
  bool IsAlive() const override {
    std::lock_guard<std::mutex> lock(w_->mu);
    return !w_->down && gen_ == w_->generation;
  }

  Result<std::unique_ptr<Domain>> LookupDomain(const std::string& name_or_uuid) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "LookupDomain", Kind::kRefused, "looking up domain '" + name_or_uuid + "'"));
    FakeDomain* d = w_->Find(name_or_uuid);
    if (!d)
      return Status::Refused(fmt::format("domain '{}' not found at {}", name_or_uuid, uri_))
          .WithCause(Cause::kNotFound);
    return std::unique_ptr<Domain>(new FakeDomainHandle(w_, gen_, *d));
  }

  Result<std::vector<std::string>> DomainNames() override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "DomainNames", Kind::kRefused, "listing the domains"));
    std::vector<std::string> names;
    for (const auto& [uuid, d] : w_->domains) names.push_back(d.name);
    return names;
  }

  Result<std::unique_ptr<Domain>> DefineXml(const std::string& xml) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "DefineXml", Kind::kFailed, "defining a domain"));
    auto info = ParseDomainXml(xml);
    if (!info.ok()) return info.status().Wrap("defining a domain at " + uri_).As(Kind::kFailed);
    FakeDomain* d = w_->Find(info->uuid.empty() ? info->name : info->uuid);
    if (d && d->name != info->name)
      return Status::Failed(fmt::format("defining a domain at {}: uuid {} is domain '{}'", uri_, d->uuid, d->name));
    if (!d) {
      FakeDomain fresh;
      fresh.name = info->name;
      fresh.uuid = info->uuid.empty() ? w_->NewUuid() : info->uuid;
      d = &(w_->domains[fresh.uuid] = fresh);
    } else {
      ++d->defines;
    }
    d->xml = xml;
    return std::unique_ptr<Domain>(new FakeDomainHandle(w_, gen_, *d));
  }

  Result<VolumeInfo> ResolveVolume(const std::string& pool, const std::string& volume) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "ResolveVolume", Kind::kRefused, "looking up volume " + pool + "/" + volume));
    auto p = w_->pools.find(pool);
    if (p == w_->pools.end())
      return Status::Refused(fmt::format("storage pool '{}' not found at {}", pool, uri_),
                             fmt::format("virsh -c {} pool-list --all lists the pools", uri_))
          .WithCause(Cause::kNotFound);
    VolumeInfo info;
    info.pool = pool;
    info.volume = volume;
    info.pool_type = p->second.type;
    if (!p->second.active) return info;
    auto v = p->second.volumes.find(volume);
    if (v == p->second.volumes.end())
      return Status::Refused(fmt::format("volume '{}' not found in storage pool '{}' at {}", volume, pool, uri_),
                             fmt::format("virsh -c {} vol-list {} lists its volumes", uri_, pool))
          .WithCause(Cause::kNotFound);
    info = v->second;
    info.pool = pool;
    info.pool_type = p->second.type;
    info.pool_active = true;
    return info;
  }

  Result<std::optional<std::string>> FindCephSecret(const std::string& usage_name) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "FindCephSecret", Kind::kRefused, "looking up secret " + usage_name));
    for (const FakeSecret& s : w_->secrets)
      if (s.usage == usage_name) return std::optional<std::string>(s.uuid);
    return std::optional<std::string>();
  }

  Result<std::string> DefineCephSecret(const std::string& usage_name, const std::string& description) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "DefineCephSecret", Kind::kFailed, "defining secret " + usage_name));
    for (const FakeSecret& s : w_->secrets)
      if (s.usage == usage_name)
        return Status::Failed(fmt::format("defining secret {} at {}: usage already in use by {}", usage_name, uri_,
                                          s.uuid));
    w_->secrets.push_back({w_->NewUuid(), usage_name, description, std::nullopt, 0});
    return w_->secrets.back().uuid;
  }

  Status SetSecretValue(const std::string& uuid, const std::string& raw_bytes) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "SetSecretValue", Kind::kFailed, "setting the value of secret " + uuid));
    for (FakeSecret& s : w_->secrets) {
      if (s.uuid != uuid) continue;
      s.value = raw_bytes;
      ++s.value_sets;
      return Status::Ok();
    }
    return Status::Failed(fmt::format("setting the value of secret {} at {}: no such secret", uuid, uri_));
  }

  Result<std::string> GetSecretValue(const std::string& uuid, const std::string& ceph_usage) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "GetSecretValue", Kind::kRefused, "reading secret " + uuid + ceph_usage));
    for (const FakeSecret& s : w_->secrets) {
      if (uuid.empty() ? s.usage != ceph_usage : s.uuid != uuid) continue;
      if (!s.value) return Status::Refused(fmt::format("secret {}{} at {} has no value", uuid, ceph_usage, uri_));
      return *s.value;
    }
    return Status::Refused(fmt::format("libvirt secret {}{} not found at {}", uuid, ceph_usage, uri_));
  }

  Status UndefineSecret(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "UndefineSecret", Kind::kFailed, "removing secret " + uuid));
    for (auto it = w_->secrets.begin(); it != w_->secrets.end(); ++it) {
      if (it->uuid != uuid) continue;
      w_->secrets.erase(it);
      return Status::Ok();
    }
    return Status::Refused(fmt::format("removing secret {} at {}: no such secret", uuid, uri_));
  }

  Result<std::vector<std::string>> DomainsUsingSecret(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "DomainsUsingSecret", Kind::kRefused, "listing the users of secret " + uuid));
    std::string usage;
    for (const FakeSecret& s : w_->secrets)
      if (s.uuid == uuid) usage = s.usage;
    std::vector<std::string> users;
    for (const auto& [id, d] : w_->domains) {
      bool running = d.state != DomainState::kShutoff;
      if (DomainXmlUsesSecret(d.xml, uuid, usage) || (running && DomainXmlUsesSecret(d.live_xml, uuid, usage)))
        users.push_back(d.name);
    }
    return users;
  }

  Result<std::unique_ptr<DomainWatch>> WatchLifecycle(const std::string& uuid) override {
    auto dom = LookupDomain(uuid);
    if (!dom.ok()) return dom.status();
    std::lock_guard<std::mutex> lock(w_->mu);
    V2R_RETURN_IF_ERROR(w_->Gate(gen_, "WatchLifecycle", Kind::kRefused, "watching domain " + uuid));
    auto watcher = std::make_shared<Watcher>();
    watcher->uuid = (*dom)->uuid();
    w_->watchers.push_back(watcher);
    return std::unique_ptr<DomainWatch>(new FakeWatch(w_, gen_, std::move(*dom), watcher));
  }

 private:
  std::shared_ptr<World> w_;
  int gen_;
  std::string uri_;
};

}  // namespace

FakeLibvirt::FakeLibvirt(std::string uri) : uri_(uri), w_(std::make_shared<World>()) { w_->uri = std::move(uri); }

FakeLibvirt::~FakeLibvirt() = default;

HypervisorOpener FakeLibvirt::Opener() const {
  return [w = w_](const std::string&) -> Result<std::unique_ptr<Hypervisor>> {
    std::lock_guard<std::mutex> lock(w->mu);
    ++w->calls["Open"];
    if (w->down)
      return Status::Refused(fmt::format("cannot connect to libvirt at {}: Failed to connect socket: No such file or "
                                         "directory", w->uri))
          .WithCause(Cause::kConnectionLost);
    return std::unique_ptr<Hypervisor>(new FakeConnection(w, w->generation));
  };
}

std::string FakeLibvirt::DomainXml(const std::string& name, const std::string& uuid, const std::string& disk_path) {
  return fmt::format(
      "<domain type='kvm'><name>{}</name><uuid>{}</uuid><memory>1024</memory><os><type>hvm</type></os>"
      "<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>"
      "<target dev='vda' bus='virtio'/></disk></devices></domain>",
      name, uuid, disk_path);
}

std::string FakeLibvirt::AddDomain(const std::string& name, DomainState state, const std::string& disk_path) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeDomain d;
  d.name = name;
  d.uuid = w_->NewUuid();
  d.xml = d.live_xml = DomainXml(name, d.uuid, disk_path);
  d.state = state;
  w_->domains[d.uuid] = d;
  return d.uuid;
}

FakeDomain FakeLibvirt::Get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeDomain* d = w_->Find(name);
  EXPECT_NE(d, nullptr) << "no fake domain " << name;
  return d ? *d : FakeDomain();
}

void FakeLibvirt::Update(const std::string& name, const std::function<void(FakeDomain&)>& change) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeDomain* d = w_->Find(name);
  ASSERT_NE(d, nullptr) << "no fake domain " << name;
  change(*d);
}

void FakeLibvirt::SetState(const std::string& name, DomainState to) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeDomain* d = w_->Find(name);
  ASSERT_NE(d, nullptr) << "no fake domain " << name;
  w_->Transition(*d, to);
}

void FakeLibvirt::AddPool(const std::string& name, const std::string& type, bool active) {
  std::lock_guard<std::mutex> lock(w_->mu);
  FakeStoragePool& p = w_->pools[name];
  p.type = type;
  p.active = active;
}

void FakeLibvirt::AddVolume(const VolumeInfo& vol) {
  std::lock_guard<std::mutex> lock(w_->mu);
  auto p = w_->pools.find(vol.pool);
  if (p == w_->pools.end()) {
    ADD_FAILURE() << "AddVolume: no pool " << vol.pool;
    return;
  }
  p->second.volumes[vol.volume] = vol;
}

void FakeLibvirt::SetPoolActive(const std::string& name, bool active) {
  std::lock_guard<std::mutex> lock(w_->mu);
  auto p = w_->pools.find(name);
  if (p == w_->pools.end()) {
    ADD_FAILURE() << "SetPoolActive: no pool " << name;
    return;
  }
  p->second.active = active;
}

std::vector<FakeSecret> FakeLibvirt::Secrets() const {
  std::lock_guard<std::mutex> lock(w_->mu);
  return w_->secrets;
}

void FakeLibvirt::OnCallAddSecret(const std::string& op, const std::string& usage) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->call_hook = [op, usage, done = false](World& w, const std::string& called) mutable {
    if (done || called != op) return;
    done = true;
    w.secrets.push_back({w.NewUuid(), usage, "another run's", std::nullopt, 0});
  };
}

std::string FakeLibvirt::AddSecret(const std::string& usage, std::optional<std::string> value) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->secrets.push_back({w_->NewUuid(), usage, "the operator's", std::move(value), 0});
  return w_->secrets.back().uuid;
}

void FakeLibvirt::FailCall(const std::string& op, int nth, Status st) {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->failures.push_back({op, w_->calls[op] + nth, std::move(st)});
}

int FakeLibvirt::Calls(const std::string& op) const {
  std::lock_guard<std::mutex> lock(w_->mu);
  auto it = w_->calls.find(op);
  return it == w_->calls.end() ? 0 : it->second;
}

void FakeLibvirt::Kill() {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->down = true;
  ++w_->generation;
}

void FakeLibvirt::Revive() {
  std::lock_guard<std::mutex> lock(w_->mu);
  w_->down = false;
}

}  // namespace v2r::fake
