#include "cli/progress_printer.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <utility>

namespace v2r {

namespace {
using Clock = std::chrono::steady_clock;

int TerminalWidth() {
  winsize ws{};
  int cols = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
  return TerminalColumns(cols, std::getenv("COLUMNS"));
}
}  // namespace

ProgressPrinter::Mode ProgressPrinter::Detect(bool quiet) {
  if (quiet) return Mode::kNone;
  const char* term = std::getenv("TERM");
  if (::isatty(STDERR_FILENO) && !(term && std::strcmp(term, "dumb") == 0)) return Mode::kBar;
  return Mode::kLines;
}

ProgressPrinter::ProgressPrinter(Mode mode, std::string label, const ProgressCounters& counters,
                                 double line_interval_s, std::vector<Part> parts)
    : mode_(mode), label_(std::move(label)), counters_(counters), interval_(line_interval_s), parts_(std::move(parts)) {
  if (mode_ != Mode::kNone) thread_ = std::thread([this] { Loop(); });
}

ProgressPrinter::~ProgressPrinter() { Finish(); }

std::string ProgressPrinter::PartsText(const std::vector<Part>& parts) {
  if (parts.empty()) return {};
  std::string s;
  for (const Part& p : parts) {
    uint64_t total = p.counters->total.load(), done = p.counters->done.load();
    double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    s += fmt::format("{}{} {:3.0f}%", s.empty() ? "" : ", ", p.label, std::floor(pct));
  }
  return " [" + s + "]";
}

void ProgressPrinter::Loop() {
  ProgressEstimator estimator;
  const auto start = Clock::now();
  // A verify that followed the copy has hashed most before its phase starts.
  const uint64_t written_before = counters_.written.load();
  double last_line = 0;
  const auto tick = mode_ == Mode::kBar ? std::chrono::milliseconds(250) : std::chrono::milliseconds(500);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    const bool stopping = cv_.wait_for(lock, tick, [&] { return stop_; });
    ProgressView view;
    view.label = label_;
    view.sample.t = std::chrono::duration<double>(Clock::now() - start).count();
    view.sample.total = counters_.total.load();
    view.sample.done = counters_.done.load();
    view.sample.written = counters_.written.load();
    view.sample.zero = counters_.zero.load();
    estimator.Add(view.sample);
    view.data_rate = estimator.data_rate();
    view.eta = estimator.eta();
    if (stopping) {  // the last line: the mean data rate over the phase, and its duration
      view.final = true;
      const uint64_t w = view.sample.written > written_before ? view.sample.written - written_before : 0;
      view.data_rate = view.sample.t > 0 ? static_cast<double>(w) / view.sample.t : 0;
    }
    if (mode_ == Mode::kBar || stopping || view.sample.t - last_line >= interval_) {
      Print(view, stopping);
      last_line = view.sample.t;
    }
    if (stopping) return;
  }
}

void ProgressPrinter::Print(const ProgressView& view, bool last) {
  const std::string parts = PartsText(parts_);
  if (mode_ == Mode::kBar) {
    // Back to the line's start, the line, then clear what a longer one left.
    std::string line = ProgressBarLine(view, parts, TerminalWidth());
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", ProgressPlainLine(view, parts).c_str());
  }
  std::fflush(stderr);
}

void ProgressPrinter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace v2r
