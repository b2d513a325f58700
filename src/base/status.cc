#include "base/status.h"

#include <cstring>

namespace v2r {

Status Status::FromErrno(Kind kind, const std::string& what, int err, std::string hint) {
  if (err < 0) err = -err;
  Status s(kind, what + ": " + std::strerror(err), std::move(hint));
  s.err_ = err;
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
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  if (hint_.empty()) return msg_;
  return msg_ + "\n  hint: " + hint_;
}

}  // namespace v2r
