// The state dirs written by release 0.1.0 (tests/data/state-0.1.0, made by
// real runs on a lab: see the README there) still fold to what that release's
// `status --format json` said, after a crash at any record too; their copy
// progress files still load. An operator may upgrade mid-migration.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/render.h"
#include "journal/copy_progress.h"
#include "journal/journal.h"
#include "migrate/record.h"

namespace v2r {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSamples = fs::path(V2R_TEST_DATA) / "state-0.1.0";

struct Sample {
  std::string name;
  fs::path domain_dir;  // state/domains/<uuid>
  json expected;        // the one migration of expected-status.json
};

std::vector<Sample> Samples() {
  std::vector<Sample> out;
  for (const auto& e : fs::directory_iterator(kSamples)) {
    if (!e.is_directory()) continue;
    Sample s;
    s.name = e.path().filename();
    for (const auto& d : fs::directory_iterator(e.path() / "state" / "domains")) s.domain_dir = d.path();
    std::ifstream in(e.path() / "expected-status.json");
    json status = json::parse(in);
    EXPECT_EQ(status.at("migrations").size(), 1u) << s.name;
    s.expected = status.at("migrations").at(0);
    s.expected.erase("drift");  // what status saw of libvirt and Ceph, not of the journal
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<json> Records(const Sample& s) {
  auto recs = Journal::ReadOnly((s.domain_dir / "journal").string());
  EXPECT_TRUE(recs.ok()) << s.name << ": " << recs.status().ToString();
  return recs.ok() ? *recs : std::vector<json>{};
}

TEST(JournalCompat, TheSamplesAreThere) {
  std::set<std::string> names;
  for (const Sample& s : Samples()) names.insert(s.name);
  for (const char* want : {"offline-migrated", "offline-interrupted", "live-migrated", "rolled-back", "committed",
                           "aborted"})
    EXPECT_EQ(names.count(want), 1u) << want;
}

TEST(JournalCompat, EverySampleFoldsToTheStatusThatReleaseShowed) {
  for (const Sample& s : Samples()) {
    std::vector<json> recs = Records(s);
    ASSERT_FALSE(recs.empty()) << s.name;
    EXPECT_EQ(recs.front().at("event"), "begin") << s.name << ": 0.1.0 wrote no version record";
    auto st = FoldJournal(recs);
    ASSERT_TRUE(st.ok()) << s.name << ": " << st.status().ToString();
    EXPECT_EQ(st->journal_format, 1) << s.name;
    EXPECT_EQ(StateJson(*st), s.expected) << s.name;
  }
}

// A crash after any record leaves a prefix: it folds, and to a state that
// makes sense.
void ExpectConsistent(const MigrationState& m, const std::string& where) {
  static const std::set<std::string> kPhases = {"none", "unfinished", "migrated", "committed", "rolled back",
                                                "aborted"};
  EXPECT_EQ(kPhases.count(m.Phase()), 1u) << where;
  // A rollback restores the definition of a completed migration.
  EXPECT_TRUE(!m.completed || m.switched || m.rollback_begun) << where;
  EXPECT_TRUE(!m.rolled_back || m.rollback_begun) << where;
  EXPECT_TRUE(!m.committed || m.completed) << where;
  EXPECT_TRUE(!m.secret_created || m.secret_define_intent) << where;
  EXPECT_TRUE(!m.user_created || m.user_create_intent) << where;
  for (const DiskRecord& d : m.disks) {
    EXPECT_TRUE(!d.created || d.create_intent) << where << " " << d.target;
    EXPECT_TRUE(!d.copied || d.created) << where << " " << d.target;
    EXPECT_TRUE(!d.live.pivoted || d.live.pivot_intent) << where << " " << d.target;
  }
}

TEST(JournalCompat, EveryPrefixOfEverySampleFoldsConsistently) {
  for (const Sample& s : Samples()) {
    std::vector<json> recs = Records(s);
    for (size_t n = 0; n <= recs.size(); ++n) {
      std::string where = s.name + " after " + std::to_string(n) + " records";
      auto st = FoldJournal(std::vector<json>(recs.begin(), recs.begin() + n));
      ASSERT_TRUE(st.ok()) << where << ": " << st.status().ToString();
      EXPECT_EQ(st->begun, n > 0) << where;
      ExpectConsistent(*st, where);
    }
  }
}

TEST(JournalCompat, ATornLastLineOfASampleIsDroppedAsBefore) {
  for (const Sample& s : Samples()) {
    std::vector<json> recs = Records(s);
    std::ifstream in(s.domain_dir / "journal");
    std::stringstream text;
    text << in.rdbuf();
    std::string bytes = text.str();
    char tmpl[] = "/tmp/v2r-compat-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string path = std::string(tmpl) + "/journal";
    std::ofstream(path) << bytes.substr(0, bytes.size() - 7);  // cut inside the last record
    auto ro = Journal::ReadOnly(path);
    ASSERT_TRUE(ro.ok()) << s.name << ": " << ro.status().ToString();
    EXPECT_EQ(ro->size(), recs.size() - 1) << s.name;
    auto j = Journal::Open(path);  // repairs: a rerun after the crash appends after it
    ASSERT_TRUE(j.ok()) << s.name;
    EXPECT_TRUE((*j)->repaired_tail()) << s.name;
    auto st = FoldJournal((*j)->records());
    EXPECT_TRUE(st.ok()) << s.name;
    ASSERT_TRUE(AppendRecord(**j, rec::VmStopped("shutdown")).ok());
    EXPECT_EQ((*j)->records().back().at("event"), "vm-stopped") << "no version record in an old journal";
    EXPECT_TRUE(FoldJournal((*j)->records()).ok()) << s.name;
    fs::remove_all(tmpl);
  }
}

TEST(JournalCompat, TheCopyProgressFilesOfTheSamplesLoad) {
  size_t files = 0;
  uint64_t interrupted_done = 0;
  for (const Sample& s : Samples()) {
    for (const auto& e : fs::directory_iterator(s.domain_dir)) {
      std::string name = e.path().filename();
      if (name.rfind("copy-", 0) != 0) continue;
      // Load opens for appending: on a copy, the sample stays as it was.
      char tmpl[] = "/tmp/v2r-compat-XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl), nullptr);
      fs::path copy = fs::path(tmpl) / name;
      fs::copy_file(e.path(), copy);
      auto p = CopyProgressFile::Load(copy.string());
      ASSERT_TRUE(p.ok()) << s.name << "/" << name << ": " << p.status().ToString();
      EXPECT_GT((*p)->header().size, 0u) << name;
      EXPECT_GT((*p)->header().chunk_size, 0u) << name;
      if (s.name == "offline-interrupted") interrupted_done += (*p)->done_bytes();
      ++files;
      fs::remove_all(tmpl);
    }
  }
  EXPECT_GT(files, 0u);
  EXPECT_GT(interrupted_done, 0u) << "the copy killed mid-way had recorded durable chunks";
}

}  // namespace
}  // namespace v2r
