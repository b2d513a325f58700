// The coordinator's own state (docs/fleet.md, "The coordinator's journal"):
// STATE/fleet/NAME-HASH/ per plan file, 0700, holding
//   journal  one record per side effect of the coordinator, in virt2rbd's
//            journal format (journal/journal.h: checksummed lines, fsynced):
//            a VM attempt is journalled before its ssh session starts, its
//            remote pids when they are known, its end when it ended;
//   lock     flock()ed by the running coordinator (its pid inside);
//   cancel   `fleet cancel` requests, one "host/vm" (or "*") per line,
//            appended by another process and read by the running coordinator.
// Fold() turns the records into what a rerun needs: per VM, its last attempt,
// whether it ended and how.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "journal/journal.h"

namespace v2r::fleet {

// STATE/fleet/NAME-HASH for the plan file at `plan_path` (its real path hashed: two plan files
// of the same name in two directories are two fleets).
std::string FleetDir(const std::string& state_dir, const std::string& plan_path);

// What the journal says of one VM ("host/vm").
struct VmJournalState {
  int attempts = 0;
  std::string attempt;      // the last attempt's tag ("RUN-N")
  bool open = false;        // the last attempt began and did not end: it may still run on its host
  int shell_pid = 0;        // the last attempt's remote shell and virt2rbd, when known
  int remote_pid = 0;
  std::string result;       // of the last ended attempt: done | failed | cancelled | interrupted
  int exit_code = -1;
  std::string error;
  nlohmann::json summary;   // the last ended attempt's report (VmResultJson)
  bool cancel_requested = false;
  nlohmann::json started;   // the last vm-started record: host, name, mode, bytes, disks, downtime
};

struct FleetJournalState {
  std::map<std::string, VmJournalState> vms;
  int runs = 0;
  bool cancel_all = false;  // `fleet cancel FILE` without VMs: nothing new starts (unless --only)
};

FleetJournalState Fold(const std::vector<nlohmann::json>& records);

// The journal, shared by the coordinator's threads.
class FleetJournal {
 public:
  static Result<std::unique_ptr<FleetJournal>> Open(const std::string& dir);
  Status Append(nlohmann::json record);
  FleetJournalState State() const;
  const std::string& dir() const { return dir_; }

 private:
  FleetJournal() = default;
  std::string dir_;
  mutable std::mutex mu_;
  std::unique_ptr<Journal> journal_;
};

// The running coordinator's lock on DIR/lock: one `fleet run` (or `fleet
// cancel` working alone) per fleet at a time.
class RunLock {
 public:
  // Refused, naming the holder's pid, when another process holds it.
  static Result<std::unique_ptr<RunLock>> Acquire(const std::string& dir);
  // The pid of the process holding DIR/lock, if one does.
  static std::optional<int> Holder(const std::string& dir);
  ~RunLock();

 private:
  RunLock() = default;
  int fd_ = -1;
};

// DIR/cancel: requests of `fleet cancel` for the running coordinator.
Status RequestCancel(const std::string& dir, const std::vector<std::string>& vms);
// The requests appended since *offset (updated).
std::vector<std::string> ReadCancelRequests(const std::string& dir, uint64_t* offset);

}  // namespace v2r::fleet
