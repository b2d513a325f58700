#include "cli/run_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "base/units.h"
#include "cli/event_writer.h"
#include "cli/render.h"
#include "migrate/state_dir.h"

namespace v2r {

RunLog::RunLog(std::string command, std::string domain, bool use_syslog)
    : command_(std::move(command)), domain_(std::move(domain)), syslog_(use_syslog) {
  if (syslog_) ::openlog("virt2rbd", LOG_PID, LOG_DAEMON);
  Write(fmt::format("{} started (virt2rbd {}, pid {})", command_, V2R_VERSION, ::getpid()));
}

RunLog::~RunLog() {
  for (int fd : fds_) ::close(fd);
  if (syslog_) ::closelog();
}

int RunLog::OpenAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

Status RunLog::AddFile(const std::string& path) {
  int fd = OpenAppend(path);
  if (fd < 0) return Status::FromErrno(Kind::kUsage, fmt::format("--log-file {}", path), errno);
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& l : early_) (void)EventWriter::WriteLine(fd, l);
  fds_.push_back(fd);
  return Status::Ok();
}

std::string RunLog::Line(const std::string& text) const {
  return fmt::format("{} {} {}: {}\n", EventWriter::UtcNow(), command_, domain_, text);
}

void RunLog::Write(const std::string& text, Level level, bool to_syslog) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string line = Line(text);
  for (int fd : fds_) (void)EventWriter::WriteLine(fd, line);
  if (!dir_log_open_) early_.push_back(line);
  if (syslog_ && to_syslog) {
    int prio = level == Level::kError ? LOG_ERR : level == Level::kWarning ? LOG_WARNING : LOG_INFO;
    ::syslog(prio, "%s %s: %s", command_.c_str(), domain_.c_str(), text.c_str());
  }
}

void RunLog::DomainOpened(const std::string& name, const std::string& uuid, const std::string& dir) {
  const std::string path = dir + "/" + StateDir::kLogName;
  bool existed = ::access(path.c_str(), F_OK) == 0;
  int fd = OpenAppend(path);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    if (fd >= 0) ::close(fd);
    Write(fmt::format("cannot write the log {}: {}", path, std::strerror(errno)), Level::kWarning);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& l : early_) (void)EventWriter::WriteLine(fd, l);
    early_.clear();
    dir_log_open_ = true;
    dir_ = dir;
    dir_log_created_ = !existed;
    fds_.push_back(fd);
  }
  Write(fmt::format("domain {} ({}), state in {}", name, uuid, dir));
}

void RunLog::PlanReady(const Plan& plan) {
  // Without the XML diff: the definition may hold passwords (graphics).
  std::istringstream text(PlanText(plan, /*show_diff=*/false));
  for (std::string l; std::getline(text, l);) Write("plan: " + l, Level::kInfo, /*to_syslog=*/false);
}

void RunLog::StepStarted(const Step& step) { Write(StepLine(step)); }

void RunLog::StepEnded(const Step& step, const Status& result, double seconds) {
  Write(StepLine(step) + ": " + StepOutcome(result, seconds), result.ok() ? Level::kInfo : Level::kError);
}

void RunLog::PhaseStarted(const std::string& label, const ProgressCounters& counters) {
  phase_ = label;
  counters_ = &counters;
  phase_began_ = std::chrono::steady_clock::now();
  Write(fmt::format("{}: {} to go through", label, FormatBytes(counters.total)));
}

void RunLog::PhaseEnded() {
  if (!counters_) return;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - phase_began_).count();
  Write(fmt::format("{}: {} of {} in {} ({} data, {} zeros)", phase_, FormatBytes(counters_->done),
                    FormatBytes(counters_->total), FormatStepTime(secs), FormatBytes(counters_->written),
                    FormatBytes(counters_->zero)));
  counters_ = nullptr;
}

void RunLog::Warn(const std::string& message) { Write("warning: " + message, Level::kWarning); }

void RunLog::BandwidthApplied(uint64_t bytes_per_s) {
  Write(bytes_per_s ? fmt::format("control: copy bandwidth now {}/s in total", FormatBytes(bytes_per_s))
                    : "control: copy bandwidth now unlimited");
}

void RunLog::PivotWaiting(const std::vector<std::string>& disks) {
  Write(fmt::format("control: disk{} {} in sync, the pivot waits for the orchestrator's go",
                    disks.size() == 1 ? "" : "s", fmt::join(disks, ", ")));
}

void RunLog::Finished(const Status& result, int exit_code, const std::string& message) {
  if (result.ok())
    Write(fmt::format("result: ok (exit 0){}{}", message.empty() ? "" : ": ", message));
  else
    Write(fmt::format("result: failed (exit {}): {}{}{}", exit_code, result.message(),
                      result.hint().empty() ? "" : "; hint: ", result.hint()),
          Level::kError);
  DropDirLogIfNoJournal();
}

void RunLog::DropDirLogIfNoJournal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!dir_log_created_ || ::access((dir_ + "/journal").c_str(), F_OK) == 0) return;
  // The dir log was the first fd added after the --log-file ones: find it by path.
  const std::string path = dir_ + "/log";
  struct stat want {};
  if (::stat(path.c_str(), &want) != 0) return;
  for (auto it = fds_.begin(); it != fds_.end(); ++it) {
    struct stat st {};
    if (::fstat(*it, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
      ::close(*it);
      fds_.erase(it);
      break;
    }
  }
  // As ~Runner does: rmdir fails harmlessly on a directory that holds anything else.
  ::unlink(path.c_str());
  ::rmdir(dir_.c_str());
  ::rmdir(dir_.substr(0, dir_.rfind('/')).c_str());
  dir_log_created_ = false;
}

}  // namespace v2r
