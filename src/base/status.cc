#include "base/status.h"

#include <cstring>

namespace v2r {

Status Status::FromErrno(Kind kind, const std::string& what, int err, std::string hint) {
  if (err < 0) err = -err;
  Status s(kind, what + ": " + std::strerror(err), std::move(hint));
  s.err_ = err;
  s.cause_ = CauseOfErrno(err);
  return s;
}

Status Status::Wrap(const std::string& context) const {
  if (ok()) return *this;
  Status s = *this;
  s.msg_ = context + ": " + msg_;
  return s;
}

Status Status::As(Kind kind) const {
  if (ok()) return *this;
  Status s = *this;
  s.kind_ = kind;
  return s;
}

Status Status::WithHint(std::string hint) const {
  Status s = *this;
  s.hint_ = std::move(hint);
  return s;
}

Status Status::WithErr(int err) const {
  Status s = *this;
  s.err_ = err < 0 ? -err : err;
  if (s.cause_ == Cause::kNone) s.cause_ = CauseOfErrno(s.err_);
  return s;
}

Status Status::WithCause(Cause cause) const {
  Status s = *this;
  s.cause_ = cause;
  return s;
}

Cause CauseOfErrno(int err) {
  switch (err < 0 ? -err : err) {
    case ENOENT: case ENODEV: case ENXIO: return Cause::kNotFound;
    case EEXIST: return Cause::kExists;
    case EACCES: case EPERM: return Cause::kPermission;
    case ETIMEDOUT: return Cause::kTimeout;
    case ENOSPC: case EDQUOT: return Cause::kNoSpace;
    case EBUSY: return Cause::kBusy;
    case ENOTCONN: case ECONNRESET: case EPIPE: case ESHUTDOWN: return Cause::kConnectionLost;
    case EINVAL: return Cause::kInvalid;
    default: return Cause::kNone;
  }
}

const char* CauseName(Cause c) {
  switch (c) {
    case Cause::kNone: return "none";
    case Cause::kNotFound: return "not-found";
    case Cause::kExists: return "exists";
    case Cause::kPermission: return "permission";
    case Cause::kTimeout: return "timeout";
    case Cause::kNoSpace: return "no-space";
    case Cause::kBusy: return "busy";
    case Cause::kConnectionLost: return "connection-lost";
    case Cause::kInvalid: return "invalid";
  }
  return "none";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  if (hint_.empty()) return msg_;
  return msg_ + "\n  hint: " + hint_;
}

}  // namespace v2r
