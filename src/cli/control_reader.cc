#include "cli/control_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

namespace v2r {

namespace {
// A line longer than this is not a control message: dropped, unread.
constexpr size_t kMaxLine = 64 << 10;
}  // namespace

Result<std::unique_ptr<ControlReader>> ControlReader::Start(int fd, Observer* observer) {
  int fl = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY)
    return Status::Usage(fmt::format("--control-fd {}: file descriptor {} is not open for reading", fd, fd),
                         fmt::format("open it in the shell that runs virt2rbd, e.g. {}<control.fifo", fd));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(Kind::kFailed, "--control-fd: pipe", errno);
  std::unique_ptr<ControlReader> r(new ControlReader(fd, p[0], p[1], observer));
  r->thread_ = std::thread([raw = r.get()] { raw->Loop(); });
  return r;
}

ControlReader::~ControlReader() {
  char c = 0;
  while (::write(wake_write_, &c, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  ::close(wake_read_);
  ::close(wake_write_);
}

void ControlReader::Line(const std::string& line) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;  // blank
  ControlMessage m = ParseControlLine(line);
  control_.Apply(m);
  if (!m.problems.empty() && observer_) {
    std::string all;
    for (const std::string& p : m.problems) all += (all.empty() ? "" : "; ") + p;
    observer_->Warn(fmt::format("control stream: {} (line ignored{})", all,
                                m.bandwidth || m.go ? " but for what was valid" : ""));
  }
}

void ControlReader::Loop() {
  std::string buf;
  bool skipping = false;  // inside a line over kMaxLine
  char chunk[4096];
  while (true) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || p[1].revents) {
      control_.Close();
      return;  // stopped: the run is over, a partial line does not matter
    }
    ssize_t got = ::read(fd_, chunk, sizeof chunk);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got <= 0) break;  // end of stream (or an error: the same to us)
    buf.append(chunk, static_cast<size_t>(got));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      if (!skipping) Line(buf.substr(0, nl));
      skipping = false;
    }
    if (buf.size() > kMaxLine) {
      if (!skipping && observer_) observer_->Warn("control stream: a line over 64 KiB ignored");
      skipping = true;
      buf.clear();
    }
  }
  if (!buf.empty() && !skipping) Line(buf);  // a last line without its newline
  control_.Close();
}

}  // namespace v2r
