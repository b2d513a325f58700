#include "base/units.h"

#include <gtest/gtest.h>

#include "base/exit_codes.h"
#include "ceph/image_spec.h"

namespace v2r {
namespace {

TEST(ParseSize, AcceptsBinaryUnits) {
  EXPECT_EQ(*ParseSize("512"), 512u);
  EXPECT_EQ(*ParseSize("64K"), 65536u);
  EXPECT_EQ(*ParseSize("4M"), 4u << 20);
  EXPECT_EQ(*ParseSize("4MiB"), 4u << 20);
  EXPECT_EQ(*ParseSize("1g"), 1ull << 30);
}

TEST(ParseSize, RejectsGarbageAsUsage) {
  for (const char* s : {"", "M", "4X", "-1", "4 M"}) {
    auto r = ParseSize(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().kind(), Kind::kUsage);
  }
}

TEST(FormatBytes, IsHumanReadable) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3ull << 30), "3.0 GiB");
}

TEST(ImageSpec, ParsesPoolSlashImageOnly) {
  auto s = ParseImageSpec("libvirt/vm1-vda");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pool, "libvirt");
  EXPECT_EQ(s->image, "vm1-vda");
  for (const char* bad : {"vm1", "/x", "p/", "a/b/c", "p/i@snap"}) {
    auto r = ParseImageSpec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().kind(), Kind::kUsage);
  }
}

TEST(ExitCodes, EveryKindHasItsDocumentedCode) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ExitCodeFor(Status::Internal("x")), 1);
  EXPECT_EQ(ExitCodeFor(Status::Usage("x")), 2);
  EXPECT_EQ(ExitCodeFor(Status::Refused("x")), 3);
  EXPECT_EQ(ExitCodeFor(Status::Failed("x")), 4);
  EXPECT_EQ(ExitCodeFor(Status::Mismatch("x")), 5);
  EXPECT_EQ(ExitCodeFor(Status::Interrupted("x")), 75);
}

TEST(Status, WrapKeepsKindAndHint) {
  Status s = Status::FromErrno(Kind::kRefused, "opening /dev/sdx", ENOENT, "check the path");
  Status w = s.Wrap("copy");
  EXPECT_EQ(w.kind(), Kind::kRefused);
  EXPECT_EQ(w.message(), "copy: opening /dev/sdx: No such file or directory");
  EXPECT_EQ(w.hint(), "check the path");
  EXPECT_EQ(w.err(), ENOENT);
}

}  // namespace
}  // namespace v2r
