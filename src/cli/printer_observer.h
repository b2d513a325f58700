// Observer for the terminal: one ProgressPrinter per phase, warnings on
// stderr.
#pragma once

#include <memory>

#include "cli/common.h"
#include "cli/progress_printer.h"
#include "base/observer.h"

namespace v2r {

class PrinterObserver : public Observer {
 public:
  explicit PrinterObserver(const OutputOptions& out) : out_(out) {}
  void PhaseStarted(const std::string& label, const ProgressCounters& counters) override {
    printer_ = std::make_unique<ProgressPrinter>(ProgressPrinter::Detect(out_.quiet), label, counters,
                                                 out_.progress_interval);
  }
  void PhaseStarted(const std::string& label, const ProgressCounters& total, const std::vector<Part>& parts) override {
    std::vector<ProgressPrinter::Part> p;
    for (const Part& part : parts) p.push_back({part.label, part.counters});
    printer_ = std::make_unique<ProgressPrinter>(ProgressPrinter::Detect(out_.quiet), label, total,
                                                 out_.progress_interval, std::move(p));
  }
  void PhaseEnded() override { printer_.reset(); }
  void Warn(const std::string& message) override;
  // What the control stream changed (--control-fd), unless quiet.
  void BandwidthApplied(uint64_t bytes_per_s) override;
  void PivotWaiting(const std::vector<std::string>& disks) override;

 private:
  const OutputOptions& out_;
  std::unique_ptr<ProgressPrinter> printer_;
};

}  // namespace v2r
