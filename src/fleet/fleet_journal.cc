#include "fleet/fleet_journal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/json_field.h"

namespace v2r::fleet {

std::string FleetDir(const std::string& state_dir, const std::string& plan_path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::weakly_canonical(plan_path, ec);
  std::string key = ec ? plan_path : real.string();
  std::string stem = std::filesystem::path(plan_path).stem().string();
  for (char& c : stem)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return fmt::format("{}/fleet/{}-{:08x}", state_dir, stem,
                     static_cast<uint32_t>(XXH64(key.data(), key.size(), 0)));
}

FleetJournalState Fold(const std::vector<nlohmann::json>& records) {
  FleetJournalState s;
  for (const nlohmann::json& r : records) {
    std::string ev = JsonField<std::string>(r, "event", "");
    if (ev == "run-started") {
      ++s.runs;
      continue;
    }
    std::string id = JsonField<std::string>(r, "vm", "");
    if (ev == "fleet-cancelled") s.cancel_all = true;
    if (ev == "fleet-retry") s.cancel_all = false;
    if (id.empty()) continue;
    VmJournalState& v = s.vms[id];
    if (ev == "vm-started") {
      ++v.attempts;
      v.attempt = JsonField<std::string>(r, "attempt", "");
      v.open = true;
      v.shell_pid = v.remote_pid = 0;
      v.started = r;
    } else if (ev == "vm-remote" && JsonField<std::string>(r, "attempt", "") == v.attempt) {
      v.shell_pid = JsonField<int>(r, "shell_pid", v.shell_pid);
      v.remote_pid = JsonField<int>(r, "pid", v.remote_pid);
    } else if (ev == "vm-ended") {
      v.open = false;
      v.result = JsonField<std::string>(r, "result", "");
      v.exit_code = JsonField<int>(r, "exit_code", -1);
      v.error = JsonField<std::string>(r, "error", "");
      v.summary = r.contains("summary") ? r["summary"] : nlohmann::json();
      if (v.result == "cancelled") v.cancel_requested = false;
    } else if (ev == "vm-cancel-requested") {
      v.cancel_requested = true;
    } else if (ev == "vm-retry") {  // `fleet run --only`: the VM's last result no longer stands
      v.result.clear();
      v.cancel_requested = false;
    }
  }
  return s;
}

Result<std::unique_ptr<FleetJournal>> FleetJournal::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Refused(fmt::format("creating the fleet's state directory {}: {}", dir, ec.message()));
  ::chmod(dir.c_str(), 0700);
  auto j = Journal::Open(dir + "/journal");
  if (!j.ok()) return j.status();
  std::unique_ptr<FleetJournal> f(new FleetJournal());
  f->dir_ = dir;
  f->journal_ = std::move(*j);
  return f;
}

Status FleetJournal::Append(nlohmann::json record) {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_->Append(std::move(record));
}

FleetJournalState FleetJournal::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Fold(journal_->records());
}

Result<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& dir) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(Kind::kRefused, "opening " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    auto pid = Holder(dir);
    return Status::Refused(
        fmt::format("another fleet command works on this fleet (pid {})", pid ? std::to_string(*pid) : "unknown"),
        "wait for it, or use `fleet status` / `fleet cancel`, which work beside a running `fleet run`");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    return Status::FromErrno(Kind::kFailed, "writing " + path, errno);
  }
  std::unique_ptr<RunLock> l(new RunLock());
  l->fd_ = fd;
  return l;
}

std::optional<int> RunLock::Holder(const std::string& dir) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  if (!held) ::flock(fd, LOCK_UN);
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  if (!held) return std::nullopt;
  return n > 0 ? std::optional<int>(std::atoi(buf)) : std::optional<int>(0);
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status RequestCancel(const std::string& dir, const std::vector<std::string>& vms) {
  std::string path = dir + "/cancel";
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(Kind::kFailed, "opening " + path, errno);
  std::string text;
  for (const std::string& v : vms) text += v + "\n";
  if (vms.empty()) text = "*\n";
  ssize_t n = ::write(fd, text.data(), text.size());  // one write: lines never interleave (O_APPEND)
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Status::FromErrno(Kind::kFailed, "writing " + path, err);
  return Status::Ok();
}

std::vector<std::string> ReadCancelRequests(const std::string& dir, uint64_t* offset) {
  std::vector<std::string> out;
  std::ifstream in(dir + "/cancel");
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(*offset));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line still being written: read it next time
    *offset += line.size() + 1;
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace v2r::fleet
