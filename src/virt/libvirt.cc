// The connection to libvirt: opening it, looking domains up, defining them.
// Secrets are in secrets.cc, a domain's operations in domain.cc.
#include "virt/libvirt.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "virt/handles.h"

namespace v2r {

static_assert(kXmlSecure == VIR_DOMAIN_XML_SECURE);
static_assert(kXmlInactive == VIR_DOMAIN_XML_INACTIVE);
static_assert(kXmlUpdateCpu == VIR_DOMAIN_XML_UPDATE_CPU);
static_assert(kXmlMigratable == VIR_DOMAIN_XML_MIGRATABLE);

namespace lv {

namespace {
void NoopErrorHandler(void* /*user_data*/, virErrorPtr /*error*/) {}

}  // namespace

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


}  // namespace lv

using namespace lv;

namespace {

constexpr const char* kDefaultUri = "qemu:///system";

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


void CloseVirConnect(virConnect* conn) { (void)virConnectClose(conn); }
void FreeVirDomain(virDomain* dom) { (void)virDomainFree(dom); }

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

HypervisorOpener LibvirtOpener() {
  return [](const std::string& uri) -> Result<std::unique_ptr<Hypervisor>> {
    auto conn = VirtConnection::Open(uri);
    if (!conn.ok()) return conn.status();
    return std::unique_ptr<Hypervisor>(std::move(*conn));
  };
}

bool VirtConnection::IsAlive() const { return conn_ != nullptr && virConnectIsAlive(conn_) == 1; }

Result<std::unique_ptr<Domain>> VirtConnection::LookupDomain(const std::string& name_or_uuid) {
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
  return std::unique_ptr<Domain>(
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

Result<std::unique_ptr<Domain>> VirtConnection::DefineXml(const std::string& xml) {
  virDomainPtr d = virDomainDefineXML(conn_, xml.c_str());
  if (d == nullptr) {
    return Status::Failed(fmt::format("defining a domain at {}: {}", uri_, LastError()));
  }
  const char* name = virDomainGetName(d);
  return std::unique_ptr<Domain>(new VirtDomain(conn_, d, uri_, name != nullptr ? name : "", DomainUuid(d)));
}

}  // namespace v2r
