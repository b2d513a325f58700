// A fake hypervisor for unit tests: the Hypervisor seam (virt/hypervisor.h)
// over an in-memory world, so that the migration code that talks to libvirt
// runs without root, libvirtd or a lab.
//
// A FakeLibvirt is "the libvirtd": domains (a state machine, a persistent
// definition, an autostart flag), ceph secrets with values, and the lifecycle
// watchers. Its Opener() goes into Session::open_hypervisor; every connection
// it opens sees the same world, like connections to one libvirtd. The test
// changes the world from any thread (SetState: "the VM is started behind
// virt2rbd's back") and watchers get the events, as libvirt's would.
//
// Failures are scripted: FailCall("DefineXml", 1, st) makes the next
// DefineXml fail with st; Kill() is libvirtd going away (every connection
// dead: IsAlive false, calls fail as they do on a lost connection, opening
// refused) and Revive() its return (new connections work, old ones stay dead).
//
// Errors keep virt/libvirt.h's contract: a failed query is kRefused, a failed
// change kFailed, each naming the domain and the URI.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "virt/hypervisor.h"

namespace v2r::fake {

class FakeCluster;

// A block copy of one disk of a running domain (qemu's mirror, through
// virDomainBlockCopy): fake_block_jobs.cc. BlockCopy copies the disk's bytes
// into the destination at once (every byte, zeros too, as qemu's mirror onto
// a fresh image) and from then on mirrors the guest's writes (GuestWrite);
// the job reports progress for `copy_polls` BlockJob calls, then is ready
// (<mirror ready='yes'> in the live XML). Abort without pivot leaves the
// disk on its source; with pivot the live XML's disk becomes the destination.
struct FakeBlockJob {
  std::string dest_xml;     // the <disk> element BlockCopy was given
  std::string dest_type;    // "network" (rbd) or "file"
  std::string dest_source;  // "pool/image" or a path
  uint64_t cur = 0, end = 0;
  int polls = 0;            // BlockJob calls so far
  bool ready = false;
  bool reuse_ext = false, transient_job = false;
  std::vector<uint64_t> speeds;  // the bandwidth at the start, then every SetSpeed
};

// One domain of the fake, as the test sets it up and inspects it.
struct FakeDomain {
  std::string name, uuid;
  std::string xml;       // the persistent definition (what DefineXml replaces)
  std::string live_xml;  // what runs (the definition when it was started)
  DomainState state = DomainState::kShutoff;
  bool autostart = false;
  bool persistent = true;
  bool managed_save = false;
  bool ignores_shutdown = false;  // the guest does not answer the power button
  std::vector<std::string> snapshots, checkpoints;
  int defines = 0;  // how many times DefineXml replaced the definition
  std::map<std::string, FakeBlockJob> jobs;  // by disk target; none once it stops
};

// A storage pool of the fake (virsh pool-define-as) and its volumes, keyed
// by name; each volume's VolumeInfo as ResolveVolume answers it (its pool,
// pool_type and pool_active filled in from the pool).
struct FakeStoragePool {
  std::string type = "dir";
  bool active = true;
  std::map<std::string, VolumeInfo> volumes;
};

struct FakeSecret {
  std::string uuid, usage, description;
  std::optional<std::string> value;
  int value_sets = 0;
};

class FakeLibvirt {
 public:
  explicit FakeLibvirt(std::string uri = "fake:///system");
  ~FakeLibvirt();
  FakeLibvirt(const FakeLibvirt&) = delete;
  FakeLibvirt& operator=(const FakeLibvirt&) = delete;

  const std::string& uri() const { return uri_; }
  // Opens a connection to this fake (the uri asked for is ignored: there is
  // one world). Refused while the fake is killed.
  HypervisorOpener Opener() const;

  // A domain with a minimal definition (one file disk vda at `disk_path`),
  // in that state; returns its uuid.
  std::string AddDomain(const std::string& name, DomainState state = DomainState::kShutoff,
                        const std::string& disk_path = "/var/lib/libvirt/images/disk.img");
  // The definition AddDomain gives a domain.
  static std::string DomainXml(const std::string& name, const std::string& uuid, const std::string& disk_path);
  // A copy of the domain named `name` (or with that uuid); a test failure
  // and an empty one when there is none.
  FakeDomain Get(const std::string& name) const;
  // Changes a domain's fields in place (no events).
  void Update(const std::string& name, const std::function<void(FakeDomain&)>& change);
  // Changes its state as someone else would (virsh start, destroy, a crash):
  // watchers see the event. From any thread.
  void SetState(const std::string& name, DomainState to);

  // Storage pools: AddPool defines one (active), AddVolume adds a volume to
  // it (`vol.pool`, `vol.volume` name them; the pool must exist),
  // SetPoolActive starts or stops it (virsh pool-start / pool-destroy).
  void AddPool(const std::string& name, const std::string& type = "dir", bool active = true);
  void AddVolume(const VolumeInfo& vol);
  void SetPoolActive(const std::string& name, bool active);

  std::vector<FakeSecret> Secrets() const;
  // A ceph secret that exists already (the operator's); returns its uuid.
  std::string AddSecret(const std::string& usage, std::optional<std::string> value = std::nullopt);

  // The nth call of `op` from now on (1: the next one) fails with `st` and
  // changes nothing. `op` is the method's name: "DefineXml", "Shutdown",
  // "SetAutostart", "DefineCephSecret", "SetSecretValue", "State", ...
  void FailCall(const std::string& op, int nth, Status st);
  // Runs `hook(op)` at the start of every call, the fake's lock held: it may
  // change the world's secrets as another process would (OnCallAddSecret).
  void OnCallAddSecret(const std::string& op, const std::string& usage);
  // How many times `op` was called (failed calls included).
  int Calls(const std::string& op) const;
  // --- Block jobs (fake_block_jobs.cc). A disk is a file (its path) or an
  // rbd image of `ceph` ("pool/image"): UseCluster before a copy to RBD. ---
  void UseCluster(FakeCluster* ceph);
  // How many BlockJob calls a copy reports progress before it is ready (1: the
  // first call says cur == end, the next live XML says ready).
  void SetCopyPolls(int polls);
  // Runs hook(domain, disk) at the start of every BlockJob call, outside the
  // fake's lock (e.g. GuestWrite while the copy runs).
  void SetBlockJobPollHook(std::function<void(const std::string& domain, const std::string& disk)> hook);
  // The guest of the running domain writes `bytes` at `offset` of disk
  // `target`: onto the disk it runs on now, and onto the destination of a
  // copy of that disk (qemu mirrors writes). A test failure when the domain
  // is not running or has no such disk.
  void GuestWrite(const std::string& name, const std::string& target, uint64_t offset, const std::string& bytes);

  // libvirtd went away / is back.
  void Kill();
  void Revive();

  struct World;

 private:
  std::string uri_;
  std::shared_ptr<World> w_;
};

}  // namespace v2r::fake
