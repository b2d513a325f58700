#include "migrate/state_dir.h"

#include "journal/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

namespace v2r {

namespace {

// Creates `path` with `mode`; with `tighten`, an existing directory of ours
// that others could read (made by an older version, or by hand) is set to
// `mode` too: journals name images and users, definitions hold the XML.
Status MakeDir(const std::string& path, mode_t mode, bool tighten = false) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      return Status::FromErrno(Kind::kRefused, fmt::format("state dir {}", path), errno);
    if (!S_ISDIR(st.st_mode)) return Status::Refused(fmt::format("state dir {} is not a directory", path));
    if (tighten && (st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0)
      return Status::FromErrno(Kind::kRefused, fmt::format("setting the mode of {} to {:o}", path, mode), errno,
                               "fix its permissions, or give another directory with --state-dir");
    return Status::Ok();
  }
  return Status::FromErrno(Kind::kRefused, fmt::format("creating state dir {}", path), errno,
                           "give a writable directory with --state-dir");
}

}  // namespace

DomainLock::~DomainLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<StateDir> StateDir::Open(const std::string& path) {
  if (path.empty()) return Status::Usage("--state-dir is empty");
  // Parents are created 0755 (like mkdir -p); the state dir itself is 0700.
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1))
    if (::mkdir(path.substr(0, pos).c_str(), 0755) != 0 && errno != EEXIST) break;
  V2R_RETURN_IF_ERROR(MakeDir(path, 0700));
  if (::access(path.c_str(), W_OK | X_OK) != 0)
    return Status::FromErrno(Kind::kRefused, fmt::format("state dir {} is not writable", path), errno,
                             "give a writable directory with --state-dir, or fix its permissions");
  V2R_RETURN_IF_ERROR(MakeDir(path + "/domains", 0700, true));
  return StateDir(path);
}

Result<StateDir> StateDir::OpenExisting(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return StateDir(path);  // nothing recorded yet
    return Status::FromErrno(Kind::kRefused, fmt::format("state dir {}", path), errno);
  }
  if (!S_ISDIR(st.st_mode)) return Status::Refused(fmt::format("state dir {} is not a directory", path));
  return StateDir(path);
}


Result<std::unique_ptr<DomainLock>> StateDir::LockDomain(const std::string& uuid, const std::string& name) const {
  // domains/ again: a run that recorded nothing removes it when empty.
  V2R_RETURN_IF_ERROR(MakeDir(path_ + "/domains", 0700, true));
  V2R_RETURN_IF_ERROR(MakeDir(DomainDir(uuid), 0700, true));
  std::string lock_path = DomainDir(uuid) + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(Kind::kRefused, fmt::format("opening {}", lock_path), errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::Refused(fmt::format("another virt2rbd is working on domain {} (lock {} is held)", name, lock_path),
                             "wait for it to finish");
    return Status::FromErrno(Kind::kRefused, fmt::format("locking {}", lock_path), err);
  }
  return std::unique_ptr<DomainLock>(new DomainLock(fd));
}

Result<std::vector<std::string>> StateDir::DomainUuids() const {
  std::vector<std::string> out;
  std::string dir = path_ + "/domains";
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return Status::FromErrno(Kind::kRefused, fmt::format("reading state dir {}", dir), errno);
  }
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (::access((dir + "/" + n + "/journal").c_str(), F_OK) == 0) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Status WriteFileDurably(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return StateWriteError("creating", tmp, errno);
  ::fchmod(fd, mode);
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return StateWriteError(what, tmp, err);
  };
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("syncing");
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return StateWriteError("renaming " + tmp + " to", path, errno);
  std::string dir = path.substr(0, path.rfind('/'));
  int dfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(Kind::kFailed, fmt::format("reading {}", path), errno);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(Kind::kFailed, fmt::format("reading {}", path), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace v2r
