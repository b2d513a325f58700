#include "migrate/caps.h"

#include <cctype>
#include <cstring>

namespace v2r {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string Trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Clauses separated by ',' or ';' outside quotes.
std::vector<std::string> SplitClauses(const std::string& cap) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (char c : cap) {
    if (quote != 0) {
      if (c == quote) quote = 0;
      cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      cur += c;
    } else if (c == ',' || c == ';') {
      out.push_back(Trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(Trim(cur));
  return out;
}

struct Token {
  std::string text;
  bool is_equals = false;
};

// Words, '=' on its own, and quoted strings (without their quotes).
std::vector<Token> Tokenize(const std::string& clause) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < clause.size()) {
    char c = clause[i];
    if (IsSpace(c)) {
      ++i;
    } else if (c == '=') {
      out.push_back({"=", true});
      ++i;
    } else if (c == '"' || c == '\'') {
      size_t close = clause.find(c, i + 1);
      if (close == std::string::npos) close = clause.size();
      out.push_back({clause.substr(i + 1, close - i - 1), false});
      i = close + 1;
    } else {
      size_t j = i;
      while (j < clause.size() && !IsSpace(clause[j]) && clause[j] != '=' && clause[j] != '"' && clause[j] != '\'') ++j;
      out.push_back({clause.substr(i, j - i), false});
      i = j;
    }
  }
  return out;
}

// Reads a qualifier's value at tokens[*i] ("= value" or, old style, "value").
std::optional<std::string> TakeValue(const std::vector<Token>& t, size_t* i) {
  if (*i < t.size() && t[*i].is_equals) ++*i;
  if (*i >= t.size() || t[*i].is_equals) return std::nullopt;
  return t[(*i)++].text;
}

// Sets the perms of `g` from a word like "rwx", "r", "*" or "all"; false if
// the word is not one.
bool TakePerms(const std::string& w, CapGrant* g) {
  if (w == "*" || w == "all") {
    g->all = true;
    return true;
  }
  if (w.empty() || w.find_first_not_of("rwx") != std::string::npos) return false;
  for (char c : w) {
    if (c == 'r') g->read = true;
    if (c == 'w') g->write = true;
    if (c == 'x') g->exec = true;
  }
  return true;
}

// pool=, namespace=, anything else restricts in a way not modelled here.
void TakeQualifiers(const std::vector<Token>& t, size_t i, bool allow_perms, CapGrant* g) {
  while (i < t.size()) {
    const Token& tok = t[i];
    if (tok.is_equals) {
      g->other_restriction = true;
      ++i;
    } else if (tok.text == "pool") {
      ++i;
      std::optional<std::string> v = TakeValue(t, &i);
      if (!v) g->other_restriction = true;
      g->pool = v;
    } else if (tok.text == "namespace") {
      ++i;
      std::optional<std::string> v = TakeValue(t, &i);
      g->nspace = v.value_or("");
    } else if (allow_perms && TakePerms(tok.text, g)) {
      ++i;
    } else if (allow_perms && (tok.text == "class-read" || tok.text == "class-write")) {
      ++i;  // neither grants nor restricts what is judged here (rwx)
    } else {
      g->other_restriction = true;
      ++i;
    }
  }
}

CapGrant ParseClause(const std::string& clause) {
  CapGrant g;
  g.text = clause;
  std::vector<Token> t = Tokenize(clause);
  if (t.empty()) return g;
  size_t i = 0;
  if (t[0].text == "allow" && !t[0].is_equals) {
    i = 1;
    if (i < t.size() && t[i].text == "profile") {
      g.type = CapGrant::Type::kProfile;
      ++i;
    } else {
      g.type = CapGrant::Type::kAllow;
    }
  } else if (t[0].text == "profile" && !t[0].is_equals) {
    g.type = CapGrant::Type::kProfile;
    i = 1;
  } else {
    return g;  // kUnknown
  }
  if (g.type == CapGrant::Type::kProfile) {
    if (i >= t.size() || t[i].is_equals) {
      g.type = CapGrant::Type::kUnknown;
      return g;
    }
    g.profile = t[i++].text;
    TakeQualifiers(t, i, /*allow_perms=*/false, &g);
  } else {
    TakeQualifiers(t, i, /*allow_perms=*/true, &g);
    if (!g.all && !g.read && !g.write && !g.exec) g.other_restriction = true;  // "allow" of nothing known
  }
  return g;
}

bool CoversPool(const CapGrant& g, const std::string& pool) {
  return !g.other_restriction && !g.nspace.has_value() && (!g.pool.has_value() || *g.pool == pool);
}

std::string CapOf(const CephCaps& caps, const std::string& service) {
  auto it = caps.find(service);
  return it == caps.end() ? std::string() : it->second;
}

// Appends a clause to a cap string, dropping trailing separators first.
std::string AppendClause(const std::string& cap, const std::string& clause) {
  std::string base = Trim(cap);
  while (!base.empty() && (base.back() == ',' || base.back() == ';' || IsSpace(base.back()))) base.pop_back();
  if (base.empty()) return clause;
  return base + ", " + clause;
}

std::string SingleQuoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Quoted only when the shell would need it.
std::string ShellWord(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-/=:,@+", c) != nullptr)) plain = false;
  }
  return plain ? s : SingleQuoted(s);
}

}  // namespace

std::vector<CapGrant> ParseCap(const std::string& cap) {
  std::vector<CapGrant> out;
  for (const std::string& clause : SplitClauses(cap)) {
    if (!clause.empty()) out.push_back(ParseClause(clause));
  }
  return out;
}

bool MonCapGrantsRbd(const std::string& mon_cap) {
  for (const CapGrant& g : ParseCap(mon_cap)) {
    if (g.other_restriction || g.nspace.has_value() || g.pool.has_value()) continue;
    if (g.type == CapGrant::Type::kProfile && g.profile == "rbd") return true;
    if (g.type == CapGrant::Type::kAllow && (g.all || (g.read && g.write && g.exec))) return true;
  }
  return false;
}

bool OsdCapGrantsRbd(const std::string& osd_cap, const std::string& pool) {
  for (const CapGrant& g : ParseCap(osd_cap)) {
    if (!CoversPool(g, pool)) continue;
    if (g.type == CapGrant::Type::kProfile && g.profile == "rbd") return true;
    if (g.type == CapGrant::Type::kAllow && (g.all || (g.read && g.write && g.exec))) return true;
  }
  return false;
}

bool GrantsRbdAccess(const CephCaps& caps, const std::string& pool) {
  return MonCapGrantsRbd(CapOf(caps, "mon")) && OsdCapGrantsRbd(CapOf(caps, "osd"), pool);
}

CephCaps AddPoolGrant(const CephCaps& caps, const std::string& pool) {
  CephCaps out = caps;
  const std::string mon = CapOf(caps, "mon");
  if (!MonCapGrantsRbd(mon)) out["mon"] = AppendClause(mon, "profile rbd");
  const std::string osd = CapOf(caps, "osd");
  if (!OsdCapGrantsRbd(osd, pool)) out["osd"] = AppendClause(osd, "profile rbd pool=" + CapPoolValue(pool));
  return out;
}

CephCaps LeastPrivilegeCaps(const std::string& pool) {
  return {{"mon", "profile rbd"}, {"osd", "profile rbd pool=" + CapPoolValue(pool)}};
}

std::string CapPoolValue(const std::string& pool) {
  bool bare = !pool.empty();
  for (char c : pool) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) bare = false;
  }
  if (bare) return pool;
  if (pool.find('"') == std::string::npos) return "\"" + pool + "\"";
  return "'" + pool + "'";
}

std::string CapsCommand(const std::string& entity, const CephCaps& caps) {
  std::string out = "ceph auth caps " + ShellWord(entity);
  for (const auto& [service, cap] : caps) out += " " + ShellWord(service) + " " + SingleQuoted(cap);
  return out;
}

}  // namespace v2r
