// fleet run pauses new starts on a cluster near full or in HEALTH_ERR.
#include <gtest/gtest.h>

#include "fleet/fleet_run.h"

namespace v2r::fleet {
namespace {

TEST(FleetClusterPause, HealthyOrWarningsThatAreNotAboutSpaceDoNotPause) {
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse(R"({"status":"HEALTH_OK","checks":{}})")), "");
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse(
                R"({"status":"HEALTH_WARN","checks":{"POOL_NO_REDUNDANCY":{"severity":"HEALTH_WARN"}}})")),
            "");
  EXPECT_EQ(ClusterPauseReason(nlohmann::json()), "");
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse("[1,2]")), "");
}

TEST(FleetClusterPause, NearFullOrFullPausesNamingTheChecks) {
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse(
                R"({"status":"HEALTH_WARN","checks":{"OSD_NEARFULL":{},"POOL_NEARFULL":{},"MON_CLOCK_SKEW":{}}})")),
            "cluster HEALTH_WARN (OSD_NEARFULL, POOL_NEARFULL)");
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse(R"({"status":"HEALTH_ERR","checks":{"OSD_FULL":{}}})")),
            "cluster HEALTH_ERR (OSD_FULL)");
}

TEST(FleetClusterPause, AnyHealthErrPauses) {
  EXPECT_EQ(ClusterPauseReason(nlohmann::json::parse(R"({"status":"HEALTH_ERR","checks":{"PG_DAMAGED":{}}})")),
            "cluster HEALTH_ERR");
}

}  // namespace
}  // namespace v2r::fleet
