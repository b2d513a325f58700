// libvirt access (the libvirt C API): a connection, domains, ceph secrets.
//
// src/virt/ is the only code that includes libvirt headers; this header only
// forward-declares libvirt's handle types, so its users need not include them.
//
// Errors: every call returns a Status naming the URI and the domain or secret
// concerned, with libvirt's own message (virGetLastErrorMessage). Queries
// (open, lookups, lists, XML, state, WaitForState's polling) fail with
// kRefused: nothing was changed. Calls that change something (define,
// undefine, set a value, start, shut down, destroy) fail with kFailed. Callers
// re-kind with Status::As where their context says otherwise. Nothing here
// prints: the first Open installs a no-op libvirt error handler
// (virSetErrorFunc) for the whole process, so libvirt does not write its
// errors to stderr either.
//
// Threads: libvirt connections are thread-safe and libvirt's last error is per
// thread, so a VirtConnection and the VirtDomains from it may be used from
// several threads at once. The objects are immutable after creation; moving
// one while another thread uses it is not allowed.
//
// Lifetime: destroy every VirtDomain before the VirtConnection it came from.
// (Each VirtDomain also holds its own reference on the libvirt connection, so
// a domain that outlives its VirtConnection by mistake stays valid; the
// connection closes when the last of them is gone.)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/owned_handle.h"
#include "base/status.h"
#include "virt/hypervisor.h"

// libvirt's handle types (<libvirt/libvirt.h> declares the same typedefs).
typedef struct _virConnect virConnect;
typedef struct _virDomain virDomain;

namespace v2r {

// virConnectClose (drops one reference on the connection) and virDomainFree,
// for OwnedHandle (virt/libvirt.cc).
void CloseVirConnect(virConnect* conn);
void FreeVirDomain(virDomain* dom);
using VirConnectHandle = OwnedHandle<virConnect*, CloseVirConnect>;
using VirDomainHandle = OwnedHandle<virDomain*, FreeVirDomain>;

// Whether a domain XML refers to a libvirt secret: a <secret> element (disk
// <auth>, <encryption>, ...) whose uuid attribute is `uuid` (compared without
// case and dashes) or whose usage attribute is `usage_id` (when not empty, of
// any type), or an element with secret='uuid' (vTPM <encryption>). Elements
// with a namespace prefix and comments are ignored. Errs on the side of
// "used": XML it cannot scan falls back to a plain search for the uuid.
bool DomainXmlUsesSecret(std::string_view xml, std::string_view uuid, std::string_view usage_id);

class VirtDomain;

// An open libvirt connection (virConnectPtr). Move-only (a move empties the
// source); closed on destruction.
class VirtConnection : public Hypervisor {
 public:
  // Opens `uri` read-write; an empty uri means $LIBVIRT_DEFAULT_URI, then
  // "qemu:///system" (never libvirt's own probing, which would pick
  // qemu:///session for a non-root user). Failure is kRefused "cannot connect
  // to libvirt at URI: ..." with a hint (start libvirtd, or --connect).
  static Result<std::unique_ptr<VirtConnection>> Open(const std::string& uri);

  // The URI libvirt resolved (virConnectGetURI), e.g. "qemu:///system".
  const std::string& uri() const override { return uri_; }
  // The connection still works (virConnectIsAlive): false once libvirtd went
  // away (restarted, killed) or, with keepalive, stopped answering.
  bool IsAlive() const override;

  // By name, then (if it looks like one) by UUID. Not found is kRefused
  // "domain 'X' not found at URI" with a hint (virsh list --all).
  Result<std::unique_ptr<Domain>> LookupDomain(const std::string& name_or_uuid) override;
  // Names of every domain, defined or running (persistent and transient).
  Result<std::vector<std::string>> DomainNames() override;
  // virDomainDefineXML: defines a new domain or replaces the persistent
  // definition of an existing one (same name and uuid). Rejected XML is
  // kFailed with libvirt's reason.
  Result<std::unique_ptr<Domain>> DefineXml(const std::string& xml) override;

  // --- Secrets. A ceph secret's value is the RAW key (base64-decoded). ---

  // The uuid of the secret with usage type ceph and usage name `usage_name`
  // ("client.libvirt secret"), or nullopt when there is none.
  Result<std::optional<std::string>> FindCephSecret(const std::string& usage_name) override;
  // Defines <secret ephemeral='no' private='yes'> with that description and
  // ceph usage name; returns its uuid. A usage name already taken is kFailed.
  Result<std::string> DefineCephSecret(const std::string& usage_name, const std::string& description) override;
  // virSecretSetValue with raw_bytes exactly (no encoding). Setting the same
  // value again is harmless. The bytes never appear in any message.
  Status SetSecretValue(const std::string& uuid, const std::string& raw_bytes) override;
  // A secret that does not exist is kRefused (nothing changed).
  // virSecretGetValue; libvirt's buffer is wiped before it is freed.
  Result<std::string> GetSecretValue(const std::string& uuid, const std::string& ceph_usage) override;
  Status UndefineSecret(const std::string& uuid) override;
  // Names of the domains whose definition (inactive XML) or, when running,
  // live XML refers to the secret (DomainXmlUsesSecret, by uuid or usage).
  // Domains that vanish during the scan are skipped.
  Result<std::vector<std::string>> DomainsUsingSecret(const std::string& uuid) override;

  // A LifecycleWatch (virt/domain_events.h) on this connection; sets its
  // keepalive to 5 s x 3 so that a hung libvirtd shows as !Alive() soon.
  Result<std::unique_ptr<DomainWatch>> WatchLifecycle(const std::string& uuid) override;

  // virStoragePoolLookupByName, virStoragePoolIsActive, the pool's and the
  // volume's XML (virStorageVolLookupByName) and virStorageVolGetPath
  // (storage.cc). Every failure is kRefused: nothing is changed.
  Result<VolumeInfo> ResolveVolume(const std::string& pool, const std::string& volume) override;

 private:
  friend class LifecycleWatch;
  VirtConnection(virConnect* conn, std::string uri) : conn_(conn), uri_(std::move(uri)) {}

  VirConnectHandle conn_;
  std::string uri_;
};

// A domain handle (virDomainPtr). Move-only (a move empties the source);
// freed on destruction (the domain itself is untouched), before its reference
// on the connection is dropped. Name and uuid are read once, at lookup.
class VirtDomain : public Domain {
 public:
  const std::string& name() const override { return name_; }
  const std::string& uuid() const override { return uuid_; }
  // The connection's URI, for messages.
  const std::string& uri() const override { return uri_; }

  Result<DomainState> State() override;
  Result<bool> IsPersistent() override;
  Result<bool> HasManagedSave() override;
  Result<std::vector<std::string>> SnapshotNames() override;
  // Empty when the driver does not support checkpoints.
  Result<std::vector<std::string>> CheckpointNames() override;
  // The running domain's id; -1 when it is not running.
  Result<int> Id() override;

  // virDomainGetXMLDesc with kXml* flags.
  Result<std::string> XmlDesc(unsigned flags) override;
  // InactiveSecureXml() and LiveXml(): see Domain.

  // Asks the guest to shut down (ACPI power button, virDomainShutdown) and
  // returns at once; a guest may ignore it: see WaitForState.
  Status Shutdown() override;
  // Powers the domain off at once (virDomainDestroy).
  Status Destroy() override;
  // Starts a defined, shut-off domain (virDomainCreate).
  Status Start() override;
  // Pauses the running domain's vCPUs (virDomainSuspend); qemu drains the
  // disks' requests in flight first. Resume() continues it.
  Status Suspend() override;
  Status Resume() override;
  // Whether libvirt starts the domain when libvirtd starts (virDomainGetAutostart),
  // and changing that (virDomainSetAutostart).
  Result<bool> Autostart() override;
  Status SetAutostart(bool on) override;

  // WaitForState: see Domain (polls State()).

  // --- Block jobs (live copy of a running domain's disk). `disk` is the
  // disk's target ("vda") or its source path. ---

  // Starts a block copy (qemu's mirror) of `disk` to the destination
  // described by `dest_disk_xml`, a <disk> element (type='network' for RBD,
  // with <source>, its <host>s and <auth>; or type='block'/'file'). Returns
  // once the job runs; it copies in the background: poll BlockJob() and the
  // live XML's <mirror ready='yes'> (DiskInfo::mirror_ready), then end it
  // with BlockJobAbort. Refused by libvirt (kFailed) when the domain is not
  // running or the disk already has a job.
  Status BlockCopy(const std::string& disk, const std::string& dest_disk_xml, const BlockCopyParams& params) override;

  // The block job of `disk` (virDomainGetBlockJobInfo), or nullopt when it
  // has none. While a copy is not in sync, libvirt keeps cur below end; after
  // it first became ready cur may drop below end again as the guest writes:
  // readiness is the live XML's <mirror ready='yes'>, not cur == end.
  Result<std::optional<BlockJobStatus>> BlockJob(const std::string& disk) override;

  // Ends the block job of `disk` and waits until it has ended
  // (virDomainBlockJobAbort, synchronous). pivot: the disk switches to the
  // copy's destination (the copy must be ready); otherwise the copy is
  // cancelled and the disk stays on its source. kRefused when libvirt finds
  // the request invalid, nothing changed: the disk has no job, or (pivot) the
  // copy is not ready yet; kFailed otherwise.
  Status BlockJobAbort(const std::string& disk, bool pivot) override;

  // Changes the bandwidth of a running job (bytes/s; 0: unlimited).
  Status BlockJobSetSpeed(const std::string& disk, uint64_t bandwidth) override;


 private:
  friend class VirtConnection;
  friend class LifecycleWatch;
  // Takes ownership of dom; takes a reference on conn.
  VirtDomain(virConnect* conn, virDomain* dom, std::string uri, std::string name, std::string uuid);

  // conn_ before dom_: members are destroyed in reverse order, so the domain
  // is freed before our reference on its connection is dropped. (A move
  // assignment drops the old reference first, then frees the old domain:
  // harmless, a virDomain holds libvirt's own reference on its connection.)
  VirConnectHandle conn_;  // a reference of ours
  VirDomainHandle dom_;
  std::string uri_;
  std::string name_;
  std::string uuid_;
};

}  // namespace v2r
