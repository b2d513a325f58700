#include <gtest/gtest.h>

#include "virt/libvirt.h"

namespace v2r {
namespace {

constexpr const char* kUuid = "0f3e1c2a-4b5d-4e6f-8a9b-0c1d2e3f4a5b";

TEST(DomainXmlUsesSecret, FindsTheDiskAuthByUuidInAnyCaseOrDashes) {
  std::string xml = R"(<domain><devices><disk type='network'><auth username='v2r'>
    <secret type='ceph' uuid='0F3E1C2A4B5D4E6F8A9B0C1D2E3F4A5B'/></auth></disk></devices></domain>)";
  EXPECT_TRUE(DomainXmlUsesSecret(xml, kUuid, ""));
  EXPECT_FALSE(DomainXmlUsesSecret(xml, "11111111-2222-3333-4444-555555555555", ""));
}

TEST(DomainXmlUsesSecret, FindsAUsageReferenceAndASecretAttribute) {
  std::string by_usage = R"(<domain><disk><auth><secret type="ceph" usage="client.v2r secret"/></auth></disk></domain>)";
  EXPECT_TRUE(DomainXmlUsesSecret(by_usage, "", "client.v2r secret"));
  EXPECT_FALSE(DomainXmlUsesSecret(by_usage, "", "client.other secret"));
  std::string attr = std::string("<domain><graphics type='vnc' secret='") + kUuid + "'/></domain>";
  EXPECT_TRUE(DomainXmlUsesSecret(attr, kUuid, ""));
}

TEST(DomainXmlUsesSecret, IgnoresOtherNamespacesAndTextAndEntitiesAreDecoded) {
  std::string meta = std::string("<domain><metadata><app:secret xmlns:app='x' uuid='") + kUuid +
                     "'/></metadata><description>" + kUuid + "</description></domain>";
  EXPECT_FALSE(DomainXmlUsesSecret(meta, kUuid, ""));
  std::string entity = R"(<domain><secret usage="a&amp;b"/></domain>)";
  EXPECT_TRUE(DomainXmlUsesSecret(entity, "", "a&b"));
}

TEST(DomainXmlUsesSecret, UnparsableXmlIsSearchedConservatively) {
  std::string broken = std::string("<domain><secret uuid='") + kUuid + "'";
  EXPECT_TRUE(DomainXmlUsesSecret(broken, kUuid, ""));
  EXPECT_FALSE(DomainXmlUsesSecret("<domain", kUuid, ""));
  EXPECT_FALSE(DomainXmlUsesSecret("<domain/>", "", ""));
}

}  // namespace
}  // namespace v2r
