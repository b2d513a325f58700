#include "base/status.h"

#include <gtest/gtest.h>

namespace v2r {
namespace {

TEST(StatusCause, ComesFromTheErrnoAndSurvivesContextAndKind) {
  Status st = Status::FromErrno(Kind::kFailed, "removing image p/i", -EBUSY);
  EXPECT_EQ(st.cause(), Cause::kBusy);
  EXPECT_EQ(st.err(), EBUSY);
  Status wrapped = st.Wrap("rollback").As(Kind::kRefused).WithHint("stop the client");
  EXPECT_EQ(wrapped.cause(), Cause::kBusy);
  EXPECT_EQ(wrapped.kind(), Kind::kRefused);
  EXPECT_EQ(Status::FromErrno(Kind::kRefused, "x", ENOENT).cause(), Cause::kNotFound);
  EXPECT_EQ(Status::FromErrno(Kind::kRefused, "x", EPERM).cause(), Cause::kPermission);
  EXPECT_EQ(Status::FromErrno(Kind::kInterrupted, "x", EDQUOT).cause(), Cause::kNoSpace);
  EXPECT_EQ(Status::FromErrno(Kind::kInterrupted, "x", ECONNRESET).cause(), Cause::kConnectionLost);
  EXPECT_EQ(Status::FromErrno(Kind::kFailed, "x", EIO).cause(), Cause::kNone);
}

TEST(StatusCause, ExplicitCauseWinsAndWithErrDoesNotOverrideIt) {
  Status st = Status::Refused("pool 'p' does not exist").WithCause(Cause::kNotFound);
  EXPECT_EQ(st.cause(), Cause::kNotFound);
  EXPECT_EQ(st.err(), 0);
  EXPECT_EQ(st.WithErr(ETIMEDOUT).cause(), Cause::kNotFound);
  EXPECT_EQ(Status::Interrupted("lost").WithErr(ENOTCONN).cause(), Cause::kConnectionLost);
  EXPECT_EQ(Status::Ok().cause(), Cause::kNone);
  EXPECT_STREQ(CauseName(Cause::kNoSpace), "no-space");
}

}  // namespace
}  // namespace v2r
