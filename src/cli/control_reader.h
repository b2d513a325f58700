// The control stream of --control-fd N (docs/events.md "The control
// stream"): JSON lines from an orchestrator, read on a thread of their own
// into a RunControl (migrate/run_control.h) that the run consults. A line
// that does not parse, or a key not known, is one warning and ignored
// (orchestrators may be newer). End of stream: the last settings stay.
//
// The thread waits in poll() on the fd and on a pipe of its own: the
// destructor wakes it and joins, so it never keeps the process (or a run
// that ended) alive, whatever the other end does.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "base/observer.h"
#include "base/status.h"
#include "migrate/run_control.h"

namespace v2r {

class ControlReader {
 public:
  // A usage error when `fd` is not open for reading. `observer` (warnings)
  // must outlive the reader and be thread-safe.
  static Result<std::unique_ptr<ControlReader>> Start(int fd, Observer* observer);
  ~ControlReader();
  ControlReader(const ControlReader&) = delete;
  ControlReader& operator=(const ControlReader&) = delete;

  RunControl* control() { return &control_; }

 private:
  ControlReader(int fd, int wake_read, int wake_write, Observer* observer)
      : fd_(fd), wake_read_(wake_read), wake_write_(wake_write), observer_(observer) {}
  void Loop();
  void Line(const std::string& line);

  const int fd_;
  const int wake_read_, wake_write_;  // the stop pipe
  Observer* const observer_;
  RunControl control_;
  std::thread thread_;
};

}  // namespace v2r
