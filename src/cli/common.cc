#include "cli/common.h"

#include <cstdlib>

#include <fmt/format.h>

namespace v2r {

RunContext MakeRunContext(const CommandEnv& env) {
  RunContext ctx;
  ctx.observer = env.observer;
  ctx.cancel = env.cancel;
  ctx.abandonment = env.abandonment;
  return ctx;
}

void AddOutputOptions(CLI::App* app, OutputOptions* out) {
  app->add_option("--format", out->format, "output format: text, or json: one summary document on stdout (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  app->add_flag("-q,--quiet", out->quiet, "no progress output");
  app->add_option("--progress-interval", out->progress_interval,
                  "seconds between progress lines when stderr is not a terminal (default 5)")
      ->check(CLI::PositiveNumber);
}

void AddEventOptions(CLI::App* app, OutputOptions* out) {
  app->add_option("--progress-fd", out->progress_fd,
                  "write events (steps, progress, warnings, the report) as JSON lines to this open file "
                  "descriptor (docs/events.md) (default: none)")
      ->check(CLI::Range(0, 1 << 20));
}

void AddShutdownOptions(CLI::App* app, bool* shutdown, bool* force_off, int* timeout_s) {
  app->add_flag("--shutdown", *shutdown, "ask a running guest to shut down (ACPI) and wait");
  app->add_flag("--force-off", *force_off, "power a running guest off (with --shutdown: after the timeout)");
  app->add_option("--shutdown-timeout", *timeout_s, "seconds to wait for a shutdown (default 300)")
      ->check(CLI::PositiveNumber);
}

void AddLogOption(CLI::App* app, OutputOptions* out) {
  app->add_option("--log-file", out->log_file,
                  "also append the run's log to this file (default: only STATE/domains/UUID/log, and syslog)");
}

Status ResolveCeph(CephOptions* ceph) {
  V2R_RETURN_IF_ERROR(ValidateCephOptions(*ceph));
  auto r = ResolveCephOptions(*ceph, std::getenv("CEPH_ARGS"));
  if (!r.ok()) return r.status();
  *ceph = *r;
  return Status::Ok();
}

void AddCephOptions(CLI::App* app, CephOptions* ceph) {
  app->add_option("-c,--conf", ceph->conf, "Ceph configuration file (default: $CEPH_CONF, /etc/ceph/$cluster.conf)");
  app->add_option("--cluster", ceph->cluster, "cluster name (default: ceph)");
  app->add_option("--id,-i", ceph->id, "client id without the 'client.' prefix (default: admin)");
  app->add_option("--name,-n", ceph->name, "client name, client.ID: the same as --id ID (default client.admin)");
  app->add_option("-k,--keyring", ceph->keyring, "keyring file (default: the conf file's 'keyring', then /etc/ceph/$cluster.$name.keyring and /etc/ceph/$cluster.keyring)");
  app->add_option("--connect-timeout", ceph->connect_timeout_s,
                  "seconds to wait for the monitors before giving up (default 30)")
      ->check(CLI::PositiveNumber);
}

}  // namespace v2r
