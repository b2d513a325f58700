// The NBD endpoints over real qemu-nbd exports of real images made by
// qemu-img (no root, no lab): what is read equals qemu-img convert -O raw,
// holes and zero clusters come back as zero extents, the format is the one
// given (never probed), bad images fail with qemu's reason, and a writable
// export keeps a qcow2 thin.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qemu/export.h"
#include "qemu/image_info.h"
#include "qemu/nbd_endpoint.h"

namespace v2r {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/v2r-nbd-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

// (Output is discarded: read what a tool prints with RunTool.)
void Sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  ASSERT_EQ(rc, 0) << cmd;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReadAll(Source& src) {
  std::string out(src.size(), '\0');
  for (uint64_t at = 0; at < src.size(); at += 3 * kMiB) {
    uint64_t n = std::min<uint64_t>(3 * kMiB, src.size() - at);
    Status st = src.Read(at, out.data() + at, n);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return out;
}

std::unique_ptr<NbdExport> Export(const Dir& d, const std::string& opts, bool writable = false) {
  ExportSpec spec;
  spec.image_opts = opts;
  spec.socket_path = d / "disk.sock";
  spec.writable = writable;
  auto e = NbdExport::Start(spec);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

std::unique_ptr<NbdSource> Connect(const NbdExport& e) {
  auto c = NbdConnections::Open(e.socket_path(), "vda", 3, true);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::make_unique<NbdSource>(std::move(*c)) : nullptr;
}

// base (data at 1 MiB, a zero cluster at 3 MiB) <- mid (data at 5 MiB) <- top (data at 2 MiB).
void MakeChain(const Dir& d) {
  Sh("qemu-img create -q -f qcow2 " + d / "base.qcow2" + " 8M");
  Sh("qemu-io -f qcow2 -c 'write -P 0x11 1M 256k' -c 'write -P 0x22 3M 64k' -c 'write -z 3M 64k' " +
     d / "base.qcow2");
  Sh("qemu-img create -q -f qcow2 -b " + d / "base.qcow2" + " -F qcow2 " + d / "mid.qcow2");
  Sh("qemu-io -f qcow2 -c 'write -P 0x33 5M 128k' " + d / "mid.qcow2");
  Sh("qemu-img create -q -f qcow2 -b " + d / "mid.qcow2" + " -F qcow2 " + d / "top.qcow2");
  Sh("qemu-io -f qcow2 -c 'write -P 0x44 2M 4k' " + d / "top.qcow2");
  Sh("qemu-img convert -f qcow2 -O raw " + d / "top.qcow2" + " " + d / "ref.raw");
}

TEST(NbdTest, ImageOptsUseHostDeviceForABlockDevice) {
  EXPECT_EQ(ImageOptsForFile("/dev/vg0/a,b", "qcow2", true),
            "driver=qcow2,file.driver=host_device,file.filename=/dev/vg0/a,,b");
  EXPECT_EQ(ImageOptsForFile("/var/a.qcow2", "qcow2", false),
            "driver=qcow2,file.driver=file,file.filename=/var/a.qcow2");
  Dir d;
  MakeChain(d);
  EXPECT_EQ(ImageOptsForFile(d / "top.qcow2", "qcow2"), ImageOptsForFile(d / "top.qcow2", "qcow2", false));
}

TEST(NbdTest, ASliceExportReadsOnlyTheSlice) {
  EXPECT_EQ(ImageOptsForSlice("/dev/sdb", 4096, 1 << 20, true),
            "driver=raw,offset=4096,size=1048576,file.driver=host_device,file.filename=/dev/sdb");
  Dir d;
  Sh("dd if=/dev/urandom bs=1M count=3 of=" + d / "whole.raw");
  auto e = Export(d, ImageOptsForSlice(d / "whole.raw", 1 * kMiB + 512, 1 * kMiB, false));
  ASSERT_TRUE(e);
  auto src = Connect(*e);
  ASSERT_TRUE(src);
  EXPECT_EQ(src->size(), 1 * kMiB);
  EXPECT_EQ(ReadAll(*src), Slurp(d / "whole.raw").substr(1 * kMiB + 512, 1 * kMiB));
}

TEST(NbdTest, ChainReadsAsQemuImgConvertWithHolesAsZeroExtents) {
  Dir d;
  MakeChain(d);
  auto e = Export(d, ImageOptsForFile(d / "top.qcow2", "qcow2"));
  ASSERT_TRUE(e);
  auto src = Connect(*e);
  ASSERT_TRUE(src);
  EXPECT_EQ(src->size(), 8 * kMiB);
  EXPECT_EQ(ReadAll(*src), Slurp(d / "ref.raw"));

  auto ext = src->Extents(0, src->size());
  ASSERT_TRUE(ext.ok()) << ext.status().ToString();
  uint64_t data = 0, at = 0;
  for (const Extent& x : *ext) {
    EXPECT_EQ(x.offset, at);
    at = x.end();
    if (!x.zero) data += x.length;
  }
  EXPECT_EQ(at, 8 * kMiB);
  // Only the three written ranges are data (qcow2 clusters are 64 KiB): the
  // zero cluster at 3 MiB and the unallocated rest are zero extents.
  EXPECT_EQ(data, 256 * 1024 + 128 * 1024 + 64 * 1024);
  bool zero_at_3m = false;
  for (const Extent& x : *ext)
    if (x.offset <= 3 * kMiB && x.end() > 3 * kMiB) zero_at_3m = x.zero;
  EXPECT_TRUE(zero_at_3m);
}

TEST(NbdTest, TheGivenFormatIsUsedNeverProbed) {
  Dir d;
  MakeChain(d);
  // A raw disk whose bytes are a qcow2 image: read as the raw bytes it holds.
  auto e = Export(d, ImageOptsForFile(d / "top.qcow2", "raw"));
  ASSERT_TRUE(e);
  auto src = Connect(*e);
  ASSERT_TRUE(src);
  std::string raw = Slurp(d / "top.qcow2");
  EXPECT_EQ(src->size(), raw.size());
  EXPECT_EQ(ReadAll(*src), raw);
}

TEST(NbdTest, BadImagesFailWithQemusReason) {
  Dir d;
  MakeChain(d);
  std::filesystem::remove(d / "base.qcow2");
  ExportSpec spec;
  spec.image_opts = ImageOptsForFile(d / "top.qcow2", "qcow2");
  spec.socket_path = d / "disk.sock";
  auto e = NbdExport::Start(spec);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("base.qcow2"), std::string::npos) << e.status().message();

  Sh("dd if=/dev/urandom bs=1M count=1 of=" + d / "junk.qcow2");
  spec.image_opts = ImageOptsForFile(d / "junk.qcow2", "qcow2");
  e = NbdExport::Start(spec);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("qcow2"), std::string::npos) << e.status().message();
}

TEST(NbdTest, WritableExportKeepsQcow2Thin) {
  Dir d;
  Sh("qemu-img create -q -f qcow2 " + d / "w.qcow2" + " 8M");
  Sh("qemu-io -f qcow2 -c 'write -P 0x55 0 1M' " + d / "w.qcow2");
  {
    auto e = Export(d, ImageOptsForFile(d / "w.qcow2", "qcow2"), /*writable=*/true);
    ASSERT_TRUE(e);
    auto c = NbdConnections::Open(e->socket_path(), "vda", 2, false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto sink = NbdSink::Make(std::move(*c), 4 * kMiB);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    std::vector<char> data(512 * 1024, 0x66);
    Status w, z, f;
    (*sink)->Write(4 * kMiB, data.data(), data.size(), [&](Status st) { w = st; });
    (*sink)->WriteZeroes(0, kMiB, [&](Status st) { z = st; });
    (*sink)->Flush([&](Status st) { f = st; });
    EXPECT_TRUE(w.ok() && z.ok() && f.ok()) << w.ToString() << z.ToString() << f.ToString();
    pid_t pid = e->pid();
    EXPECT_TRUE(e->Stop().ok());
    EXPECT_NE(kill(pid, 0), 0) << "qemu-nbd still runs after Stop";
  }
  Sh("qemu-img convert -f qcow2 -O raw " + d / "w.qcow2" + " " + d / "out.raw");
  std::string out = Slurp(d / "out.raw");
  ASSERT_EQ(out.size(), 8 * kMiB);
  EXPECT_EQ(out.substr(0, kMiB), std::string(kMiB, '\0'));
  EXPECT_EQ(out.substr(4 * kMiB, 512 * 1024), std::string(512 * 1024, 0x66));
  // Thin: the zeroed MiB is no longer allocated data (qemu-img map lists it as zero, not data).
  auto mapped = RunTool({"qemu-img", "map", "-f", "qcow2", "--output=json", d / "w.qcow2"});
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  auto map = nlohmann::json::parse(*mapped);
  uint64_t data_in_first_mib = 0;
  for (const auto& m : map) {
    uint64_t start = m.value("start", uint64_t{0}), len = m.value("length", uint64_t{0});
    if (m.value("data", false) && start < kMiB) data_in_first_mib += std::min(start + len, kMiB) - start;
  }
  EXPECT_EQ(data_in_first_mib, 0u) << map.dump();
}

TEST(NbdTest, StaleExportIsOnlyStoppedWhenItIsOurs) {
  Dir d;
  Sh("qemu-img create -q -f raw " + d / "r.raw" + " 1M");
  ExportSpec spec;
  spec.image_opts = ImageOptsForFile(d / "r.raw", "raw");
  spec.socket_path = d / "disk.sock";
  auto e = NbdExport::Start(spec);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  pid_t pid = (*e)->pid();
  auto other = StopStaleExport(pid, d / "another.sock");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);
  EXPECT_EQ(kill(pid, 0), 0);
  auto self = StopStaleExport(getpid(), spec.socket_path);
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(*self);
  EXPECT_TRUE((*e)->Stop().ok());
}

TEST(ImageInfoTest, ChainLayersSnapshotsAndFingerprint) {
  Dir d;
  MakeChain(d);
  Sh("qemu-img snapshot -c before-upgrade " + d / "top.qcow2");
  auto chain = ProbeImageChain(d / "top.qcow2", "qcow2");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(chain->layers.size(), 3u);
  EXPECT_EQ(chain->Describe(), "qcow2 <- qcow2 <- qcow2");
  EXPECT_EQ(chain->virtual_size(), 8 * kMiB);
  EXPECT_EQ(chain->layers[2].filename, d / "base.qcow2");
  EXPECT_EQ(chain->layers[0].snapshots, std::vector<std::string>{"before-upgrade"});
  auto fp = ChainFingerprint(*chain);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(*ChainFingerprint(*chain), *fp);
  // A write to the bottom layer changes the fingerprint.
  Sh("qemu-io -f qcow2 -c 'write -P 0x77 7M 4k' " + d / "base.qcow2");
  auto after = ChainFingerprint(*chain);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(*after, *fp);
}

TEST(ImageInfoTest, RefusesWhatQemuWouldGuessOrCannotRead) {
  Dir d;
  MakeChain(d);
  std::filesystem::remove(d / "mid.qcow2");
  auto missing = ProbeImageChain(d / "top.qcow2", "qcow2");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().kind(), Kind::kRefused);
  EXPECT_NE(missing.status().message().find("mid.qcow2"), std::string::npos) << missing.status().message();

  // LUKS times its key derivation, and qemu-img gives up on a loaded machine
  // ("Unable to get accurate CPU usage"): a few tries.
  Sh("sh -c 'for i in $(seq 20); do qemu-img create -q -f qcow2 --object secret,id=s0,data=abc "
     "-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 " +
     d / "enc.qcow2" + " 8M && exit 0; sleep 0.5; done; exit 1'");
  auto enc = ProbeImageChain(d / "enc.qcow2", "qcow2");
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.status().message().find("encrypted"), std::string::npos) << enc.status().message();

  auto wrong = ProbeImageChain(d / "base.qcow2", "vmdk");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("as vmdk"), std::string::npos) << wrong.status().message();

  // A backing file without a recorded format (older qemu allowed it).
  auto guessed = ParseImageChain(R"([{"filename": "/i/top.qcow2", "format": "qcow2", "virtual-size": 1048576,
      "backing-filename": "base.img", "full-backing-filename": "/i/base.img"},
      {"filename": "/i/base.img", "format": "raw", "virtual-size": 1048576}])", "/i/top.qcow2");
  ASSERT_FALSE(guessed.ok());
  EXPECT_NE(guessed.status().message().find("no format recorded"), std::string::npos);
  EXPECT_NE(guessed.status().hint().find("qemu-img rebase -u -F"), std::string::npos);
}

}  // namespace
}  // namespace v2r
