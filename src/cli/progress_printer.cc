#include "cli/progress_printer.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <utility>

#include "base/units.h"

namespace v2r {

namespace {
using Clock = std::chrono::steady_clock;

int TerminalWidth() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
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

std::string ProgressPrinter::Line(const std::string& label, uint64_t done, uint64_t total, double rate,
                                  bool bar, int width) {
  double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  std::string eta = rate > 0 && total > done ? FormatDuration(static_cast<double>(total - done) / rate) : "--";
  std::string text = fmt::format("{} / {} {:3.0f}%  {}/s  ETA {}", FormatBytes(done), FormatBytes(total),
                                 frac * 100, FormatBytes(static_cast<uint64_t>(rate)), eta);
  if (!bar) return fmt::format("{}: {}", label, text);
  int bar_width = width - static_cast<int>(label.size() + text.size()) - 6;
  if (bar_width < 10) return fmt::format("{}: {}", label, text);
  int filled = static_cast<int>(frac * bar_width);
  return fmt::format("{} [{}{}] {}", label, std::string(filled, '#'), std::string(bar_width - filled, '.'), text);
}

std::string ProgressPrinter::PartsText(const std::vector<Part>& parts) {
  if (parts.empty()) return {};
  std::string s;
  for (const Part& p : parts) {
    uint64_t total = p.counters->total.load(), done = p.counters->done.load();
    double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    s += fmt::format("{}{} {:.0f}%", s.empty() ? "" : ", ", p.label, pct);
  }
  return " [" + s + "]";
}

void ProgressPrinter::Loop() {
  // Rate over a sliding window of samples, so it follows recent speed.
  std::deque<std::pair<Clock::time_point, uint64_t>> samples;
  const auto start = Clock::now();
  auto last_line = start;
  const auto tick = mode_ == Mode::kBar ? std::chrono::milliseconds(250) : std::chrono::milliseconds(500);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    bool stopping = cv_.wait_for(lock, tick, [&] { return stop_; });
    auto now = Clock::now();
    uint64_t done = counters_.done.load();
    uint64_t total = counters_.total.load();
    samples.emplace_back(now, done);
    while (samples.size() > 2 && now - samples.front().first > std::chrono::seconds(10)) samples.pop_front();
    double dt = std::chrono::duration<double>(now - samples.front().first).count();
    double rate = dt > 0 ? static_cast<double>(done - samples.front().second) / dt : 0;
    if (stopping) {  // the last line shows the average over the whole phase
      double all = std::chrono::duration<double>(now - start).count();
      rate = all > 0 ? static_cast<double>(done) / all : 0;
    }
    if (mode_ == Mode::kBar) {
      std::string parts = PartsText(parts_);
      std::string line = Line(label_, done, total, rate, true, TerminalWidth() - static_cast<int>(parts.size())) + parts;
      std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), stopping ? "\n" : "");
      std::fflush(stderr);
    } else if (stopping || std::chrono::duration<double>(now - last_line).count() >= interval_) {
      std::string line = Line(label_, done, total, rate, false, 0) + PartsText(parts_);
      std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
      last_line = now;
    }
    if (stopping) return;
  }
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
