#include "virt/libvirt.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace v2r {

static_assert(kXmlSecure == VIR_DOMAIN_XML_SECURE);
static_assert(kXmlInactive == VIR_DOMAIN_XML_INACTIVE);
static_assert(kXmlUpdateCpu == VIR_DOMAIN_XML_UPDATE_CPU);
static_assert(kXmlMigratable == VIR_DOMAIN_XML_MIGRATABLE);

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr const char* kDefaultUri = "qemu:///system";

void NoopErrorHandler(void* /*user_data*/, virErrorPtr /*error*/) {}

// virInitialize (needed before libvirt is used from several threads) and the
// no-op error handler, once per process.
// libvirt's default event loop runs in a thread of its own for the rest of
// the process: it delivers domain events (LifecycleWatch), answers the
// daemon's keepalive probes and notices a connection that broke. It must be
// registered before the first connection opens.
void InitLibvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, NoopErrorHandler);
    if (virEventRegisterDefaultImpl() == 0) {
      std::thread([] {
        for (;;)
          if (virEventRunDefaultImpl() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }).detach();
    }
  });
}

// libvirt's last error on this thread.
std::string LastError() {
  const char* m = virGetLastErrorMessage();
  return m != nullptr ? m : "unknown libvirt error";
}

struct CFree {
  void operator()(void* p) const { std::free(p); }
};
using CString = std::unique_ptr<char, CFree>;

struct SecretFree {
  void operator()(virSecretPtr s) const {
    if (s != nullptr) virSecretFree(s);
  }
};
using SecretHandle = std::unique_ptr<virSecret, SecretFree>;

struct DomainFree {
  void operator()(virDomainPtr d) const {
    if (d != nullptr) virDomainFree(d);
  }
};
using DomainHandle = std::unique_ptr<virDomain, DomainFree>;

// virConnectListAllDomains' answer, freed on scope exit.
class DomainList {
 public:
  DomainList() = default;
  ~DomainList() {
    for (int i = 0; i < n_; ++i) virDomainFree(doms_[i]);
    std::free(doms_);
  }
  DomainList(const DomainList&) = delete;
  DomainList& operator=(const DomainList&) = delete;
  int Fill(virConnectPtr conn) {
    n_ = virConnectListAllDomains(conn, &doms_, 0);
    return n_;
  }
  int size() const { return n_ < 0 ? 0 : n_; }
  virDomainPtr operator[](int i) const { return doms_[i]; }

 private:
  virDomainPtr* doms_ = nullptr;
  int n_ = -1;
};

std::string DomainUuid(virDomainPtr d) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(d, buf) < 0) return {};
  return buf;
}

std::string SecretUuid(virSecretPtr s) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virSecretGetUUIDString(s, buf) < 0) return {};
  return buf;
}

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// 8-4-4-4-12 hex digits, or 32 hex digits.
bool LooksLikeUuid(const std::string& s) {
  if (s.size() == 32) {
    for (char c : s) {
      if (!IsHex(c)) return false;
    }
    return true;
  }
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// Lowercase, without dashes, for comparing uuids.
std::string NormalizeUuid(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Replaces the predefined entities and character references of an attribute
// value; anything else is kept as written.
std::string DecodeEntities(std::string_view v) {
  std::string out;
  size_t i = 0;
  while (i < v.size()) {
    size_t semi = v[i] == '&' ? v.find(';', i) : std::string_view::npos;
    if (semi == std::string_view::npos) {
      out += v[i++];
      continue;
    }
    std::string_view ent = v.substr(i + 1, semi - i - 1);
    if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "amp") {
      out += '&';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent.size() > 1 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0' || cp > 0x10FFFF) {
        out.append(v.substr(i, semi - i + 1));
      } else {
        AppendUtf8(out, cp);
      }
    } else {
      out.append(v.substr(i, semi - i + 1));
    }
    i = semi + 1;
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct XmlAttr {
  std::string_view name;
  std::string value;  // entities decoded
};

// Calls fn(name, attrs) for each start tag (and empty-element tag) of xml, in
// document order, skipping comments, CDATA, processing instructions,
// declarations and end tags; fn returns false to stop. Enough for the
// well-formed XML libvirt writes, not a validating parser. Returns false when
// the text cannot be scanned.
template <typename Fn>
bool ForEachStartTag(std::string_view xml, Fn&& fn) {
  const size_t n = xml.size();
  size_t i = 0;
  auto skip_past = [&](size_t from, std::string_view end) {
    size_t j = xml.find(end, from);
    if (j == std::string_view::npos) return false;
    i = j + end.size();
    return true;
  };
  while ((i = xml.find('<', i)) != std::string_view::npos) {
    std::string_view rest = xml.substr(i);
    if (rest.starts_with("<!--")) {
      if (!skip_past(i + 4, "-->")) return false;
      continue;
    }
    if (rest.starts_with("<![CDATA[")) {
      if (!skip_past(i + 9, "]]>")) return false;
      continue;
    }
    if (rest.starts_with("<?")) {
      if (!skip_past(i + 2, "?>")) return false;
      continue;
    }
    if (rest.starts_with("<!") || rest.starts_with("</")) {
      if (!skip_past(i + 2, ">")) return false;
      continue;
    }
    size_t p = i + 1;
    while (p < n && !IsSpace(xml[p]) && xml[p] != '>' && xml[p] != '/') ++p;
    std::string_view name = xml.substr(i + 1, p - i - 1);
    if (name.empty()) return false;
    std::vector<XmlAttr> attrs;
    for (;;) {
      while (p < n && IsSpace(xml[p])) ++p;
      if (p >= n) return false;
      if (xml[p] == '>') {
        ++p;
        break;
      }
      if (xml[p] == '/') {
        if (p + 1 < n && xml[p + 1] == '>') {
          p += 2;
          break;
        }
        return false;
      }
      size_t an = p;
      while (p < n && !IsSpace(xml[p]) && xml[p] != '=' && xml[p] != '>' && xml[p] != '/') ++p;
      std::string_view aname = xml.substr(an, p - an);
      while (p < n && IsSpace(xml[p])) ++p;
      if (aname.empty() || p >= n || xml[p] != '=') return false;
      ++p;
      while (p < n && IsSpace(xml[p])) ++p;
      if (p >= n || (xml[p] != '\'' && xml[p] != '"')) return false;
      size_t close = xml.find(xml[p], p + 1);
      if (close == std::string_view::npos) return false;
      attrs.push_back({aname, DecodeEntities(xml.substr(p + 1, close - p - 1))});
      p = close + 1;
    }
    if (!fn(name, attrs)) return true;
    i = p;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const char* DomainStateName(DomainState s) {
  switch (s) {
    case DomainState::kRunning: return "running";
    case DomainState::kPaused: return "paused";
    case DomainState::kShutoff: return "shut off";
    case DomainState::kShutdown: return "shutting down";
    case DomainState::kCrashed: return "crashed";
    case DomainState::kPmSuspended: return "pmsuspended";
    case DomainState::kOther: return "other";
  }
  return "other";
}

bool UriIsLocal(const std::string& uri) {
  size_t colon = uri.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    char c = uri[i];
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '+' && c != '-' && c != '.') return false;
  }
  std::string_view rest = std::string_view(uri).substr(colon + 1);
  if (!rest.starts_with("//")) return true;  // no authority, so no host
  std::string_view authority = rest.substr(2);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view host;
  if (authority.starts_with("[")) {
    host = authority.substr(1, authority.find(']') == std::string_view::npos ? authority.size() - 1
                                                                               : authority.find(']') - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  return host.empty();
}

bool DomainXmlUsesSecret(std::string_view xml, std::string_view uuid, std::string_view usage_id) {
  const std::string want = NormalizeUuid(uuid);
  if (want.empty() && usage_id.empty()) return false;
  bool used = false;
  bool scanned = ForEachStartTag(xml, [&](std::string_view name, const std::vector<XmlAttr>& attrs) {
    if (name.find(':') != std::string_view::npos) return true;  // another namespace
    for (const XmlAttr& a : attrs) {
      if (name == "secret") {
        if (a.name == "uuid" && !want.empty() && NormalizeUuid(a.value) == want) used = true;
        if (a.name == "usage" && !usage_id.empty() && a.value == usage_id) used = true;
      } else if (a.name == "secret" && !want.empty() && NormalizeUuid(a.value) == want) {
        used = true;
      }
    }
    return !used;
  });
  if (used || scanned) return used;
  // Unscannable: be conservative.
  std::string lower = Lower(xml);
  return (!uuid.empty() && lower.find(Lower(uuid)) != std::string::npos) ||
         (!usage_id.empty() && xml.find(usage_id) != std::string_view::npos);
}

bool SecretXmlIsPrivate(std::string_view xml) {
  bool is_private = false;
  ForEachStartTag(xml, [&](std::string_view name, const std::vector<XmlAttr>& attrs) {
    if (name == "secret") {
      for (const XmlAttr& a : attrs) {
        if (a.name == "private") is_private = a.value == "yes";
      }
    }
    return false;  // only the root element
  });
  return is_private;
}

// ---------------------------------------------------------------------------
// VirtConnection

Result<std::unique_ptr<VirtConnection>> VirtConnection::Open(const std::string& uri) {
  InitLibvirt();
  std::string target = uri;
  if (target.empty()) {
    const char* env = std::getenv("LIBVIRT_DEFAULT_URI");
    target = env != nullptr && *env != '\0' ? env : kDefaultUri;
  }
  virConnectPtr conn = virConnectOpen(target.c_str());
  if (conn == nullptr) {
    std::string hint =
        UriIsLocal(target)
            ? "start libvirtd (libvirtd -d, or systemctl start libvirtd), or name another URI with --connect"
            : "check that the host is reachable and runs libvirtd, or name another URI with --connect";
    return Status::Refused(fmt::format("cannot connect to libvirt at {}: {}", target, LastError()), hint);
  }
  // Probe the daemon every 5 s and give up after 6 missed answers: a hung
  // libvirtd then fails our calls (a lost connection, resumable) instead of
  // blocking them for ever. Drivers without keepalive (test://) refuse: fine.
  (void)virConnectSetKeepAlive(conn, 5, 6);
  CString resolved(virConnectGetURI(conn));
  std::string final_uri = resolved ? std::string(resolved.get()) : target;
  return std::unique_ptr<VirtConnection>(new VirtConnection(conn, std::move(final_uri)));
}

bool VirtConnection::IsAlive() const { return conn_ != nullptr && virConnectIsAlive(conn_) == 1; }

VirtConnection::~VirtConnection() {
  if (conn_ != nullptr) virConnectClose(conn_);
}

VirtConnection::VirtConnection(VirtConnection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), uri_(std::move(other.uri_)) {}

VirtConnection& VirtConnection::operator=(VirtConnection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) virConnectClose(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    uri_ = std::move(other.uri_);
  }
  return *this;
}

Result<std::unique_ptr<VirtDomain>> VirtConnection::LookupDomain(const std::string& name_or_uuid) {
  virDomainPtr d = virDomainLookupByName(conn_, name_or_uuid.c_str());
  if (d == nullptr && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN && LooksLikeUuid(name_or_uuid)) {
    d = virDomainLookupByUUIDString(conn_, name_or_uuid.c_str());
  }
  if (d == nullptr) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
      return Status::Refused(fmt::format("domain '{}' not found at {}", name_or_uuid, uri_),
                             fmt::format("virsh -c {} list --all lists the domains defined there", uri_));
    }
    return Status::Refused(fmt::format("looking up domain '{}' at {}: {}", name_or_uuid, uri_, LastError()));
  }
  const char* name = virDomainGetName(d);
  return std::unique_ptr<VirtDomain>(
      new VirtDomain(conn_, d, uri_, name != nullptr ? name : name_or_uuid, DomainUuid(d)));
}

Result<std::vector<std::string>> VirtConnection::DomainNames() {
  DomainList list;
  if (list.Fill(conn_) < 0) {
    return Status::Refused(fmt::format("listing the domains at {}: {}", uri_, LastError()));
  }
  std::vector<std::string> names;
  for (int i = 0; i < list.size(); ++i) {
    const char* name = virDomainGetName(list[i]);
    if (name != nullptr) names.emplace_back(name);
  }
  return names;
}

Result<std::unique_ptr<VirtDomain>> VirtConnection::DefineXml(const std::string& xml) {
  virDomainPtr d = virDomainDefineXML(conn_, xml.c_str());
  if (d == nullptr) {
    return Status::Failed(fmt::format("defining a domain at {}: {}", uri_, LastError()));
  }
  const char* name = virDomainGetName(d);
  return std::unique_ptr<VirtDomain>(new VirtDomain(conn_, d, uri_, name != nullptr ? name : "", DomainUuid(d)));
}

namespace {

// Looks a secret up by uuid: missing is kRefused.
Result<SecretHandle> LookupSecret(virConnectPtr conn, const std::string& uri, const std::string& uuid) {
  SecretHandle s(virSecretLookupByUUIDString(conn, uuid.c_str()));
  if (!s) {
    if (virGetLastErrorCode() == VIR_ERR_NO_SECRET) {
      return Status::Refused(fmt::format("libvirt secret {} not found at {}", uuid, uri),
                             fmt::format("virsh -c {} secret-list lists the secrets defined there", uri));
    }
    return Status::Refused(fmt::format("looking up libvirt secret {} at {}: {}", uuid, uri, LastError()));
  }
  return s;
}

}  // namespace

Result<std::optional<std::string>> VirtConnection::FindCephSecret(const std::string& usage_name) {
  SecretHandle s(virSecretLookupByUsage(conn_, VIR_SECRET_USAGE_TYPE_CEPH, usage_name.c_str()));
  if (!s) {
    if (virGetLastErrorCode() == VIR_ERR_NO_SECRET) return std::optional<std::string>();
    return Status::Refused(
        fmt::format("looking up the libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  std::string uuid = SecretUuid(s.get());
  if (uuid.empty()) {
    return Status::Refused(
        fmt::format("reading the uuid of libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  return std::optional<std::string>(std::move(uuid));
}

Result<std::string> VirtConnection::DefineCephSecret(const std::string& usage_name,
                                                     const std::string& description) {
  std::string xml = "<secret ephemeral='no' private='yes'>\n";
  if (!description.empty()) xml += fmt::format("  <description>{}</description>\n", XmlEscape(description));
  xml += fmt::format("  <usage type='ceph'>\n    <name>{}</name>\n  </usage>\n</secret>\n", XmlEscape(usage_name));
  SecretHandle s(virSecretDefineXML(conn_, xml.c_str(), 0));
  if (!s) {
    return Status::Failed(fmt::format("defining libvirt ceph secret '{}' at {}: {}", usage_name, uri_, LastError()));
  }
  std::string uuid = SecretUuid(s.get());
  if (uuid.empty()) {
    return Status::Failed(fmt::format("reading the uuid of the new libvirt ceph secret '{}' at {}: {}", usage_name,
                                      uri_, LastError()));
  }
  return uuid;
}

Status VirtConnection::SetSecretValue(const std::string& uuid, const std::string& raw_bytes) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  if (virSecretSetValue(s->get(), reinterpret_cast<const unsigned char*>(raw_bytes.data()), raw_bytes.size(),
                        0) < 0) {
    return Status::Failed(fmt::format("setting the value of libvirt secret {} at {}: {}", uuid, uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtConnection::UndefineSecret(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  if (virSecretUndefine(s->get()) < 0) {
    return Status::Failed(fmt::format("undefining libvirt secret {} at {}: {}", uuid, uri_, LastError()));
  }
  return Status::Ok();
}

Result<bool> VirtConnection::SecretIsPrivate(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  CString xml(virSecretGetXMLDesc(s->get(), 0));
  if (!xml) {
    return Status::Refused(fmt::format("reading the XML of libvirt secret {} at {}: {}", uuid, uri_, LastError()));
  }
  return SecretXmlIsPrivate(xml.get());
}

Result<bool> VirtConnection::SecretValueReadable(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  size_t size = 0;
  unsigned char* value = virSecretGetValue(s->get(), &size, 0);
  if (value != nullptr) {
    explicit_bzero(value, size);
    std::free(value);
    return true;
  }
  // A private secret: VIR_ERR_INVALID_SECRET "secret is private" (libvirt
  // 9.0). One without a value is VIR_ERR_NO_SECRET "does not have a value".
  if (virGetLastErrorCode() == VIR_ERR_INVALID_SECRET) return false;
  return Status::Refused(fmt::format("reading the value of libvirt secret {} at {}: {}", uuid, uri_, LastError()));
}

Result<std::vector<std::string>> VirtConnection::DomainsUsingSecret(const std::string& uuid) {
  Result<SecretHandle> s = LookupSecret(conn_, uri_, uuid);
  if (!s.ok()) return s.status();
  const char* usage = virSecretGetUsageID(s->get());
  std::string usage_id = usage != nullptr ? usage : "";

  DomainList list;
  if (list.Fill(conn_) < 0) {
    return Status::Refused(fmt::format("listing the domains at {}: {}", uri_, LastError()));
  }
  std::vector<std::string> users;
  for (int i = 0; i < list.size(); ++i) {
    virDomainPtr d = list[i];
    const char* name = virDomainGetName(d);
    std::string dname = name != nullptr ? name : DomainUuid(d);
    bool used = false;
    for (unsigned flags : {unsigned{VIR_DOMAIN_XML_INACTIVE}, 0u}) {
      if (flags == 0 && virDomainIsActive(d) != 1) continue;
      CString xml(virDomainGetXMLDesc(d, flags));
      if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) break;  // gone meanwhile
        return Status::Refused(fmt::format("reading the XML of domain '{}' at {}: {}", dname, uri_, LastError()));
      }
      if (DomainXmlUsesSecret(xml.get(), uuid, usage_id)) {
        used = true;
        break;
      }
    }
    if (used) users.push_back(dname);
  }
  return users;
}

// ---------------------------------------------------------------------------
// VirtDomain

VirtDomain::VirtDomain(virConnect* conn, virDomain* dom, std::string uri, std::string name, std::string uuid)
    : conn_(conn), dom_(dom), uri_(std::move(uri)), name_(std::move(name)), uuid_(std::move(uuid)) {
  virConnectRef(conn_);
}

VirtDomain::~VirtDomain() {
  if (dom_ != nullptr) virDomainFree(dom_);
  if (conn_ != nullptr) virConnectClose(conn_);
}

VirtDomain::VirtDomain(VirtDomain&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      dom_(std::exchange(other.dom_, nullptr)),
      uri_(std::move(other.uri_)),
      name_(std::move(other.name_)),
      uuid_(std::move(other.uuid_)) {}

VirtDomain& VirtDomain::operator=(VirtDomain&& other) noexcept {
  if (this != &other) {
    if (dom_ != nullptr) virDomainFree(dom_);
    if (conn_ != nullptr) virConnectClose(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    dom_ = std::exchange(other.dom_, nullptr);
    uri_ = std::move(other.uri_);
    name_ = std::move(other.name_);
    uuid_ = std::move(other.uuid_);
  }
  return *this;
}

Result<DomainState> VirtDomain::State() {
  int state = 0;
  int reason = 0;
  if (virDomainGetState(dom_, &state, &reason, 0) < 0) {
    return Status::Refused(fmt::format("reading the state of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED: return DomainState::kRunning;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return DomainState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return DomainState::kShutoff;
    case VIR_DOMAIN_CRASHED: return DomainState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return DomainState::kPmSuspended;
    default: return DomainState::kOther;
  }
}

Result<bool> VirtDomain::IsPersistent() {
  int r = virDomainIsPersistent(dom_);
  if (r < 0) {
    return Status::Refused(
        fmt::format("checking whether domain '{}' at {} is persistent: {}", name_, uri_, LastError()));
  }
  return r == 1;
}

Result<bool> VirtDomain::HasManagedSave() {
  int r = virDomainHasManagedSaveImage(dom_, 0);
  if (r < 0) {
    return Status::Refused(
        fmt::format("checking domain '{}' at {} for a managed save image: {}", name_, uri_, LastError()));
  }
  return r == 1;
}

Result<std::vector<std::string>> VirtDomain::SnapshotNames() {
  virDomainSnapshotPtr* snaps = nullptr;
  int n = virDomainListAllSnapshots(dom_, &snaps, 0);
  if (n < 0) {
    return Status::Refused(fmt::format("listing the snapshots of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const char* name = virDomainSnapshotGetName(snaps[i]);
    if (name != nullptr) names.emplace_back(name);
    virDomainSnapshotFree(snaps[i]);
  }
  std::free(snaps);
  return names;
}

Result<std::vector<std::string>> VirtDomain::CheckpointNames() {
  virDomainCheckpointPtr* cps = nullptr;
  int n = virDomainListAllCheckpoints(dom_, &cps, 0);
  if (n < 0) {
    int code = virGetLastErrorCode();
    if (code == VIR_ERR_NO_SUPPORT || code == VIR_ERR_OPERATION_UNSUPPORTED) return std::vector<std::string>();
    return Status::Refused(
        fmt::format("listing the checkpoints of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const char* name = virDomainCheckpointGetName(cps[i]);
    if (name != nullptr) names.emplace_back(name);
    virDomainCheckpointFree(cps[i]);
  }
  std::free(cps);
  return names;
}

Result<int> VirtDomain::Id() {
  // virDomainGetID answers the id cached in the handle when it was looked up
  // (the remote driver does not ask again), so look the domain up afresh.
  DomainHandle fresh(virDomainLookupByUUIDString(conn_, uuid_.c_str()));
  if (!fresh) {
    return Status::Refused(fmt::format("looking up domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  unsigned id = virDomainGetID(fresh.get());
  return id == static_cast<unsigned>(-1) ? -1 : static_cast<int>(id);
}

Result<std::string> VirtDomain::XmlDesc(unsigned flags) {
  CString xml(virDomainGetXMLDesc(dom_, flags));
  if (!xml) {
    return Status::Refused(fmt::format("reading the XML of domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return std::string(xml.get());
}

Status VirtDomain::Shutdown() {
  if (virDomainShutdown(dom_) < 0) {
    return Status::Failed(fmt::format("asking domain '{}' at {} to shut down: {}", name_, uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::Destroy() {
  if (virDomainDestroy(dom_) < 0) {
    return Status::Failed(fmt::format("powering off domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::Start() {
  if (virDomainCreate(dom_) < 0) {
    return Status::Failed(fmt::format("starting domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::Suspend() {
  if (virDomainSuspend(dom_) < 0) {
    return Status::Failed(fmt::format("pausing domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::Resume() {
  if (virDomainResume(dom_) < 0) {
    return Status::Failed(fmt::format("resuming domain '{}' at {}: {}", name_, uri_, LastError()));
  }
  return Status::Ok();
}

Result<bool> VirtDomain::Autostart() {
  int on = 0;
  if (virDomainGetAutostart(dom_, &on) < 0)
    return Status::Refused(fmt::format("reading the autostart flag of domain '{}' at {}: {}", name_, uri_, LastError()));
  return on != 0;
}

Status VirtDomain::SetAutostart(bool on) {
  if (virDomainSetAutostart(dom_, on ? 1 : 0) < 0)
    return Status::Failed(fmt::format("turning autostart {} for domain '{}' at {}: {}", on ? "on" : "off", name_, uri_,
                                      LastError()));
  return Status::Ok();
}

Status VirtDomain::WaitForState(DomainState want, int timeout_s, const std::atomic<bool>* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s < 0 ? 0 : timeout_s);
  for (;;) {
    Result<DomainState> st = State();
    if (!st.ok()) return st.status().As(Kind::kFailed);
    if (*st == want) return Status::Ok();
    if (cancel != nullptr && cancel->load()) {
      return Status::Interrupted(fmt::format("stopped waiting for domain '{}' at {} to be {} (it is {})", name_,
                                             uri_, DomainStateName(want), DomainStateName(*st)));
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      if (want == DomainState::kShutoff) {
        return Status::Refused(fmt::format("domain '{}' did not shut down within {} s (it is {})", name_, timeout_s,
                                           DomainStateName(*st)),
                               "a guest without ACPI support (or not listening for the power button) ignores "
                               "shutdown requests");
      }
      return Status::Refused(fmt::format("domain '{}' did not reach state '{}' within {} s (it is {})", name_,
                                         DomainStateName(want), timeout_s, DomainStateName(*st)));
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
  }
}

// ---------------------------------------------------------------------------
// Block jobs

Status VirtDomain::BlockCopy(const std::string& disk, const std::string& dest_disk_xml,
                             const BlockCopyParams& params) {
  virTypedParameterPtr tp = nullptr;
  int n = 0, max = 0;
  if (params.bandwidth > 0 &&
      virTypedParamsAddULLong(&tp, &n, &max, VIR_DOMAIN_BLOCK_COPY_BANDWIDTH, params.bandwidth) < 0) {
    return Status::Internal("preparing the block copy parameters: " + LastError());
  }
  unsigned flags = 0;
  if (params.reuse_ext) flags |= VIR_DOMAIN_BLOCK_COPY_REUSE_EXT;
  if (params.transient_job) flags |= VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB;
  int r = virDomainBlockCopy(dom_, disk.c_str(), dest_disk_xml.c_str(), tp, n, flags);
  virTypedParamsFree(tp, n);
  if (r < 0) {
    return Status::Failed(
        fmt::format("starting a block copy of disk {} of domain '{}' at {}: {}", disk, name_, uri_, LastError()));
  }
  return Status::Ok();
}

Result<std::optional<VirtDomain::BlockJobStatus>> VirtDomain::BlockJob(const std::string& disk) {
  virDomainBlockJobInfo info{};
  int r = virDomainGetBlockJobInfo(dom_, disk.c_str(), &info, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES);
  if (r < 0) {
    return Status::Refused(
        fmt::format("reading the block job of disk {} of domain '{}' at {}: {}", disk, name_, uri_, LastError()));
  }
  if (r == 0) return std::optional<BlockJobStatus>();
  BlockJobStatus st;
  switch (info.type) {
    case VIR_DOMAIN_BLOCK_JOB_TYPE_PULL: st.type = BlockJobType::kPull; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COPY: st.type = BlockJobType::kCopy; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT: st.type = BlockJobType::kCommit; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT: st.type = BlockJobType::kActiveCommit; break;
    case VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP: st.type = BlockJobType::kBackup; break;
    default: st.type = BlockJobType::kOther; break;
  }
  st.cur = info.cur;
  st.end = info.end;
  st.bandwidth = info.bandwidth;
  return std::optional<BlockJobStatus>(st);
}

Status VirtDomain::BlockJobAbort(const std::string& disk, bool pivot) {
  if (virDomainBlockJobAbort(dom_, disk.c_str(), pivot ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0) < 0) {
    std::string what = pivot ? "pivoting" : "cancelling";
    if (virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) {  // no job; or not ready to pivot
      return Status::Refused(fmt::format("{} the block job of disk {} of domain '{}' at {}: {}", what, disk, name_,
                                         uri_, LastError()));
    }
    return Status::Failed(fmt::format("{} the block job of disk {} of domain '{}' at {}: {}", what, disk, name_,
                                      uri_, LastError()));
  }
  return Status::Ok();
}

Status VirtDomain::BlockJobSetSpeed(const std::string& disk, uint64_t bandwidth) {
  if (virDomainBlockJobSetSpeed(dom_, disk.c_str(), static_cast<unsigned long>(bandwidth),
                                VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES) < 0) {
    return Status::Failed(fmt::format("setting the bandwidth of the block job of disk {} of domain '{}' at {}: {}",
                                      disk, name_, uri_, LastError()));
  }
  return Status::Ok();
}

}  // namespace v2r
