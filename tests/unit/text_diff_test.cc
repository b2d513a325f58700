#include "virt/text_diff.h"

#include <gtest/gtest.h>

#include <string>

namespace v2r {
namespace {

std::string Lines(int from, int to) {  // "from\n" .. "to\n"
  std::string s;
  for (int i = from; i <= to; ++i) s += std::to_string(i) + "\n";
  return s;
}

TEST(TextDiff, EqualInputsGiveNothing) {
  EXPECT_EQ(UnifiedDiff("", "", "a", "b"), "");
  EXPECT_EQ(UnifiedDiff(Lines(1, 10), Lines(1, 10), "a", "b"), "");
}

TEST(TextDiff, OneChangedLineGetsAHunkWithThreeLinesOfContext) {
  std::string b = Lines(1, 10);
  b.replace(b.find("5\n"), 2, "five\n");
  EXPECT_EQ(UnifiedDiff(Lines(1, 10), b, "old.xml", "new.xml"),
            "--- old.xml\n+++ new.xml\n"
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(TextDiff, InsertAtStartAndEnd) {
  EXPECT_EQ(UnifiedDiff(Lines(1, 5), "0\n" + Lines(1, 5), "a", "b"),
            "--- a\n+++ b\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n");
  EXPECT_EQ(UnifiedDiff(Lines(1, 5), Lines(1, 6), "a", "b"), "--- a\n+++ b\n@@ -3,3 +3,4 @@\n 3\n 4\n 5\n+6\n");
}

TEST(TextDiff, EmptySidesUseLineZero) {
  EXPECT_EQ(UnifiedDiff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
  EXPECT_EQ(UnifiedDiff("x\ny\n", "", "a", "b"), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
}

TEST(TextDiff, NearbyChangesShareAHunkAndDistantOnesDoNot) {
  std::string near = Lines(1, 20);
  near.replace(near.find("\n5\n") + 1, 2, "E\n");
  near.replace(near.find("\n11\n") + 1, 3, "K\n");  // 5 unchanged lines between
  EXPECT_EQ(UnifiedDiff(Lines(1, 20), near, "a", "b"),
            "--- a\n+++ b\n@@ -2,13 +2,13 @@\n 2\n 3\n 4\n-5\n+E\n 6\n 7\n 8\n 9\n 10\n-11\n+K\n 12\n 13\n 14\n");
  std::string far = Lines(1, 30);
  far.replace(far.find("\n3\n") + 1, 2, "C\n");
  far.replace(far.find("\n20\n") + 1, 3, "T\n");
  EXPECT_EQ(UnifiedDiff(Lines(1, 30), far, "a", "b"),
            "--- a\n+++ b\n@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+C\n 4\n 5\n 6\n"
            "@@ -17,7 +17,7 @@\n 17\n 18\n 19\n-20\n+T\n 21\n 22\n 23\n");
}

TEST(TextDiff, ExactlySixEqualLinesBetweenChangesStillMerge) {
  std::string b = Lines(1, 20);
  b.replace(b.find("\n5\n") + 1, 2, "E\n");
  b.replace(b.find("\n12\n") + 1, 3, "L\n");  // 6..11 unchanged: contexts touch
  std::string d = UnifiedDiff(Lines(1, 20), b, "a", "b");
  EXPECT_EQ(d.find("@@ -"), d.find("@@ -2,14 +2,14 @@")) << d;
  EXPECT_EQ(d.rfind("@@ -"), d.find("@@ -")) << d;  // one hunk
  b.replace(b.find("\nL\n") + 1, 2, "12\n");
  b.replace(b.find("\n13\n") + 1, 3, "M\n");  // now 7 unchanged lines: two hunks
  d = UnifiedDiff(Lines(1, 20), b, "a", "b");
  EXPECT_NE(d.find("@@ -2,7 +2,7 @@"), std::string::npos) << d;
  EXPECT_NE(d.find("@@ -10,7 +10,7 @@"), std::string::npos) << d;
}

TEST(TextDiff, ZeroContextAndMissingFinalNewline) {
  EXPECT_EQ(UnifiedDiff("a\nb\nc\n", "a\nB\nc\n", "x", "y", 0), "--- x\n+++ y\n@@ -2 +2 @@\n-b\n+B\n");
  EXPECT_EQ(UnifiedDiff("a\nb", "a\nb\n", "x", "y"),
            "--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

TEST(TextDiff, FindsAShortestScriptOnShuffledInput) {
  // a b c a b b a -> c b a b a c (Myers' paper example: D = 5).
  std::string a = "a\nb\nc\na\nb\nb\na\n", b = "c\nb\na\nb\na\nc\n";
  std::string d = UnifiedDiff(a, b, "x", "y");
  int changes = 0;
  for (size_t p = d.find("\n", d.find("@@")); p != std::string::npos; p = d.find('\n', p + 1)) {
    if (p + 1 < d.size() && (d[p + 1] == '+' || d[p + 1] == '-')) ++changes;
  }
  EXPECT_EQ(changes, 5) << d;
}

}  // namespace
}  // namespace v2r
