// A whole world for unit tests of a mode, end to end: a FakeLibvirt, a
// FakeCluster (pool "rbd"), a domain whose disks are raw temp files (with
// data and holes), a state dir, and the RunContext that reaches them. Shared
// by the offline migrate and rollback tests (whole_mode_fake_test.cc) and the
// live ones (live_mode_fake_test.cc: the fake's block copies reach the
// cluster's images).
//
//   FakeWorld w;                      // vm1, running, disks vda and vdb
//   auto report = RunMigrate(w.Options(), w.Context());
//   EXPECT_EQ(w.Snapshot(), ...);     // the world as a comparable value
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fake_cluster.h"
#include "fake_hypervisor.h"
#include "journal/journal.h"
#include "migrate/context.h"
#include "migrate/migrate.h"
#include "migrate/record.h"
#include "migrate/state_dir.h"

namespace v2r::fake {

// Everything a test compares between two runs: the domain, the libvirt
// secrets, the cephx users, the pool's images, the source files' bytes.
struct WorldState {
  std::string xml;
  DomainState state = DomainState::kShutoff;
  bool autostart = false;
  std::map<std::string, std::string> secrets;  // usage -> value ("" if none)
  std::map<std::string, std::map<std::string, std::string>> users;  // entity -> caps
  std::map<std::string, std::string> user_keys;
  std::map<std::string, std::string> images;  // name -> bytes as read
  std::map<std::string, std::vector<std::string>> snapshots;
  std::map<std::string, std::string> image_state;  // virt2rbd.state metadata
  std::map<std::string, std::string> sources;      // file name (the dir differs by world) -> bytes
  bool operator==(const WorldState&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const WorldState& s) {
  os << "{state " << static_cast<int>(s.state) << ", autostart " << s.autostart << ", xml " << s.xml.size()
     << " bytes, secrets";
  for (const auto& [u, v] : s.secrets) os << " [" << u << "=" << v << "]";
  os << ", users";
  for (const auto& [e, caps] : s.users) os << " " << e << "(" << caps.size() << " caps)";
  os << ", images";
  for (const auto& [n, b] : s.images) os << " " << n << "(" << b.size() << " bytes)";
  for (const auto& [n, st] : s.image_state) os << " " << n << ":" << st;
  return os << "}";
}

inline std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FakeWorld {
 public:
  static constexpr uint64_t kDiskSize = 8 << 20;
  // The domain `name` in `state` with disks vda and vdb (raw files of
  // kDiskSize: data at the start and in the middle, holes elsewhere).
  explicit FakeWorld(const std::string& name = "vm1", DomainState state = DomainState::kRunning) : name_(name) {
    char tmpl[] = "/tmp/v2r-fake-world.XXXXXX";
    const char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    dir_ = made ? made : "/tmp";
    state_dir = dir_ + "/state";
    for (const char* t : {"vda", "vdb"}) {
      std::string path = fmt::format("{}/{}-{}.img", dir_, name, t);
      WriteDisk(path, t[2]);
      disks.push_back(path);
    }
    uuid = virt.AddDomain(name, state, disks[0]);
    std::string xml = DomainXml(name, uuid, dir_);
    virt.Update(name, [&](FakeDomain& d) { d.xml = d.live_xml = xml; });
    ceph.AddPool("rbd");
    virt.UseCluster(&ceph);
    ceph.SetWatchersHook([this](const std::string& pool, const std::string& image) {
      // qemu holds the image open while the domain runs on it.
      FakeDomain d = virt.Get(name_);
      bool on = d.state != DomainState::kShutoff &&
                d.live_xml.find(fmt::format("name='{}/{}'", pool, image)) != std::string::npos;
      return on ? std::vector<std::string>{"10.0.0.9:0/qemu"} : std::vector<std::string>{};
    });
  }
  ~FakeWorld() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FakeWorld(const FakeWorld&) = delete;
  FakeWorld& operator=(const FakeWorld&) = delete;

  // A domain with two raw file disks, vda and vdb, in `dir`.
  static std::string DomainXml(const std::string& name, const std::string& uuid, const std::string& dir) {
    std::string disks;
    for (const char* t : {"vda", "vdb"})
      disks += fmt::format("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}/{}-{}.img'/>"
                           "<target dev='{}' bus='virtio'/></disk>", dir, name, t, t);
    return fmt::format("<domain type='kvm'><name>{}</name><uuid>{}</uuid><memory>1024</memory><os><type>hvm</type>"
                       "</os><devices>{}</devices></domain>", name, uuid, disks);
  }

  RunContext Context(std::function<Status(const nlohmann::json&)> after_record = {}) const {
    RunContext ctx;
    ctx.open_hypervisor = virt.Opener();
    ctx.open_cluster = ceph.Opener();
    ctx.after_record = std::move(after_record);
    return ctx;
  }
  MigrateOptions Options() const {
    MigrateOptions o;
    o.domain = name_;
    o.pool = "rbd";
    o.connect = virt.uri();
    o.state_dir = state_dir;
    o.shutdown = true;
    o.shutdown_timeout_s = 5;
    o.libvirt_timeout_s = 2;
    o.durable_interval_s = 0.05;
    return o;
  }
  RollbackOptions RollbackOpts() const {
    RollbackOptions o;
    o.domain = name_;
    o.connect = virt.uri();
    o.state_dir = state_dir;
    o.shutdown = true;
    o.shutdown_timeout_s = 5;
    o.libvirt_timeout_s = 2;
    return o;
  }

  WorldState Snapshot() const {
    WorldState s;
    FakeDomain d = virt.Get(name_);
    s.xml = d.xml;
    s.state = d.state;
    s.autostart = d.autostart;
    for (const FakeSecret& sec : virt.Secrets()) s.secrets[sec.usage] = sec.value.value_or("");
    for (const auto& [entity, u] : ceph.Users()) {
      s.users[entity] = u.caps;
      s.user_keys[entity] = u.key;
    }
    for (const std::string& img : ceph.ImageNames("rbd")) {
      s.images[img] = ceph.ImageBytes("rbd", img);
      auto fi = ceph.GetImage("rbd", img);
      for (const FakeSnapshot& snap : fi->snaps) s.snapshots[img].push_back(snap.name);
      auto st = fi->meta.find("virt2rbd.state");
      s.image_state[img] = st == fi->meta.end() ? "" : st->second;
    }
    for (const std::string& p : disks) s.sources[p.substr(p.rfind('/') + 1)] = ReadWhole(p);
    return s;
  }

  // The journal of the domain, folded (empty when there is none: a run
  // refused before its first record leaves none); and its records' event names.
  MigrationState Folded() const {
    if (::access(JournalPath().c_str(), F_OK) != 0) return {};
    auto records = v2r::Journal::ReadOnly(JournalPath());
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok()) return {};
    auto ms = FoldJournal(*records);
    EXPECT_TRUE(ms.ok()) << ms.status().ToString();
    return ms.ok() ? *ms : MigrationState();
  }
  std::vector<std::string> Events() const {
    std::vector<std::string> out;
    auto records = v2r::Journal::ReadOnly(JournalPath());
    if (records.ok())
      for (const nlohmann::json& r : *records) out.push_back(r.value("event", ""));
    return out;
  }
  std::string JournalPath() const { return StateDir::DomainDirOf(state_dir, uuid) + "/journal"; }

  FakeLibvirt virt;
  FakeCluster ceph;
  std::string uuid;
  std::string state_dir;
  std::vector<std::string> disks;

 private:
  // Data in the first 1 MiB + 4 KiB and in 512 KiB at 5 MiB; holes elsewhere.
  static void WriteDisk(const std::string& path, char salt) {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT_GE(fd, 0) << path;
    std::string a((1 << 20) + 4096, '\0'), b(512 << 10, '\0');
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>('A' + (i * 7 + salt) % 26);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + (i * 3 + salt) % 26);
    ASSERT_EQ(::pwrite(fd, a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), 5 << 20), static_cast<ssize_t>(b.size()));
    ASSERT_EQ(::ftruncate(fd, kDiskSize), 0);
    ::close(fd);
  }

  std::string name_;
  std::string dir_;
};

}  // namespace v2r::fake
