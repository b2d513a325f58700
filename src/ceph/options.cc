#include "ceph/options.h"

#include <cctype>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace v2r {
namespace {

constexpr std::string_view kClientPrefix = "client.";
constexpr const char* kIdNameHint =
    "--id X is short for --name client.X: give only one of them";

// The CEPH_ARGS options that virt2rbd resolves itself (everything else is
// passed through to librados).
enum class Field { kConf, kCluster, kId, kName, kKeyring };

struct KnownOption {
  std::string_view long_name;   // "--conf"
  std::string_view short_name;  // "-c" or empty
  Field field;
};

constexpr KnownOption kKnown[] = {
    {"--conf", "-c", Field::kConf},       {"--cluster", "", Field::kCluster},
    {"--id", "-i", Field::kId},           {"--user", "", Field::kId},
    {"--name", "-n", Field::kName},       {"--keyring", "-k", Field::kKeyring},
};

std::vector<std::string> SplitWhitespace(const char* s) {
  std::vector<std::string> out;
  if (s == nullptr) return out;
  std::string cur;
  for (const char* p = s; *p != '\0'; ++p) {
    if (std::isspace(static_cast<unsigned char>(*p))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(*p);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// Matches `token` against the known options. On a match sets *field and, for
// the "--opt=value" form, *inline_value.
bool MatchKnown(const std::string& token, Field* field,
                std::optional<std::string>* inline_value) {
  for (const KnownOption& k : kKnown) {
    if (token == k.long_name || (!k.short_name.empty() && token == k.short_name)) {
      *field = k.field;
      inline_value->reset();
      return true;
    }
    if (token.size() > k.long_name.size() && token.compare(0, k.long_name.size(), k.long_name) == 0 &&
        token[k.long_name.size()] == '=') {
      *field = k.field;
      *inline_value = token.substr(k.long_name.size() + 1);
      return true;
    }
  }
  return false;
}

// What CEPH_ARGS said about the known options (empty = not given).
struct EnvOptions {
  std::string conf, cluster, id, name, keyring;
  std::vector<std::string> extra;
};

Result<EnvOptions> ParseCephArgs(const char* env) {
  EnvOptions out;
  std::vector<std::string> tokens = SplitWhitespace(env);
  for (size_t i = 0; i < tokens.size(); ++i) {
    Field field;
    std::optional<std::string> value;
    if (!MatchKnown(tokens[i], &field, &value)) {
      out.extra.push_back(tokens[i]);
      continue;
    }
    if (!value) {
      if (i + 1 >= tokens.size()) {
        return Status::Usage(fmt::format("CEPH_ARGS: option {} needs a value", tokens[i]),
                             "fix or unset the CEPH_ARGS environment variable");
      }
      value = tokens[++i];
    }
    switch (field) {
      case Field::kConf: out.conf = *value; break;
      case Field::kCluster: out.cluster = *value; break;
      case Field::kId: out.id = *value; break;
      case Field::kName: out.name = *value; break;
      case Field::kKeyring: out.keyring = *value; break;
    }
  }
  return out;
}

Status ValidateIdentity(const std::string& id, const std::string& name, const char* where) {
  if (!id.empty() && !name.empty()) {
    return Status::Usage(fmt::format("{}--id and --name are mutually exclusive", where), kIdNameHint);
  }
  if (!name.empty()) {
    if (name.compare(0, kClientPrefix.size(), kClientPrefix) != 0 || name.size() == kClientPrefix.size()) {
      return Status::Usage(fmt::format("{}--name {}: must be client.ID", where, name),
                           "e.g. --name client.admin, or --id admin");
    }
  }
  if (!id.empty() && id.compare(0, kClientPrefix.size(), kClientPrefix) == 0) {
    return Status::Usage(fmt::format("{}--id {}: give the id without 'client.'", where, id),
                         fmt::format("use --id {} or --name {}", id.substr(kClientPrefix.size()), id));
  }
  return Status::Ok();
}

}  // namespace

std::string CephOptions::EntityName() const {
  if (!name.empty()) return name;
  if (!id.empty()) return std::string(kClientPrefix) + id;
  return "client.admin";
}

std::string CephOptions::EntityId() const {
  std::string entity = EntityName();
  if (entity.compare(0, kClientPrefix.size(), kClientPrefix) == 0) {
    return entity.substr(kClientPrefix.size());
  }
  return entity;
}

std::string CephOptions::ClusterName() const { return cluster.empty() ? "ceph" : cluster; }

Status ValidateCephOptions(const CephOptions& opts) {
  V2R_RETURN_IF_ERROR(ValidateIdentity(opts.id, opts.name, ""));
  if (opts.connect_timeout_s <= 0) {
    return Status::Usage(
        fmt::format("--connect-timeout {}: must be a positive number of seconds", opts.connect_timeout_s));
  }
  return Status::Ok();
}

Result<CephOptions> ResolveCephOptions(const CephOptions& cli, const char* ceph_args_env) {
  V2R_RETURN_IF_ERROR(ValidateCephOptions(cli));
  Result<EnvOptions> parsed = ParseCephArgs(ceph_args_env);
  if (!parsed.ok()) return parsed.status();
  const EnvOptions& env = parsed.value();

  CephOptions out;
  out.conf = !cli.conf.empty() ? cli.conf : env.conf;
  out.cluster = !cli.cluster.empty() ? cli.cluster : env.cluster;
  out.keyring = !cli.keyring.empty() ? cli.keyring : env.keyring;
  out.connect_timeout_s = cli.connect_timeout_s;
  out.ceph_log_file = cli.ceph_log_file;

  CephOptions identity;
  if (!cli.id.empty() || !cli.name.empty()) {
    identity.id = cli.id;
    identity.name = cli.name;
  } else {
    Status st = ValidateIdentity(env.id, env.name, "CEPH_ARGS: ");
    if (!st.ok()) return st;
    identity.id = env.id;
    identity.name = env.name;
  }
  out.name = identity.EntityName();

  out.extra_args = env.extra;
  out.extra_args.insert(out.extra_args.end(), cli.extra_args.begin(), cli.extra_args.end());
  return out;
}

}  // namespace v2r
