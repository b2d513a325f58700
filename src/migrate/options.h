// The options of plan / migrate / rollback / commit / status, as parsed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ceph/options.h"

namespace v2r {

constexpr const char* kDefaultStateDir = "/var/lib/virt2rbd";

struct MigrateOptions {
  std::string domain;
  std::string pool;
  std::string connect;                  // libvirt URI; empty: LIBVIRT_DEFAULT_URI, then qemu:///system
  CephOptions ceph;                     // the operator's identity (resolved)
  std::string client_user = "libvirt";  // the VM's cephx id (no "client.")
  std::string image_template = "{domain}-{target}";
  std::vector<std::string> disks;       // empty: every disk that can move
  std::string cache = "writeback";
  std::string mon_hosts;                // empty: the monmap; "none"; or "host:port,host:port"
  bool verify = true;
  bool shutdown = false;
  bool force_off = false;
  int shutdown_timeout_s = 300;
  std::optional<bool> start;            // --start / --no-start; unset: as it was
  bool update_caps = false;
  bool lun_as_disk = false;             // --lun-as-disk: device='lun' disks move as device='disk'
  std::string state_dir = kDefaultStateDir;
  // Copy tuning (shared in-flight budget across disks).
  size_t in_flight = 16;
  uint64_t in_flight_bytes = 64ull << 20;
  int parallel_disks = 4;
  uint64_t bandwidth = 0;               // bytes/s, the total across disks (--bandwidth MiB/s); 0: unlimited
  double durable_interval_s = 1.0;      // how often copy progress is flushed and recorded
  double stall_warn_s = 30;             // warn after this long without a completed write
  double stall_timeout_s = 900;         // then stop, resumable (exit 75); 0: wait for ever
  // How long a step that needs libvirt waits for it to answer again after the
  // connection broke (libvirtd restarted): then stop, resumable (exit 75).
  int libvirt_timeout_s = 120;
  // Live mode (docs/live-migration.md): the running VM's disks are copied by
  // libvirt block copies and pivoted; it never stops. Excludes --shutdown,
  // --force-off and --no-start.
  bool live = false;
  // --pivot-gate (live only, with a control stream: RunContext::control):
  // once in sync, the pivot waits for the orchestrator's go.
  bool pivot_gate = false;
};

struct RollbackOptions {
  std::string domain;
  std::string connect;
  CephOptions ceph;
  std::string state_dir = kDefaultStateDir;
  bool shutdown = false;
  bool force_off = false;
  int shutdown_timeout_s = 300;
  std::optional<bool> start;
  bool copy_back = false;
  bool discard_changes = false;
  bool remove_images = false;
  int libvirt_timeout_s = 120;          // as MigrateOptions
  // Live rollback: block copies back onto the original disks of the running
  // VM, then pivot (no downtime). Excludes --shutdown, --force-off,
  // --discard-changes and --no-start.
  bool live = false;
};

}  // namespace v2r
