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

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "virt/hypervisor.h"

namespace v2r::fake {

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

  std::vector<FakeSecret> Secrets() const;
  // A ceph secret that exists already (the operator's); returns its uuid.
  std::string AddSecret(const std::string& usage, std::optional<std::string> value = std::nullopt);

  // The nth call of `op` from now on (1: the next one) fails with `st` and
  // changes nothing. `op` is the method's name: "DefineXml", "Shutdown",
  // "SetAutostart", "DefineCephSecret", "SetSecretValue", "State", ...
  void FailCall(const std::string& op, int nth, Status st);
  // How many times `op` was called (failed calls included).
  int Calls(const std::string& op) const;
  // libvirtd went away / is back.
  void Kill();
  void Revive();

  struct World;

 private:
  std::string uri_;
  std::shared_ptr<World> w_;
};

}  // namespace v2r::fake
