// The options of plan / migrate / rollback / commit / status, as parsed.
#pragma once

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
  std::string state_dir = kDefaultStateDir;
  // Copy tuning (shared in-flight budget across disks).
  size_t in_flight = 16;
  uint64_t in_flight_bytes = 64ull << 20;
  int parallel_disks = 4;
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
};

}  // namespace v2r
