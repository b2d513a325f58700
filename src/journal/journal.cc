#include "journal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <fmt/format.h>

#include <cerrno>
#include <ctime>

namespace v2r {

namespace {

std::string Checksum(const std::string& text) {
  return fmt::format("{:08x}", XXH32(text.data(), text.size(), 0));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StateWriteError("writing", path, errno);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status StateWriteError(const std::string& what, const std::string& path, int err) {
  if (err < 0) err = -err;
  std::string dir = path.substr(0, path.rfind('/'));
  if (err == ENOSPC || err == EDQUOT || err == EIO || err == EROFS)
    return Status::FromErrno(Kind::kInterrupted, fmt::format("{} {}", what, path), err,
                             fmt::format("the filesystem of {} is full or failing (df -h {}): make room or fix it, "
                                         "then rerun the same command to resume; nothing was undone",
                                         dir, dir));
  return Status::FromErrno(Kind::kFailed, fmt::format("{} {}", what, path), err);
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Journal::EncodeLine(const nlohmann::json& record) {
  // One line: dump() without indent never emits newlines; invalid UTF-8 (a
  // path in a message) is replaced, never thrown.
  std::string text = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return Checksum(text) + " " + text + "\n";
}

namespace {

struct Parsed {
  std::vector<nlohmann::json> records;
  size_t good_end = 0;     // bytes of complete, valid records
  bool torn_tail = false;
};

Result<std::string> ReadAllFd(int fd, const std::string& path) {
  std::string content;
  char buf[65536];
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(content.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(Kind::kRefused, fmt::format("reading journal {}", path), errno);
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

Result<Parsed> Parse(const std::string& content, const std::string& path) {
  Parsed p;
  size_t pos = 0, line_no = 0;
  while (pos < content.size()) {
    ++line_no;
    size_t nl = content.find('\n', pos);
    bool complete = nl != std::string::npos;
    std::string line = content.substr(pos, complete ? nl - pos : std::string::npos);
    size_t next = complete ? nl + 1 : content.size();
    bool last = next >= content.size();
    bool ok = complete && line.size() > 9 && line[8] == ' ' && Checksum(line.substr(9)) == line.substr(0, 8);
    nlohmann::json rec;
    if (ok) {
      rec = nlohmann::json::parse(line.substr(9), nullptr, /*allow_exceptions=*/false);
      ok = rec.is_object();
    }
    if (!ok) {
      if (last) {  // a torn append: drop it
        p.torn_tail = true;
        break;
      }
      return Status::Refused(
          fmt::format("journal {} is corrupted at line {} (checksum or format mismatch)", path, line_no),
          "the state of this migration cannot be trusted: inspect the file; move it away only if you know "
          "what was done (virt2rbd status shows the rest)");
    }
    p.records.push_back(std::move(rec));
    p.good_end = next;
    pos = next;
  }
  return p;
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = path;
  j->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_APPEND, 0600);
  if (j->fd_ < 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("opening journal {}", path), errno,
                             "give a writable --state-dir");
  auto content = ReadAllFd(j->fd_, path);
  if (!content.ok()) return content.status();
  auto parsed = Parse(*content, path);
  if (!parsed.ok()) return parsed.status();
  j->records_ = std::move(parsed->records);
  j->repaired_tail_ = parsed->torn_tail;
  if (j->repaired_tail_ && ::ftruncate(j->fd_, static_cast<off_t>(parsed->good_end)) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("repairing journal {}", path), errno);
  j->good_end_ = static_cast<off_t>(parsed->good_end);
  return j;
}

Result<std::vector<nlohmann::json>> Journal::ReadOnly(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(Kind::kRefused, fmt::format("opening journal {}", path), errno);
  auto content = ReadAllFd(fd, path);
  ::close(fd);
  if (!content.ok()) return content.status();
  auto parsed = Parse(*content, path);
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed->records);
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::Append(nlohmann::json record) {
  record["seq"] = records_.size() + 1;
  record["time"] = UtcNow();
  std::string line = EncodeLine(record);
  if (broken_)
    return Status::Failed(fmt::format("journal {} could not be repaired after a failed write", path_),
                          "rerun the same command: the torn record is dropped when the journal is opened");
  Status st = WriteAll(fd_, line, path_);
  if (st.ok() && ::fdatasync(fd_) != 0) st = StateWriteError("syncing", path_, errno);
  if (!st.ok()) {
    // Never leave a torn record before the next one (that would read as a
    // corrupted journal): cut the file back to its acknowledged records.
    if (::ftruncate(fd_, good_end_) != 0) broken_ = true;
    return st;
  }
  good_end_ += static_cast<off_t>(line.size());
  records_.push_back(std::move(record));
  return Status::Ok();
}

}  // namespace v2r
