#include "qemu/image_info.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace v2r {

namespace {

// Reads both pipes to their end without either filling up.
void Drain(int out_fd, int err_fd, std::string* out, std::string* err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* bufs[2] = {out, err};
  int open_fds = 2;
  char chunk[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
      if (n > 0) {
        bufs[i]->append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<std::string> RunTool(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno(Kind::kFailed, "pipe", errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Status::FromErrno(Kind::kFailed, "pipe", errno);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  std::string o, e;
  if (rc == 0) Drain(out[0], err[0], &o, &e);
  close(out[0]);
  close(err[0]);
  if (rc != 0) return Status::FromErrno(Kind::kFailed, fmt::format("cannot run {}", args[0]), rc);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
    return Status::Failed(Trimmed(e.empty() ? fmt::format("{} failed (status {})", args[0], wstatus) : e));
  return o;
}

std::string ImageChain::Describe() const {
  std::string s;
  for (const ImageLayer& l : layers) s += (s.empty() ? "" : " <- ") + l.format;
  return s;
}

Result<ImageChain> ParseImageChain(const std::string& json, const std::string& path) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array() || doc.empty())
    return Status::Failed(fmt::format("qemu-img info gave no image description for {}", path));
  ImageChain chain;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& j = doc[i];
    ImageLayer l;
    l.filename = j.value("filename", "");
    l.format = j.value("format", "");
    l.virtual_size = j.value("virtual-size", uint64_t{0});
    l.actual_size = j.value("actual-size", uint64_t{0});
    l.encrypted = j.value("encrypted", false);
    l.dirty = j.value("dirty-flag", false);
    if (j.contains("format-specific") && j["format-specific"].contains("data")) {
      const nlohmann::json& d = j["format-specific"]["data"];
      l.corrupt = d.value("corrupt", false);
      if (d.contains("encrypt")) l.encrypted = true;
    }
    if (j.contains("snapshots"))
      for (const nlohmann::json& s : j["snapshots"]) l.snapshots.push_back(s.value("name", ""));
    if (j.contains("backing-filename") && !j.contains("backing-filename-format"))
      return Status::Refused(
          fmt::format("{}: its backing file {} has no format recorded, and qemu would have to guess it",
                      l.filename, j.value("backing-filename", "")),
          fmt::format("record it (qemu-img rebase -u -F <format> -b {} {}) after checking the format",
                      j.value("backing-filename", ""), l.filename));
    if (l.encrypted)
      return Status::Refused(fmt::format("{} is encrypted: virt2rbd does not move encrypted disks", l.filename),
                             "exclude the disk with --disks, or decrypt it first (qemu-img convert)");
    if (l.corrupt)
      return Status::Refused(fmt::format("{} is marked corrupt by qemu", l.filename),
                             "check and repair it (qemu-img check -r all) while the VM is off");
    chain.layers.push_back(std::move(l));
  }
  return chain;
}

Result<ImageChain> ProbeImageChain(const std::string& path, const std::string& format) {
  auto out = RunTool({"qemu-img", "info", "-U", "--backing-chain", "--output=json", "-f", format, "--", path});
  if (!out.ok())
    return Status::Refused(fmt::format("qemu cannot read {} as {}: {}", path, format, out.status().message()),
                           "check that the image and its backing files exist and are in the format the "
                           "definition names (<driver type>)");
  return ParseImageChain(*out, path);
}

Result<std::string> ChainFingerprint(const ImageChain& chain) {
  std::string fp = "chain";
  for (const ImageLayer& l : chain.layers) {
    struct stat st {};
    if (stat(l.filename.c_str(), &st) != 0)
      return Status::FromErrno(Kind::kFailed, fmt::format("stat {}", l.filename), errno);
    fmt::format_to(std::back_inserter(fp), ":{}={}.{}:size={}:mtime={}.{}", l.format, st.st_dev, st.st_ino,
                   st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  }
  return fp;
}

}  // namespace v2r
