#include "fleet/ssh.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

extern char** environ;

namespace v2r::fleet {

std::string ShellQuote(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./-_", c))) plain = false;
  if (plain) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

// Closes its fds on scope exit.
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int Take(int i) {
    int f = fd[i];
    fd[i] = -1;
    return f;
  }
};

void Drain(int* fd, std::string* into) {
  char buf[16384];
  ssize_t n = ::read(*fd, buf, sizeof buf);
  if (n > 0) {
    into->append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    ::close(*fd);
    *fd = -1;
  }
}

// Feeds `input`, collects the outputs, until both outputs close or the deadline.
bool Pump(int in_fd, int out_fd, int err_fd, const std::string& input, RemoteResult* r,
          std::chrono::steady_clock::time_point deadline) {
  size_t written = 0;
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd p[3];
    int n = 0;
    if (in_fd >= 0) p[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) p[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) p[n++] = {err_fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      for (int f : {in_fd, out_fd, err_fd})
        if (f >= 0) ::close(f);
      return false;
    }
    int rc = ::poll(p, static_cast<nfds_t>(n), static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; i < n && rc > 0; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EINTR && errno != EAGAIN) written = input.size();  // the reader went away
        if (written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
      } else if (p[i].fd == out_fd) {
        Drain(&out_fd, &r->out);
      } else if (p[i].fd == err_fd) {
        Drain(&err_fd, &r->err);
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  return true;
}

}  // namespace

namespace {

// Starts `argv` with pipes on its stdin, stdout and stderr (the coordinator's
// ends returned), in a process group of its own (a Ctrl-C is the
// coordinator's to handle: it stops what it runs), SIGPIPE at its default.
Result<pid_t> Spawn(const std::vector<std::string>& argv, int* in_fd, int* out_fd, int* err_fd) {
  if (argv.empty()) return Status::Internal("Spawn: no program");
  Pipe in, out, err;
  if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0 || ::pipe2(err.fd, O_CLOEXEC) != 0)
    return Status::FromErrno(Kind::kFailed, "creating pipes", errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, pipe;
  sigemptyset(&none);
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe);  // the coordinator ignores SIGPIPE; the child must not
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::FromErrno(Kind::kRefused, fmt::format("starting {}", argv[0]), rc);
  signal(SIGPIPE, SIG_IGN);  // a remote that closes its stdin early must not kill the coordinator
  *in_fd = in.Take(1);
  *out_fd = out.Take(0);
  *err_fd = err.Take(0);
  return pid;
}

int Reap(pid_t pid) {
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

}  // namespace

Result<RemoteResult> RunProgram(const std::vector<std::string>& argv, const std::string& input,
                                std::chrono::seconds timeout) {
  int in = -1, out = -1, err = -1;
  auto pid = Spawn(argv, &in, &out, &err);
  if (!pid.ok()) return pid.status();
  RemoteResult r;
  bool finished = Pump(in, out, err, input, &r, std::chrono::steady_clock::now() + timeout);
  if (!finished) ::kill(*pid, SIGKILL);
  int code = Reap(*pid);
  if (!finished)
    return Status::Interrupted(fmt::format("{} did not finish within {} s (killed)", argv[0], timeout.count()));
  r.exit_code = code;
  return r;
}

Result<std::unique_ptr<Session>> Session::Start(const std::vector<std::string>& argv, const std::string& input) {
  std::unique_ptr<Session> s(new Session());
  auto pid = Spawn(argv, &s->in_, &s->out_, &s->err_);
  if (!pid.ok()) return pid.status();
  s->pid_ = *pid;
  (void)::fcntl(s->out_, F_SETFL, O_NONBLOCK);
  (void)::fcntl(s->err_, F_SETFL, O_NONBLOCK);
  if (!input.empty() && !s->Send(input)) return Status::Failed(fmt::format("{} closed its stdin at once", argv[0]));
  return s;
}

Session::~Session() {
  Kill();
  for (int f : {in_, out_, err_})
    if (f >= 0) ::close(f);
}

bool Session::Send(const std::string& text) {
  std::lock_guard<std::mutex> lock(send_mu_);
  size_t off = 0;
  while (in_ >= 0 && off < text.size()) {
    ssize_t n = ::write(in_, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(in_);
      in_ = -1;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return in_ >= 0;
}

std::vector<std::string> Session::Poll(std::chrono::milliseconds timeout) {
  std::vector<std::string> lines;
  pollfd p[2];
  int n = 0;
  if (out_ >= 0) p[n++] = {out_, POLLIN, 0};
  if (err_ >= 0) p[n++] = {err_, POLLIN, 0};
  if (n == 0) return lines;
  int rc = ::poll(p, static_cast<nfds_t>(n), static_cast<int>(timeout.count()));
  for (int i = 0; i < n && rc > 0; ++i) {
    if (!p[i].revents) continue;
    if (p[i].fd == out_) Drain(&out_, &partial_);
    else if (p[i].fd == err_) Drain(&err_, &err_text_);
  }
  if (err_text_.size() > (1u << 20)) err_text_.erase(0, err_text_.size() - (1u << 19));  // the tail is what matters
  for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
    lines.push_back(partial_.substr(0, nl));
    partial_.erase(0, nl + 1);
  }
  if (out_ < 0 && !partial_.empty()) lines.push_back(std::exchange(partial_, std::string()));
  return lines;
}

int Session::Wait() {
  if (pid_ > 0) exit_code_ = Reap(std::exchange(pid_, -1));
  return exit_code_;
}

void Session::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  Wait();
}

ControlDir::ControlDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/virt2rbd-fleet.XXXXXX";
  if (::mkdtemp(tmpl.data())) path_ = tmpl;
}

ControlDir::~ControlDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

SshHost::SshHost(SshTarget target, SshSettings settings) : target_(std::move(target)), settings_(std::move(settings)) {}

SshHost::~SshHost() {
  if (!used_ || settings_.control_dir.empty()) return;
  std::vector<std::string> argv = SshArgv("");
  argv.pop_back();  // no command: "-O exit" takes none
  argv.pop_back();  // nor "--"
  argv.insert(argv.end() - 1, {"-O", "exit"});
  (void)RunProgram(argv, "", std::chrono::seconds(10));
}

std::vector<std::string> SshHost::SshArgv(const std::string& remote_command) const {
  std::vector<std::string> a = {settings_.command,
                                "-o", "BatchMode=yes",
                                "-o", fmt::format("ConnectTimeout={}", settings_.connect_timeout_s),
                                "-o", fmt::format("ServerAliveInterval={}", settings_.keepalive_s),
                                "-o", "ServerAliveCountMax=3",
                                "-p", std::to_string(target_.port)};
  if (!target_.identity.empty()) a.insert(a.end(), {"-i", target_.identity, "-o", "IdentitiesOnly=yes"});
  if (!settings_.control_dir.empty())
    a.insert(a.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + settings_.control_dir + "/%C", "-o",
                       "ControlPersist=120"});
  a.insert(a.end(), {target_.destination, "--", remote_command});
  return a;
}

Result<RemoteResult> SshHost::Run(const std::vector<std::string>& argv, const std::string& input,
                                  std::chrono::seconds timeout) {
  std::string command;
  for (const std::string& w : argv) command += (command.empty() ? "" : " ") + ShellQuote(w);
  used_ = true;
  return RunProgram(SshArgv(command), input, timeout);
}

Result<std::unique_ptr<Session>> SshHost::Open(const std::vector<std::string>& argv, const std::string& input) {
  std::string command;
  for (const std::string& w : argv) command += (command.empty() ? "" : " ") + ShellQuote(w);
  return OpenShell(command, input);
}

Result<std::unique_ptr<Session>> SshHost::OpenShell(const std::string& command, const std::string& input) {
  used_ = true;
  return Session::Start(SshArgv(command), input);
}

}  // namespace v2r::fleet
