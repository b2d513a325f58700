// librados' own diagnostics go to CephOptions::ceph_log_file, not the
// screen. Needs librados but no cluster: an empty conf has no mon host, so
// connecting fails at once, after librados wrote "unable to get monitor info
// from DNS SRV" to std::cerr. The first connection of a process decides where
// std::cerr goes: this binary has no other test that connects.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ceph/cluster.h"

namespace v2r {
namespace {

TEST(CephLog, LibradosDiagnosticsGoToTheCephLogFile) {
  char dir[] = "/tmp/v2r-ceph-log.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string conf = std::string(dir) + "/empty.conf";
  const std::string log = std::string(dir) + "/ceph.log";
  std::ofstream(conf).close();
  CephOptions o;
  o.conf = conf;
  o.connect_timeout_s = 5;
  o.ceph_log_file = log;
  auto cluster = RadosCluster::Connect(o);
  EXPECT_FALSE(cluster.ok());
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("unable to get monitor info from DNS SRV"), std::string::npos) << text.str();
  std::remove(log.c_str());
  std::remove(conf.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace v2r
