// The pure half of the progress display: a data-rate and ETA estimator fed
// with samples, and the formatting of one status line. No clock, no terminal:
// the printer (cli/progress_printer.h) samples the counters and passes time in,
// so that all of this is unit-tested.
//
// Why data and zeros apart: zeros are skipped (a hole costs an extent query,
// not a write), so bytes done per second swing between PiB/s over holes and
// the real write speed over data. The rate shown is data bytes per second,
// and the ETA is the remaining bytes times the data fraction seen so far over
// that rate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace v2r {

// The phase's counters at `t` seconds since the phase started.
struct ProgressSample {
  double t = 0;
  uint64_t done = 0;
  uint64_t total = 0;
  uint64_t written = 0;  // data bytes
  uint64_t zero = 0;     // zero bytes skipped
};

class ProgressEstimator {
 public:
  // tau_s: time constant of the shown rate's moving average. The ETA uses a
  // slower one (slow_tau_s); it follows a shorter estimate at once and a
  // longer one only averaged (eta_tau_s), so that it goes down steadily and
  // a second without acks does not make it jump up.
  explicit ProgressEstimator(double tau_s = 3.0, double slow_tau_s = 10.0, double eta_tau_s = 5.0)
      : fast_(tau_s), slow_(slow_tau_s), eta_tau_(eta_tau_s) {}
  // Samples in time order; one with t not after the last is ignored.
  void Add(const ProgressSample& s);
  // Data bytes per second, smoothed; 0 until a second sample.
  double data_rate() const { return fast_.rate; }
  // Seconds left; empty until there is signal: some data seen, a rate, and
  // at least kMinSignalS seconds of samples.
  std::optional<double> eta() const { return eta_; }
  static constexpr double kMinSignalS = 2.0;

 private:
  // A moving average of the data rate, bias-corrected: early on it is the
  // mean of what was seen, not pulled towards the 0 it started from.
  struct Average {
    explicit Average(double tau) : tau(tau) {}
    void Add(double value, double dt);
    double tau, ema = 0, weight = 0, rate = 0;
  };
  double RawEta(const ProgressSample& s) const;
  Average fast_, slow_;
  const double eta_tau_;
  bool have_last_ = false;
  ProgressSample first_, last_;
  std::optional<double> eta_;
};

// What one status line shows.
struct ProgressView {
  std::string label;
  ProgressSample sample;
  double data_rate = 0;
  std::optional<double> eta;
  bool final = false;  // the phase ended: `sample.t` is its duration, shown instead of the ETA
};

// "1.20 GiB", "310 MiB", "9.99 KiB", "512 B": three significant digits, at
// most 8 characters, so that a padded field never grows.
std::string FormatCompactBytes(uint64_t bytes);
// "0:19", "12:34", "1:02:03" (clamped at 99:59:59).
std::string FormatClock(double seconds);

// The line without a bar, fields padded to fixed widths: "1.20 GiB / 4.00 GiB
// 31%  data  310 MiB at  152 MiB/s, zeros  917 MiB  ETA 0:19". `with_data`
// false leaves out the data amount ("data  152 MiB/s"), for narrow terminals.
std::string ProgressFields(const ProgressView& v, bool with_data);

// Plain-lines mode: "copy: <fields><parts>", the full fields, no width limit.
std::string ProgressPlainLine(const ProgressView& v, const std::string& parts);

// Bar mode: "copy [=====>     ] <fields><parts>" fitted into `width` columns
// (one is left free so that the terminal never wraps). The first layout that
// fits wins: bar with all fields, bar without the data amount, no bar, no
// parts, then cut. The bar is 10 to 40 columns wide. Every field has a fixed
// width, so that for one `width` the line's length never changes.
std::string ProgressBarLine(const ProgressView& v, const std::string& parts, int width);

// The terminal's columns: `ioctl_cols` (TIOCGWINSZ, 0 when unknown), else
// $COLUMNS (`columns_env`, may be null), else 80. Below 20 counts as unknown.
int TerminalColumns(int ioctl_cols, const char* columns_env);

}  // namespace v2r
