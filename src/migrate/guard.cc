#include "migrate/guard.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>

namespace v2r {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kPollEvery = std::chrono::milliseconds(500);
}  // namespace

Result<std::unique_ptr<DomainGuard>> DomainGuard::Start(HypervisorOpener open, const std::string& uri,
                                                        const std::string& uuid, const std::string& name,
                                                        std::atomic<bool>* stop, Observer* observer, Text text) {
  std::unique_ptr<DomainGuard> g(new DomainGuard(std::move(open), uri, uuid, name, stop, observer, std::move(text)));
  if (Status st = g->Connect(); !st.ok())
    return st.Wrap("starting to watch the domain while its disks are copied");
  if (!g->Look()) return Status::Refused(fmt::format("libvirt at {} stopped answering", uri));
  g->thread_ = std::thread([p = g.get()] { p->Loop(); });
  return g;
}

DomainGuard::~DomainGuard() {
  {
    std::lock_guard<std::mutex> lock(cv_mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  watch_.reset();  // before its connection
}

Status DomainGuard::Connect() {
  auto hv = open_(uri_);
  if (!hv.ok()) return hv.status();
  auto watch = (*hv)->WatchLifecycle(uuid_);
  if (!watch.ok()) return watch.status();
  std::lock_guard<std::mutex> lock(mu_);
  watch_.reset();  // the old watch before its connection
  hv_ = std::move(*hv);
  watch_ = std::move(*watch);
  return Status::Ok();
}

void DomainGuard::Trip(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tripped_.load()) return;
    why_ = what;
    tripped_ = true;
  }
  if (stop_) stop_->store(true);
}

bool DomainGuard::Look() {
  std::vector<std::string> events;
  Result<DomainState> state = Status::Refused("not asked");
  bool alive = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!watch_ || !watch_->Alive()) return false;
    events = watch_->RunEvents();
    state = watch_->State();
    alive = watch_->Alive();
  }
  if (!events.empty()) Trip(fmt::format("libvirt reported it {}", fmt::join(events, ", then ")));
  if (state.ok() && *state != DomainState::kShutoff) Trip(fmt::format("it is {}", DomainStateName(*state)));
  // A failed state query on a live connection (the domain vanished) is no
  // proof of anything: the next look asks again.
  return state.ok() || alive;
}

bool DomainGuard::Reconnect() { return Connect().ok(); }

void DomainGuard::Loop() {
  auto backoff = std::chrono::milliseconds(500);
  Clock::time_point lost_at;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(cv_mu_);
      cv_.wait_for(lock, connected_ ? kPollEvery : backoff, [this] { return quit_.load(); });
      if (quit_) return;
    }
    if (connected_) {
      if (Look()) continue;
      connected_ = false;
      outage_ = true;
      lost_at = Clock::now();
      backoff = std::chrono::milliseconds(500);
      if (observer_)
        observer_->Warn(fmt::format("lost the connection to libvirt at {}; the copy goes on, reconnecting (a start "
                                    "of {} meanwhile would go unseen: every disk is checked against its source "
                                    "again before the switch)", uri_, name_));
      continue;
    }
    if (Reconnect() && Look()) {
      connected_ = true;
      outage_ = true;
      double s = std::chrono::duration<double>(Clock::now() - lost_at).count();
      if (observer_) observer_->Warn(fmt::format("libvirt at {} answers again after {:.0f} s", uri_, s));
      continue;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

Status DomainGuard::Check() {
  if (connected_) (void)Look();
  if (!tripped_.load()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  return Status::SourceChanged(fmt::format("domain {} ran {} ({})", name_, text_.ran_while, why_), text_.hint);
}

Status DomainGuard::WaitConnected(int timeout_s, const std::atomic<bool>* cancel) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (!connected_) {
    if (cancel && cancel->load()) return Status::Interrupted("interrupted while waiting for libvirt");
    if (Clock::now() >= deadline)
      return Status::Interrupted(
          fmt::format("libvirt at {} did not answer for {} s", uri_, timeout_s),
          "start libvirtd (or wait for it), then rerun the same command to resume; the copy is kept");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Ok();
}

}  // namespace v2r
