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
#include <cstring>

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

Result<RemoteResult> RunProgram(const std::vector<std::string>& argv, const std::string& input,
                                std::chrono::seconds timeout) {
  if (argv.empty()) return Status::Internal("RunProgram: no program");
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
  // Its own process group: a Ctrl-C is the coordinator's to handle (it stops what it runs).
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
  ::close(in.Take(0));
  ::close(out.Take(1));
  ::close(err.Take(1));
  signal(SIGPIPE, SIG_IGN);  // a remote that closes its stdin early must not kill the coordinator
  RemoteResult r;
  bool finished = Pump(in.Take(1), out.Take(0), err.Take(0), input, &r, std::chrono::steady_clock::now() + timeout);
  if (!finished) ::kill(pid, SIGKILL);
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  if (!finished)
    return Status::Interrupted(fmt::format("{} did not finish within {} s (killed)", argv[0], timeout.count()));
  r.exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return r;
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
                                "-o", "ServerAliveInterval=15",
                                "-o", "ServerAliveCountMax=4",
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

}  // namespace v2r::fleet
