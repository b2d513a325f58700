// The event stream of --progress-fd N (nbdcopy's convention): one JSON
// object per line on fd N, for orchestrators (the fleet command reads it
// over ssh). Schema and stability promise: docs/events.md. Every event has
// "type", "time" (UTC, ms), "seq" (from 1) and "domain" (as given on the
// command line; null for copy and verify). No secret is ever written.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/observer.h"
#include "base/status.h"

namespace v2r {

class EventWriter : public Observer {
 public:
  // A usage error when `fd` is not open for writing (found before anything
  // is done). The stream's reader going away later (EPIPE, EBADF) ends the
  // stream, never the run.
  static Result<std::unique_ptr<EventWriter>> Open(int fd, std::string command, std::optional<std::string> domain,
                                                   double sample_interval_s = 1.0);
  ~EventWriter() override;

  // "started": the first event. "report": the last one, `summary` being what
  // --format json prints (with its "error" member when the run failed).
  void Started();
  void Report(const nlohmann::json& summary, int exit_code);
  // Writes one event of `type` with `fields` (thread-safe, one line).
  void Emit(const std::string& type, nlohmann::json fields);

  void DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) override;
  void PlanReady(const Plan& plan) override;
  void StepStarted(const Step& step) override;
  void StepEnded(const Step& step, const Status& result, double seconds) override;
  void PhaseStarted(const std::string& label, const ProgressCounters& counters) override;
  void PhaseStarted(const std::string& label, const ProgressCounters& total, const std::vector<Part>& parts) override;
  void PhaseEnded() override;
  void Warn(const std::string& message) override;
  void BandwidthApplied(uint64_t bytes_per_s) override;
  void PivotWaiting(const std::vector<std::string>& disks) override;

  // Writes `line` whole: retried on EINTR and short writes. False when the
  // reader is gone (EPIPE, EBADF, ...).
  static bool WriteLine(int fd, const std::string& line);
  // Now, UTC, to the millisecond: "2025-01-31T12:34:56.789Z" (the events'
  // "time", the log's stamps).
  static std::string UtcNow();
  // The error of a failed step or run, as the stream shows it.
  static nlohmann::json ErrorJson(const Status& st);
  bool broken() const { return broken_; }

 private:
  EventWriter(int fd, std::string command, std::optional<std::string> domain, double interval)
      : fd_(fd), command_(std::move(command)), domain_(std::move(domain)), interval_(interval) {}
  void Sample(bool final);
  void StopSampler();

  const int fd_;
  const std::string command_;
  const std::optional<std::string> domain_;
  const double interval_;
  std::mutex write_mu_;  // one line at a time
  uint64_t seq_ = 0;
  bool broken_ = false;

  // The phase being sampled (one at a time).
  struct Phase {
    std::string label;
    const ProgressCounters* counters = nullptr;
    std::vector<Part> parts;
    std::chrono::steady_clock::time_point began;
    // (time, data bytes) a few seconds back: the rate is over a sliding window.
    std::vector<std::pair<std::chrono::steady_clock::time_point, uint64_t>> window;
  };
  std::mutex phase_mu_;
  std::condition_variable cv_;
  std::optional<Phase> phase_;
  bool stop_ = false;
  std::thread sampler_;
};

}  // namespace v2r
