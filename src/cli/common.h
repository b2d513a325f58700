// What every command shares: output options, Ceph connection options, the
// cancellation flag set by SIGINT/SIGTERM, and image specs.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <string>

#include "base/status.h"
#include "ceph/options.h"
#include "ops/image_spec.h"

namespace v2r {

struct OutputOptions {
  std::string format = "text";  // text | json
  bool quiet = false;
  double progress_interval = 5.0;
  bool json() const { return format == "json"; }
};

// What a command's Setup returns: the work to do once options are parsed.
// The runner may fill `json_out` with its summary; main prints it.
using CommandRunner = std::function<Status(nlohmann::json* json_out)>;

struct CommandEnv {
  OutputOptions* output;
  const std::atomic<bool>* cancel;  // set by SIGINT/SIGTERM
};

void AddOutputOptions(CLI::App* app, OutputOptions* out);
void AddCephOptions(CLI::App* app, CephOptions* ceph);
// Checks the Ceph options given and completes them from CEPH_ARGS (the
// command line wins), as the rbd CLI does.
Status ResolveCeph(CephOptions* ceph);

}  // namespace v2r
