// How an orchestrator steers a migration while it runs (--control-fd,
// docs/events.md "The control stream"): the total copy rate from now on, and
// the go for a gated live pivot (--pivot-gate). The CLI's reader thread
// fills a RunControl from the stream's JSON lines (ParseControlLine); the run
// reads it: the offline copy through a listener (the rate limiter changes at
// once), the live mode by polling (BandwidthChange, WaitGo) from its loops.
//
// Thread-safe. Lifetime: it must outlive the run given it (RunContext) and
// every Listen scope.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace v2r {

// One line of the control stream, parsed. `problems`: what was wrong with it
// (not JSON, not an object, a bad value, an unknown key): the reader warns
// once per line and applies what was valid; orchestrators may be newer.
struct ControlMessage {
  std::optional<uint64_t> bandwidth;  // {"bandwidth": BYTES}: bytes/s, 0 unlimited
  bool go = false;                    // {"pivot": "go"}
  std::vector<std::string> problems;
};
ControlMessage ParseControlLine(const std::string& line);

class RunControl {
 public:
  // --- the reader's side
  void SetBandwidth(uint64_t bytes_per_s);
  void Go();
  // The stream ended (EOF, a read error): the last settings stay; a gate
  // waiting is released with kClosed.
  void Close();
  // Applies what `m` holds.
  void Apply(const ControlMessage& m);

  // --- the run's side
  // The total rate last asked for, if any was.
  std::optional<uint64_t> Bandwidth() const;
  // The rate last asked for when it was set since `*seen` (a counter the
  // caller keeps, starting at 0), and `*seen` brought up to date.
  std::optional<uint64_t> BandwidthChange(uint64_t* seen) const;

  // Called with each new rate on the thread that set it, one call at a time,
  // from the construction (at once, with the rate asked before, if any) to
  // the destruction (which waits for a call under way).
  using Listener = std::function<void(uint64_t bytes_per_s)>;
  class Listen {
   public:
    Listen(RunControl* control, Listener listener);
    ~Listen();
    Listen(const Listen&) = delete;
    Listen& operator=(const Listen&) = delete;

   private:
    RunControl* control_;
  };

  enum class Gate { kGo, kClosed, kWaiting };
  // Waits up to `timeout` for the go: kGo once given (it stays given),
  // kClosed when the stream ended without it, kWaiting on the timeout.
  Gate WaitGo(std::chrono::milliseconds timeout);
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<uint64_t> bandwidth_;
  uint64_t generation_ = 0;  // SetBandwidth calls so far
  bool go_ = false;
  bool closed_ = false;
  std::mutex listen_mu_;  // held while the listener is set, cleared or called
  Listener listener_;
};

}  // namespace v2r
