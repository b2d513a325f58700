// An NBD export of one disk by qemu-nbd on a private Unix socket: how
// virt2rbd reads every disk that is not a raw local file or block device
// (qcow2 and the other image formats qemu reads, network disks), and writes
// one back in its own format (rollback --copy-back).
//
// virt2rbd starts the export, owns it (the child's pid, the socket in the
// state dir) and stops it; the format always comes from the caller (libvirt's
// definition), never from probing the bytes: a raw disk whose bytes look like
// qcow2 is exported as raw.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r {

struct ExportSpec {
  // The disk as qemu's --image-opts, e.g.
  // "driver=qcow2,file.driver=file,file.filename=/var/lib/libvirt/images/a.qcow2".
  // Build it with ImageOptsForFile for a local image.
  std::string image_opts;
  bool writable = false;
  std::string socket_path;  // created by qemu-nbd; its directory must exist
  int connections = 4;      // clients allowed at once (qemu-nbd --shared)
  // qemu-nbd's stderr goes here (its error messages: a missing backing file,
  // a corrupt header); empty: socket_path + ".log".
  std::string log_path;
  int start_timeout_s = 30;
};

// --image-opts for a local image in FORMAT (raw, qcow2, vmdk, vdi, vhdx, qed,
// ...) held in a file or on a block device (a qcow2 logical volume): qemu's
// file or host_device protocol driver, as the path is (stat; a path that
// cannot be examined is taken for a file, and qemu-nbd says why it fails).
// Commas in the path are escaped the way qemu wants.
std::string ImageOptsForFile(const std::string& path, const std::string& format);
std::string ImageOptsForFile(const std::string& path, const std::string& format, bool block_device);

// --image-opts for SIZE bytes at OFFSET of a raw file or block device (a
// libvirt <slice type='storage'>): qemu's raw driver with offset and size.
std::string ImageOptsForSlice(const std::string& path, uint64_t offset, uint64_t size, bool block_device);

// Commas doubled: one value inside a qemu option string.
std::string QemuOptValue(const std::string& value);

class NbdExport {
 public:
  // Starts qemu-nbd and waits until its socket accepts connections; on a
  // failure the message says what qemu-nbd said.
  static Result<std::unique_ptr<NbdExport>> Start(const ExportSpec& spec);
  ~NbdExport();  // Stop()
  NbdExport(const NbdExport&) = delete;
  NbdExport& operator=(const NbdExport&) = delete;

  const std::string& socket_path() const { return spec_.socket_path; }
  pid_t pid() const { return pid_; }
  bool writable() const { return spec_.writable; }

  // SIGTERM, wait (SIGKILL after a few seconds), remove the socket. Idempotent.
  Status Stop();

 private:
  NbdExport(ExportSpec spec, pid_t pid) : spec_(std::move(spec)), pid_(pid) {}
  ExportSpec spec_;
  pid_t pid_ = -1;
};

// An export left by a killed run (its pid and socket from the journal): ended
// when that pid is still a qemu-nbd serving that socket, left alone otherwise.
// Returns whether a process was ended.
Result<bool> StopStaleExport(pid_t pid, const std::string& socket_path);
// The same for every qemu-nbd serving SOCKET_PATH, found in /proc by its
// command line (a run killed between starting an export and recording its
// pid). Returns how many were ended.
Result<int> StopStaleExports(const std::string& socket_path);

}  // namespace v2r
