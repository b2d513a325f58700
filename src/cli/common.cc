#include "cli/common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

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

namespace {

// `--keyring -`: the keyring comes on stdin (how `virt2rbd fleet` hands a
// host its key: never in argv, the environment or a file on the host). It is
// read once per process into a sealed in-memory file (memfd, close-on-exec:
// qemu-nbd and other children never see it) that librados opens by path as
// often as it needs, /proc/self/fd/N. The buffers that held it are wiped.
//
// `framed` (--control-fd 0: stdin carries the control stream after the
// keyring): the keyring ends at the first NUL byte, read a byte at a time so
// that nothing past it is taken from the control stream's reader; a stream
// that ends before any NUL holds the keyring alone.
Result<std::string> StdinKeyringPath(bool framed) {
  static std::string path;  // once per process: stdin can be read only once
  if (!path.empty()) return path;
  if (::isatty(STDIN_FILENO))
    return Status::Usage("--keyring - reads the keyring from stdin, but stdin is a terminal",
                         "pipe the keyring in: virt2rbd ... --keyring - < FILE");
  std::string text;
  text.reserve((64u << 10) + 4096);  // never reallocated: no unwiped copy left behind
  char buf[4096];
  for (bool end = false; !end && text.size() <= (64u << 10);) {
    ssize_t n = ::read(STDIN_FILENO, buf, framed ? 1 : sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      explicit_bzero(buf, sizeof buf);
      explicit_bzero(text.data(), text.size());
      return Status::FromErrno(Kind::kUsage, "--keyring -: reading stdin", err);
    }
    end = n == 0 || (framed && buf[0] == '\0');
    if (!end) text.append(buf, static_cast<size_t>(n));
  }
  explicit_bzero(buf, sizeof buf);
  auto wipe = [&text] { explicit_bzero(text.data(), text.size()); };
  if (text.size() > (64u << 10) || text.find("key") == std::string::npos) {
    wipe();
    return Status::Usage("--keyring -: stdin does not hold a keyring (a [client.NAME] section with key = ...)");
  }
  int fd = ::memfd_create("virt2rbd-keyring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    wipe();
    return Status::FromErrno(Kind::kFailed, "--keyring -: memfd_create", errno);
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      wipe();
      ::close(fd);
      return Status::FromErrno(Kind::kFailed, "--keyring -: writing the in-memory keyring", err);
    }
    off += static_cast<size_t>(n);
  }
  wipe();
  (void)::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  path = fmt::format("/proc/self/fd/{}", fd);
  return path;
}

}  // namespace

Status ResolveCeph(CephOptions* ceph, bool stdin_framed) {
  V2R_RETURN_IF_ERROR(ValidateCephOptions(*ceph));
  auto r = ResolveCephOptions(*ceph, std::getenv("CEPH_ARGS"));
  if (!r.ok()) return r.status();
  *ceph = *r;
  if (ceph->keyring == "-") {
    auto path = StdinKeyringPath(stdin_framed);
    if (!path.ok()) return path.status();
    ceph->keyring = *path;
  }
  return Status::Ok();
}

void AddCephOptions(CLI::App* app, CephOptions* ceph) {
  app->add_option("-c,--conf", ceph->conf, "Ceph configuration file (default: $CEPH_CONF, /etc/ceph/$cluster.conf)");
  app->add_option("--cluster", ceph->cluster, "cluster name (default: ceph)");
  app->add_option("--id,-i", ceph->id, "client id without the 'client.' prefix (default: admin)");
  app->add_option("--name,-n", ceph->name, "client name, client.ID: the same as --id ID (default client.admin)");
  app->add_option("-k,--keyring", ceph->keyring, "keyring file, or - to read it from stdin (default: the conf file's 'keyring', then /etc/ceph/$cluster.$name.keyring and /etc/ceph/$cluster.keyring)");
  app->add_option("--connect-timeout", ceph->connect_timeout_s,
                  "seconds to wait for the monitors before giving up (default 30)")
      ->check(CLI::PositiveNumber);
}

}  // namespace v2r
