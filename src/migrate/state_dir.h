// The state directory (default /var/lib/virt2rbd, 0700):
//
//   STATE/domains/<uuid>/journal         the migration's journal (0600)
//   STATE/domains/<uuid>/definition.xml  the definition before the switch (0600;
//                                        holds secure info such as graphics passwords)
//   STATE/domains/<uuid>/lock            flock()ed while a command works on it
//
// Layout and record formats are documented in docs/journal.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace v2r {

class DomainLock {
 public:
  ~DomainLock();
  DomainLock(const DomainLock&) = delete;
  DomainLock& operator=(const DomainLock&) = delete;

 private:
  friend class StateDir;
  explicit DomainLock(int fd) : fd_(fd) {}
  int fd_;
};

class StateDir {
 public:
  // Creates the directory (0700) when missing. Refused when it cannot be
  // created or written (with the fix: --state-dir or permissions).
  static Result<StateDir> Open(const std::string& path);
  // Opens without creating anything: for read-only commands (status).
  static Result<StateDir> OpenExisting(const std::string& path);

  const std::string& path() const { return path_; }
  std::string DomainDir(const std::string& uuid) const { return DomainDirOf(path_, uuid); }
  static std::string DomainDirOf(const std::string& state_dir, const std::string& uuid) {
    return state_dir + "/domains/" + uuid;
  }
  std::string JournalPath(const std::string& uuid) const { return DomainDir(uuid) + "/journal"; }
  // The readable log of what each run did (cli/run_log.cc writes it;
  // librados' own log lines go there too, see Session::ceph_log_file).
  static constexpr const char* kLogName = "log";
  std::string LogPath(const std::string& uuid) const { return DomainDir(uuid) + "/" + kLogName; }
  std::string DefinitionPath(const std::string& uuid) const { return DomainDir(uuid) + "/definition.xml"; }

  // Creates the domain's directory and takes its lock, without waiting:
  // another virt2rbd working on the same domain is refused.
  Result<std::unique_ptr<DomainLock>> LockDomain(const std::string& uuid, const std::string& name) const;
  // uuids of every domain with a journal.
  Result<std::vector<std::string>> DomainUuids() const;

 private:
  explicit StateDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes a file atomically and durably with the given mode: write a temp file,
// fsync, rename over the target, fsync the directory.
Status WriteFileDurably(const std::string& path, const std::string& content, unsigned mode);
Result<std::string> ReadFile(const std::string& path);

}  // namespace v2r
