#include "fleet/plan_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "base/units.h"

namespace v2r::fleet {

const char* ModeName(Mode m) { return m == Mode::kLive ? "live" : "offline"; }

const char* StopPolicyName(StopPolicy p) {
  switch (p) {
    case StopPolicy::kShutdown: return "shutdown";
    case StopPolicy::kForceOff: return "force-off";
    case StopPolicy::kShutdownThenForceOff: return "shutdown,force-off";
  }
  return "?";
}

bool Window::Contains(int m) const {
  if (start == end) return true;  // "00:00-00:00": all day
  if (start < end) return m >= start && m < end;
  return m >= start || m < end;
}

std::string Window::Describe() const {
  return fmt::format("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60);
}

uint64_t FailureLimit::For(uint64_t vms) const {
  if (!percent) return count;
  // At least one: "10%" of 3 VMs still lets one fail before stopping.
  auto n = static_cast<uint64_t>(*percent * static_cast<double>(vms) / 100.0);
  return std::max<uint64_t>(n, 1);
}

std::string FailureLimit::Describe() const {
  if (percent) return fmt::format("{}%", *percent);
  return count == 0 ? "none" : std::to_string(count);
}

namespace {

bool ParseUint(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<FailureLimit> ParseFailureLimit(const std::string& text) {
  FailureLimit f;
  if (!text.empty() && text.back() == '%') {
    uint64_t p = 0;
    if (!ParseUint(text.substr(0, text.size() - 1), &p) || p < 1 || p > 100)
      return Status::Usage(fmt::format("'{}' is not a failure limit (a count such as 3, or a percentage 1%..100%)",
                                       text));
    f.percent = static_cast<double>(p);
    return f;
  }
  if (!ParseUint(text, &f.count))
    return Status::Usage(fmt::format("'{}' is not a failure limit (a count such as 3, or a percentage such as 10%)",
                                     text));
  return f;
}

namespace {

// Walks the document with the file name and line in every message.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  Status Error(const YAML::Node& at, const std::string& what) const {
    return Status::Usage(fmt::format("{}:{}: {}", origin_, Line(at), what));
  }
  static int Line(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

  // Every key of `map` must be in `known`.
  Status Keys(const YAML::Node& map, const std::string& where, const std::vector<std::string>& known) const {
    if (!map.IsMap()) return Error(map, fmt::format("{} must be a mapping (key: value lines)", where));
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end())
        return Error(kv.first, fmt::format("unknown key '{}' in {} (known: {})", key, where, fmt::join(known, ", ")));
    }
    return Status::Ok();
  }

  Result<std::string> Str(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) return Error(n, fmt::format("{} must be a single value", what));
    return n.Scalar();
  }
  Status OptStr(const YAML::Node& map, const char* key, const std::string& where, std::string* out) const {
    YAML::Node n = map[key];
    if (!n) return Status::Ok();
    auto s = Str(n, fmt::format("{} of {}", key, where));
    if (!s.ok()) return s.status();
    if (s->empty()) return Error(n, fmt::format("{} of {} is empty", key, where));
    *out = *s;
    return Status::Ok();
  }
  Result<int> Int(const YAML::Node& n, const std::string& what, int min, int max) const {
    auto s = Str(n, what);
    if (!s.ok()) return s.status();
    int v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc() || p != s->data() + s->size() || v < min || v > max)
      return Error(n, fmt::format("{} must be a whole number from {} to {} (not '{}')", what, min, max, *s));
    return v;
  }
  // "800MiB/s", "800M", "1G/s": bytes per second.
  Result<uint64_t> Rate(const YAML::Node& n, const std::string& what) const {
    auto s = Str(n, what);
    if (!s.ok()) return s.status();
    std::string t = *s;
    if (t.size() > 2 && t.compare(t.size() - 2, 2, "/s") == 0) t.resize(t.size() - 2);
    auto v = ParseSize(t);
    if (!v.ok() || *v == 0)
      return Error(n, fmt::format("{} must be a rate such as 200MiB/s (not '{}')", what, *s));
    return *v;
  }
  Result<Window> ParseWindow(const YAML::Node& n, const std::string& what) const {
    auto s = Str(n, what);
    if (!s.ok()) return s.status();
    int h1, m1, h2, m2;
    char tail;
    if (std::sscanf(s->c_str(), "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 < 0 || h1 > 23 || m1 < 0 ||
        m1 > 59 || h2 < 0 || h2 > 24 || m2 < 0 || m2 > 59 || (h2 == 24 && m2 != 0))
      return Error(n, fmt::format("{} must be a daily window HH:MM-HH:MM such as 22:00-04:00 (not '{}')", what, *s));
    return Window{h1 * 60 + m1, (h2 * 60 + m2) % (24 * 60)};
  }

  Status Settings(const YAML::Node& map, const std::string& where, VmSettings* out) const {
    if (YAML::Node n = map["mode"]) {
      auto s = Str(n, "mode of " + where);
      if (!s.ok()) return s.status();
      if (*s == "offline") out->mode = Mode::kOffline;
      else if (*s == "live") out->mode = Mode::kLive;
      else return Error(n, fmt::format("mode of {} must be offline or live (not '{}')", where, *s));
    }
    if (YAML::Node n = map["stop"]) {
      auto s = Str(n, "stop of " + where);
      if (!s.ok()) return s.status();
      if (*s == "shutdown") out->stop = StopPolicy::kShutdown;
      else if (*s == "force-off") out->stop = StopPolicy::kForceOff;
      else if (*s == "shutdown,force-off") out->stop = StopPolicy::kShutdownThenForceOff;
      else
        return Error(n, fmt::format("stop of {} must be shutdown, force-off or shutdown,force-off (not '{}')", where,
                                    *s));
    }
    if (YAML::Node n = map["priority"]) {
      auto v = Int(n, "priority of " + where, -1000, 1000);
      if (!v.ok()) return v.status();
      out->priority = *v;
    }
    if (YAML::Node n = map["wave"]) {
      auto v = Int(n, "wave of " + where, 1, 1000);
      if (!v.ok()) return v.status();
      out->wave = *v;
    }
    if (YAML::Node n = map["window"]) {
      auto w = ParseWindow(n, "window of " + where);
      if (!w.ok()) return w.status();
      out->window = *w;
    }
    if (out->mode == Mode::kLive && out->stop)
      return Error(map, fmt::format("{}: a live VM keeps running, so it takes no stop policy", where));
    if (out->mode == Mode::kLive && out->window)
      return Error(map, fmt::format("{}: a live VM has no downtime, so it takes no cutover window", where));
    return Status::Ok();
  }

  Status Cluster(const YAML::Node& n, ClusterSpec* c) const {
    if (!n) return Status::Usage(fmt::format("{}: no 'cluster:' section (it names at least the pool)", origin_));
    if (n.IsMap() && n["key"])
      return Error(n["key"], "a cephx key does not go into the plan file: give 'keyring:' (a file, mode 0600)");
    V2R_RETURN_IF_ERROR(
        Keys(n, "cluster", {"conf", "id", "keyring", "cluster", "pool", "client_user", "image_name"}));
    V2R_RETURN_IF_ERROR(OptStr(n, "image_name", "cluster", &c->image_name));
    V2R_RETURN_IF_ERROR(OptStr(n, "conf", "cluster", &c->conf));
    V2R_RETURN_IF_ERROR(OptStr(n, "id", "cluster", &c->id));
    V2R_RETURN_IF_ERROR(OptStr(n, "keyring", "cluster", &c->keyring));
    V2R_RETURN_IF_ERROR(OptStr(n, "cluster", "cluster", &c->cluster));
    V2R_RETURN_IF_ERROR(OptStr(n, "pool", "cluster", &c->pool));
    V2R_RETURN_IF_ERROR(OptStr(n, "client_user", "cluster", &c->client_user));
    if (c->pool.empty()) return Error(n, "cluster: 'pool:' is required (the RBD pool the images go to)");
    if (c->id.rfind("client.", 0) == 0)
      return Error(n["id"], fmt::format("cluster id '{}': give the id without 'client.' (as rbd --id)", c->id));
    if (c->client_user.rfind("client.", 0) == 0)
      return Error(n["client_user"],
                   fmt::format("cluster client_user '{}': give the id without 'client.'", c->client_user));
    return Status::Ok();
  }

  Status ReadTransport(const YAML::Node& n, Transport* t) const {
    if (!n) return Status::Ok();
    V2R_RETURN_IF_ERROR(Keys(n, "transport", {"ssh_command", "connect_timeout", "keepalive"}));
    V2R_RETURN_IF_ERROR(OptStr(n, "ssh_command", "transport", &t->ssh_command));
    if (YAML::Node v = n["connect_timeout"]) {
      auto i = Int(v, "transport: connect_timeout", 1, 600);
      if (!i.ok()) return i.status();
      t->connect_timeout_s = *i;
    }
    if (YAML::Node v = n["keepalive"]) {
      auto i = Int(v, "transport: keepalive", 1, 600);
      if (!i.ok()) return i.status();
      t->keepalive_s = *i;
    }
    return Status::Ok();
  }

  Status ReadLimits(const YAML::Node& n, Limits* l) const {
    if (!n) return Status::Ok();
    V2R_RETURN_IF_ERROR(Keys(n, "limits", {"slots", "host_slots", "cutovers", "bandwidth", "max_failures"}));
    if (YAML::Node v = n["slots"]) {
      auto i = Int(v, "limits: slots", 1, 10000);
      if (!i.ok()) return i.status();
      l->slots = *i;
    }
    if (YAML::Node v = n["host_slots"]) {
      auto i = Int(v, "limits: host_slots", 1, 1000);
      if (!i.ok()) return i.status();
      l->host_slots = *i;
    }
    if (YAML::Node v = n["cutovers"]) {
      auto i = Int(v, "limits: cutovers", 1, 10000);
      if (!i.ok()) return i.status();
      l->cutovers = *i;
    }
    if (YAML::Node v = n["bandwidth"]) {
      auto r = Rate(v, "limits: bandwidth");
      if (!r.ok()) return r.status();
      l->bandwidth = *r;
    }
    if (YAML::Node v = n["max_failures"]) {
      auto s = Str(v, "limits: max_failures");
      if (!s.ok()) return s.status();
      auto f = ParseFailureLimit(*s);
      if (!f.ok()) return Error(v, f.status().message());
      l->max_failures = *f;
    }
    return Status::Ok();
  }

  Status Rule(const YAML::Node& n, const std::string& host, VmRule* r) const {
    const std::string where = "a VM entry of host " + host;
    if (n.IsScalar()) {  // "- web1": a name
      r->name = n.Scalar();
      r->line = Line(n);
      if (r->name.empty()) return Error(n, where + " is empty");
      return Status::Ok();
    }
    V2R_RETURN_IF_ERROR(
        Keys(n, where, {"name", "match", "all", "exclude", "mode", "stop", "priority", "wave", "window"}));
    r->line = Line(n);
    V2R_RETURN_IF_ERROR(OptStr(n, "name", where, &r->name));
    V2R_RETURN_IF_ERROR(OptStr(n, "match", where, &r->match));
    if (YAML::Node a = n["all"]) {
      auto s = Str(a, "all of " + where);
      if (!s.ok()) return s.status();
      if (*s != "true" && *s != "yes")
        return Error(a, fmt::format("all of {} is 'true' or left out (not '{}')", where, *s));
      r->all = true;
    }
    int kinds = !r->name.empty() + !r->match.empty() + r->all;
    if (kinds != 1)
      return Error(n, where + " needs exactly one of name: (a domain), match: (a glob) or all: true");
    if (YAML::Node e = n["exclude"]) {
      if (!r->name.empty()) return Error(e, where + ": exclude: goes with match: or all:, not with name:");
      if (e.IsScalar()) {
        r->exclude.push_back(e.Scalar());
      } else if (e.IsSequence()) {
        for (const auto& x : e) {
          auto s = Str(x, "exclude of " + where);
          if (!s.ok()) return s.status();
          r->exclude.push_back(*s);
        }
      } else {
        return Error(e, where + ": exclude: is a glob or a list of globs");
      }
    }
    return Settings(n, (r->name.empty() ? where : "VM " + r->name + " of host " + host), &r->settings);
  }

  Status Host(const YAML::Node& n, HostSpec* h) const {
    V2R_RETURN_IF_ERROR(
        Keys(n, "a host",
             {"name", "ssh", "port", "identity", "libvirt", "virt2rbd", "state_dir", "slots", "bandwidth", "vms"}));
    h->line = Line(n);
    V2R_RETURN_IF_ERROR(OptStr(n, "name", "a host", &h->name));
    if (h->name.empty()) return Error(n, "a host needs name: (how the report calls it)");
    const std::string where = "host " + h->name;
    V2R_RETURN_IF_ERROR(OptStr(n, "ssh", where, &h->ssh));
    if (h->ssh.empty()) return Error(n, where + " needs ssh: ([user@]address, as ssh takes it)");
    if (h->ssh[0] == '-') return Error(n["ssh"], where + ": ssh: must not start with '-'");
    if (YAML::Node p = n["port"]) {
      auto v = Int(p, "port of " + where, 1, 65535);
      if (!v.ok()) return v.status();
      h->port = *v;
    }
    V2R_RETURN_IF_ERROR(OptStr(n, "identity", where, &h->identity));
    V2R_RETURN_IF_ERROR(OptStr(n, "libvirt", where, &h->libvirt));
    V2R_RETURN_IF_ERROR(OptStr(n, "virt2rbd", where, &h->virt2rbd));
    V2R_RETURN_IF_ERROR(OptStr(n, "state_dir", where, &h->state_dir));
    if (YAML::Node s = n["slots"]) {
      auto v = Int(s, "slots of " + where, 1, 1000);
      if (!v.ok()) return v.status();
      h->slots = *v;
    }
    if (YAML::Node b = n["bandwidth"]) {
      auto r = Rate(b, "bandwidth of " + where);
      if (!r.ok()) return r.status();
      h->bandwidth = *r;
    }
    YAML::Node vms = n["vms"];
    if (!vms || !vms.IsSequence() || vms.size() == 0)
      return Error(n, where + " needs vms: a list of VM names, or entries with name:, match: or all: true");
    std::set<std::string> named;
    for (const auto& v : vms) {
      VmRule r;
      V2R_RETURN_IF_ERROR(Rule(v, h->name, &r));
      if (!r.name.empty() && !named.insert(r.name).second)
        return Error(v, fmt::format("VM {} is listed twice for host {}", r.name, h->name));
      h->vms.push_back(std::move(r));
    }
    return Status::Ok();
  }

  Result<PlanFile> Document(const YAML::Node& root) const {
    PlanFile plan;
    plan.origin = origin_;
    if (!root || root.IsNull()) return Status::Usage(fmt::format("{}: the plan is empty (see docs/fleet.md)", origin_));
    V2R_RETURN_IF_ERROR(Keys(root, "the plan", {"version", "cluster", "transport", "limits", "defaults", "hosts"}));
    YAML::Node version = root["version"];
    if (!version) return Error(root, "no 'version: 1' (the plan format's version)");
    auto v = Int(version, "version", 1, 1000);
    if (!v.ok()) return v.status();
    if (*v != 1)
      return Error(version, fmt::format("version {} is not known to this virt2rbd (it reads version 1)", *v));
    V2R_RETURN_IF_ERROR(Cluster(root["cluster"], &plan.cluster));
    V2R_RETURN_IF_ERROR(ReadTransport(root["transport"], &plan.transport));
    V2R_RETURN_IF_ERROR(ReadLimits(root["limits"], &plan.limits));
    if (YAML::Node d = root["defaults"]) {
      V2R_RETURN_IF_ERROR(Keys(d, "defaults", {"mode", "stop", "priority", "wave", "window"}));
      V2R_RETURN_IF_ERROR(Settings(d, "defaults", &plan.defaults));
    }
    if (!plan.defaults.mode) plan.defaults.mode = Mode::kOffline;
    if (!plan.defaults.stop) plan.defaults.stop = StopPolicy::kShutdown;
    if (!plan.defaults.priority) plan.defaults.priority = 0;
    if (!plan.defaults.wave) plan.defaults.wave = 1;
    YAML::Node hosts = root["hosts"];
    if (!hosts || !hosts.IsSequence() || hosts.size() == 0)
      return Error(hosts ? hosts : root, "no hosts: (a list of hypervisors, each with name:, ssh: and vms:)");
    std::set<std::string> names, targets;
    for (const auto& h : hosts) {
      HostSpec spec;
      V2R_RETURN_IF_ERROR(Host(h, &spec));
      if (!names.insert(spec.name).second) return Error(h, fmt::format("host name {} is used twice", spec.name));
      if (!targets.insert(fmt::format("{}:{}", spec.ssh, spec.port)).second)
        return Error(h, fmt::format("hosts share the ssh target {} port {}", spec.ssh, spec.port));
      plan.hosts.push_back(std::move(spec));
    }
    return plan;
  }

 private:
  std::string origin_;
};

bool Glob(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace

Result<PlanFile> ParsePlanFile(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::Usage(fmt::format("{}:{}: not valid YAML: {}", origin, e.mark.line + 1, e.msg));
  }
  try {
    return Reader(origin).Document(root);
  } catch (const YAML::Exception& e) {  // e.g. a key that is itself a mapping
    return Status::Usage(fmt::format("{}:{}: {}", origin, e.mark.line + 1, e.msg));
  }
}

Result<PlanFile> LoadPlanFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::FromErrno(Kind::kUsage, fmt::format("cannot read plan file {}", path), errno);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::FromErrno(Kind::kUsage, fmt::format("cannot read plan file {}", path), errno);
  return ParsePlanFile(ss.str(), path);
}

std::vector<SelectedVm> SelectVms(const PlanFile& plan, const HostSpec& host, const std::vector<std::string>& domains,
                                  std::vector<std::string>* missing) {
  std::vector<SelectedVm> out;
  std::set<std::string> taken;
  for (const VmRule& r : host.vms) {
    std::vector<std::string> picked;
    if (!r.name.empty()) {
      if (std::find(domains.begin(), domains.end(), r.name) == domains.end()) {
        if (missing) missing->push_back(r.name);
        continue;
      }
      picked.push_back(r.name);
    } else {
      for (const std::string& d : domains) {
        if (!r.all && !Glob(r.match, d)) continue;
        if (std::any_of(r.exclude.begin(), r.exclude.end(), [&](const std::string& e) { return Glob(e, d); }))
          continue;
        picked.push_back(d);
      }
    }
    for (const std::string& name : picked) {
      if (!taken.insert(name).second) continue;
      SelectedVm vm;
      vm.host = host.name;
      vm.name = name;
      vm.mode = r.settings.mode.value_or(*plan.defaults.mode);
      vm.stop = r.settings.stop.value_or(*plan.defaults.stop);
      vm.priority = r.settings.priority.value_or(*plan.defaults.priority);
      vm.wave = r.settings.wave.value_or(*plan.defaults.wave);
      vm.window = r.settings.window ? r.settings.window : plan.defaults.window;
      if (vm.mode == Mode::kLive) vm.window.reset();
      vm.named = !r.name.empty();
      vm.line = r.line;
      out.push_back(std::move(vm));
    }
  }
  return out;
}

}  // namespace v2r::fleet
