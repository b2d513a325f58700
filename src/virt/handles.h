// libvirt handles and helpers shared by the files of virt/ (and only by
// them: nothing outside virt/ includes libvirt's headers).
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace v2r::lv {

// virInitialize, the no-op error handler and libvirt's default event loop,
// in a thread of its own, once per process (libvirt.cc).
void InitLibvirt();

// libvirt's last error on this thread.
std::string LastError();

// Takes a reference on conn (virConnectRef) and returns it, for a
// VirConnectHandle that drops that reference on destruction.
inline virConnectPtr RefConnect(virConnectPtr conn) {
  (void)virConnectRef(conn);
  return conn;
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

inline std::string DomainUuid(virDomainPtr d) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(d, buf) < 0) return {};
  return buf;
}

inline std::string SecretUuid(virSecretPtr s) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virSecretGetUUIDString(s, buf) < 0) return {};
  return buf;
}

}  // namespace v2r::lv
