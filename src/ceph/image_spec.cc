#include "ceph/image_spec.h"

#include <fmt/format.h>

namespace v2r {

Result<ImageSpec> ParseImageSpec(const std::string& text) {
  auto slash = text.find('/');
  bool bad = slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
             text.find('/', slash + 1) != std::string::npos || text.find('@') != std::string::npos;
  if (bad)
    return Status::Usage(fmt::format("'{}' is not POOL/IMAGE", text),
                         "name the target as POOL/IMAGE, e.g. libvirt/vm1-vda");
  return ImageSpec{text.substr(0, slash), text.substr(slash + 1)};
}

}  // namespace v2r
