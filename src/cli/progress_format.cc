#include "cli/progress_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "base/units.h"

namespace v2r {

namespace {

constexpr double kMaxEtaS = 99 * 3600 + 59 * 60 + 59;  // what FormatClock shows at most
constexpr int kMinBar = 10;
constexpr int kMaxBar = 40;

// Decay factor of a moving average with time constant tau over dt.
double Alpha(double dt, double tau) { return tau > 0 ? 1 - std::exp(-dt / tau) : 1; }

std::string Bar(uint64_t done, uint64_t total, int width) {
  double frac = total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 1.0;
  int n = static_cast<int>(frac * width);
  if (n >= width) return std::string(width, '=');
  return std::string(n, '=') + '>' + std::string(width - n - 1, ' ');
}

void TrimRight(std::string* s) {
  while (!s->empty() && s->back() == ' ') s->pop_back();
}

}  // namespace

void ProgressEstimator::Average::Add(double value, double dt) {
  const double a = Alpha(dt, tau);
  ema = ema * (1 - a) + a * value;
  weight = weight * (1 - a) + a;
  rate = weight > 0 ? ema / weight : 0;
}

void ProgressEstimator::Add(const ProgressSample& s) {
  if (!have_last_) {
    first_ = last_ = s;
    have_last_ = true;
    return;
  }
  const double dt = s.t - last_.t;
  if (dt <= 0) return;
  // Data only: zeros do not count, so holes never make the rate absurd. A
  // counter going back (a mean of two sides, see PairedProgress) counts as 0.
  const uint64_t dw = s.written > last_.written ? s.written - last_.written : 0;
  fast_.Add(static_cast<double>(dw) / dt, dt);
  slow_.Add(static_cast<double>(dw) / dt, dt);
  last_ = s;
  if (s.total && s.done >= s.total) {
    eta_ = 0.0;
    return;
  }
  const bool signal = s.t - first_.t >= kMinSignalS && s.written > 0 && slow_.rate > 0;
  if (!signal) {
    if (!eta_) return;  // none yet; once shown, an ETA keeps counting down
    eta_ = std::max(0.0, *eta_ - dt);
    return;
  }
  const double raw = RawEta(s);
  if (!eta_) {
    eta_ = raw;
    return;
  }
  // The previous estimate, aged by dt: a shorter new one is taken at once
  // (a hole skipped, the data going faster), a longer one only blended in
  // (a second without acks must not make the ETA jump up).
  const double aged = std::max(0.0, *eta_ - dt);
  eta_ = raw <= aged ? raw : aged + Alpha(dt, eta_tau_) * (raw - aged);
}

double ProgressEstimator::RawEta(const ProgressSample& s) const {
  const double remaining = static_cast<double>(s.total > s.done ? s.total - s.done : 0);
  const double data_fraction =
      s.done ? std::min(1.0, static_cast<double>(s.written) / static_cast<double>(s.done)) : 1.0;
  return std::min(kMaxEtaS, remaining * data_fraction / slow_.rate);
}

std::string FormatCompactBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  auto [v, unit] = ScaleBytes(bytes);
  // Three significant digits; the thresholds are where rounding would add one.
  if (v < 9.995) return fmt::format("{:.2f} {}", v, unit);
  if (v < 99.95) return fmt::format("{:.1f} {}", v, unit);
  return fmt::format("{:.0f} {}", v, unit);
}

std::string FormatClock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  auto s = static_cast<uint64_t>(std::llround(std::min(seconds, kMaxEtaS)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string ProgressFields(const ProgressView& v, bool with_data) {
  const ProgressSample& s = v.sample;
  // Floor, and 99 until the end: "100%" only once everything is done.
  // (In integers: 1.2 GiB of 4 GiB is 30%, not 29.999...%.)
  int pct = s.total ? static_cast<int>(static_cast<unsigned __int128>(s.done) * 100 / s.total) : 100;
  if (s.done < s.total) pct = std::min(pct, 99);
  std::string rate = FormatCompactBytes(static_cast<uint64_t>(std::max(0.0, v.data_rate))) + "/s";
  std::string data = with_data ? fmt::format("data {:>8} at {:>10}", FormatCompactBytes(s.written), rate)
                               : fmt::format("data {:>10}", rate);
  std::string tail = v.final ? "in " + FormatClock(s.t) : "ETA " + (v.eta ? FormatClock(*v.eta) : "--:--");
  return fmt::format("{:>8} / {:>8}  {:>3}%  {}, zeros {:>8}  {:<11}", FormatCompactBytes(s.done),
                     FormatCompactBytes(s.total), pct, data, FormatCompactBytes(s.zero), tail);
}

std::string ProgressPlainLine(const ProgressView& v, const std::string& parts) {
  std::string line = fmt::format("{}: {}", v.label, ProgressFields(v, true));
  if (parts.empty()) TrimRight(&line);
  return line + parts;
}

std::string ProgressBarLine(const ProgressView& v, const std::string& parts, int width) {
  const size_t avail = static_cast<size_t>(std::max(1, width - 1));
  struct Layout {
    bool with_data, bar, parts;
  };
  static constexpr Layout kLayouts[] = {
      {true, true, true}, {false, true, true}, {true, false, true}, {false, false, true}, {false, false, false}};
  for (const Layout& l : kLayouts) {
    std::string tail = ProgressFields(v, l.with_data) + (l.parts ? parts : "");
    if (l.bar) {
      // "label [" + bar + "] " + tail
      const int room = static_cast<int>(avail) - static_cast<int>(v.label.size() + tail.size() + 4);
      if (room < kMinBar) continue;
      const int w = std::min(kMaxBar, room);
      return fmt::format("{} [{}] {}", v.label, Bar(v.sample.done, v.sample.total, w), tail);
    }
    std::string line = fmt::format("{}: {}", v.label, tail);
    if (line.size() <= avail) return line;
  }
  return fmt::format("{}: {}", v.label, ProgressFields(v, false)).substr(0, avail);
}

int TerminalColumns(int ioctl_cols, const char* columns_env) {
  if (ioctl_cols >= 20) return ioctl_cols;
  if (columns_env != nullptr) {
    char* end = nullptr;
    long c = std::strtol(columns_env, &end, 10);
    if (end != columns_env && *end == '\0' && c >= 20 && c <= 10000) return static_cast<int>(c);
  }
  return 80;
}

}  // namespace v2r
