#include "ceph/cluster.h"

#include <rados/librados.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

namespace v2r {

static_assert(std::is_same_v<RadosHandle, rados_t> && std::is_same_v<IoCtxHandle, rados_ioctx_t>);
namespace {

// Extra time given to rados_connect beyond client_mount_timeout before the
// watchdog gives up on it.
constexpr int kConnectGraceS = 5;

// Shuts a handle down on scope exit unless released (for the error paths of
// Connect, before ownership moves into a RadosCluster).
class HandleGuard {
 public:
  explicit HandleGuard(rados_t c) : c_(c) {}
  ~HandleGuard() {
    if (c_ != nullptr) rados_shutdown(c_);
  }
  HandleGuard(const HandleGuard&) = delete;
  HandleGuard& operator=(const HandleGuard&) = delete;
  rados_t release() {
    rados_t c = c_;
    c_ = nullptr;
    return c;
  }

 private:
  rados_t c_;
};

std::string ConfGet(rados_t c, const char* option) {
  std::string buf(256, '\0');
  for (int i = 0; i < 8; ++i) {
    int r = rados_conf_get(c, option, buf.data(), buf.size());
    if (r == 0) return std::string(buf.c_str());
    if (r != -ENAMETOOLONG) return {};
    buf.assign(buf.size() * 4, '\0');
  }
  return {};
}

Status ConfSet(rados_t c, const std::string& option, const std::string& value, Kind kind) {
  int r = rados_conf_set(c, option.c_str(), value.c_str());
  if (r < 0) return Status::FromErrno(kind, fmt::format("setting Ceph option {}={}", option, value), r);
  return Status::Ok();
}

// The raw key as the base64 text librados' "key" option takes, set without
// the value ever reaching a message; both buffers are wiped.
Status SetKey(rados_t c, const SecretBytes& raw, const std::string& entity) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  SecretBytes text;
  text.Reserve((raw.size() + 2) / 3 * 4 + 1);
  const unsigned char* in = raw.udata();
  for (size_t i = 0; i < raw.size(); i += 3) {
    uint32_t n = uint32_t(in[i]) << 16;
    if (i + 1 < raw.size()) n |= uint32_t(in[i + 1]) << 8;
    if (i + 2 < raw.size()) n |= in[i + 2];
    text.PushBack(kAlphabet[(n >> 18) & 63]);
    text.PushBack(kAlphabet[(n >> 12) & 63]);
    text.PushBack(i + 1 < raw.size() ? kAlphabet[(n >> 6) & 63] : '=');
    text.PushBack(i + 2 < raw.size() ? kAlphabet[n & 63] : '=');
  }
  text.PushBack('\0');
  int r = rados_conf_set(c, "key", text.data());
  if (r < 0) return Status::FromErrno(Kind::kRefused, fmt::format("giving librados the cephx key of {}", entity), r);
  return Status::Ok();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

std::string MonHostForMessage(const std::string& mon_host) {
  return mon_host.empty() ? "not configured" : mon_host;
}

Status ReadConf(rados_t c, const CephOptions& o) {
  if (!o.conf.empty()) {
    // A comma-separated list is left to librados; a single path is checked
    // first so that the message can name it.
    if (o.conf.find(',') == std::string::npos && ::access(o.conf.c_str(), R_OK) != 0) {
      return Status::FromErrno(Kind::kRefused, fmt::format("Ceph conf file {}", o.conf), errno,
                               "give the cluster's ceph.conf with --conf (or CEPH_ARGS='--conf FILE')");
    }
    int r = rados_conf_read_file(c, o.conf.c_str());
    if (r < 0) {
      return Status::FromErrno(Kind::kRefused, fmt::format("reading Ceph conf file {}", o.conf), r,
                               "check the file's syntax and permissions, or give another one with --conf");
    }
    return Status::Ok();
  }
  // Default search ($CEPH_CONF, /etc/ceph/$cluster.conf, ~/.ceph/..., ./...).
  // None found is fine: mon host may come from CEPH_ARGS (--mon-host).
  int r = rados_conf_read_file(c, nullptr);
  if (r < 0 && r != -ENOENT) {
    const char* env = std::getenv("CEPH_CONF");
    return Status::FromErrno(
        Kind::kRefused,
        env != nullptr ? fmt::format("reading Ceph conf file {} (from $CEPH_CONF)", env)
                       : fmt::format("reading the default Ceph conf file /etc/ceph/{}.conf", o.ClusterName()),
        r, "check the file's syntax and permissions, or give another one with --conf");
  }
  return Status::Ok();
}

// librados writes some diagnostics straight to std::cerr, not to its log:
// MonMap::build_initial's "unable to get monitor info from DNS SRV with
// service name: ceph-mon" when no mon host is configured, before virt2rbd's
// own message. virt2rbd never writes to std::cerr itself (stderr, through
// stdio, is untouched), so std::cerr is pointed, once per process, at
// `log_file` (appended to) or at nothing.
void RouteStdCerr(const std::string& log_file) {
  static std::once_flag once;
  std::call_once(once, [&log_file] {
    struct Discard : std::streambuf {
      int overflow(int c) override { return traits_type::not_eof(c); }
    };
    static Discard discard;
    static std::filebuf file;
    if (!log_file.empty() && file.open(log_file, std::ios::out | std::ios::app)) {
      std::cerr.rdbuf(&file);
    } else {
      std::cerr.rdbuf(&discard);
    }
  });
}

// Ceph's log off the screen whatever the conf file says (a containerised
// cluster's conf often has log_to_stderr = true), into ceph_log_file when
// given. Applied before CEPH_ARGS and the command line's Ceph options, so
// that those can still turn it back on for debugging.
Status RouteCephLogging(rados_t c, const CephOptions& o) {
  RouteStdCerr(o.ceph_log_file);
  V2R_RETURN_IF_ERROR(ConfSet(c, "log_to_stderr", "false", Kind::kInternal));
  V2R_RETURN_IF_ERROR(ConfSet(c, "err_to_stderr", "false", Kind::kInternal));
  if (!o.ceph_log_file.empty()) V2R_RETURN_IF_ERROR(ConfSet(c, "log_file", o.ceph_log_file, Kind::kRefused));
  return Status::Ok();
}

Status ApplyExtraArgs(rados_t c, const std::vector<std::string>& args) {
  if (args.empty()) return Status::Ok();
  std::vector<const char*> argv;
  argv.push_back("virt2rbd");  // argv[0] is skipped by librados
  for (const std::string& a : args) argv.push_back(a.c_str());
  int r = rados_conf_parse_argv(c, static_cast<int>(argv.size()), argv.data());
  if (r < 0) {
    return Status::FromErrno(Kind::kUsage, fmt::format("Ceph options '{}'", Joined(args)), r,
                             "check the options in CEPH_ARGS");
  }
  return Status::Ok();
}

Status ApplyTimeouts(rados_t c, int timeout_s) {
  std::string t = std::to_string(timeout_s);
  V2R_RETURN_IF_ERROR(ConfSet(c, "client_mount_timeout", t, Kind::kInternal));
  // 0 means "wait forever": bound monitor operations unless the user chose a
  // value. OSD (data) operations keep their configured timeout.
  std::string mon_op = ConfGet(c, "rados_mon_op_timeout");
  if (mon_op.empty() || std::strtol(mon_op.c_str(), nullptr, 10) == 0) {
    V2R_RETURN_IF_ERROR(ConfSet(c, "rados_mon_op_timeout", t, Kind::kInternal));
  }
  return Status::Ok();
}

// Carries ETIMEDOUT: a migration under way treats it as an interruption to
// resume (the cluster may be back soon), not as a failure to undo.
Status UnreachableStatus(const std::string& mon_host, int timeout_s) {
  return Status::FromErrno(
      Kind::kRefused,
      fmt::format("cannot reach the Ceph monitors (mon host {}) within {} s", MonHostForMessage(mon_host),
                  timeout_s),
      ETIMEDOUT,
      "check --conf / mon host, that the monitors run, and the network; --connect-timeout sets the limit");
}

Status ConnectError(int r, const CephOptions& o, const std::string& entity, const std::string& mon_host) {
  switch (-r) {
    case EACCES:
    case EPERM:
      if (o.key_bytes)
        return Status::FromErrno(Kind::kRefused, fmt::format("authentication as {} failed", entity), r,
                                 fmt::format("check that the libvirt secret holds the current key of {} (ceph auth "
                                             "get-key {})", entity, entity));
      return Status::FromErrno(
          Kind::kRefused, fmt::format("authentication as {} failed", entity), r,
          o.keyring.empty()
              ? fmt::format("give the keyring holding the key of {} with --keyring (none was given: librados "
                            "looked for /etc/ceph/{}.{}.keyring and the conf file's 'keyring'); --id/--name "
                            "select the user",
                            entity, o.ClusterName(), entity)
              : fmt::format("check that {} holds the current key of {} (ceph auth get {}); --id/--name "
                            "select the user",
                            o.keyring, entity, entity));
    case ETIMEDOUT:
      return UnreachableStatus(mon_host, o.connect_timeout_s);
    case ENOENT:
      if (mon_host.empty()) {
        return Status::Refused("no Ceph monitors configured (mon host is empty)",
                               "give the cluster's ceph.conf with --conf, or CEPH_ARGS='--mon-host ADDR'");
      }
      return Status::FromErrno(
          Kind::kRefused, fmt::format("connecting to mon host {} as {} (no keyring found?)", mon_host, entity), r,
          fmt::format("give the keyring of {} with --keyring (default: /etc/ceph/{}.{}.keyring)", entity,
                      o.ClusterName(), entity));
    default:
      return Status::FromErrno(
          Kind::kRefused, fmt::format("connecting to mon host {} as {}", MonHostForMessage(mon_host), entity), r,
          "check mon host in --conf, the key in the keyring (--keyring) and the user (--id/--name)");
  }
}

std::string CommandPrefix(const std::string& json) {
  size_t k = json.find("\"prefix\"");
  if (k == std::string::npos) return json;
  size_t q1 = json.find('"', json.find(':', k));
  size_t q2 = q1 == std::string::npos ? q1 : json.find('"', q1 + 1);
  if (q2 == std::string::npos) return json;
  return json.substr(q1 + 1, q2 - q1 - 1);
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    if (nl > start) out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

PoolFullTry::PoolFullTry(IoCtx& io) : io_(io) {
  if (io_.full_try_++ == 0) rados_set_pool_full_try(io_.handle());
}
PoolFullTry::~PoolFullTry() {
  if (--io_.full_try_ == 0) rados_unset_pool_full_try(io_.handle());
}

void ShutdownRados(RadosHandle cluster) { rados_shutdown(cluster); }
void DestroyIoCtx(IoCtxHandle io) { rados_ioctx_destroy(io); }

IoCtx::IoCtx(IoCtx&& other) noexcept
    : io_(std::move(other.io_)), pool_(std::move(other.pool_)), full_try_(std::exchange(other.full_try_, 0)) {}

IoCtx& IoCtx::operator=(IoCtx&& other) noexcept {
  if (this != &other) {
    io_ = std::move(other.io_);
    pool_ = std::move(other.pool_);
    full_try_ = std::exchange(other.full_try_, 0);
  }
  return *this;
}

Result<std::unique_ptr<RadosCluster>> RadosCluster::Connect(const CephOptions& o,
                                                            const CephConfOverrides& conf_overrides) {
  V2R_RETURN_IF_ERROR(ValidateCephOptions(o));
  const std::string entity = o.EntityName();
  const std::string cluster_name = o.ClusterName();

  rados_t c = nullptr;
  int r = rados_create2(&c, cluster_name.c_str(), entity.c_str(), 0);
  if (r < 0) {
    return Status::FromErrno(Kind::kRefused, fmt::format("creating a Ceph client handle for {}", entity), r);
  }
  HandleGuard guard(c);

  V2R_RETURN_IF_ERROR(ReadConf(c, o));
  V2R_RETURN_IF_ERROR(RouteCephLogging(c, o));
  V2R_RETURN_IF_ERROR(ApplyExtraArgs(c, o.extra_args));
  if (!o.keyring.empty()) {
    if (::access(o.keyring.c_str(), R_OK) != 0) {
      return Status::FromErrno(
          Kind::kRefused, fmt::format("keyring file {}", o.keyring), errno,
          fmt::format("give a readable keyring holding the key of {} with --keyring", entity));
    }
    V2R_RETURN_IF_ERROR(ConfSet(c, "keyring", o.keyring, Kind::kRefused));
  }
  if (o.key_bytes) V2R_RETURN_IF_ERROR(SetKey(c, *o.key_bytes, entity));
  V2R_RETURN_IF_ERROR(ApplyTimeouts(c, o.connect_timeout_s));
  for (const auto& [key, value] : conf_overrides) {
    V2R_RETURN_IF_ERROR(ConfSet(c, key, value, Kind::kInternal));
  }
  const std::string mon_host = ConfGet(c, "mon_host");

  // rados_connect is bounded by client_mount_timeout, but only while
  // authenticating: a watchdog covers the rest.
  struct ConnectState {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int ret = 0;
  };
  auto state = std::make_shared<ConnectState>();
  std::thread connector([c, state] {
    int ret = rados_connect(c);
    std::lock_guard<std::mutex> lock(state->mu);
    state->done = true;
    state->ret = ret;
    state->cv.notify_all();
  });
  bool finished;
  {
    std::unique_lock<std::mutex> lock(state->mu);
    finished = state->cv.wait_for(lock, std::chrono::seconds(o.connect_timeout_s + kConnectGraceS),
                                  [&] { return state->done; });
    r = state->ret;
  }
  if (!finished) {
    // The connector still uses the handle: leave both to the process's end.
    connector.detach();
    guard.release();
    return UnreachableStatus(mon_host, o.connect_timeout_s);
  }
  connector.join();
  if (r < 0) return ConnectError(r, o, entity, mon_host);

  std::unique_ptr<RadosCluster> cluster(new RadosCluster(guard.release(), entity, mon_host));
  cluster->mon_timeout_s_ = static_cast<int>(std::strtol(ConfGet(c, "rados_mon_op_timeout").c_str(), nullptr, 10));
  return cluster;
}

Result<std::vector<std::string>> RadosCluster::MonCommand(const std::string& json_cmd, std::string* outbuf) {
  const char* cmds[1] = {json_cmd.c_str()};
  char* outb = nullptr;
  size_t outb_len = 0;
  char* outs = nullptr;
  size_t outs_len = 0;
  int r = rados_mon_command(cluster_, cmds, 1, "", 0, &outb, &outb_len, &outs, &outs_len);
  std::string out = outb != nullptr ? std::string(outb, outb_len) : std::string();
  std::string status = outs != nullptr ? std::string(outs, outs_len) : std::string();
  if (outb != nullptr) rados_buffer_free(outb);
  if (outs != nullptr) rados_buffer_free(outs);

  if (r < 0) {
    std::string what = fmt::format("monitor command '{}' as {}", CommandPrefix(json_cmd), entity_);
    if (!status.empty()) what += fmt::format(" ({})", status);
    std::string hint;
    if (r == -EACCES || r == -EPERM) {
      hint = fmt::format("{} lacks the caps for this; see 'ceph auth get {}'", entity_, entity_);
    } else if (r == -ETIMEDOUT) {
      hint = fmt::format("the monitors ({}) did not answer within {} s", MonHostForMessage(mon_host_),
                         mon_timeout_s_);
    }
    return Status::FromErrno(Kind::kRefused, what, r, hint);
  }
  if (outbuf != nullptr) *outbuf = std::move(out);
  return Lines(status);
}

Result<IoCtx> RadosCluster::OpenPool(const std::string& pool) {
  rados_ioctx_t io = nullptr;
  int r = rados_ioctx_create(cluster_, pool.c_str(), &io);
  if (r == -ENOENT) {
    return Status::Refused(fmt::format("pool '{}' does not exist", pool),
                           fmt::format("create it: ceph osd pool create {} && rbd pool init {}", pool, pool))
        .WithCause(Cause::kNotFound);
  }
  if (r < 0) {
    std::string hint;
    if (r == -EACCES || r == -EPERM) {
      hint = fmt::format("{} needs caps like: mon 'profile rbd' osd 'profile rbd pool={}'", entity_, pool);
    }
    return Status::FromErrno(Kind::kRefused, fmt::format("opening pool '{}' as {}", pool, entity_), r, hint);
  }
  return IoCtx(io, pool);
}

Status CheckRbdPool(IoCtx& io) {
  std::string buf(256, '\0');
  size_t len = buf.size();
  int r = rados_application_list(io.handle(), buf.data(), &len);
  if (r == -ERANGE) {
    buf.assign(len, '\0');
    r = rados_application_list(io.handle(), buf.data(), &len);
  }
  if (r < 0) {
    return Status::FromErrno(Kind::kRefused, fmt::format("listing the applications of pool '{}'", io.pool()), r);
  }
  std::vector<std::string> apps;
  for (size_t pos = 0; pos < len && pos < buf.size();) {
    std::string app(buf.c_str() + pos);
    pos += app.size() + 1;
    if (app == "rbd") return Status::Ok();
    if (!app.empty()) apps.push_back(app);
  }
  std::string used = apps.empty() ? "" : fmt::format(" (it is used by: {})", Joined(apps));
  return Status::Refused(fmt::format("pool {} is not initialised for RBD{}", io.pool(), used),
                         fmt::format("rbd pool init {}", io.pool()));
}

}  // namespace v2r
