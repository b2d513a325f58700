// The source guard of an offline migration (and of rollback --copy-back):
// from the moment virt2rbd has the VM shut off until the switched (or
// restored) definition is in place, any start of the domain is noticed, so
// that a VM is never switched to a copy that lacks what it wrote meanwhile.
//
// It watches through a connection of its own (opened with the run's
// HypervisorOpener: a unit test's fake works too): lifecycle events (at once)
// plus a state check every 500 ms and at every Check(). When libvirt goes
// away (libvirtd restarted, killed, hung) the guard reconnects with backoff
// for as long as it runs; the copy does not need libvirt and goes on. Events
// of that gap may be lost, so an outage is reported (TakeOutage) and the
// caller rechecks the disks against their sources before trusting the copy.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "base/observer.h"
#include "virt/hypervisor.h"

namespace v2r {

class DomainGuard {
 public:
  // What Check() says once the domain ran: "domain NAME ran <ran_while>
  // (what was seen)", and the hint.
  struct Text {
    std::string ran_while;
    std::string hint;
  };
  // Starts watching `uuid` (named `name` in messages) at `uri`, opened with
  // `open`. When the domain is seen running, `*stop` is set (the copy stops
  // at once).
  static Result<std::unique_ptr<DomainGuard>> Start(HypervisorOpener open, const std::string& uri,
                                                    const std::string& uuid,
                                                    const std::string& name, std::atomic<bool>* stop,
                                                    Observer* observer, Text text);
  ~DomainGuard();
  DomainGuard(const DomainGuard&) = delete;
  DomainGuard& operator=(const DomainGuard&) = delete;

  // Checks now (when libvirt answers): Ok while the domain has stayed shut
  // off; kSourceChanged with the Text and what was seen once it ran (for
  // good: a tripped guard stays tripped).
  Status Check();
  bool Tripped() const { return tripped_.load(); }
  // Whether the watch was interrupted since the last call (and clears it).
  bool TakeOutage() { return outage_.exchange(false); }
  // Waits until the guard watches again, up to timeout_s: kInterrupted
  // ("libvirt at URI did not answer for N s") otherwise.
  Status WaitConnected(int timeout_s, const std::atomic<bool>* cancel);

 private:
  DomainGuard(HypervisorOpener open, std::string uri, std::string uuid, std::string name, std::atomic<bool>* stop,
              Observer* obs, Text text)
      : open_(std::move(open)), uri_(std::move(uri)), uuid_(std::move(uuid)), name_(std::move(name)),
        text_(std::move(text)), stop_(stop), observer_(obs) {}
  void Loop();
  // One look through the watch: events, then the state. False when libvirt did not answer.
  bool Look();
  void Trip(const std::string& what);
  bool Reconnect();
  // A connection of the guard's own and the watch on it.
  Status Connect();

  const HypervisorOpener open_;
  const std::string uri_, uuid_, name_;
  const Text text_;
  std::atomic<bool>* stop_;
  Observer* observer_;
  std::mutex mu_;  // hv_, watch_, why_
  std::unique_ptr<Hypervisor> hv_;
  std::unique_ptr<DomainWatch> watch_;  // from hv_: reset first
  std::string why_;
  std::atomic<bool> tripped_{false};
  std::atomic<bool> outage_{false};
  std::atomic<bool> connected_{true};
  std::atomic<bool> quit_{false};
  std::condition_variable cv_;
  std::mutex cv_mu_;
  std::thread thread_;
};

}  // namespace v2r
