#include "cli/event_writer.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>

#include "base/exit_codes.h"
#include "cli/render.h"

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json StepJson(const Step& step) {
  return {{"step", step.id}, {"title", step.title}, {"index", step.index}, {"count", step.count}};
}

}  // namespace

std::string EventWriter::UtcNow() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

Result<std::unique_ptr<EventWriter>> EventWriter::Open(int fd, std::string command, std::optional<std::string> domain,
                                                       double sample_interval_s) {
  int fl = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
    return Status::Usage(fmt::format("--progress-fd {}: file descriptor {} is not open for writing", fd, fd),
                         fmt::format("open it in the shell that runs virt2rbd, e.g. {}>events.jsonl or {}>&1", fd, fd));
  return std::unique_ptr<EventWriter>(new EventWriter(fd, std::move(command), std::move(domain), sample_interval_s));
}

EventWriter::~EventWriter() { StopSampler(); }

bool EventWriter::WriteLine(int fd, const std::string& line) {
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking fd whose reader is slow: wait for it a little.
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
    } else {
      return false;  // EPIPE, EBADF, ENOSPC, ...: the reader is gone
    }
  }
  return true;
}

nlohmann::json EventWriter::ErrorJson(const Status& st) {
  int code = ExitCodeFor(st);
  return {{"message", st.message()}, {"hint", st.hint()}, {"exit_code", code}, {"meaning", ExitCodeName(code)}};
}

void EventWriter::Emit(const std::string& type, nlohmann::json fields) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (broken_) return;
  // The common fields first, in this order, for people reading a stream.
  nlohmann::ordered_json ev = {{"type", type}, {"time", UtcNow()}, {"seq", ++seq_}, {"command", command_},
                               {"domain", domain_ ? nlohmann::ordered_json(*domain_) : nlohmann::ordered_json()}};
  for (auto& [k, v] : fields.items()) ev[k] = nlohmann::ordered_json(v);
  std::string line = ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (!WriteLine(fd_, line)) {
    broken_ = true;
    std::fprintf(stderr, "virt2rbd: warning: the event stream (fd %d) is closed: no more events are written\n", fd_);
  }
}

void EventWriter::Started() {
  Emit("started", {{"version", V2R_VERSION}, {"pid", static_cast<int>(::getpid())}});
}

void EventWriter::Report(const nlohmann::json& summary, int exit_code) {
  StopSampler();
  Emit("report", {{"exit_code", exit_code}, {"meaning", ExitCodeName(exit_code)},
                  {"summary", summary.is_null() ? nlohmann::json::object() : summary}});
}

void EventWriter::DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) {
  Emit("domain", {{"name", name}, {"uuid", uuid}, {"state_dir", dir}, {"journal", dir + "/journal"},
                  {"log", dir + "/log"}});
}

void EventWriter::PlanReady(const Plan& plan) { Emit("plan", {{"plan", PlanJson(plan)}}); }

void EventWriter::StepStarted(const Step& step) { Emit("step-started", StepJson(step)); }

void EventWriter::StepEnded(const Step& step, const Status& result, double seconds) {
  nlohmann::json f = StepJson(step);
  f["result"] = result.ok() ? "ok" : "failed";
  f["duration_s"] = seconds;
  if (!result.ok()) f["error"] = ErrorJson(result);
  Emit("step-ended", std::move(f));
}

void EventWriter::Warn(const std::string& message) { Emit("warning", {{"message", message}}); }

void EventWriter::BandwidthApplied(uint64_t bytes_per_s) { Emit("bandwidth", {{"bytes_per_s", bytes_per_s}}); }

void EventWriter::PivotWaiting(const std::vector<std::string>& disks) { Emit("pivot-waiting", {{"disks", disks}}); }

void EventWriter::PhaseStarted(const std::string& label, const ProgressCounters& counters) {
  PhaseStarted(label, counters, {});
}

void EventWriter::PhaseStarted(const std::string& label, const ProgressCounters& total,
                               const std::vector<Part>& parts) {
  StopSampler();
  {
    std::lock_guard<std::mutex> lock(phase_mu_);
    phase_ = Phase{label, &total, parts, Clock::now(), {}};
    stop_ = false;
  }
  Emit("phase-started", {{"phase", label}, {"total", total.total.load()}});
  sampler_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(phase_mu_);
    while (!cv_.wait_for(lock, std::chrono::duration<double>(interval_), [this] { return stop_; })) {
      lock.unlock();
      Sample(false);
      lock.lock();
    }
  });
}

void EventWriter::PhaseEnded() {
  bool had = false;
  {
    std::lock_guard<std::mutex> lock(phase_mu_);
    had = phase_.has_value();
  }
  if (!had) return;
  StopSampler();
  Sample(true);
  std::string label;
  {
    std::lock_guard<std::mutex> lock(phase_mu_);
    label = phase_->label;
    phase_.reset();
  }
  Emit("phase-ended", {{"phase", label}});
}

void EventWriter::StopSampler() {
  {
    std::lock_guard<std::mutex> lock(phase_mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

// One "progress" event: the counters now, the data rate over the last ~10 s
// and the ETA it gives for what remains (an upper bound: it counts what
// remains as data, though zeros go much faster).
void EventWriter::Sample(bool final) {
  nlohmann::json f;
  {
    std::lock_guard<std::mutex> lock(phase_mu_);
    if (!phase_) return;
    Phase& p = *phase_;
    const ProgressCounters& c = *p.counters;
    uint64_t total = c.total, done = c.done, data = c.written, zeros = c.zero;
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - p.began).count();
    p.window.emplace_back(now, data);
    while (p.window.size() > 2 && std::chrono::duration<double>(now - p.window.front().first).count() > 10)
      p.window.erase(p.window.begin());
    double span = std::chrono::duration<double>(now - p.window.front().first).count();
    double rate = span >= 0.5 ? (data - p.window.front().second) / span : (elapsed > 0 ? data / elapsed : 0);
    nlohmann::json eta;
    if (done >= total) eta = 0;
    else if (rate > 0) eta = static_cast<double>(total - done) / rate;
    f = {{"phase", p.label}, {"done", done},  {"total", total},     {"data", data},      {"zeros", zeros},
         {"rate_bps", rate}, {"eta_s", eta},  {"elapsed_s", elapsed}, {"final", final}};
    if (!p.parts.empty()) {
      nlohmann::json parts = nlohmann::json::array();
      for (const Part& part : p.parts)
        parts.push_back({{"label", part.label}, {"done", part.counters->done.load()},
                         {"total", part.counters->total.load()}});
      f["parts"] = std::move(parts);
    }
  }
  Emit("progress", std::move(f));
}

}  // namespace v2r
