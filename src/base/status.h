// Status and Result<T>: errors as values with context.
//
// Every failure carries a Kind (what the caller should conclude: refused with
// nothing changed, failed after changes, interrupted and resumable, ...), a
// message that names what failed (device and offset, pool and image) and,
// where one exists, a hint naming the fix. Kinds map to exit codes in exactly
// one place: base/exit_codes.cc.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace v2r {

enum class Kind {
  kOk,
  kUsage,        // bad command line: nothing was looked at or changed
  kRefused,      // a check failed before anything was changed
  kFailed,       // failed after changes were made (message says what is left)
  kMismatch,     // verification found different data
  kInterrupted,  // stopped by a signal, a stall or an environment fault: rerun to resume
  kSourceChanged,  // the VM ran on its source disks during the copy: nothing switched, rerun to converge
  kInternal,     // a bug
};

// Why it failed, apart from what the caller should conclude (Kind): so that
// callers branch on a cause, never on a message's text. Set from the errno
// a status came from (FromErrno, WithErr) or explicitly (WithCause).
enum class Cause {
  kNone,
  kNotFound,        // ENOENT, ENODEV, ENXIO: a domain, pool, image, user or file that is not there
  kExists,          // EEXIST
  kPermission,      // EACCES, EPERM: caps, file modes
  kTimeout,         // ETIMEDOUT
  kNoSpace,         // ENOSPC, EDQUOT: a full pool or disk, a quota
  kBusy,            // EBUSY: in use (watchers, an open image)
  kConnectionLost,  // ENOTCONN, ECONNRESET, EPIPE, ESHUTDOWN: libvirt or Ceph went away
  kInvalid,         // EINVAL
};
Cause CauseOfErrno(int err);
const char* CauseName(Cause c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Usage(std::string msg, std::string hint = {}) {
    return Status(Kind::kUsage, std::move(msg), std::move(hint));
  }
  static Status Refused(std::string msg, std::string hint = {}) {
    return Status(Kind::kRefused, std::move(msg), std::move(hint));
  }
  static Status Failed(std::string msg, std::string hint = {}) {
    return Status(Kind::kFailed, std::move(msg), std::move(hint));
  }
  static Status Mismatch(std::string msg, std::string hint = {}) {
    return Status(Kind::kMismatch, std::move(msg), std::move(hint));
  }
  static Status Interrupted(std::string msg, std::string hint = {}) {
    return Status(Kind::kInterrupted, std::move(msg), std::move(hint));
  }
  static Status SourceChanged(std::string msg, std::string hint = {}) {
    return Status(Kind::kSourceChanged, std::move(msg), std::move(hint));
  }
  static Status Internal(std::string msg) {
    return Status(Kind::kInternal, std::move(msg), {});
  }
  // "what: strerror(err)"; err is a positive or negative errno.
  static Status FromErrno(Kind kind, const std::string& what, int err,
                          std::string hint = {});

  bool ok() const { return kind_ == Kind::kOk; }
  Kind kind() const { return kind_; }
  const std::string& message() const { return msg_; }
  const std::string& hint() const { return hint_; }
  int err() const { return err_; }  // errno if the failure came from one, else 0
  Cause cause() const { return cause_; }

  // Same status with more context in front: "context: message".
  Status Wrap(const std::string& context) const;
  // Same message, another kind (e.g. an open error becomes kRefused).
  Status As(Kind kind) const;
  Status WithHint(std::string hint) const;
  // Same status with the errno it came from (e.g. ENOTCONN for a lost
  // libvirt connection), so callers can tell an environment fault.
  Status WithErr(int err) const;
  Status WithCause(Cause cause) const;

  std::string ToString() const;

 private:
  Status(Kind k, std::string m, std::string h)
      : kind_(k), msg_(std::move(m)), hint_(std::move(h)) {}
  Kind kind_ = Kind::kOk;
  std::string msg_;
  std::string hint_;
  int err_ = 0;
  Cause cause_ = Cause::kNone;
};

// A value or a Status. Deliberately tiny (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: must not be ok
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define V2R_RETURN_IF_ERROR(expr)        \
  do {                                   \
    ::v2r::Status _st = (expr);          \
    if (!_st.ok()) return _st;           \
  } while (0)

}  // namespace v2r
