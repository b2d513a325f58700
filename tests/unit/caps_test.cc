#include "migrate/caps.h"

#include <gtest/gtest.h>

#include "ceph/admin.h"

namespace v2r {
namespace {

const std::string kPool = "libvirt";

CephCaps Caps(std::string mon, std::string osd) {
  CephCaps c;
  if (!mon.empty()) c["mon"] = std::move(mon);
  if (!osd.empty()) c["osd"] = std::move(osd);
  return c;
}

// ---------------------------------------------------------------- parsing

TEST(Caps, ParsesProfileWithPool) {
  std::vector<CapGrant> g = ParseCap("profile rbd pool=libvirt");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].type, CapGrant::Type::kProfile);
  EXPECT_EQ(g[0].profile, "rbd");
  EXPECT_EQ(g[0].pool, "libvirt");
  EXPECT_FALSE(g[0].nspace.has_value());
  EXPECT_FALSE(g[0].other_restriction);
  EXPECT_EQ(g[0].text, "profile rbd pool=libvirt");
}

TEST(Caps, ParsesSeveralClausesSeparatedByCommaOrSemicolon) {
  std::vector<CapGrant> g =
      ParseCap("profile rbd pool=libvirt, allow rwx pool=other namespace=x; allow r ,, ");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].type, CapGrant::Type::kProfile);
  EXPECT_EQ(g[1].type, CapGrant::Type::kAllow);
  EXPECT_TRUE(g[1].read && g[1].write && g[1].exec);
  EXPECT_EQ(g[1].pool, "other");
  EXPECT_EQ(g[1].nspace, "x");
  EXPECT_EQ(g[2].type, CapGrant::Type::kAllow);
  EXPECT_TRUE(g[2].read);
  EXPECT_FALSE(g[2].write);
  EXPECT_FALSE(g[2].pool.has_value());
  EXPECT_EQ(g[2].text, "allow r");
}

TEST(Caps, ParsesAllowProfileAndStarAndAll) {
  std::vector<CapGrant> g = ParseCap("allow profile rbd pool=libvirt, allow *, allow all");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].type, CapGrant::Type::kProfile);
  EXPECT_EQ(g[0].profile, "rbd");
  EXPECT_TRUE(g[1].all);
  EXPECT_TRUE(g[2].all);
}

TEST(Caps, ParsesQuotedValuesAndSpacesAroundEquals) {
  std::vector<CapGrant> g = ParseCap("profile rbd pool = \"vm, disks\", allow rwx pool='b c' namespace = n1");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].pool, "vm, disks");  // the comma inside quotes does not split
  EXPECT_FALSE(g[0].other_restriction);
  EXPECT_EQ(g[1].pool, "b c");
  EXPECT_EQ(g[1].nspace, "n1");
}

TEST(Caps, ParsesOldPoolFirstOrder) {
  std::vector<CapGrant> g = ParseCap("allow pool libvirt rwx");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].pool, "libvirt");
  EXPECT_TRUE(g[0].read && g[0].write && g[0].exec);
  EXPECT_FALSE(g[0].other_restriction);
}

TEST(Caps, MarksUnmodelledRestrictions) {
  for (const char* cap : {"allow rwx object_prefix rbd_data", "allow rwx tag rbd *=*",
                          "allow rwx network 10.0.0.0/8", "allow class rbd", "allow rwx pool=libvirt foo"}) {
    std::vector<CapGrant> g = ParseCap(cap);
    ASSERT_EQ(g.size(), 1u) << cap;
    EXPECT_TRUE(g[0].other_restriction) << cap;
  }
  std::vector<CapGrant> g = ParseCap("grant everything");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].type, CapGrant::Type::kUnknown);
}

TEST(Caps, EmptyCapHasNoClauses) {
  EXPECT_TRUE(ParseCap("").empty());
  EXPECT_TRUE(ParseCap("  ,  ; ").empty());
}

// ------------------------------------------------------ GrantsRbdAccess

TEST(Caps, NoCapsGrantNothing) { EXPECT_FALSE(GrantsRbdAccess({}, kPool)); }

TEST(Caps, LeastPrivilegeGrantsItsPool) {
  EXPECT_TRUE(GrantsRbdAccess(LeastPrivilegeCaps(kPool), kPool));
  EXPECT_FALSE(GrantsRbdAccess(LeastPrivilegeCaps(kPool), "other"));
}

TEST(Caps, ProfileRbdWithoutPoolGrantsEveryPool) {
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "profile rbd"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "profile rbd"), "anything"));
}

TEST(Caps, ProfileRbdForAnotherPoolDoesNot) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd pool=images"), kPool));
}

TEST(Caps, TheGrantForThePoolMayBeAnyClause) {
  EXPECT_TRUE(GrantsRbdAccess(
      Caps("profile rbd", "profile rbd pool=images, allow r pool=x, profile rbd pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("allow r, profile rbd", "allow r; profile rbd pool=libvirt"), kPool));
}

TEST(Caps, AllowRwxOrStarCoverThePool) {
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow rwx pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow rwx"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow *"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow * pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("allow *", "allow *"), kPool));  // an admin
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rwx pool=other"), kPool));
}

TEST(Caps, LessThanRwxIsNotEnough) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rw pool=libvirt"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow r"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rw class-read class-write pool=libvirt"), kPool));
}

TEST(Caps, ReadOnlyProfileIsNotEnough) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd-read-only pool=libvirt"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd-read-only"), kPool));
}

TEST(Caps, NamespaceRestrictedGrantDoesNotCount) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd pool=libvirt namespace=vm1"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rwx pool=libvirt namespace=x"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rwx namespace=\"\""), kPool));
}

TEST(Caps, OtherRestrictionsDoNotCount) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rwx object_prefix rbd_data"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "allow rwx tag rbd *=*"), kPool));
}

TEST(Caps, WhitespaceVariationsAreTolerated) {
  EXPECT_TRUE(GrantsRbdAccess(Caps("  profile   rbd ", "\tprofile rbd   pool = libvirt  "), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow r,profile rbd pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "profile rbd pool='libvirt'"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("profile rbd", "allow rwx pool =libvirt"), kPool));
}

TEST(Caps, MonCapIsNeeded) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("", "profile rbd pool=libvirt"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("allow r", "profile rbd pool=libvirt"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd-read-only", "profile rbd pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("allow profile rbd", "profile rbd pool=libvirt"), kPool));
  EXPECT_TRUE(GrantsRbdAccess(Caps("allow all", "profile rbd pool=libvirt"), kPool));
}

TEST(Caps, OsdCapIsNeeded) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", ""), kPool));
  EXPECT_FALSE(GrantsRbdAccess({{"mon", "profile rbd"}, {"mgr", "profile rbd pool=libvirt"}}, kPool));
}

TEST(Caps, PoolNamesMatchExactly) {
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd pool=libvirt2"), kPool));
  EXPECT_FALSE(GrantsRbdAccess(Caps("profile rbd", "profile rbd pool=Libvirt"), kPool));
}

// ------------------------------------------------------------ AddPoolGrant

TEST(Caps, AddPoolGrantToAUserWithNoCaps) {
  EXPECT_EQ(AddPoolGrant({}, kPool), LeastPrivilegeCaps(kPool));
}

TEST(Caps, AddPoolGrantKeepsEveryExistingClause) {
  CephCaps in = {{"mon", "profile rbd"}, {"osd", "profile rbd pool=images, allow r pool=x"}, {"mgr", "allow r"}};
  CephCaps out = AddPoolGrant(in, kPool);
  EXPECT_EQ(out.at("mon"), "profile rbd");
  EXPECT_EQ(out.at("osd"), "profile rbd pool=images, allow r pool=x, profile rbd pool=libvirt");
  EXPECT_EQ(out.at("mgr"), "allow r");
  EXPECT_TRUE(GrantsRbdAccess(out, kPool));
  EXPECT_TRUE(GrantsRbdAccess(out, "images"));
}

TEST(Caps, AddPoolGrantAppendsProfileRbdToAnotherMonCap) {
  CephCaps out = AddPoolGrant(Caps("allow r", "allow rw pool=libvirt"), kPool);
  EXPECT_EQ(out.at("mon"), "allow r, profile rbd");
  EXPECT_EQ(out.at("osd"), "allow rw pool=libvirt, profile rbd pool=libvirt");
  EXPECT_TRUE(GrantsRbdAccess(out, kPool));
}

TEST(Caps, AddPoolGrantSetsMonWhenMissing) {
  CephCaps out = AddPoolGrant(Caps("", "profile rbd pool=images"), kPool);
  EXPECT_EQ(out.at("mon"), "profile rbd");
  EXPECT_EQ(out.at("osd"), "profile rbd pool=images, profile rbd pool=libvirt");
}

TEST(Caps, AddPoolGrantChangesNothingWhenAccessIsThere) {
  CephCaps in = Caps("allow *", "allow *");
  EXPECT_EQ(AddPoolGrant(in, kPool), in);
  CephCaps once = AddPoolGrant(Caps("allow r", "allow r"), kPool);
  EXPECT_EQ(AddPoolGrant(once, kPool), once);
}

TEST(Caps, AddPoolGrantDropsATrailingSeparator) {
  CephCaps out = AddPoolGrant(Caps("profile rbd", "allow r pool=x, "), kPool);
  EXPECT_EQ(out.at("osd"), "allow r pool=x, profile rbd pool=libvirt");
}

TEST(Caps, AddPoolGrantQuotesOddPoolNames) {
  CephCaps out = AddPoolGrant({}, "vm disks");
  EXPECT_EQ(out.at("osd"), "profile rbd pool=\"vm disks\"");
  EXPECT_TRUE(GrantsRbdAccess(out, "vm disks"));
}

// --------------------------------------------------------------- commands

TEST(Caps, CapPoolValueQuotesOnlyWhenNeeded) {
  EXPECT_EQ(CapPoolValue("libvirt"), "libvirt");
  EXPECT_EQ(CapPoolValue("a.b_c-1"), "a.b_c-1");
  EXPECT_EQ(CapPoolValue("a b"), "\"a b\"");
  EXPECT_EQ(CapPoolValue("a\"b"), "'a\"b'");
}

TEST(Caps, CapsCommandForLeastPrivilege) {
  EXPECT_EQ(CapsCommand("client.libvirt", LeastPrivilegeCaps(kPool)),
            "ceph auth caps client.libvirt mon 'profile rbd' osd 'profile rbd pool=libvirt'");
}

TEST(Caps, CapsCommandKeepsOtherServicesAndQuotesForTheShell) {
  CephCaps caps = {{"mgr", "profile rbd"}, {"mon", "profile rbd"}, {"osd", "profile rbd pool='it''s'"}};
  EXPECT_EQ(CapsCommand("client.vm", caps),
            "ceph auth caps client.vm mgr 'profile rbd' mon 'profile rbd' "
            "osd 'profile rbd pool='\\''it'\\'''\\''s'\\'''");
  EXPECT_EQ(CapsCommand("client.a b", {}), "ceph auth caps 'client.a b'");
}

// ---------------------------------------------- cluster answers (ceph/admin)

TEST(MonDump, TakesTheV1AddressOfEachMonitorInRankOrder) {
  const std::string dump = R"({"epoch":1,"mons":[
    {"rank":1,"name":"b","public_addrs":{"addrvec":[{"type":"v2","addr":"10.0.0.2:3300","nonce":0},
      {"type":"v1","addr":"10.0.0.2:6789","nonce":0}]},"addr":"10.0.0.2:6789/0"},
    {"rank":0,"name":"a","public_addrs":{"addrvec":[{"type":"v2","addr":"[fd00::1]:3300","nonce":0},
      {"type":"v1","addr":"[fd00::1]:6790","nonce":0}]},"addr":"[fd00::1]:6790/0"},
    {"rank":2,"name":"c","addr":"10.0.0.3:6789/0"}]})";
  Result<std::vector<MonAddress>> r = ParseMonDump(dump);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r.value()[0], (MonAddress{"fd00::1", 6790, "a"}));
  EXPECT_EQ(r.value()[1], (MonAddress{"10.0.0.2", 6789, "b"}));
  EXPECT_EQ(r.value()[2], (MonAddress{"10.0.0.3", 6789, "c"}));  // legacy field
}

TEST(MonDump, AV2OnlyMonitorIsRefused) {
  const std::string dump = R"({"mons":[{"rank":0,"name":"a","public_addrs":{"addrvec":[
    {"type":"v2","addr":"10.0.0.1:3300","nonce":0}]},"addr":"v2:10.0.0.1:3300/0"}]})";
  Result<std::vector<MonAddress>> r = ParseMonDump(dump);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), Kind::kRefused);
}

TEST(MonDump, GarbageIsInternal) {
  EXPECT_EQ(ParseMonDump("{not json").status().kind(), Kind::kInternal);
  EXPECT_EQ(ParseMonDump("{}").status().kind(), Kind::kInternal);
  EXPECT_EQ(ParseMonDump(R"({"mons":[]})").status().kind(), Kind::kInternal);
}

TEST(MonDump, SplitHostPort) {
  std::string h;
  int p = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:6789/0", &h, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 6789);
  EXPECT_TRUE(SplitHostPort("[::1]:3300", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 3300);
  EXPECT_FALSE(SplitHostPort("0.0.0.0:0/0", &h, &p));
  EXPECT_FALSE(SplitHostPort("host", &h, &p));
  EXPECT_FALSE(SplitHostPort("[::1]", &h, &p));
  EXPECT_FALSE(SplitHostPort("h:99999", &h, &p));
}

TEST(Base64, DecodesStrictly) {
  SecretBytes out;
  ASSERT_TRUE(Base64Decode("aGVsbG8=", 8, &out));
  EXPECT_EQ(std::string(out.data(), out.size()), "hello");
  ASSERT_TRUE(Base64Decode(" aGk=\n", 6, &out));
  EXPECT_EQ(std::string(out.data(), out.size()), "hi");
  ASSERT_TRUE(Base64Decode("AAEC/+8=", 8, &out));
  EXPECT_EQ(out.size(), 5u);
  EXPECT_EQ(static_cast<unsigned char>(out.data()[3]), 0xff);
  EXPECT_FALSE(Base64Decode("aGVsbG8", 7, &out));  // not a multiple of 4
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(Base64Decode("aG=sbG8=", 8, &out));  // '=' inside
  EXPECT_FALSE(Base64Decode("aGk-", 4, &out));      // not the standard alphabet
  EXPECT_FALSE(Base64Decode("aGl=", 4, &out));      // non-zero padding bits
  EXPECT_FALSE(Base64Decode("", 0, &out));
}

TEST(SecretBytes, MovedFromIsEmpty) {
  SecretBytes a("short", 5);
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(std::string(b.data(), b.size()), "short");
  SecretBytes c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.size(), 5u);
  c.Append(" and longer than the small-string buffer", 40);
  EXPECT_EQ(c.size(), 45u);
  c.Wipe();
  EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace v2r
