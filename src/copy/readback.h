// Verification that follows a copy: the target is read back (for an RBD
// image, through a read-only handle of its own), a range once the copy has
// flushed it (DurableFrontier), on a thread of its own, through the engine
// into a HashSink, while the rest is still being written.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "base/progress.h"
#include "base/status.h"
#include "copy/checksum.h"
#include "copy/frontier.h"
#include "copy/hash_sink.h"

namespace v2r {

// Usage: construct with the target opened for reading (an Image: read-only);
// feed the copy's on_durable into frontier.MarkDone (and MarkDone the chunks
// a resumed copy had already done); Start(); when the copy has succeeded, Finish() for the
// hashes of the image (compare them with the copy's); otherwise destroy it
// (stops and waits), or Abandon() it when the copy's writes were abandoned.
struct Readback {
  Readback(std::unique_ptr<Source> target, uint64_t size, uint64_t chunk_size)
      : source(std::move(target)), frontier(size, chunk_size) {
    progress.total = size;
  }
  ~Readback() {
    if (thread.joinable()) {
      frontier.Stop();
      thread.join();
    }
  }

  void Start(int threads, const std::atomic<bool>* cancel) {
    HashOptions hopts;
    hopts.threads = threads;
    hopts.cancel = cancel;
    hopts.durable = [this](uint64_t need) { return frontier.WaitPast(need); };
    thread = std::thread([this, hopts] { result = HashDisk(*source, hopts, &progress); });
  }
  // The copy succeeded: everything is durable; let the read-back finish.
  Result<BlockHashes> Finish() {
    frontier.MarkAll();
    if (thread.joinable()) thread.join();
    return std::move(result);
  }
  // The copy's writes were abandoned: the read-back may hang on the same
  // cluster. Stop it, never wait for it, never free it (its thread may still
  // use it until the process exits).
  void Abandon() {
    frontier.Stop();
    if (thread.joinable()) thread.detach();
  }

  std::unique_ptr<Source> source;
  DurableFrontier frontier;
  ProgressCounters progress;
  std::thread thread;
  Result<BlockHashes> result = Status::Internal("read-back not run");
};

}  // namespace v2r
