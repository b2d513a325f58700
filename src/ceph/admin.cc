#include "ceph/admin.h"

#include <rados/librados.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace v2r {
namespace {

using nlohmann::json;

// ------------------------------------------------------------------ helpers

// Parses a monitor's JSON answer; a parse failure is kInternal naming the command.
Result<json> ParseAnswer(const std::string& prefix, const char* data, size_t size) {
  try {
    return json::parse(data, data + size);
  } catch (const json::exception& e) {
    return Status::Internal(fmt::format("parsing the monitor's answer to '{}': {}", prefix, e.what()));
  }
}

Result<json> JsonCommand(RadosCluster& cluster, const json& cmd) {
  std::string out;
  Result<std::vector<std::string>> r = cluster.MonCommand(cmd.dump(), &out);
  if (!r.ok()) return r.status();
  return ParseAnswer(cmd.value("prefix", ""), out.data(), out.size());
}

std::optional<uint64_t> U64(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    return v < 0 ? 0 : static_cast<uint64_t>(v);
  }
  if (it->is_number_float()) {
    double v = it->get<double>();
    return v < 0 ? 0 : static_cast<uint64_t>(v);
  }
  return std::nullopt;
}

std::string Str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// True if `list` ("hashpspool,full_quota") has `word` as one of its items.
bool HasListItem(const std::string& list, const std::string& word) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (list.compare(start, comma - start, word) == 0 && comma - start == word.size()) return true;
    start = comma + 1;
  }
  return false;
}

// ------------------------------------------------- commands carrying a key

// A monitor command whose answer holds key material: like
// RadosCluster::MonCommand, but the answer goes into SecretBytes and
// librados' buffers are wiped before they are freed. The status text (outs)
// never holds a key; it is wiped too all the same.
Result<SecretBytes> SensitiveMonCommand(RadosCluster& cluster, const json& cmd) {
  const std::string text = cmd.dump();
  const std::string prefix = cmd.value("prefix", "");
  const char* cmds[1] = {text.c_str()};
  char* outb = nullptr;
  size_t outb_len = 0;
  char* outs = nullptr;
  size_t outs_len = 0;
  int r = rados_mon_command(cluster.handle(), cmds, 1, "", 0, &outb, &outb_len, &outs, &outs_len);
  SecretBytes answer;
  if (r >= 0 && outb != nullptr) answer = SecretBytes(outb, outb_len);
  std::string status;
  if (r < 0 && outs != nullptr) status.assign(outs, outs_len);
  if (outb != nullptr) {
    explicit_bzero(outb, outb_len);
    rados_buffer_free(outb);
  }
  if (outs != nullptr) {
    explicit_bzero(outs, outs_len);
    rados_buffer_free(outs);
  }
  if (r < 0) {
    while (!status.empty() && (status.back() == '\n' || status.back() == ' ')) status.pop_back();
    std::string what = fmt::format("monitor command '{}' as {}", prefix, cluster.entity());
    if (!status.empty()) what += fmt::format(" ({})", status);
    return Status::FromErrno(Kind::kRefused, what, r);
  }
  return answer;
}

// Overwrites in place, with 'x', the string value of every member named "key"
// in a JSON text (same length: the text stays valid JSON), so that the JSON
// parser never sees key material.
void RedactKeyMembers(char* p, size_t n) {
  // Index just past the closing quote of the string starting at p[i] == '"'.
  auto string_end = [&](size_t i) {
    for (size_t j = i + 1; j < n; ++j) {
      if (p[j] == '\\') {
        ++j;
      } else if (p[j] == '"') {
        return j + 1;
      }
    }
    return n;
  };
  auto skip_space = [&](size_t i) {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
    return i;
  };
  size_t i = 0;
  while (i < n) {
    if (p[i] != '"') {
      ++i;
      continue;
    }
    size_t end = string_end(i);
    bool is_key_name = end - i == 5 && std::memcmp(p + i, "\"key\"", 5) == 0;
    i = end;
    if (!is_key_name) continue;
    size_t colon = skip_space(i);
    if (colon >= n || p[colon] != ':') continue;
    size_t value = skip_space(colon + 1);
    if (value >= n || p[value] != '"') continue;
    size_t value_end = string_end(value);
    size_t last = value_end == n && (n == 0 || p[n - 1] != '"') ? n : value_end - 1;
    for (size_t k = value + 1; k < last; ++k) p[k] = 'x';
    i = value_end;
  }
}

// "client.X may not manage cephx users (auth get: Permission denied)".
Status AuthError(const Status& st, RadosCluster& cluster, const std::string& prefix, const std::string& hint) {
  if (st.cause() == Cause::kPermission) {
    return Status::Refused(
        fmt::format("{} may not manage cephx users ({}: {})", cluster.entity(), prefix, std::strerror(st.err())),
        hint.empty() ? fmt::format("run as a user with mon 'allow *' (e.g. --id admin); see 'ceph auth get {}'",
                                   cluster.entity())
                     : hint);
  }
  return st;
}

std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-/=:,@+", c) != nullptr)) plain = false;
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string CapsArgs(const std::map<std::string, std::string>& caps) {
  std::string out;
  for (const auto& [service, cap] : caps) {
    if (!out.empty()) out += ' ';
    out += ShellQuote(service) + " " + ShellQuote(cap);
  }
  return out;
}

json CapsArray(const std::map<std::string, std::string>& caps) {
  json arr = json::array();
  for (const auto& [service, cap] : caps) {
    arr.push_back(service);
    arr.push_back(cap);
  }
  return arr;
}

Status CheckEntity(const std::string& entity) {
  size_t dot = entity.find('.');
  bool ok = dot != std::string::npos && dot > 0 && dot + 1 < entity.size();
  for (char c : entity) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) ok = false;
  }
  if (!ok) {
    return Status::Usage(fmt::format("'{}' is not a cephx user name", entity),
                         "a user is named TYPE.ID, e.g. client.libvirt");
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------- monitors

bool SplitHostPort(const std::string& addr, std::string* host, int* port) {
  std::string a = addr;
  size_t slash = a.rfind('/');
  if (slash != std::string::npos) a.resize(slash);  // "/nonce"
  std::string h;
  std::string p;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':') return false;
    h = a.substr(1, close - 1);
    p = a.substr(close + 2);
  } else {
    size_t colon = a.rfind(':');
    if (colon == std::string::npos) return false;
    h = a.substr(0, colon);
    p = a.substr(colon + 1);
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  int value = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value <= 0 || value > 65535) return false;
  *host = h;
  *port = value;
  return true;
}

Result<std::vector<MonAddress>> ParseMonDump(const std::string& text) {
  Result<json> parsed = ParseAnswer("mon dump", text.data(), text.size());
  if (!parsed.ok()) return parsed.status();
  const json& dump = parsed.value();
  try {
    auto mons = dump.find("mons");
    if (!dump.is_object() || mons == dump.end() || !mons->is_array()) {
      return Status::Internal("the monitor's answer to 'mon dump' has no list of monitors");
    }
    std::vector<std::pair<int64_t, MonAddress>> ranked;
    for (const json& mon : *mons) {
      MonAddress m;
      m.name = Str(mon, "name");
      bool found = false;
      auto pa = mon.find("public_addrs");
      if (pa != mon.end() && pa->is_object()) {
        auto vec = pa->find("addrvec");
        if (vec != pa->end() && vec->is_array()) {
          for (const json& a : *vec) {
            if (Str(a, "type") == "v1" && SplitHostPort(Str(a, "addr"), &m.host, &m.port)) {
              found = true;
              break;
            }
          }
        }
      }
      if (!found) {
        // Legacy field; from a v2-only monitor it would hold its v2 port.
        std::string legacy = Str(mon, "addr");
        bool v2_only = legacy.rfind("v2:", 0) == 0;
        found = !v2_only && SplitHostPort(legacy, &m.host, &m.port);
      }
      if (!found) {
        return Status::Refused(
            fmt::format("monitor {} has no v1 (legacy) address in the monmap", m.name.empty() ? "?" : m.name),
            "libvirt and qemu name monitors by host and port; give them with --mon-hosts, or --mon-hosts none "
            "to leave it to the hypervisor's ceph.conf");
      }
      int64_t rank = mon.contains("rank") && mon["rank"].is_number_integer() ? mon["rank"].get<int64_t>()
                                                                              : static_cast<int64_t>(ranked.size());
      ranked.emplace_back(rank, std::move(m));
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<MonAddress> out;
    for (auto& [rank, m] : ranked) out.push_back(std::move(m));
    if (out.empty()) return Status::Internal("the monmap lists no monitors");
    return out;
  } catch (const json::exception& e) {
    return Status::Internal(fmt::format("reading the monitor's answer to 'mon dump': {}", e.what()));
  }
}

Result<std::vector<MonAddress>> MonitorAddresses(RadosCluster& cluster) {
  json cmd = {{"prefix", "mon dump"}, {"format", "json"}};
  std::string out;
  Result<std::vector<std::string>> r = cluster.MonCommand(cmd.dump(), &out);
  if (!r.ok()) return r.status();
  return ParseMonDump(out);
}

// -------------------------------------------------------------------- pools

Result<PoolSpace> GetPoolSpace(RadosCluster& cluster, const std::string& pool) {
  PoolSpace space;
  const Status missing = Status::Refused(
      fmt::format("pool '{}' does not exist", pool),
      fmt::format("create it: ceph osd pool create {} && rbd pool init {}", pool, pool));

  Result<json> df = JsonCommand(cluster, {{"prefix", "df"}, {"format", "json"}});
  if (!df.ok()) return df.status().Wrap(fmt::format("reading the free space of pool '{}'", pool));
  try {
    const json& d = df.value();
    bool found = false;
    if (d.contains("pools") && d["pools"].is_array()) {
      for (const json& p : d["pools"]) {
        if (Str(p, "name") != pool || !p.contains("stats")) continue;
        const json& st = p["stats"];
        space.max_avail = U64(st, "max_avail").value_or(0);
        space.stored = U64(st, "stored").value_or(U64(st, "bytes_used").value_or(0));
        found = true;
        break;
      }
    }
    // A pool created moments ago is in the osdmap (checked below) before the
    // mgr lists it in 'df': its usage is not known yet, it is not missing.
    if (!found) space.usage_known = false;
    // A cluster that never had a ceph-mgr reports no capacity at all.
    if (d.contains("stats") && U64(d["stats"], "total_bytes").value_or(0) == 0) space.usage_known = false;
  } catch (const json::exception& e) {
    return Status::Internal(fmt::format("reading the monitor's answer to 'df': {}", e.what()));
  }

  // Flags and quotas of every pool (one command; "osd pool get-quota" gives
  // the same two quota fields).
  Result<json> ls = JsonCommand(cluster, {{"prefix", "osd pool ls"}, {"detail", "detail"}, {"format", "json"}});
  if (!ls.ok()) return ls.status().Wrap(fmt::format("reading the flags and quotas of pool '{}'", pool));
  try {
    bool found = false;
    if (ls.value().is_array()) {
      for (const json& p : ls.value()) {
        if (Str(p, "pool_name") != pool) continue;
        std::string flags = Str(p, "flags_names");
        space.full = HasListItem(flags, "full") || HasListItem(flags, "full_quota");
        space.quota_max_bytes = U64(p, "quota_max_bytes").value_or(0);
        space.quota_max_objects = U64(p, "quota_max_objects").value_or(0);
        found = true;
        break;
      }
    }
    if (!found) return missing;
  } catch (const json::exception& e) {
    return Status::Internal(fmt::format("reading the monitor's answer to 'osd pool ls detail': {}", e.what()));
  }

  // With its mgr gone the cluster keeps reporting the last figures it had.
  // Not being allowed to ask is no reason to fail.
  Result<json> mgr = JsonCommand(cluster, {{"prefix", "mgr stat"}, {"format", "json"}});
  if (mgr.ok() && mgr.value().is_object()) {
    auto it = mgr.value().find("available");
    if (it != mgr.value().end() && it->is_boolean() && !it->get<bool>()) space.usage_known = false;
  }
  return space;
}

// -------------------------------------------------------------- cephx users

Result<std::optional<CephUser>> GetUser(RadosCluster& cluster, const std::string& entity) {
  V2R_RETURN_IF_ERROR(CheckEntity(entity));
  json cmd = {{"prefix", "auth get"}, {"entity", entity}, {"format", "json"}};
  Result<SecretBytes> answer = SensitiveMonCommand(cluster, cmd);
  if (!answer.ok()) {
    if (answer.status().cause() == Cause::kNotFound) return std::optional<CephUser>();
    return AuthError(answer.status(), cluster, "auth get", "");
  }
  SecretBytes& text = answer.value();
  RedactKeyMembers(text.mutable_data(), text.size());
  Result<json> parsed = ParseAnswer("auth get", text.data(), text.size());
  text.Wipe();
  if (!parsed.ok()) return parsed.status();
  try {
    const json& j = parsed.value();
    const json* entry = &j;
    if (j.is_array()) {
      if (j.empty()) return std::optional<CephUser>();
      entry = &j[0];
    }
    if (!entry->is_object()) return Status::Internal("the monitor's answer to 'auth get' is not an object");
    CephUser user;
    user.entity = Str(*entry, "entity");
    if (user.entity.empty()) user.entity = entity;
    auto caps = entry->find("caps");
    if (caps != entry->end() && caps->is_object()) {
      for (auto it = caps->begin(); it != caps->end(); ++it) {
        if (it.value().is_string()) user.caps[it.key()] = it.value().get<std::string>();
      }
    }
    return std::optional<CephUser>(std::move(user));
  } catch (const json::exception& e) {
    return Status::Internal(fmt::format("reading the monitor's answer to 'auth get': {}", e.what()));
  }
}

bool Base64Decode(const char* text, size_t length, SecretBytes* out) {
  out->Wipe();
  size_t begin = 0;
  size_t end = length;
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (begin < end && space(text[begin])) ++begin;
  while (end > begin && space(text[end - 1])) --end;
  const size_t n = end - begin;
  if (n == 0 || n % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t pad = 0;
  if (text[end - 1] == '=') pad = text[end - 2] == '=' ? 2 : 1;
  out->Reserve(n / 4 * 3);
  for (size_t i = begin; i < end; i += 4) {
    const bool last = i + 4 == end;
    uint32_t acc = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      int v;
      if (c == '=' && last && k >= 4 - pad) {
        v = 0;
      } else {
        v = value(c);
        if (v < 0) {
          out->Wipe();
          acc = 0;
          return false;
        }
      }
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out->PushBack(static_cast<char>((acc >> 16) & 0xff));
    if (!last || pad < 2) out->PushBack(static_cast<char>((acc >> 8) & 0xff));
    if (!last || pad < 1) out->PushBack(static_cast<char>(acc & 0xff));
    // Canonical form: the bits dropped by the padding must be zero.
    if (last && ((pad == 1 && (acc & 0xff) != 0) || (pad == 2 && (acc & 0xffff) != 0))) {
      out->Wipe();
      acc = 0;
      return false;
    }
    explicit_bzero(&acc, sizeof(acc));
  }
  return true;
}

Result<SecretBytes> GetKeyBytes(RadosCluster& cluster, const std::string& entity) {
  V2R_RETURN_IF_ERROR(CheckEntity(entity));
  // Plain format: the answer is the key in base64 and nothing else (no JSON
  // escaping, no parser holding copies).
  json cmd = {{"prefix", "auth get-key"}, {"entity", entity}};
  Result<SecretBytes> answer = SensitiveMonCommand(cluster, cmd);
  if (!answer.ok()) {
    if (answer.status().cause() == Cause::kNotFound) {
      return Status::Refused(fmt::format("cephx user {} does not exist", entity),
                             fmt::format("create it: ceph auth get-or-create {} mon 'profile rbd' osd 'profile rbd "
                                         "pool=POOL'",
                                         entity));
    }
    return AuthError(answer.status(), cluster, "auth get-key", "");
  }
  SecretBytes key;
  bool decoded = Base64Decode(answer->data(), answer->size(), &key);
  const size_t text_length = answer->size();
  answer->Wipe();
  if (!decoded) {
    return Status::Internal(
        fmt::format("the key of {} is not valid base64 ({} characters; not shown)", entity, text_length));
  }
  // A cephx key: u16 type, u32 sec + u32 nsec (creation), u16 length, secret.
  const auto* b = key.udata();
  if (key.size() < 12 || static_cast<size_t>(b[10] | (b[11] << 8)) != key.size() - 12 || key.size() == 12) {
    size_t size = key.size();
    key.Wipe();
    return Status::Internal(
        fmt::format("the key of {} is not a cephx key ({} bytes once decoded; not shown)", entity, size));
  }
  return key;
}

Status CreateUser(RadosCluster& cluster, const std::string& entity,
                  const std::map<std::string, std::string>& caps) {
  V2R_RETURN_IF_ERROR(CheckEntity(entity));
  const std::string by_hand = fmt::format("ceph auth get-or-create {} {}", ShellQuote(entity), CapsArgs(caps));
  json cmd = {{"prefix", "auth get-or-create"}, {"entity", entity}, {"caps", CapsArray(caps)}};
  Result<SecretBytes> answer = SensitiveMonCommand(cluster, cmd);  // holds the key: dropped (wiped) here
  if (answer.ok()) return Status::Ok();
  const Status& st = answer.status();
  if (st.cause() == Cause::kInvalid) {
    // "key for client.X exists but cap mon does not match"
    return Status::Refused(fmt::format("creating cephx user {}: {}", entity, st.message()),
                           fmt::format("the user exists with other caps; see 'ceph auth get {}'", entity));
  }
  if (st.cause() == Cause::kPermission) {
    return AuthError(st, cluster, "auth get-or-create",
                     fmt::format("run as a user with mon 'allow *' (e.g. --id admin), or create the user first: {}",
                                 by_hand));
  }
  return st.Wrap(fmt::format("creating cephx user {}", entity))
      .WithHint(fmt::format("create it by hand: {}", by_hand));
}

Status SetCaps(RadosCluster& cluster, const std::string& entity, const std::map<std::string, std::string>& caps) {
  V2R_RETURN_IF_ERROR(CheckEntity(entity));
  const std::string by_hand = fmt::format("ceph auth caps {} {}", ShellQuote(entity), CapsArgs(caps));
  json cmd = {{"prefix", "auth caps"}, {"entity", entity}, {"caps", CapsArray(caps)}};
  Result<std::vector<std::string>> r = cluster.MonCommand(cmd.dump(), nullptr);
  if (r.ok()) return Status::Ok();
  const Status& st = r.status();
  if (st.cause() == Cause::kPermission) {
    return AuthError(st, cluster, "auth caps",
                     fmt::format("run as a user with mon 'allow *' (e.g. --id admin), or set them by hand: {}",
                                 by_hand));
  }
  if (st.cause() == Cause::kNotFound) return Status::Refused(fmt::format("cephx user {} does not exist", entity));
  return st.WithHint(fmt::format("set them by hand: {}", by_hand));
}

Status DeleteUser(RadosCluster& cluster, const std::string& entity) {
  V2R_RETURN_IF_ERROR(CheckEntity(entity));
  json cmd = {{"prefix", "auth del"}, {"entity", entity}};
  Result<std::vector<std::string>> r = cluster.MonCommand(cmd.dump(), nullptr);
  if (r.ok() || r.status().cause() == Cause::kNotFound) return Status::Ok();
  return AuthError(r.status(), cluster, "auth del",
                   fmt::format("run as a user with mon 'allow *' (e.g. --id admin), or remove it by hand: ceph auth "
                               "del {}",
                               ShellQuote(entity)));
}

}  // namespace v2r
