#include "qemu/export.h"

#include <dirent.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace v2r {

namespace {

using Clock = std::chrono::steady_clock;

std::string ReadTail(const std::string& path, size_t max = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() > max) s = "..." + s.substr(s.size() - max);
  return s;
}

// True once the export greets a client: qemu-nbd listens on its socket
// before it opens the image (a connect() alone succeeds even when the open
// then fails and qemu-nbd exits), and sends the NBD greeting ("NBDMAGIC")
// only from its main loop, with the export in place.
bool SocketGreets(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (ok) {
    timeval tv{0, 200 * 1000};  // then the caller checks whether qemu-nbd is still alive
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char magic[8];
    size_t got = 0;
    while (got < sizeof(magic)) {
      ssize_t n = recv(fd, magic + got, sizeof(magic) - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ok = got == sizeof(magic) && std::memcmp(magic, "NBDMAGIC", sizeof(magic)) == 0;
  }
  close(fd);
  return ok;
}

// Waits for PID to end for up to TIMEOUT; true when it did (and was reaped).
bool WaitChild(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<std::string> Argv(const ExportSpec& spec) {
  std::vector<std::string> argv = {"qemu-nbd", "--image-opts", spec.image_opts, "--socket", spec.socket_path,
                                   "--shared", std::to_string(spec.connections), "--persistent"};
  if (!spec.writable) argv.push_back("--read-only");
  else argv.insert(argv.end(), {"--discard=unmap", "--detect-zeroes=unmap"});
  return argv;
}

Result<pid_t> Spawn(const ExportSpec& spec, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<std::string> args = Argv(spec);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "qemu-nbd", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return Status::Failed(fmt::format("cannot start qemu-nbd: {}", std::strerror(rc)),
                          "install qemu-utils (it provides qemu-nbd)")
        .WithCause(CauseOfErrno(rc));
  return pid;
}

}  // namespace

std::string QemuOptValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string ImageOptsForFile(const std::string& path, const std::string& format, bool block_device) {
  return fmt::format("driver={},file.driver={},file.filename={}", QemuOptValue(format),
                     block_device ? "host_device" : "file", QemuOptValue(path));
}

std::string ImageOptsForSlice(const std::string& path, uint64_t offset, uint64_t size, bool block_device) {
  return fmt::format("driver=raw,offset={},size={},file.driver={},file.filename={}", offset, size,
                     block_device ? "host_device" : "file", QemuOptValue(path));
}

std::string ImageOptsForFile(const std::string& path, const std::string& format) {
  struct stat st {};
  bool block = stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
  return ImageOptsForFile(path, format, block);
}

Result<std::unique_ptr<NbdExport>> NbdExport::Start(const ExportSpec& spec) {
  std::string log = spec.log_path.empty() ? spec.socket_path + ".log" : spec.log_path;
  unlink(spec.socket_path.c_str());  // a socket left by a killed export: qemu-nbd would fail to bind
  auto pid = Spawn(spec, log);
  if (!pid.ok()) return pid.status();
  auto deadline = Clock::now() + std::chrono::seconds(spec.start_timeout_s);
  for (;;) {
    int wstatus = 0;
    pid_t r = waitpid(*pid, &wstatus, WNOHANG);
    if (r == *pid) {
      std::string said = ReadTail(log);
      return Status::Failed(fmt::format("qemu cannot open the disk ({}): {}", spec.image_opts,
                                        said.empty() ? "qemu-nbd exited without a message" : said),
                            "check that the image exists, is readable, and is in the format the definition names");
    }
    if (SocketGreets(spec.socket_path)) break;
    if (Clock::now() >= deadline) {
      kill(*pid, SIGKILL);
      WaitChild(*pid, std::chrono::seconds(5), &wstatus);
      return Status::Interrupted(fmt::format("qemu-nbd did not open its socket {} within {} s", spec.socket_path,
                                             spec.start_timeout_s),
                                 "the host may be overloaded: rerun the same command")
          .WithCause(Cause::kTimeout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::unique_ptr<NbdExport>(new NbdExport(spec, *pid));
}

Status NbdExport::Stop() {
  if (pid_ <= 0) return Status::Ok();
  int wstatus = 0;
  kill(pid_, SIGTERM);
  if (!WaitChild(pid_, std::chrono::seconds(10), &wstatus)) {
    kill(pid_, SIGKILL);
    WaitChild(pid_, std::chrono::seconds(10), &wstatus);
  }
  pid_ = -1;
  unlink(spec_.socket_path.c_str());
  return Status::Ok();
}

NbdExport::~NbdExport() { (void)Stop(); }

Result<bool> StopStaleExport(pid_t pid, const std::string& socket_path) {
  if (pid <= 0) return false;
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (cmdline.find("qemu-nbd") == std::string::npos || cmdline.find(socket_path) == std::string::npos)
    return false;  // gone, or the pid now belongs to another process
  if (kill(pid, SIGTERM) != 0) return errno == ESRCH ? Result<bool>(false) : Result<bool>(Status::Failed(
      fmt::format("cannot stop the stale qemu-nbd (pid {}): {}", pid, std::strerror(errno))));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (kill(pid, 0) == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (kill(pid, 0) == 0) kill(pid, SIGKILL);
  unlink(socket_path.c_str());
  return true;
}

Result<int> StopStaleExports(const std::string& socket_path) {
  DIR* proc = opendir("/proc");
  if (!proc) return Status::FromErrno(Kind::kFailed, "reading /proc", errno);
  std::vector<pid_t> pids;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end && *end == '\0' && pid > 0) pids.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  int stopped = 0;
  for (pid_t pid : pids) {
    auto ended = StopStaleExport(pid, socket_path);
    if (!ended.ok()) return ended.status();
    stopped += *ended ? 1 : 0;
  }
  return stopped;
}

}  // namespace v2r
