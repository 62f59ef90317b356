// Running an external tool (yosys, berkeley-abc) as a child process: no shell, the argument
// vector passed as is, stdout and stderr captured together.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace axnn {

struct ProcessResult {
  int exit_code = -1;  // the exit status, or 128 + signal number if a signal ended it
  std::string output;  // stdout and stderr, interleaved
};

// The full path of `program` on PATH (or the path itself if it contains a '/' and is
// executable); nullopt if there is none.
std::optional<std::filesystem::path> find_program(const std::string& program);

// Runs argv[0] (looked up on PATH) with the arguments argv[1..], in `cwd` if given, and waits.
// Throws axnn::Error naming the program if it cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::filesystem::path& cwd = {});

// A fresh directory under the system temporary directory, removed with everything in it when
// the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "axnn");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace axnn
