// OpenJournalledSource (migrate/steps.h), the one way an offline copy and the
// live verification after the pivot open a disk's source: an image file
// through a real read-only qemu-nbd export (real qemu-img images, no root, no
// lab), journalled before and after it starts and when it stops; an export a
// killed run left is stopped first; a raw file is read directly with nothing
// journalled; a layer written since changes the fingerprint.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "fake_run.h"
#include "migrate/disk_source.h"
#include "migrate/records.h"
#include "migrate/steps.h"

namespace v2r::fake {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/v2r-jsrc-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

void Sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  ASSERT_EQ(rc, 0) << cmd;
}

std::string ReadWholeFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// vm1's one disk vda as a qcow2 over a raw backing file, 4 MiB.
Plan ImagePlan(FakeLibvirt& virt, const Dir& d) {
  Sh("qemu-img create -q -f raw " + d / "base.raw" + " 4M");
  Sh("qemu-io -f raw -c 'write -P 0x11 0 64k' -c 'write -P 0x22 3M 64k' " + d / "base.raw");
  Sh("qemu-img create -q -f qcow2 -b " + d / "base.raw" + " -F raw " + d / "top.qcow2");
  Sh("qemu-io -f qcow2 -c 'write -P 0x33 1M 128k' " + d / "top.qcow2");
  Sh("qemu-img convert -f qcow2 -O raw " + d / "top.qcow2" + " " + d / "ref.raw");
  FakeDomain dom = virt.Get("vm1");
  Plan p;
  p.domain = dom.name;
  p.uuid = dom.uuid;
  p.pool = "rbd";
  p.old_xml = dom.xml;
  DiskPlan disk;
  disk.disk.target = "vda";
  disk.disk.type = "file";
  disk.disk.device = "disk";
  disk.disk.driver_type = "qcow2";
  disk.disk.source = d / "top.qcow2";
  disk.decision = DiskDecision::kMove;
  disk.image = "vm1-vda";
  disk.size = 4 * kMiB;
  disk.read_path = "qemu-nbd (qcow2 <- raw)";
  p.disks.push_back(disk);
  p.user_entity = "client.libvirt";
  return p;
}

std::string ReadAll(Source& s) {
  std::string out(s.size(), '\0');
  Status st = s.Read(0, out.data(), out.size());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  if (line.empty()) return false;
  size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

class JournalledSource : public ::testing::Test {
 protected:
  FakeRun f;
  std::string uuid = f.virt.AddDomain("vm1");
  Dir d;
  Plan plan = ImagePlan(f.virt, d);
  std::unique_ptr<Runner> r = f.Open("vm1");
  void SetUp() override {
    ASSERT_TRUE(r);
    MigrateOptions o;
    o.domain = "vm1";
    o.pool = "rbd";
    Status st = r->Log(BeginRecord(*r, plan, o, /*live=*/true));
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::vector<std::string> Types() {
    std::vector<std::string> out;
    auto lines = ReadWholeFile(r->dir->JournalPath(plan.uuid));
    std::istringstream in(lines);
    for (std::string l; std::getline(in, l);) {
      if (l.size() <= 9) continue;
      auto j = nlohmann::json::parse(l.substr(9), nullptr, false);  // after "<xxh32> "
      if (j.is_object() && j.contains("event")) out.push_back(j["event"].get<std::string>());
    }
    return out;
  }
};

TEST_F(JournalledSource, AnImageFileIsReadThroughAnExportJournalledStartedAndStopped) {
  auto o = OpenJournalledSource(*r, plan.uuid, plan.disks[0].disk, plan.disks[0].read_path, nullptr, 2);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_GT(o->export_pid, 0u);
  pid_t pid = static_cast<pid_t>(o->export_pid);
  MigrationState ms = r->State();
  ASSERT_NE(ms.Disk("vda"), nullptr);
  EXPECT_EQ(ms.Disk("vda")->export_pid, static_cast<int64_t>(pid));
  EXPECT_EQ(ms.Disk("vda")->export_socket, ExportSocketPath(r->dir->DomainDir(plan.uuid), "vda"));
  EXPECT_EQ(o->source->size(), 4 * kMiB);
  EXPECT_TRUE(ReadAll(*o->source) == ReadWholeFile(d / "ref.raw")) << "the guest view of the chain";
  ASSERT_TRUE(CloseJournalledSource(*r, "vda", &o->source, true).ok());
  EXPECT_FALSE(Alive(pid)) << "the export outlived its source";
  EXPECT_TRUE(r->State().Disk("vda")->export_socket.empty());
  std::vector<std::string> t = Types();
  std::vector<std::string> exports;
  for (const std::string& s : t)
    if (s.rfind("export-", 0) == 0) exports.push_back(s);
  EXPECT_EQ(exports, (std::vector<std::string>{"export-start", "export-started", "export-stopped"}));
}

// A run killed while its export ran: the rerun stops that qemu-nbd (its pid
// and socket from the journal) before it starts its own.
TEST_F(JournalledSource, AKilledRunsExportIsStoppedBeforeTheNextStarts) {
  const std::string sock = ExportSocketPath(r->dir->DomainDir(plan.uuid), "vda");
  const std::string pidfile = d / "stale.pid";
  Sh("qemu-nbd --fork --read-only --persistent --pid-file " + pidfile + " --socket " + sock + " -f qcow2 " +
     d / "top.qcow2");
  pid_t stale = static_cast<pid_t>(std::stol(ReadWholeFile(pidfile)));
  ASSERT_TRUE(Alive(stale));
  ASSERT_TRUE(r->Log(rec::ExportStart("vda", sock, plan.disks[0].read_path)).ok());
  ASSERT_TRUE(r->Log(rec::ExportStarted("vda", stale)).ok());
  MigrationState ms = r->State();
  auto o = OpenJournalledSource(*r, plan.uuid, plan.disks[0].disk, plan.disks[0].read_path, ms.Disk("vda"), 2);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(Alive(stale)) << "the killed run's qemu-nbd still runs";
  EXPECT_NE(static_cast<pid_t>(o->export_pid), stale);
  EXPECT_TRUE(ReadAll(*o->source) == ReadWholeFile(d / "ref.raw"));
  ASSERT_TRUE(CloseJournalledSource(*r, "vda", &o->source, true).ok());
  std::vector<std::string> exports;
  for (const std::string& s : Types())
    if (s.rfind("export-", 0) == 0) exports.push_back(s);
  EXPECT_EQ(exports, (std::vector<std::string>{"export-start", "export-started", "export-stopped", "export-start",
                                               "export-started", "export-stopped"}));
}

// The fingerprint the live verification compares after reading: a write to
// the backing layer (not only the active one) changes it.
TEST_F(JournalledSource, ALayerWrittenSinceChangesTheFingerprint) {
  auto o = OpenJournalledSource(*r, plan.uuid, plan.disks[0].disk, plan.disks[0].read_path, nullptr, 1);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  std::string fp = o->fingerprint;
  ASSERT_TRUE(CloseJournalledSource(*r, "vda", &o->source, true).ok());
  auto same = DiskFingerprint(plan.disks[0].disk);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(*same, fp) << "reading through a read-only export changed the fingerprint";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Sh("qemu-io -f raw -c 'write -P 0x55 2M 4k' " + d / "base.raw");
  auto after = DiskFingerprint(plan.disks[0].disk);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(*after, fp);
}

// A raw file: read directly, nothing journalled.
TEST_F(JournalledSource, ARawFileIsReadDirectlyWithoutAnExport) {
  DiskPlan raw = plan.disks[0];
  raw.disk.driver_type = "raw";
  raw.disk.source = d / "ref.raw";
  raw.read_path = "direct";
  auto o = OpenJournalledSource(*r, plan.uuid, raw.disk, raw.read_path, nullptr, 2);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->export_pid, 0u);
  ASSERT_TRUE(CloseJournalledSource(*r, "vda", &o->source, false).ok());
  for (const std::string& s : Types()) EXPECT_NE(s.rfind("export-", 0), 0u) << s;
}

}  // namespace
}  // namespace v2r::fake
