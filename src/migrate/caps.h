// cephx caps, as text: does a user's set of caps give RBD access to a pool,
// what to add when it does not, and the command line that does it.
//
// Pure logic (no librados). Caps are a map from service ("mon", "osd",
// "mgr", ...) to its cap string, as `ceph auth get` shows them:
//   {"mon": "profile rbd", "osd": "profile rbd pool=libvirt, allow r pool=x"}.
// A cap string is clauses separated by ',' or ';': "allow PERMS [pool=P]
// [namespace=N] ...", "profile NAME [pool=P] [namespace=N]", or "allow
// profile NAME ...". Values may be quoted ('...' or "..."), '=' may have
// spaces around it, and the old order "allow pool P rwx" is understood.
//
// The judgement errs on the side of "no": a clause restricted by anything
// this parser does not model (object_prefix, tag, network, class, service,
// command, an unknown word) grants nothing here, and neither does one
// limited to a namespace. A user refused wrongly gets a clear hint and can
// be updated; a user accepted wrongly would leave a VM that cannot start.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace v2r {

using CephCaps = std::map<std::string, std::string>;

// One clause of a cap string.
struct CapGrant {
  enum class Type { kAllow, kProfile, kUnknown };
  Type type = Type::kUnknown;
  std::string profile;  // kProfile: "rbd", "rbd-read-only", ...
  // kAllow: the permissions given ("allow *" / "allow all" set all).
  bool all = false;
  bool read = false;
  bool write = false;
  bool exec = false;
  std::optional<std::string> pool;
  std::optional<std::string> nspace;
  bool other_restriction = false;  // object_prefix, tag, network, class, unknown words...
  std::string text;                // the clause as written, trimmed
};

// Splits a cap string into its clauses (empty clauses are skipped).
std::vector<CapGrant> ParseCap(const std::string& cap);

// mon cap: "profile rbd" (or "allow profile rbd"), "allow *", "allow all" or
// "allow rwx", without restrictions.
bool MonCapGrantsRbd(const std::string& mon_cap);

// osd cap: a clause "profile rbd" or "allow rwx" / "allow *" / "allow all"
// with no pool or with pool=POOL, and no namespace or other restriction.
bool OsdCapGrantsRbd(const std::string& osd_cap, const std::string& pool);

// Both of the above: the user can run a VM whose disks are in `pool`.
bool GrantsRbdAccess(const CephCaps& caps, const std::string& pool);

// For --update-caps: `caps` with RBD access to `pool` added and everything
// else kept. osd gets ", profile rbd pool=POOL" appended (or set, if it has
// no cap); mon gets "profile rbd" if it has no cap, or ", profile rbd"
// appended if what it has does not grant it. Nothing is added where access
// is already given, so applying it twice changes nothing.
CephCaps AddPoolGrant(const CephCaps& caps, const std::string& pool);

// {mon: "profile rbd", osd: "profile rbd pool=POOL"}.
CephCaps LeastPrivilegeCaps(const std::string& pool);

// The pool as written in a cap: bare if it only has [A-Za-z0-9_.-], else
// quoted ("..." or, if it holds a '"', '...').
std::string CapPoolValue(const std::string& pool);

// "ceph auth caps client.X mon 'profile rbd' osd 'profile rbd pool=libvirt'":
// a shell command line (every cap single-quoted) for an error hint. Note
// that `ceph auth caps` replaces all caps: pass the complete set.
std::string CapsCommand(const std::string& entity, const CephCaps& caps);

}  // namespace v2r
