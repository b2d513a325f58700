// The source guard over libvirt's test driver (test:///default, in-process,
// no daemon): its connections share one state, so a domain started through
// one connection is seen by the guard's own.
#include "migrate/guard.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "copy/file_source.h"
#include "journal/journal.h"
#include "migrate/record.h"
#include "fold_util.h"
#include "virt/libvirt.h"

namespace v2r {
namespace {

constexpr const char* kUri = "test:///default";

std::unique_ptr<Domain> DefineShutOff(VirtConnection& conn, const std::string& name) {
  auto dom = conn.DefineXml("<domain type='test'><name>" + name +
                            "</name><memory>1024</memory><os><type>hvm</type></os></domain>");
  EXPECT_TRUE(dom.ok()) << dom.status().ToString();
  return dom.ok() ? std::move(*dom) : nullptr;
}

bool WaitFor(const std::atomic<bool>& flag) {
  for (int i = 0; i < 100 && !flag.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return flag.load();
}

TEST(DomainGuard, StaysQuietWhileTheDomainIsShutOff) {
  auto conn = VirtConnection::Open(kUri);
  ASSERT_TRUE(conn.ok());
  auto dom = DefineShutOff(**conn, "guard-quiet");
  ASSERT_TRUE(dom);
  std::atomic<bool> stop{false};
  auto g = DomainGuard::Start(LibvirtOpener(), kUri, dom->uuid(), dom->name(), &stop, nullptr, {"while copied", "rerun"});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past one poll
  EXPECT_TRUE((*g)->Check().ok());
  EXPECT_FALSE(stop.load());
  EXPECT_FALSE((*g)->TakeOutage());
}

TEST(DomainGuard, ADomainStartedBehindItsBackTripsItAndStopsTheCopy) {
  auto conn = VirtConnection::Open(kUri);
  ASSERT_TRUE(conn.ok());
  auto dom = DefineShutOff(**conn, "guard-trip");
  ASSERT_TRUE(dom);
  std::atomic<bool> stop{false};
  auto g = DomainGuard::Start(LibvirtOpener(), kUri, dom->uuid(), dom->name(), &stop, nullptr, {"while copied", "the hint"});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(dom->Start().ok());
  ASSERT_TRUE(dom->Destroy().ok());  // and off again: it still ran
  EXPECT_TRUE(WaitFor(stop)) << "the copy was not told to stop";
  Status st = (*g)->Check();
  EXPECT_EQ(st.kind(), Kind::kSourceChanged);
  EXPECT_NE(st.message().find("domain guard-trip ran while copied"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("started (booted)"), std::string::npos) << st.message();
  EXPECT_EQ(st.hint(), "the hint");
  EXPECT_TRUE((*g)->Tripped());
}

TEST(DomainGuard, RefusesToStartOnADomainThatIsGone) {
  std::atomic<bool> stop{false};
  auto g = DomainGuard::Start(LibvirtOpener(), kUri, "0badc0de-0000-4000-8000-000000000001", "nope", &stop, nullptr, {});
  EXPECT_FALSE(g.ok());
}

TEST(GuardRecords, FoldMarksTheCopyUntrustedUntilRechecked) {
  std::vector<nlohmann::json> recs = {
      {{"event", "begin"}, {"domain", "d"}, {"disks", nlohmann::json::array({{{"target", "vda"}}})}},
      {{"event", "autostart-disable"}},
      {{"event", "copy-untrusted"}, {"reason", "domain d ran"}},
  };
  MigrationState s = MustFold(recs);
  EXPECT_TRUE(s.untrusted);
  EXPECT_EQ(s.untrusted_reason, "domain d ran");
  EXPECT_TRUE(s.autostart_off);
  recs.push_back({{"event", "disk-copied"}, {"target", "vda"}, {"chunks_rechecked", 12}, {"chunks_rewritten", 1}});
  recs.push_back({{"event", "rechecked"}});
  recs.push_back({{"event", "autostart-restored"}});
  s = MustFold(recs);
  EXPECT_FALSE(s.untrusted);
  EXPECT_FALSE(s.autostart_off);
  EXPECT_EQ(s.Disk("vda")->chunks_rechecked, 12u);
  EXPECT_EQ(s.Disk("vda")->chunks_rewritten, 1u);
}

TEST(Fingerprint, IdentityKeepsTheDiskAndDropsWhatChangesWithItsContent) {
  EXPECT_EQ(FingerprintIdentity("blk:7:3:size=50331648:30076b45fc97cb94:f8743b08ccf3b967"), "blk:7:3:size=50331648");
  EXPECT_EQ(FingerprintIdentity("file:65024:1138721:1764646800.123:size=4096:aa:bb"), "file:65024:1138721:size=4096");
  EXPECT_NE(FingerprintIdentity("blk:7:3:size=1:aa:bb"), FingerprintIdentity("blk:7:4:size=1:aa:bb"));
}

TEST(StateWriteError, FullOrFailingStorageIsResumableAndNamesTheDirectory) {
  Status full = StateWriteError("writing", "/var/lib/x/domains/u/journal", ENOSPC);
  EXPECT_EQ(full.kind(), Kind::kInterrupted);
  EXPECT_NE(full.hint().find("/var/lib/x/domains/u"), std::string::npos) << full.hint();
  EXPECT_EQ(StateWriteError("writing", "/a/b", EIO).kind(), Kind::kInterrupted);
  EXPECT_EQ(StateWriteError("writing", "/a/b", EBADF).kind(), Kind::kFailed);
}

}  // namespace
}  // namespace v2r
