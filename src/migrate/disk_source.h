// How a disk's bytes are read, chosen from libvirt's definition (never from
// the bytes): a raw file or block device directly (copy/file_source.h), every
// other format through a read-only qemu-nbd export owned by this run
// (qemu/export.h). Copy, verification and the plan use the same choice.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "copy/endpoint.h"
#include "qemu/image_info.h"
#include "virt/domain_xml.h"

namespace v2r {

enum class ReadPath {
  kDirect,   // raw file or block device: pread, SEEK_DATA/SEEK_HOLE
  kQemuNbd,  // qcow2, vmdk, vdi, vhdx, qed: qemu's own driver behind qemu-nbd
};

// The formats read through qemu (the ones libvirt uses for file disks).
bool QemuReadsFormat(const std::string& format);
ReadPath ReadPathFor(const DiskInfo& disk);
// For the plan: "direct", "qemu-nbd (qcow2 <- qcow2)".
std::string DescribeReadPath(const DiskInfo& disk, const ImageChain* chain);

struct OpenedSource {
  std::unique_ptr<Source> source;  // owns the export, if any (stopped when it is destroyed)
  std::string fingerprint;         // changes when the disk (any layer of its chain) is written
  std::string read_path;           // DescribeReadPath
  uint64_t export_pid = 0;         // the qemu-nbd serving it; 0 when read directly
  std::string socket_path;         // its socket
};

// Where the export of DISK's target is served, in SOCKET_DIR.
std::string ExportSocketPath(const std::string& socket_dir, const std::string& target);

// DISK's fingerprint as OpenDiskSource gives it, without opening it for
// reading: whether it (any layer of its chain) was written since.
Result<std::string> DiskFingerprint(const DiskInfo& disk);

// A disk as the journal records it (the source's path and format), for the
// rollback's reads and writes.
DiskInfo DiskOfRecord(const std::string& target, const std::string& source, const std::string& format);

struct OpenedSink {
  std::unique_ptr<Sink> sink;  // owns the export (stopped when it is destroyed)
  uint64_t export_pid = 0;
  std::string socket_path;
};

// Opens DISK, an image file, for writing in its own format (libvirt's, never
// probed) through a writable qemu-nbd export in SOCKET_DIR: what the guest
// sees is what is written (into the active layer of a chain), zeroes as NBD
// WRITE_ZEROES so a qcow2 stays thin. OBJECT_SIZE: the sink's write alignment.
Result<OpenedSink> OpenImageSink(const DiskInfo& disk, const std::string& socket_dir, int connections,
                                 uint64_t object_size);

// Opens DISK for reading. SOCKET_DIR (the migration's own directory) holds
// the export's socket and log, named after the disk's target.
Result<OpenedSource> OpenDiskSource(const DiskInfo& disk, const std::string& socket_dir, int connections);

}  // namespace v2r
