// Domain XML, pure: parse a libvirt domain definition into facts, decide which
// disks virt2rbd moves, and rewrite moved disks as RBD network disks.
//
// No libvirt calls and no I/O: strings in, strings and structs out. pugixml is
// used only inside domain_xml.cc. Every function is reentrant and may be called
// from any thread. Nothing here throws.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace v2r {

// One <disk> of a domain, as written in the XML (defaults filled in where
// libvirt has a fixed one: a missing type is "file", a missing device "disk").
struct DiskInfo {
  std::string type;         // file|block|network|volume|dir|nvme|vhostuser...
  std::string device;       // disk|cdrom|floppy|lun
  std::string source;       // file: path; block: dev; dir: dir; network: name;
                            // volume: "POOL/VOLUME"; empty for an empty drive
  std::string protocol;     // network only: rbd, iscsi, nbd, ...
  // volume: <source pool volume mode>. Kept when the planner resolves the
  // disk into the file or block disk it is (type, source, driver_type then
  // those of the volume: virt/volume.h).
  std::string pool, volume, volume_mode;
  std::string target;       // <target dev>, e.g. vda
  std::string bus;          // <target bus>, as written (may be empty)
  std::string driver_name;  // <driver name>
  std::string driver_type;  // <driver type>: raw, qcow2, ... or empty
  std::string cache;        // <driver cache>
  std::string io;           // <driver io>
  bool shareable = false;   // <shareable/>
  bool readonly = false;    // <readonly/>
  bool encrypted = false;   // <encryption> as a disk child or in <source>
  bool sliced = false;      // <source><slices>: only part of the source is the disk
  // The one <slice type='storage' offset size> of a sliced disk (size 0: no
  // such single slice: refused).
  uint64_t slice_offset = 0, slice_size = 0;
  bool transient = false;   // <transient/>: changes discarded when the VM stops
  std::vector<std::pair<std::string, int>> hosts;  // network: <host name port>, 0 = no port
  std::string auth_username;  // <auth username>, disk child or in <source>
  // <auth><secret type='ceph' uuid=|usage=>: the libvirt secret holding the key.
  std::string auth_secret_uuid, auth_secret_usage;
  // <mirror>: a block job copying this disk (live XML only). Empty job: none.
  std::string mirror_job;       // <mirror job>: copy, active-commit, ...
  std::string mirror_type;      // <mirror type>: network, block, file
  std::string mirror_source;    // its <source> as for `source` ("pool/image", path)
  std::string mirror_protocol;  // network only
  bool mirror_ready = false;    // ready='yes': in sync, may pivot
};

struct DomainInfo {
  std::string name, uuid;
  std::string type;  // <domain type>: kvm, qemu, ...
  std::vector<DiskInfo> disks;  // in document order
};

// Parses a domain definition. Malformed XML, or a root that is not <domain>,
// is Status::Refused with the parser's message and byte offset.
Result<DomainInfo> ParseDomainXml(const std::string& xml);

// The <target dev> of every disk, in document order (disks without one are
// left out). Same errors as ParseDomainXml.
Result<std::vector<std::string>> DiskTargets(const std::string& xml);

// The <disk> element whose <target dev> is `target`, as a standalone XML
// text (e.g. to hand a rewritten disk to a block copy as its destination).
// A target that is not in the domain is Status::Refused.
Result<std::string> DiskElementXml(const std::string& xml, const std::string& target);

enum class DiskDecision { kMove, kStay, kRefuse };
struct DiskClassification {
  DiskDecision decision;
  std::string reason;  // empty for kMove; otherwise one line for the plan
};

// The image formats (a <driver type>) virt2rbd reads through qemu, for file
// disks: qcow2, qcow, vmdk, vdi, vhdx, vpc, qed. Raw is read directly.
bool IsImageFormat(const std::string& driver_type);

// Pure policy: which disks virt2rbd moves. First match wins:
//  kStay:   cdrom or floppy ("removable media stays"); a network disk other
//           than rbd ("already on the network (protocol X)"); a
//           dir/nvme/... disk ("type 'X' is not supported: stays");
//           a file, volume, block or rbd disk whose driver type is not raw
//           (nor, for a file, volume or block disk, an image format qemu reads)
//           ("qcow2 file: not raw" / "qcow2 block device: not raw"); a file
//           or block disk without a source ("no source: nothing to move").
//  kRefuse: device='lun' (unless lun_as_disk), <shareable/>, encryption,
//           <transient/>, <source><slices> other than one storage slice of a
//           raw disk (that one moves: only the slice), or a bus other than
//           virtio/scsi/sata/ide/usb/sd (a missing bus is inferred from the
//           target's prefix as libvirt does); the reason names the fix.
//  kMove:   device='disk' of type block, file or volume, with driver type raw,
//           none, or an image format qemu reads (IsImageFormat: qcow2, vmdk,
//           ...; read through qemu-nbd, on a block device with host_device).
//           A volume disk is resolved by the planner (ResolveVolumeDisk) and
//           classified again as the file or block disk it is. An rbd network
//           disk that passes the same checks: whether it stays (already in the
//           target pool of the target cluster) is the planner's decision
//           (ClassifyRbdSource, migrate/plan.h).
// Stays come before refusals: a disk that would not move anyway (say a
// network LUN or a shared cdrom) is never a reason to refuse the migration.
// With lun_as_disk (the operator's explicit --lun-as-disk), device='lun'
// moves as device='disk' (the rewrite drops its lun-only settings).
struct ClassifyOptions {
  bool lun_as_disk = false;
};
DiskClassification ClassifyDisk(const DiskInfo& disk, const ClassifyOptions& options = {});

struct MonHost {
  std::string host;  // as qemu expects it (name, IPv4 or bare IPv6 address)
  int port = 0;      // 0 or less: no port attribute (librados' default)
};

// One disk to rewrite, found by its <target dev>; it becomes POOL/IMAGE.
struct RbdDiskRewrite {
  std::string target;  // dev, e.g. vda
  std::string pool, image;
};

struct RbdRewriteOptions {
  std::vector<MonHost> hosts;  // empty: no <host> (qemu reads ceph.conf)
  std::string auth_username;   // cephx id without "client."; empty: no <auth>
  std::string secret_uuid;     // the libvirt ceph secret; required with a user
  std::string cache = "writeback";
  bool lun_as_disk = false;    // device='lun' disks may be rewritten (as device='disk')
};

struct RewriteResult {
  std::string xml;
  // What was removed, one line each, prefixed with the target, e.g.
  //   "vda: <driver io='native'> (io='native' needs cache='none' or 'directsync')"
  //   "vda: <source dev='/dev/sdb'> (replaced by the RBD source)"
  std::vector<std::string> dropped;
};

// Rewrites each named disk as
//   <disk type='network' device='disk'>
//     <driver name='qemu' type='raw' cache=CACHE discard='unmap' .../>
//     <source protocol='rbd' name='POOL/IMAGE'>
//       <host name='H' port='P'/>...
//       <auth username='ID'><secret type='ceph' uuid='UUID'/></auth>
//     </source>
//     ...every other child of the disk, unchanged...
//
// <auth> goes inside <source>: libvirt documents that as the preferred place
// since 3.9.0, and libvirt 9 writes it back where it was given (a disk-child
// <auth> is still accepted and kept there), so a dump of the defined domain
// shows the same structure this function wrote.
//
// Kept: every disk attribute but type (and device, set to 'disk'); every disk
// child but <source> (target, address, boot, serial, wwn, vendor, product,
// alias, iotune, readonly, blockio, geometry, an empty <backingStore/>, ...);
// every <driver> attribute that applies to RBD (iothread, queues,
// error_policy, rerror_policy, detect_zeroes, ...), with name, type, cache and
// discard set. Dropped, and listed in `dropped`: io='native' unless the cache
// is none or directsync (libvirt refuses the definition otherwise); the old
// source's attributes and children (dev/file, startupPolicy, index, seclabel,
// reservations (libvirt 9 allows it on lun devices only), ...);
// <driver><metadata_cache> (qcow2 only); a non-empty
// <backingStore> (it describes the old source's chain; the RBD image is a flat
// raw copy). An empty <backingStore/> ("self-contained") stays true and stays.
//
// Everything outside the rewritten <disk> elements is copied byte for byte:
// declaration (or none), comments, whitespace, entity spelling, attribute
// order and quotes, foreign namespaces, <qemu:commandline>, graphics
// passwords. New elements are indented like their neighbours.
//
// Errors: malformed XML as ParseDomainXml; a target that is not in the domain,
// or a disk that ClassifyDisk does not move, or one with a block job in
// progress (<mirror>) is Status::Refused naming the disk; bad options (empty
// pool or image, a "client." user, a user without secret, an unknown cache
// mode, a target named twice) are Status::Usage.
Result<RewriteResult> RewriteDisksToRbd(const std::string& xml,
                                        const std::vector<RbdDiskRewrite>& disks,
                                        const RbdRewriteOptions& options);

}  // namespace v2r
