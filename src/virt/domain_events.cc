#include "virt/domain_events.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <fmt/format.h>

#include <mutex>

#include "virt/handles.h"

namespace v2r {

struct LifecycleWatch::Shared {
  std::mutex mu;
  std::vector<std::string> ran;
};

namespace {

// Owned by libvirt while the callback is registered (freed by FreeShared).
using SharedRef = std::shared_ptr<LifecycleWatch::Shared>;

int OnLifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque) {
  if (!LifecycleEventMeansRan(event)) return 0;
  auto& shared = *static_cast<SharedRef*>(opaque);
  std::lock_guard<std::mutex> lock(shared->mu);
  shared->ran.push_back(LifecycleEventText(event, detail));
  return 0;
}

void FreeShared(void* opaque) { delete static_cast<SharedRef*>(opaque); }

const char* EventName(int event) {
  switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
    case VIR_DOMAIN_EVENT_STARTED: return "started";
    case VIR_DOMAIN_EVENT_SUSPENDED: return "suspended";
    case VIR_DOMAIN_EVENT_RESUMED: return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED: return "stopped";
    case VIR_DOMAIN_EVENT_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_EVENT_PMSUSPENDED: return "pmsuspended";
    case VIR_DOMAIN_EVENT_CRASHED: return "crashed";
    default: return "event";
  }
}

const char* StartedDetail(int detail) {
  switch (detail) {
    case VIR_DOMAIN_EVENT_STARTED_BOOTED: return "booted";
    case VIR_DOMAIN_EVENT_STARTED_MIGRATED: return "migrated in";
    case VIR_DOMAIN_EVENT_STARTED_RESTORED: return "restored";
    case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: return "from a snapshot";
    case VIR_DOMAIN_EVENT_STARTED_WAKEUP: return "woken up";
    default: return "";
  }
}

}  // namespace

bool LifecycleEventMeansRan(int event) {
  return event != VIR_DOMAIN_EVENT_DEFINED && event != VIR_DOMAIN_EVENT_UNDEFINED &&
         event != VIR_DOMAIN_EVENT_STOPPED;
}

std::string LifecycleEventText(int event, int detail) {
  std::string text = EventName(event);
  const char* d = event == VIR_DOMAIN_EVENT_STARTED ? StartedDetail(detail) : "";
  if (*d != '\0') text += fmt::format(" ({})", d);
  return text;
}

Result<std::unique_ptr<LifecycleWatch>> LifecycleWatch::Start(virConnect* conn, const std::string& uri,
                                                              const std::string& uuid) {
  std::unique_ptr<LifecycleWatch> w(new LifecycleWatch());
  w->conn_ = VirConnectHandle(lv::RefConnect(conn));
  // Probe every 5 s, give up after 3 missed answers: a hung daemon is a lost one.
  (void)virConnectSetKeepAlive(conn, 5, 3);
  virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid.c_str());
  if (dom == nullptr) {
    const char* m = virGetLastErrorMessage();
    return Status::Refused(fmt::format("looking up domain {} at {} to watch it: {}", uuid, uri,
                                       m ? m : "unknown libvirt error"));
  }
  const char* name = virDomainGetName(dom);
  w->shared_ = std::make_shared<Shared>();
  auto* ref = new SharedRef(w->shared_);
  w->callback_id_ = virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                     VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle), ref, FreeShared);
  std::string shown = name != nullptr ? name : uuid;
  w->domain_.reset(new VirtDomain(conn, dom, uri, shown, uuid));  // owns dom from here
  if (w->callback_id_ < 0) {
    delete ref;
    const char* m = virGetLastErrorMessage();
    return Status::Refused(fmt::format("watching the lifecycle events of domain '{}' at {}: {}", shown, uri,
                                       m ? m : "unknown libvirt error"));
  }
  return w;
}

LifecycleWatch::~LifecycleWatch() {
  if (callback_id_ >= 0) (void)virConnectDomainEventDeregisterAny(conn_, callback_id_);
  // Then domain_ is freed, then conn_ drops our reference (member order).
}

std::vector<std::string> LifecycleWatch::RunEvents() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->ran;
}

Result<DomainState> LifecycleWatch::State() { return domain_->State(); }

bool LifecycleWatch::Alive() const { return conn_ != nullptr && virConnectIsAlive(conn_) == 1; }

Result<std::unique_ptr<DomainWatch>> VirtConnection::WatchLifecycle(const std::string& uuid) {
  auto w = LifecycleWatch::Start(conn_, uri_, uuid);
  if (!w.ok()) return w.status();
  return std::unique_ptr<DomainWatch>(std::move(*w));
}

}  // namespace v2r
