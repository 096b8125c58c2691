// A helper's fixed-size per-flow record kept in HelperContext::FlowState():
// a trivially copyable struct stored as its bytes at the start of the
// string (a parser may keep more after it), all zero until first stored.
#pragma once

#include <cstring>
#include <string>
#include <type_traits>

namespace unat::helpers {

template <typename T>
T LoadFlowRecord(const std::string& s) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  if (s.size() >= sizeof(T)) {
    std::memcpy(&v, s.data(), sizeof v);
  } else {
    std::memset(&v, 0, sizeof v);
  }
  return v;
}

template <typename T>
void StoreFlowRecord(std::string& s, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (s.size() < sizeof v) s.resize(sizeof v, '\0');
  std::memcpy(s.data(), &v, sizeof v);
}

}  // namespace unat::helpers
