// Storage pool volumes (<disk type='volume'><source pool='P' volume='V'/>):
// what libvirt's storage pool API says of one volume, the pure parsing of the
// pool's and the volume's XML, and the pure resolution of a volume disk into
// the file or block disk it really is.
//
// Hypervisor::ResolveVolume (virt/hypervisor.h) asks libvirt (virt/storage.cc)
// or the fake; everything else here is pure (strings in, structs out; pugixml
// used only inside volume.cc).
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "virt/domain_xml.h"

namespace v2r {

struct VolumeInfo {
  std::string pool, volume;
  std::string pool_type;     // <pool type>: dir, fs, netfs, logical, disk, iscsi, iscsi-direct, rbd, ...
  bool pool_active = false;  // false: nothing below is known (libvirt lists no volumes of an inactive pool)
  std::string type;          // <volume type>: file, block, dir, network, netdir, ploop
  std::string path;          // virStorageVolGetPath: a file or a device node
  std::string format;        // <target><format type>: qcow2, raw, ... (file volumes); a partition type for disk pools
  uint64_t capacity = 0, allocation = 0;  // bytes
};

// <pool type='dir'>...: sets into->pool_type (and the pool's name when
// into->pool is empty). Malformed XML or another root is kRefused.
Status ParsePoolXml(const std::string& xml, VolumeInfo* into);
// <volume type='file'>...<target><path/><format type/></target>, capacity and
// allocation (in their unit): sets type, path (when into->path is empty),
// format, capacity, allocation. A missing type is "file" (libvirt's default).
// Malformed XML or another root is kRefused.
Status ParseVolumeXml(const std::string& xml, VolumeInfo* into);

// The format libvirt gives the volume's bytes: the format the pool reports
// for a file volume ("" when it reports none; "iso" is raw bytes: "raw");
// "raw" for a block volume (a disk pool's partition type, an iSCSI pool's
// partition table, are not image formats).
std::string VolumeImageFormat(const VolumeInfo& vol);

struct VolumeResolution {
  // kMove: `disk` is the volume disk resolved (type file or block, source its
  // path, driver_type the format; pool/volume kept): classify it as any file
  // or block disk. kStay or kRefuse: `reason` says why (one line, the fix).
  DiskDecision decision = DiskDecision::kMove;
  std::string reason;
  DiskInfo disk;
};

// Resolves a volume disk (disk.type == "volume") with what libvirt said of
// its volume (`vol`, or the error of the lookup: an unknown pool or volume).
// The format: the disk's <driver type>; absent, the volume's (above); both
// given and different: refused, naming both. Refused: a lookup error, an
// inactive pool (virsh pool-start P), an iSCSI volume used with
// <source mode='direct'> or from an iscsi-direct pool (qemu's own initiator:
// a network disk, not yet read), a volume without a path. Stays: a network
// volume (rbd: already on RBD; gluster, sheepdog...), a dir/netdir/ploop one.
VolumeResolution ResolveVolumeDisk(const DiskInfo& disk, const Result<VolumeInfo>& vol);

}  // namespace v2r
