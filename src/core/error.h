// User-facing errors. Every message names the file, field, value or shape at fault.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace axnn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace axnn

// AXNN_CHECK(cond, "fmt string {}", args...): throws axnn::Error with the formatted message.
#define AXNN_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) throw ::axnn::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)
