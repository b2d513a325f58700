// Lifecycle events of one domain (virConnectDomainEventRegisterAny), so that
// a start of the domain by anyone (virsh start, autostart, an HA manager) is
// noticed at once: the libvirt DomainWatch (virt/hypervisor.h), made by
// VirtConnection::WatchLifecycle on a connection opened for the watch.
//
// libvirt delivers the events on its event loop thread (libvirt.cc starts it
// with the first connection); this class only records them. The connection
// has keepalive on: a libvirtd that died or hangs shows as !Alive() within
// about 15 s, and events may have been missed from then on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "virt/libvirt.h"

namespace v2r {

class LifecycleWatch : public DomainWatch {
 public:
  // VirtConnection::WatchLifecycle: watches the domain with this uuid from
  // now on, through `conn` (which it keeps a reference on). kRefused when
  // libvirt does not answer or the domain is gone.
  static Result<std::unique_ptr<LifecycleWatch>> Start(virConnect* conn, const std::string& uri,
                                                       const std::string& uuid);
  ~LifecycleWatch() override;
  LifecycleWatch(const LifecycleWatch&) = delete;
  LifecycleWatch& operator=(const LifecycleWatch&) = delete;

  // The events since Start that mean the domain ran ("started (booted)",
  // "resumed", "crashed", ...), oldest first. Thread-safe.
  std::vector<std::string> RunEvents() const override;
  // The domain's state now, through this watch's connection.
  Result<DomainState> State() override;
  bool Alive() const override;

  struct Shared;  // what the event callback writes (outlives the watch if libvirt needs it to)

 private:
  LifecycleWatch() = default;
  // conn_ before domain_: members are destroyed in reverse order, so the
  // domain is freed before our reference on the connection is dropped.
  VirConnectHandle conn_;  // a reference of ours
  std::unique_ptr<Domain> domain_;
  std::shared_ptr<Shared> shared_;
  int callback_id_ = -1;
};

// "started (booted)", "suspended (paused)", ...: a lifecycle event and its
// detail as libvirt's VIR_DOMAIN_EVENT_* values, for messages.
std::string LifecycleEventText(int event, int detail);
// Whether that event means the domain was running at some moment (anything
// but defined, undefined and stopped).
bool LifecycleEventMeansRan(int event);

}  // namespace v2r
