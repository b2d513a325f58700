// The record types (migrate/records.h): every type has a name, a builder and
// a fold; a new journal starts with the version record; a journal of a newer
// format or with a type this version does not know is refused.
#include "migrate/records.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fold_util.h"
#include "journal/journal.h"
#include "migrate/record.h"
#include "migrate/record_fold.h"

namespace v2r {
namespace {

using nlohmann::json;
using RT = RecordType;

// One record of every type, each made by its builder.
std::vector<Record> OneOfEach() {
  const CephCaps caps = {{"mon", "profile rbd"}};
  return {
      rec::JournalVersion(),
      rec::Begin({{"mode", "offline"}, {"domain", "d"}, {"uuid", "u"}, {"pool", "p"},
                  {"disks", {{{"target", "vda"}, {"source", "/dev/x"}, {"image", "d-vda"}, {"size", 4096}}}}}),
      rec::VmStop(true, false), rec::VmStopped("shutdown"),
      rec::UserCreate("client.u", caps), rec::UserCreated("client.u"), rec::UserReused("client.u"),
      rec::UserCapsUpdate("client.u", caps), rec::UserCapsUpdated("client.u", caps),
      rec::SecretDefine("client.u secret"), rec::SecretDefined("s-uuid"), rec::SecretReused("s-uuid"),
      rec::SecretValueSet("s-uuid"), rec::DefinitionSaved("/x/definition.xml", "abc"),
      rec::AutostartDisable(), rec::AutostartRestored(),
      rec::ImageCreate("vda", "d-vda"), rec::ImageCreated("vda", "d-vda"),
      rec::CopyResume("vda", 4096, true),
      rec::ExportStart("vda", "/s/nbd-vda.sock", "qemu-nbd (qcow2)"), rec::ExportStarted("vda", 42),
      rec::ExportStopped("vda"),
      rec::SourceSnapshot({"vda", "old/img", "virt2rbd-source-u-1", {"10.0.0.1:6789"}, "legacy", "u", "", true}),
      rec::SourceSnapshotRemoved("vda", "copied"),
      rec::DiskCopiedRecord({.target = "vda", .image = "d-vda", .digest = "dg", .bytes_copied = 4096,
                             .verified = true}),
      rec::CopyUntrusted("it ran"), rec::Rechecked(),
      rec::SnapshotCreated("vda", "virt2rbd-switch"), rec::Switch("x1"), rec::Switched("x2"),
      rec::VmStart(), rec::VmStarted(), rec::Completed(),
      rec::AbortBegin("why"), rec::ImageRemoved("vda", "d-vda", "test"), rec::SecretRemoved("s-uuid"),
      rec::UserRemoved("client.u"), rec::UserCapsRestored("client.u"), rec::DefinitionRestored(),
      rec::VmRestarted(), rec::Aborted("why"),
      rec::RollbackBegin(true, false), rec::RollbackCancelled("no"), rec::CopyBack("vda"),
      rec::CopiedBack("vda", 512), rec::CopyBackStopped("it started"), rec::RolledBack(),
      rec::SnapshotRemoved("vda"), rec::Committed(),
      rec::BlockcopyStarted(RT::kBlockcopyStart, "vda", "p/d-vda", 0),
      rec::BlockcopyStarted(RT::kBlockcopyAdopted, "vda", "p/d-vda", 0),
      rec::BlockcopyCancelled(RT::kBlockcopyCancelled, "vda", "p/d-vda"),
      rec::Pivot(RT::kPivot, "vda", "p/d-vda", 1000), rec::Pivoted(RT::kPivoted, "vda", "p/d-vda", {{"ms", 5}}),
      rec::VmPause(1000), rec::VmResumed({{"paused_ms", 80}, {"at_ms", 1080}}),
      rec::Sparsified("vda", "d-vda", 8192, 4096, 65536, 0.5),
      rec::BlockcopyStarted(RT::kBlockcopyBackStart, "vda", "/dev/x", 0),
      rec::BlockcopyStarted(RT::kBlockcopyBackAdopted, "vda", "/dev/x", 0),
      rec::BlockcopyCancelled(RT::kBlockcopyBackCancelled, "vda", "/dev/x"),
      rec::Pivot(RT::kPivotBack, "vda", "/dev/x", 2000), rec::Pivoted(RT::kPivotedBack, "vda", "/dev/x", {}),
  };
}

class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v2r-records-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST(Records, EveryTypeHasAUniqueNameThatParsesBackAndAFold) {
  std::set<std::string> names;
  for (RecordType t : AllRecordTypes()) {
    std::string name = RecordTypeName(t);
    EXPECT_TRUE(names.insert(name).second) << name;
    ASSERT_TRUE(ParseRecordType(name).has_value()) << name;
    EXPECT_EQ(*ParseRecordType(name), t) << name;
    EXPECT_TRUE(HasFold(t)) << name << " has no entry in the fold table";
  }
  EXPECT_FALSE(ParseRecordType("no-such-record").has_value());
}

TEST(Records, BuildersCoverEveryType) {
  std::set<std::string> built;
  for (const Record& r : OneOfEach()) built.insert(r.at("event").get<std::string>());
  for (RecordType t : AllRecordTypes()) EXPECT_EQ(built.count(RecordTypeName(t)), 1u) << RecordTypeName(t);
}

// build -> append -> reopen -> fold, for every record type.
TEST_F(RecordsTest, EveryRecordTypeRoundTripsThroughAJournal) {
  std::string path = dir_ + "/journal";
  {
    auto j = Journal::Open(path);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    for (Record r : OneOfEach()) {
      if (r.at("event") == "journal") continue;  // AppendRecord writes it first
      ASSERT_TRUE(AppendRecord(**j, r).ok());
    }
  }
  auto j = Journal::Open(path);
  ASSERT_TRUE(j.ok());
  const std::vector<json>& recs = (*j)->records();
  std::vector<Record> built = OneOfEach();
  ASSERT_EQ(recs.size(), built.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].at("event"), built[i].at("event")) << i;
    for (const auto& [k, v] : built[i].items()) EXPECT_EQ(recs[i].at(k), v) << recs[i].dump();
  }
  for (size_t n = 0; n <= recs.size(); ++n) {  // and every prefix folds
    auto s = FoldJournal(std::vector<json>(recs.begin(), recs.begin() + n));
    EXPECT_TRUE(s.ok()) << n << ": " << s.status().ToString();
  }
  MigrationState s = MustFold(recs);
  EXPECT_EQ(s.journal_format, kJournalFormat);
  EXPECT_EQ(s.written_by, V2R_VERSION);
  EXPECT_EQ(s.Phase(), "rolled back");
  EXPECT_FALSE(s.live);  // begun offline
  ASSERT_NE(s.Disk("vda"), nullptr);
  EXPECT_TRUE(s.Disk("vda")->live.pivoted_back);
}

TEST_F(RecordsTest, ANewJournalStartsWithTheVersionRecord) {
  auto j = Journal::Open(dir_ + "/journal");
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE(AppendRecord(**j, rec::Begin({{"domain", "d"}})).ok());
  ASSERT_TRUE(AppendRecord(**j, rec::VmStopped("shutdown")).ok());
  const auto& recs = (*j)->records();
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].at("event"), "journal");
  EXPECT_EQ(recs[0].at("format"), kJournalFormat);
  EXPECT_EQ(recs[0].at("virt2rbd"), V2R_VERSION);
  EXPECT_EQ(recs[1].at("event"), "begin");
  EXPECT_EQ(recs[2].at("event"), "vm-stopped");
  MigrationState s = MustFold(recs);
  EXPECT_EQ(s.journal_format, kJournalFormat);  // kept across begin
  EXPECT_TRUE(s.begun && s.vm_stopped);
}

TEST(Records, AJournalWithoutAVersionRecordIsFormat1) {
  MigrationState s = MustFold({rec::Begin({{"domain", "d"}}), rec::Completed()});
  EXPECT_EQ(s.journal_format, 1);
  EXPECT_TRUE(s.written_by.empty());
  EXPECT_EQ(s.Phase(), "migrated");
}

TEST(Records, ANewerJournalFormatIsRefused) {
  auto s = FoldJournal({MakeRecord(RT::kJournal, {{"format", kJournalFormat + 1}, {"virt2rbd", "9.0.0"}}),
                        rec::Begin({{"domain", "d"}})});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().kind(), Kind::kRefused);
  EXPECT_NE(s.status().message().find(fmt::format("format {} (written by virt2rbd 9.0.0)", kJournalFormat + 1)),
            std::string::npos)
      << s.status().message();
  EXPECT_FALSE(FoldJournal({MakeRecord(RT::kJournal)}).ok());  // no format: not one we wrote
}

TEST(Records, NoCallSiteNeedsAStringType) {
  // MakeRecord puts the type's name in "event" and keeps the fields.
  Record r = MakeRecord(RT::kCopiedBack, {{"target", "vdb"}, {"bytes", 7}});
  EXPECT_EQ(r, json({{"event", "copied-back"}, {"target", "vdb"}, {"bytes", 7}}));
}

}  // namespace
}  // namespace v2r
