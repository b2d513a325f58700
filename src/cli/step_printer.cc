#include "cli/step_printer.h"

#include "cli/render.h"

namespace v2r {

void StepPrinter::PlanReady(const Plan& plan) {
  if (out_.quiet || out_.json()) return;
  std::fputs(PlanText(plan).c_str(), plan_);
  std::fflush(plan_);  // before the steps on stderr
}

void StepPrinter::StepStarted(const Step& step) {
  if (out_.quiet) return;
  std::lock_guard<std::mutex> lock(mu_);
  InterruptLocked();
  std::fprintf(steps_, "  %s ...", StepLine(step).c_str());
  std::fflush(steps_);
  open_ = true;
}

void StepPrinter::StepEnded(const Step& step, const Status& result, double seconds) {
  if (out_.quiet) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::string outcome = StepOutcome(result, seconds);
  if (open_) std::fprintf(steps_, " %s\n", outcome.c_str());
  else std::fprintf(steps_, "  %s ... %s\n", StepLine(step).c_str(), outcome.c_str());
  std::fflush(steps_);
  open_ = false;
}

void StepPrinter::Interrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  InterruptLocked();
}

void StepPrinter::InterruptLocked() {
  if (!open_) return;
  std::fputc('\n', steps_);
  std::fflush(steps_);
  open_ = false;
}

}  // namespace v2r
