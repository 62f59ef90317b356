// For tests of error messages: what the exception thrown by `call` says, or "no error".
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace axnn::test_util {

inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace axnn::test_util
