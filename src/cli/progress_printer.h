// Renders ProgressCounters on stderr: a bar with bytes, percent, data rate,
// zeros and ETA on a terminal (redrawn in place, fitted to its width); the
// same fields as a plain line every few seconds otherwise; nothing when quiet.
// Owns a sampling thread from construction to Finish()/destruction. What a
// line says is cli/progress_format.h's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/progress.h"
#include "cli/progress_format.h"

namespace v2r {

class ProgressPrinter {
 public:
  enum class Mode { kNone, kBar, kLines };
  // kBar when stderr is a terminal and TERM is not "dumb", else kLines;
  // kNone when quiet.
  static Mode Detect(bool quiet);

  // A part of the total shown beside it as "label NN%" (e.g. one per disk);
  // its counters must outlive the printer.
  struct Part {
    std::string label;
    const ProgressCounters* counters;
  };

  ProgressPrinter(Mode mode, std::string label, const ProgressCounters& counters,
                  double line_interval_s = 5.0, std::vector<Part> parts = {});
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  // Stops sampling and prints a final line (when not quiet).
  void Finish();

  // " [vda  40%, vdb 100%]" (percents padded, so the width stays), or "" without parts.
  static std::string PartsText(const std::vector<Part>& parts);

 private:
  void Loop();
  void Print(const ProgressView& view, bool last);
  const Mode mode_;
  const std::string label_;
  const ProgressCounters& counters_;
  const double interval_;
  const std::vector<Part> parts_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace v2r
