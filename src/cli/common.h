// What every command shares: output options, Ceph connection options, the
// cancellation flag set by SIGINT/SIGTERM, and image specs.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <string>

#include "base/observer.h"
#include "base/status.h"
#include "ceph/options.h"
#include "migrate/context.h"
#include "ceph/image_spec.h"

namespace v2r {

struct OutputOptions {
  std::string format = "text";  // text | json
  bool quiet = false;
  double progress_interval = 5.0;
  int progress_fd = -1;   // --progress-fd: the event stream (docs/events.md)
  std::string log_file;   // --log-file: the run's log, also there
  // --format json while the command runs: the real stdout (fd 1 is stderr
  // then), for a command that streams JSON lines (fleet run); -1 otherwise.
  int json_stream_fd = -1;
  bool json_lines = false;  // the summary document on one line (after streamed lines)
  bool json() const { return format == "json"; }
};

// What a command's Setup returns: the work to do once options are parsed.
// The runner may fill `json_out` with its summary; main prints it.
using CommandRunner = std::function<Status(nlohmann::json* json_out)>;

struct CommandEnv {
  OutputOptions* output;
  const std::atomic<bool>* cancel;  // set by SIGINT/SIGTERM
  // What the command reports its plan, steps, phases and warnings to: the
  // terminal, the event stream, the log (set up once options are parsed).
  Observer* observer;
  Abandonment* abandonment;  // owned by main(): see base/abandon.h
};

// The context a command's run gets: its observer and cancel flag, the real
// libvirt and Ceph.
RunContext MakeRunContext(const CommandEnv& env);

void AddOutputOptions(CLI::App* app, OutputOptions* out);
void AddCephOptions(CLI::App* app, CephOptions* ceph);
// --progress-fd (commands that run steps or copy) and --log-file (those
// that work on a domain's state: migrate, rollback, commit).
void AddEventOptions(CLI::App* app, OutputOptions* out);
void AddLogOption(CLI::App* app, OutputOptions* out);
// --shutdown, --force-off, --shutdown-timeout (migrate, rollback).
void AddShutdownOptions(CLI::App* app, bool* shutdown, bool* force_off, int* timeout_s);
// Checks the Ceph options given and completes them from CEPH_ARGS (the
// command line wins), as the rbd CLI does. `--keyring -` reads the keyring
// from stdin: to its end, or with `stdin_framed` (stdin carries the control
// stream after it: --control-fd 0) to the first NUL byte, nothing past it.
Status ResolveCeph(CephOptions* ceph, bool stdin_framed = false);

// The part every request on one local disk and one image shares (copy,
// verify): the POOL/IMAGE spec parsed, the source, the Ceph options
// resolved, the cancel flag.
template <typename Request>
Status FillDiskImageRequest(const std::string& source, const std::string& target, const CephOptions& ceph,
                            const CommandEnv& env, Request* req) {
  auto spec = ParseImageSpec(target);
  if (!spec.ok()) return spec.status();
  req->target = *spec;
  req->source = source;
  req->ceph = ceph;
  req->cancel = env.cancel;
  if constexpr (requires { req->abandonment; }) req->abandonment = env.abandonment;
  return ResolveCeph(&req->ceph);
}

}  // namespace v2r
