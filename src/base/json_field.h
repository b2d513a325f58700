// Reading one field of a JSON record that may be missing, null or of another
// type (journals written by older versions, hand-edited files): the fallback
// instead of an exception.
#pragma once

#include <nlohmann/json.hpp>

namespace v2r {

template <typename T>
T JsonField(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

}  // namespace v2r
