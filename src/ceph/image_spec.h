// POOL/IMAGE names.
#pragma once

#include <string>

#include "base/status.h"

namespace v2r {

struct ImageSpec {
  std::string pool;
  std::string image;
  std::string ToString() const { return pool + "/" + image; }
};

// "POOL/IMAGE". Anything else is a usage error naming the expected form.
Result<ImageSpec> ParseImageSpec(const std::string& text);

}  // namespace v2r
