#include "ceph/options.h"

#include <gtest/gtest.h>

namespace v2r {
namespace {

CephOptions Resolve(const CephOptions& cli, const char* env) {
  Result<CephOptions> r = ResolveCephOptions(cli, env);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : CephOptions{};
}

TEST(CephOptions, DefaultsToClientAdminWithNothingGiven) {
  CephOptions out = Resolve({}, nullptr);
  EXPECT_EQ(out.EntityName(), "client.admin");
  EXPECT_EQ(out.EntityId(), "admin");
  EXPECT_EQ(out.ClusterName(), "ceph");
  EXPECT_TRUE(out.conf.empty());
  EXPECT_TRUE(out.keyring.empty());
  EXPECT_TRUE(out.extra_args.empty());
  EXPECT_EQ(out.connect_timeout_s, 30);
}

// The hook for librados' log: kept through the merge with CEPH_ARGS (which
// has no say in it), empty by default (discarded).
TEST(CephOptions, CephLogFileIsKeptAndEmptyByDefault) {
  EXPECT_TRUE(Resolve({}, nullptr).ceph_log_file.empty());
  CephOptions cli;
  cli.ceph_log_file = "/var/lib/virt2rbd/domains/x/ceph.log";
  EXPECT_EQ(Resolve(cli, "--id a --log-file /tmp/other").ceph_log_file, cli.ceph_log_file);
}

TEST(CephOptions, EmptyEnvironmentIsLikeNoEnvironment) {
  CephOptions cli;
  cli.id = "v2r";
  EXPECT_EQ(Resolve(cli, "").EntityName(), "client.v2r");
  EXPECT_EQ(Resolve(cli, "   \t ").EntityName(), "client.v2r");
  EXPECT_TRUE(Resolve(cli, "  ").extra_args.empty());
}

TEST(CephOptions, ResolvedHasOneEntityInName) {
  CephOptions cli;
  cli.id = "migrator";
  CephOptions out = Resolve(cli, nullptr);
  EXPECT_EQ(out.name, "client.migrator");
  EXPECT_TRUE(out.id.empty());
  EXPECT_EQ(out.EntityId(), "migrator");
}

TEST(CephOptions, CommandLineWinsOverCephArgs) {
  CephOptions cli;
  cli.conf = "/etc/ceph/cli.conf";
  cli.keyring = "/etc/ceph/cli.keyring";
  CephOptions out =
      Resolve(cli, "--conf /env.conf --keyring /env.keyring --cluster backup --id envuser");
  EXPECT_EQ(out.conf, "/etc/ceph/cli.conf");
  EXPECT_EQ(out.keyring, "/etc/ceph/cli.keyring");
  EXPECT_EQ(out.cluster, "backup");  // not on the command line: from CEPH_ARGS
  EXPECT_EQ(out.EntityName(), "client.envuser");
}

TEST(CephOptions, CephArgsFillWhatTheCommandLineLeavesEmpty) {
  CephOptions out = Resolve({}, "--conf /env.conf --name client.env -k /env.keyring");
  EXPECT_EQ(out.conf, "/env.conf");
  EXPECT_EQ(out.keyring, "/env.keyring");
  EXPECT_EQ(out.EntityName(), "client.env");
}

TEST(CephOptions, CommandLineIdentityWinsWhole) {
  CephOptions cli;
  cli.name = "client.b";
  EXPECT_EQ(Resolve(cli, "--id a").EntityName(), "client.b");

  CephOptions cli2;
  cli2.id = "b";
  EXPECT_EQ(Resolve(cli2, "--name client.a").EntityName(), "client.b");
}

TEST(CephOptions, CommandLineIdentityOverridesEvenAConflictingCephArgs) {
  CephOptions cli;
  cli.id = "b";
  EXPECT_EQ(Resolve(cli, "--id a --name client.c").EntityName(), "client.b");
}

TEST(CephOptions, IdAndNameOnTheCommandLineIsUsageError) {
  CephOptions cli;
  cli.id = "a";
  cli.name = "client.b";
  Status st = ValidateCephOptions(cli);
  EXPECT_EQ(st.kind(), Kind::kUsage);
  EXPECT_EQ(st.message(), "--id and --name are mutually exclusive");
  EXPECT_FALSE(st.hint().empty());

  Result<CephOptions> r = ResolveCephOptions(cli, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
}

TEST(CephOptions, IdAndNameBothInCephArgsIsUsageError) {
  Result<CephOptions> r = ResolveCephOptions({}, "--id a --name client.b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  EXPECT_NE(r.status().message().find("CEPH_ARGS"), std::string::npos);
  EXPECT_NE(r.status().message().find("mutually exclusive"), std::string::npos);
}

TEST(CephOptions, NameMustStartWithClient) {
  CephOptions cli;
  cli.name = "osd.0";
  EXPECT_EQ(ValidateCephOptions(cli).kind(), Kind::kUsage);
  cli.name = "client.";
  EXPECT_EQ(ValidateCephOptions(cli).kind(), Kind::kUsage);
  cli.name = "client.x";
  EXPECT_TRUE(ValidateCephOptions(cli).ok());

  Result<CephOptions> r = ResolveCephOptions({}, "--name admin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
}

TEST(CephOptions, IdWithClientPrefixIsUsageErrorWithFix) {
  CephOptions cli;
  cli.id = "client.admin";
  Status st = ValidateCephOptions(cli);
  EXPECT_EQ(st.kind(), Kind::kUsage);
  EXPECT_NE(st.hint().find("--id admin"), std::string::npos);
}

TEST(CephOptions, ConnectTimeoutMustBePositive) {
  CephOptions cli;
  cli.connect_timeout_s = 0;
  EXPECT_EQ(ValidateCephOptions(cli).kind(), Kind::kUsage);
  cli.connect_timeout_s = -5;
  EXPECT_EQ(ValidateCephOptions(cli).kind(), Kind::kUsage);
  cli.connect_timeout_s = 1;
  EXPECT_TRUE(ValidateCephOptions(cli).ok());
  EXPECT_EQ(Resolve(cli, nullptr).connect_timeout_s, 1);
}

TEST(CephOptions, EqualsFormIsAccepted) {
  CephOptions out =
      Resolve({}, "--conf=/e.conf --cluster=c2 --id=u1 --keyring=/e.keyring --mon-host=1.2.3.4");
  EXPECT_EQ(out.conf, "/e.conf");
  EXPECT_EQ(out.cluster, "c2");
  EXPECT_EQ(out.EntityName(), "client.u1");
  EXPECT_EQ(out.keyring, "/e.keyring");
  EXPECT_EQ(out.extra_args, (std::vector<std::string>{"--mon-host=1.2.3.4"}));

  EXPECT_EQ(Resolve({}, "--name=client.n1").EntityName(), "client.n1");
}

TEST(CephOptions, ShortOptionsAreAccepted) {
  CephOptions out = Resolve({}, "-c /s.conf -k /s.keyring -i shorty");
  EXPECT_EQ(out.conf, "/s.conf");
  EXPECT_EQ(out.keyring, "/s.keyring");
  EXPECT_EQ(out.EntityName(), "client.shorty");
  EXPECT_EQ(Resolve({}, "-n client.nn").EntityName(), "client.nn");
}

TEST(CephOptions, UserIsAnAliasForId) {
  EXPECT_EQ(Resolve({}, "--user alice").EntityName(), "client.alice");
}

TEST(CephOptions, LastValueInCephArgsWins) {
  EXPECT_EQ(Resolve({}, "--conf /a.conf --conf /b.conf").conf, "/b.conf");
}

TEST(CephOptions, MissingValueInCephArgsIsUsageError) {
  Result<CephOptions> r = ResolveCephOptions({}, "--mon-host 1.2.3.4 --keyring");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kUsage);
  EXPECT_NE(r.status().message().find("--keyring"), std::string::npos);
}

TEST(CephOptions, UnknownArgsArePreservedInOrder) {
  CephOptions cli;
  cli.extra_args = {"--rbd-cache", "false"};
  CephOptions out = Resolve(
      cli, "--mon-host 10.0.0.1,10.0.0.2  --id x\t--log-to-stderr=false\n--debug-ms 1 -k /k");
  EXPECT_EQ(out.extra_args,
            (std::vector<std::string>{"--mon-host", "10.0.0.1,10.0.0.2", "--log-to-stderr=false",
                                      "--debug-ms", "1", "--rbd-cache", "false"}));
  EXPECT_EQ(out.EntityName(), "client.x");
  EXPECT_EQ(out.keyring, "/k");
}

TEST(CephOptions, SimilarLookingOptionsAreNotMistakenForKnownOnes) {
  CephOptions out = Resolve({}, "--config-key x --identity y --keyring-path z -cx");
  EXPECT_EQ(out.extra_args,
            (std::vector<std::string>{"--config-key", "x", "--identity", "y", "--keyring-path", "z",
                                      "-cx"}));
  EXPECT_TRUE(out.conf.empty());
  EXPECT_TRUE(out.keyring.empty());
  EXPECT_EQ(out.EntityName(), "client.admin");
}

TEST(CephOptions, EntityNameWorksOnUnresolvedOptions) {
  CephOptions o;
  EXPECT_EQ(o.EntityName(), "client.admin");
  o.id = "z";
  EXPECT_EQ(o.EntityName(), "client.z");
  o.id.clear();
  o.name = "client.q";
  EXPECT_EQ(o.EntityName(), "client.q");
}

}  // namespace
}  // namespace v2r
