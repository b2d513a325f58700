// One VM of a fleet run on its host: the command that migrates it there, the
// command that re-attaches to a migration still running there, and what the
// coordinator learns from its event stream (docs/events.md).
//
// On the host the migration runs detached from the ssh session that started
// it (SIGHUP ignored), its --progress-fd events copied by `tee -p` to
// HOSTSTATE/fleet/VM.events as well as to the session: when the session or
// the coordinator goes away the migration goes on, and a later coordinator
// reads that file (tail --pid) to re-attach. The script frames the stream
// with a first line {"type":"shell","pid":P,"attempt":TAG} and a last line
// {"type":"exit","code":N}. The cluster keyring reaches virt2rbd on stdin,
// ended by a NUL byte, and control lines (bandwidth, pivot) follow on the
// same stdin (--keyring - --control-fd 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet/plan_file.h"

namespace v2r::fleet {

// The host's virt2rbd state directory (its --state-dir, or the default).
std::string HostStateDir(const HostSpec& host);
// Where the host keeps a VM's event stream for re-attaching.
std::string HostEventsPath(const HostSpec& host, const std::string& vm);

// The cluster options every remote command takes (keyring on stdin).
std::vector<std::string> ClusterArgs(const PlanFile& plan, const HostSpec& host);

// `virt2rbd migrate VM ...` for `vm` on `host`: `slots` disks at once,
// `bandwidth` bytes/s to begin with (0: unlimited).
std::vector<std::string> RemoteMigrateArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm,
                                           int slots, uint64_t bandwidth);
// `virt2rbd rollback VM ... --remove-images` and the VM's stop policy (fleet
// cancel). Never --copy-back or --discard-changes: a VM that wrote to its
// images on RBD is not rolled back by a cancel (the rollback refuses, the
// cancel reports it; the operator chooses).
std::vector<std::string> RemoteRollbackArgv(const PlanFile& plan, const HostSpec& host, const SelectedVm& vm);

// The host shell command that runs `argv` detached, framed and tee'd (above).
std::string MigrateScript(const std::vector<std::string>& argv, const std::string& events_path,
                          const std::string& attempt);
// The host shell command that prints the stream so far and follows it while
// the attempt's shell lives (a finished one: the whole file, then it ends).
std::string ReattachScript(const std::string& events_path);

// What the stream told so far.
struct VmLive {
  std::string attempt;  // of the shell line: which attempt the stream is
  int shell_pid = 0, remote_pid = 0;
  std::string step;     // the step running ("copy and verify 1 disk")
  std::string phase;    // the pass over bytes running (copy, verify, live copy, ...)
  uint64_t done = 0, total = 0;
  double rate_bps = 0;
  std::optional<double> eta_s;
  bool pivot_waiting = false;
  std::optional<int> exit_code;  // of the exit line
  nlohmann::json summary;        // the report event's summary
  std::string error;             // its error message, when it failed
  std::string warning;           // the last warning
  double downtime_begin = 0, downtime_end = 0;  // offline: stop began, start ended (epoch seconds)
  // The offline copy phases: when the first began and the last
  // ended (epoch seconds), the data bytes they moved: the VM's copy rate.
  double copy_begin = 0, copy_end = 0;
  uint64_t copy_data = 0, phase_data = 0;
};

// Applies one line of the stream; false when it is not an event (ignored).
bool ApplyEventLine(const std::string& line, VmLive* v);

// Epoch seconds of an event's "time" ("2025-01-31T12:00:00.001Z"); 0 if it does not parse.
double EventTime(const std::string& iso);

// The report's facts of a finished migration: data bytes, digests, downtime.
struct MigrationFacts {
  uint64_t bytes = 0;
  std::vector<std::string> digests;  // "vda xxh3:..." per disk
  double downtime_s = 0;
  std::string mode;
};
MigrationFacts SummaryFacts(const VmLive& v);

}  // namespace v2r::fleet
