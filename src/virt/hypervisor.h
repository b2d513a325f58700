// The Hypervisor seam: what the code above virt/ may ask of libvirt, as pure
// interfaces. VirtConnection/VirtDomain (virt/libvirt.h) implement them over
// the libvirt C API; tests/unit/fake_hypervisor.h over an in-memory world, so
// that the migration's libvirt side is unit tested without root or a lab.
//
// The contracts (kinds of errors, threads, lifetimes) are the ones documented
// in virt/libvirt.h: a query that fails is kRefused (nothing changed), a call
// that changes something and fails is kFailed. A fake must keep them.
//
// Code in migrate/ never opens libvirt itself: it is handed a
// HypervisorOpener (Session::open_hypervisor), LibvirtOpener() by default.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "virt/volume.h"

namespace v2r {

// Flags of Domain::XmlDesc: the values of libvirt's VIR_DOMAIN_XML_*.
inline constexpr unsigned kXmlSecure = 1u << 0;      // passwords etc. too
inline constexpr unsigned kXmlInactive = 1u << 1;    // the persistent definition
inline constexpr unsigned kXmlUpdateCpu = 1u << 2;
inline constexpr unsigned kXmlMigratable = 1u << 3;

// virDomainGetState, folded. VIR_DOMAIN_BLOCKED (running, waiting on a
// resource) is kRunning; VIR_DOMAIN_NOSTATE and anything newer is kOther.
enum class DomainState {
  kRunning,
  kPaused,
  kShutoff,
  kShutdown,  // shutting down: in progress, not yet off
  kCrashed,
  kPmSuspended,
  kOther,
};
// "running", "paused", "shut off", "shutting down", "crashed", "pmsuspended", "other".
const char* DomainStateName(DomainState s);

// True when the libvirt URI has no host part: qemu:///system, qemu:///session,
// qemu+unix:///system, test:///default. False for qemu+ssh://host/system,
// qemu+tcp://localhost/system (any host, even this one) and for a string that
// is not a URI at all.
bool UriIsLocal(const std::string& uri);

// One domain of a hypervisor (VirtDomain: a virDomainPtr). Name and uuid are
// read once, at lookup. See VirtDomain for what each call does in libvirt.
class Domain {
 public:
  virtual ~Domain() = default;

  virtual const std::string& name() const = 0;
  virtual const std::string& uuid() const = 0;
  // The connection's URI, for messages.
  virtual const std::string& uri() const = 0;

  virtual Result<DomainState> State() = 0;
  virtual Result<bool> IsPersistent() = 0;
  virtual Result<bool> HasManagedSave() = 0;
  virtual Result<std::vector<std::string>> SnapshotNames() = 0;
  // Empty when the driver does not support checkpoints.
  virtual Result<std::vector<std::string>> CheckpointNames() = 0;
  // The running domain's id; -1 when it is not running.
  virtual Result<int> Id() = 0;

  // The domain's XML with kXml* flags.
  virtual Result<std::string> XmlDesc(unsigned flags) = 0;
  // The persistent definition with secure data (graphics passwords...): the
  // one to save before changing it and to redefine from.
  Result<std::string> InactiveSecureXml() { return XmlDesc(kXmlSecure | kXmlInactive); }
  // What is running now (secure data included).
  Result<std::string> LiveXml() { return XmlDesc(kXmlSecure); }

  // Asks the guest to shut down (ACPI) and returns at once; a guest may
  // ignore it: see WaitForState.
  virtual Status Shutdown() = 0;
  // Powers the domain off at once.
  virtual Status Destroy() = 0;
  // Starts a defined, shut-off domain.
  virtual Status Start() = 0;
  // Pauses the running domain's vCPUs (in-flight disk requests drained
  // first); Resume() continues it.
  virtual Status Suspend() = 0;
  virtual Status Resume() = 0;
  // Whether the hypervisor starts the domain when it starts, and changing that.
  virtual Result<bool> Autostart() = 0;
  virtual Status SetAutostart(bool on) = 0;

  // Polls State() every 200 ms until it is `want`. Returns:
  //  - Ok once it is;
  //  - kRefused on timeout (after timeout_s; 0 checks once): "domain 'X' did
  //    not shut down within N s" when want is kShutoff, else "domain 'X' did
  //    not reach state 'S' within N s (it is 'T')"; the caller picks the kind
  //    it reports (and may destroy the domain instead);
  //  - kInterrupted when *cancel (if not null) becomes true;
  //  - kFailed when the state cannot be told any more (the domain vanished,
  //    the connection broke).
  // Not virtual: one polling loop over State() for every implementation.
  Status WaitForState(DomainState want, int timeout_s, const std::atomic<bool>* cancel);

  // --- Block jobs (live copy of a running domain's disk). `disk` is the
  // disk's target ("vda") or its source path. See VirtDomain::BlockCopy. ---
  struct BlockCopyParams {
    bool reuse_ext = true;         // the destination exists at the right size (REUSE_EXT)
    bool transient_job = true;     // allowed on a persistent domain (TRANSIENT_JOB)
    uint64_t bandwidth = 0;        // bytes/s; 0: unlimited
  };
  virtual Status BlockCopy(const std::string& disk, const std::string& dest_disk_xml,
                           const BlockCopyParams& params) = 0;

  enum class BlockJobType { kPull, kCopy, kCommit, kActiveCommit, kBackup, kOther };
  struct BlockJobStatus {
    BlockJobType type = BlockJobType::kOther;
    uint64_t cur = 0, end = 0;
    uint64_t bandwidth = 0;        // bytes/s; 0: unlimited
  };
  // The block job of `disk`, or nullopt when it has none.
  virtual Result<std::optional<BlockJobStatus>> BlockJob(const std::string& disk) = 0;
  // Ends the block job of `disk` and waits until it has ended; pivot: the
  // disk switches to the copy's destination. kRefused when nothing changed
  // (no job, or not ready for a pivot); kFailed otherwise.
  virtual Status BlockJobAbort(const std::string& disk, bool pivot) = 0;
  // Changes the bandwidth of a running job (bytes/s; 0: unlimited).
  virtual Status BlockJobSetSpeed(const std::string& disk, uint64_t bandwidth) = 0;
};

// The lifecycle of one domain, watched from the moment it was made
// (Hypervisor::WatchLifecycle): what LifecycleWatch (virt/domain_events.h)
// does over libvirt's events. Thread-safe.
class DomainWatch {
 public:
  virtual ~DomainWatch() = default;
  // The events since the watch began that mean the domain ran ("started
  // (booted)", "resumed", "crashed", ...), oldest first.
  virtual std::vector<std::string> RunEvents() const = 0;
  // The domain's state now.
  virtual Result<DomainState> State() = 0;
  // The watch still works: false once the hypervisor went away (events may
  // have been missed from then on).
  virtual bool Alive() const = 0;
};

// A connection to a hypervisor (VirtConnection: a virConnectPtr). Destroy
// every Domain and DomainWatch before the Hypervisor they came from.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // The URI the hypervisor resolved, e.g. "qemu:///system".
  virtual const std::string& uri() const = 0;
  bool IsLocal() const { return UriIsLocal(uri()); }
  // The connection still works: false once the daemon went away.
  virtual bool IsAlive() const = 0;

  // By name, then (if it looks like one) by UUID. Not found is kRefused.
  virtual Result<std::unique_ptr<Domain>> LookupDomain(const std::string& name_or_uuid) = 0;
  // Names of every domain, defined or running.
  virtual Result<std::vector<std::string>> DomainNames() = 0;
  // Defines a new domain or replaces the persistent definition of an
  // existing one (same name and uuid). Rejected XML is kFailed.
  virtual Result<std::unique_ptr<Domain>> DefineXml(const std::string& xml) = 0;

  // --- Secrets. A ceph secret's value is the RAW key (base64-decoded). ---
  // The uuid of the ceph secret with that usage name, or nullopt.
  virtual Result<std::optional<std::string>> FindCephSecret(const std::string& usage_name) = 0;
  // Defines a private, persistent ceph secret; returns its uuid. A usage
  // name already taken is kFailed.
  virtual Result<std::string> DefineCephSecret(const std::string& usage_name, const std::string& description) = 0;
  // Sets the value to raw_bytes exactly. The bytes never appear in a message.
  virtual Status SetSecretValue(const std::string& uuid, const std::string& raw_bytes) = 0;
  // The value of the secret with this uuid or, when uuid is empty, of the ceph
  // secret with this usage name: the raw bytes (a ceph key base64-decoded).
  // The caller wipes them once used; they never appear in a message. A secret
  // that does not exist, or has no value, is kRefused; a private one (libvirt
  // never hands out its value) kRefused with cause kPermission.
  virtual Result<std::string> GetSecretValue(const std::string& uuid, const std::string& ceph_usage) = 0;
  // A secret that does not exist is kRefused (nothing changed).
  virtual Status UndefineSecret(const std::string& uuid) = 0;
  // Names of the domains whose definition or live XML refers to the secret.
  virtual Result<std::vector<std::string>> DomainsUsingSecret(const std::string& uuid) = 0;

  // --- Storage pools. ---
  // What libvirt says of volume `volume` of storage pool `pool` (virt/volume.h).
  // An inactive pool is an answer (pool_active false, nothing else known);
  // an unknown pool or volume is kRefused naming it, with the virsh command
  // that lists what there is.
  virtual Result<VolumeInfo> ResolveVolume(const std::string& pool, const std::string& volume) = 0;

  // Starts watching the lifecycle of the domain with this uuid, through this
  // connection (open one for the watch alone: the libvirt one tunes its
  // keepalive for it). kRefused when the domain is gone or the hypervisor
  // does not answer.
  virtual Result<std::unique_ptr<DomainWatch>> WatchLifecycle(const std::string& uuid) = 0;
};

// Opens a connection to the hypervisor at `uri` (empty: the default).
using HypervisorOpener = std::function<Result<std::unique_ptr<Hypervisor>>(const std::string& uri)>;
// The real one: VirtConnection::Open.
HypervisorOpener LibvirtOpener();

}  // namespace v2r
