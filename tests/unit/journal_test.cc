#include "journal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace v2r {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v2r-journal-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/journal";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Read() {
    std::ifstream f(path_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  void Write(const std::string& content) {
    std::ofstream f(path_, std::ios::trunc);
    f << content;
  }
  std::string dir_, path_;
};

TEST_F(JournalTest, RecordsSurviveReopenInOrderWithSeqAndTime) {
  {
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Append({{"event", "a"}}).ok());
    ASSERT_TRUE((*j)->Append({{"event", "b"}, {"n", 2}}).ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto j = Journal::Open(path_);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ((*j)->records().size(), 2u);
  EXPECT_EQ((*j)->records()[0]["event"], "a");
  EXPECT_EQ((*j)->records()[1]["seq"], 2);
  EXPECT_TRUE((*j)->records()[1].contains("time"));
  EXPECT_FALSE((*j)->repaired_tail());
}

// Like ninja's log test: a crash can leave any prefix of the file. Every
// truncation must load (never crash, never refuse) and keep exactly the
// complete records before the cut.
TEST_F(JournalTest, EveryTruncationLoadsTheCompleteRecordsBeforeIt) {
  std::string full;
  std::vector<size_t> ends;
  for (int i = 0; i < 4; ++i) {
    full += Journal::EncodeLine({{"event", "e"}, {"i", i}});
    ends.push_back(full.size());
  }
  for (size_t cut = 0; cut <= full.size(); ++cut) {
    Write(full.substr(0, cut));
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.ok()) << "cut at " << cut << ": " << j.status().ToString();
    size_t expect = 0;
    while (expect < ends.size() && ends[expect] <= cut) ++expect;
    EXPECT_EQ((*j)->records().size(), expect) << "cut at " << cut;
    // The torn tail is gone from the file, so appends start clean.
    EXPECT_EQ(Read().size(), expect ? ends[expect - 1] : 0u) << "cut at " << cut;
  }
}

TEST_F(JournalTest, DamageBeforeTheLastLineIsRefusedWithTheLineNumber) {
  std::string a = Journal::EncodeLine({{"event", "a"}});
  std::string b = Journal::EncodeLine({{"event", "b"}});
  std::string c = Journal::EncodeLine({{"event", "c"}});
  b[12] = b[12] == 'x' ? 'y' : 'x';  // flip a byte inside the JSON of line 2
  Write(a + b + c);
  auto j = Journal::Open(path_);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().kind(), Kind::kRefused);
  EXPECT_NE(j.status().message().find("line 2"), std::string::npos) << j.status().message();
}

TEST_F(JournalTest, AppendAfterRepairContinuesTheSequence) {
  std::string a = Journal::EncodeLine({{"event", "a"}, {"seq", 1}});
  Write(a + "0000abcd {\"event\":");  // torn
  {
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.ok());
    EXPECT_TRUE((*j)->repaired_tail());
    ASSERT_TRUE((*j)->Append({{"event", "b"}}).ok());
  }
  auto j = Journal::Open(path_);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ((*j)->records().size(), 2u);
  EXPECT_EQ((*j)->records()[1]["event"], "b");
  EXPECT_EQ((*j)->records()[1]["seq"], 2);
}

}  // namespace
}  // namespace v2r
