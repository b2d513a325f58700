// The connections one command works with, and gathering the facts a plan is
// made from. This is where libvirt, Ceph and the local disks are asked; the
// decisions are made by MakePlan() (pure).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "ceph/cluster_api.h"
#include "ceph/secret_bytes.h"
#include "migrate/options.h"
#include "migrate/plan.h"
#include "virt/hypervisor.h"

namespace v2r {

struct Session {
  // How libvirt is opened, here and wherever the run opens it again (the
  // reconnect, the source guard's own connection): a unit test's fake
  // (tests/unit/fake_hypervisor.h) in place of libvirt.
  HypervisorOpener open_hypervisor = LibvirtOpener();
  // How Ceph is opened (OpenCeph): a unit test's fake
  // (tests/unit/fake_cluster.h) in place of librados.
  ClusterOpener open_cluster = RadosOpener();
  std::unique_ptr<Hypervisor> virt;
  std::unique_ptr<Domain> domain;
  std::unique_ptr<Cluster> cluster;
  // The migration's pool (null when it does not exist). Declared after
  // cluster: destroyed before it.
  std::unique_ptr<Pool> pool;
  // Where librados' own log goes (its messages never reach the screen):
  // the domain's run log once the state dir is open; empty: discarded.
  std::string ceph_log_file;
  // The operator's Ceph options OpenCeph connected with (an RBD source's
  // connection starts from them).
  CephOptions ceph;
  // The cephx key of `entity` (the libvirt secret's value), from `cluster`.
  Result<SecretBytes> CephxKey(const std::string& entity);
  ~Session();  // pool before cluster; domain before virt
  // Writes were abandoned: leak the Ceph handles (closing them would wait
  // for those writes for ever). See base/abandon.h.
  void Abandon() {
    (void)pool.release();
    (void)cluster.release();
  }
};

// Opens libvirt through s->open_hypervisor (refused when unreachable) and
// looks the domain up.
Status OpenLibvirt(const std::string& uri, const std::string& domain, Session* s);
// Connects to Ceph as the operator (through s->open_cluster) and opens the
// pool when it exists (s->pool stays empty when the pool does not exist).
Status OpenCeph(const CephOptions& ceph, const std::string& pool, Session* s);

RunState ToRunState(DomainState st);

Result<DomainFacts> GatherDomainFacts(Session& s, const std::string& secret_usage);
// Each source of the domain's disks: readable? size, allocation, and which
// other defined domains use it. `info` is the parsed domain XML.
std::map<std::string, SourceFacts> GatherSourceFacts(Session& s, const DomainInfo& info);
// What libvirt says of the volume of each volume disk (DomainFacts::volumes).
std::map<std::string, Result<VolumeInfo>> GatherVolumeFacts(Session& s, const DomainInfo& info);
// The same for each rbd disk that moves (ClassifyRbdSource against the
// target pool and `monmap`): its cluster reached as its definition says
// (migrate/rbd_source.h), the image's size, allocation, watchers and
// snapshots; an unreachable cluster or an unreadable key is its error.
void GatherRbdSourceFacts(Session& s, const MigrateOptions& opts, const DomainInfo& info,
                          const std::vector<MonHost>& monmap, std::map<std::string, SourceFacts>* out);
// Pool, space, monitors, the VM's user, and which of `image_names` exist.
Result<ClusterFacts> GatherClusterFacts(Session& s, const std::string& pool, const std::string& user_entity,
                                        const std::vector<std::string>& image_names);

}  // namespace v2r
