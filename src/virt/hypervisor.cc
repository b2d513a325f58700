// What every Hypervisor implementation shares: waiting for a state, over
// Domain::State().
#include "virt/hypervisor.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>

namespace v2r {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(200);

}  // namespace

Status Domain::WaitForState(DomainState want, int timeout_s, const std::atomic<bool>* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s < 0 ? 0 : timeout_s);
  for (;;) {
    Result<DomainState> st = State();
    if (!st.ok()) return st.status().As(Kind::kFailed);
    if (*st == want) return Status::Ok();
    if (cancel != nullptr && cancel->load()) {
      return Status::Interrupted(fmt::format("stopped waiting for domain '{}' at {} to be {} (it is {})", name(),
                                             uri(), DomainStateName(want), DomainStateName(*st)));
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      if (want == DomainState::kShutoff) {
        return Status::Refused(fmt::format("domain '{}' did not shut down within {} s (it is {})", name(), timeout_s,
                                           DomainStateName(*st)),
                               "a guest without ACPI support (or not listening for the power button) ignores "
                               "shutdown requests");
      }
      return Status::Refused(fmt::format("domain '{}' did not reach state '{}' within {} s (it is {})", name(),
                                         DomainStateName(want), timeout_s, DomainStateName(*st)));
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
  }
}

}  // namespace v2r
