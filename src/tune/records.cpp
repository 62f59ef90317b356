#include "tune/records.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "bench/timing.h"
#include "core/error.h"
#include "core/files.h"

namespace axnn::tune {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr int kRecordVersion = 1;
constexpr const char* kOrigins[] = {"axnn", "tvm-auto-scheduler", "tvm-autotvm"};

const Json& field(const Json& json, const char* name, std::string_view what) {
  const auto it = json.find(name);
  AXNN_CHECK(it != json.end(), "{}: the record has no field \"{}\"", what, name);
  return *it;
}

std::string string_field(const Json& json, const char* name, std::string_view what) {
  const Json& value = field(json, name, what);
  AXNN_CHECK(value.is_string(), "{}: field \"{}\" must be a string, not {}", what, name,
             value.dump());
  return value.get<std::string>();
}

int64_t integer_field(const Json& json, const char* name, std::string_view what) {
  const Json& value = field(json, name, what);
  AXNN_CHECK(value.is_number_integer(), "{}: field \"{}\" must be an integer, not {}", what, name,
             value.dump());
  return value.get<int64_t>();
}

// An fd that is closed on every path; `path` names it in errors.
class File {
 public:
  File(const fs::path& path, int flags) : path_(path), fd_(::open(path.c_str(), flags, 0666)) {
    AXNN_CHECK(fd_ >= 0, "{}: cannot be opened: {}", path.string(), std::strerror(errno));
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }

  void write_all(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::write(fd_, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      AXNN_CHECK(n > 0, "{}: write failed: {}", path_.string(), std::strerror(errno));
      text.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Data on disk before the caller goes on, so a crash loses no finished trial.
  void sync_and_close() {
    AXNN_CHECK(::fsync(fd_) == 0, "{}: cannot sync: {}", path_.string(), std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    AXNN_CHECK(::close(fd) == 0, "{}: cannot close: {}", path_.string(), std::strerror(errno));
  }

 private:
  fs::path path_;
  int fd_;
};

void create_parent(const fs::path& file) {
  if (!file.has_parent_path()) return;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  AXNN_CHECK(!ec, "{}: cannot create the folder: {}", file.parent_path().string(), ec.message());
}

// A line for the file; refuses (before anything is written) a record that load_records would
// refuse, so a writer's bug cannot damage a log.
std::string record_line(const Record& record, const fs::path& file) {
  const Json json = record_to_json(record);
  record_from_json(json, fmt::format("{} (record to write)", file.string()));
  return json.dump() + '\n';
}

// A log whose last line has no newline was cut by a killed writer: the partial line is dropped
// so the next append starts on a line of its own (a whole last line just gets its newline).
void repair_tail(File& out, const fs::path& file) {
  const off_t size = ::lseek(out.fd(), 0, SEEK_END);
  char last = '\n';
  if (size > 0) {
    AXNN_CHECK(::pread(out.fd(), &last, 1, size - 1) == 1, "{}: cannot read its end: {}",
               file.string(), std::strerror(errno));
  }
  if (last == '\n') return;
  const std::string text = read_text_file(file);
  const size_t start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  if (!Json::parse(text.substr(start), nullptr, false).is_discarded()) {
    out.write_all("\n");
    return;
  }
  spdlog::warn("{}: dropping a truncated last line (a run was killed while writing it)",
               file.string());
  AXNN_CHECK(::ftruncate(out.fd(), static_cast<off_t>(start)) == 0, "{}: cannot truncate: {}",
             file.string(), std::strerror(errno));
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone:
      return "none";
    case ErrorCode::kInstantiation:
      return "instantiation";
    case ErrorCode::kCompileHost:
      return "compile-host";
    case ErrorCode::kCompileDevice:
      return "compile-device";
    case ErrorCode::kRuntimeDevice:
      return "runtime-device";
    case ErrorCode::kWrongAnswer:
      return "wrong-answer";
    case ErrorCode::kBuildTimeout:
      return "build-timeout";
    case ErrorCode::kRunTimeout:
      return "run-timeout";
    case ErrorCode::kUnknown:
      return "unknown";
  }
  return "invalid";
}

double Record::seconds() const {
  return ok() ? bench::summarize(costs).median : std::numeric_limits<double>::infinity();
}

double Record::gflops() const { return ok() ? shape.flops() / seconds() / 1e9 : 0.0; }

Json record_to_json(const Record& r) {
  return Json{
      {"version", kRecordVersion},
      {"workload",
       {{"name", r.workload_name}, {"op", r.op}, {"dtype", r.dtype}, {"shape", r.shape.values()}}},
      {"target", r.target},
      {"device", r.device},
      {"origin", r.origin},
      {"config", r.config},
      {"costs", r.costs},
      {"error_code", static_cast<int>(r.error_code)},
      {"error", r.error},
      {"trial", r.trial},
      {"timestamp", r.timestamp}};
}

Record record_from_json(const Json& json, std::string_view what) {
  AXNN_CHECK(json.is_object(), "{}: a record must be a JSON object, not {}", what,
             json.type_name());
  const int64_t version = integer_field(json, "version", what);
  AXNN_CHECK(version == kRecordVersion, "{}: field \"version\" is {}; this axnn reads version {}",
             what, version, kRecordVersion);
  Record r;
  const Json& workload = field(json, "workload", what);
  AXNN_CHECK(workload.is_object(), "{}: field \"workload\" must be an object", what);
  r.workload_name = string_field(workload, "name", what);
  check_workload_name(r.workload_name, fmt::format("{}: field \"workload.name\"", what));
  r.op = string_field(workload, "op", what);
  r.dtype = string_field(workload, "dtype", what);
  // fp32 convolutions, or LUT convolutions whose dtype names the multiplier.
  AXNN_CHECK(
      (r.op == "conv2d" && r.dtype == "float32") || (r.op == "lut-conv2d" && !r.dtype.empty()),
      "{}: workload op '{}' with dtype '{}' is not tuned (conv2d float32, or lut-conv2d "
      "with a multiplier name)",
      what, r.op, r.dtype);
  const Json& shape = field(workload, "shape", what);
  AXNN_CHECK(shape.is_array() && std::all_of(shape.begin(), shape.end(),
                                             [](const Json& v) { return v.is_number_integer(); }),
             "{}: field \"workload.shape\" must be an array of integers, not {}", what,
             shape.dump());
  r.shape = conv2d_shape_from_values(shape.get<std::vector<int64_t>>(),
                                     fmt::format("{}: field \"workload.shape\"", what));

  r.target = string_field(json, "target", what);
  try {
    parse_target(r.target);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: field \"target\": {}", what, e.what()));
  }
  r.device = string_field(json, "device", what);
  r.origin = string_field(json, "origin", what);
  AXNN_CHECK(std::find(std::begin(kOrigins), std::end(kOrigins), r.origin) != std::end(kOrigins),
             "{}: field \"origin\" is '{}', not one of axnn, tvm-auto-scheduler, tvm-autotvm", what,
             r.origin);
  r.config = field(json, "config", what);
  // axnn's own configurations are knob maps; imported ones keep TVM's state (a list) or entity.
  AXNN_CHECK(r.config.is_object() || (r.origin != "axnn" && r.config.is_array()),
             "{}: field \"config\" must be an object{}, not {}", what,
             r.origin == "axnn" ? "" : " or an array", r.config.type_name());

  const Json& costs = field(json, "costs", what);
  AXNN_CHECK(costs.is_array(), "{}: field \"costs\" must be an array of seconds", what);
  for (const Json& c : costs) {
    AXNN_CHECK(c.is_number() && std::isfinite(c.get<double>()) && c.get<double>() > 0,
               "{}: field \"costs\" holds {}, not a positive number of seconds", what, c.dump());
    r.costs.push_back(c.get<double>());
  }
  const int64_t code = integer_field(json, "error_code", what);
  AXNN_CHECK(code >= 0 && code <= static_cast<int>(ErrorCode::kUnknown),
             "{}: field \"error_code\" is {}, not 0..{}", what, code,
             static_cast<int>(ErrorCode::kUnknown));
  r.error_code = static_cast<ErrorCode>(code);
  AXNN_CHECK(r.costs.empty() != (r.error_code == ErrorCode::kNone),
             "{}: field \"costs\" must be non-empty exactly when \"error_code\" is 0 (it is {} "
             "with {} costs)",
             what, code, r.costs.size());
  r.error = string_field(json, "error", what);
  r.trial = integer_field(json, "trial", what);
  AXNN_CHECK(r.trial >= 0, "{}: field \"trial\" is {}, must not be negative", what, r.trial);
  const Json& timestamp = field(json, "timestamp", what);
  AXNN_CHECK(timestamp.is_number() && timestamp.get<double>() >= 0,
             "{}: field \"timestamp\" must be a non-negative number, not {}", what,
             timestamp.dump());
  r.timestamp = timestamp.get<double>();
  return r;
}

void append_record(const fs::path& file, const Record& record) {
  const std::string line = record_line(record, file);
  create_parent(file);
  File out(file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC);
  repair_tail(out, file);
  out.write_all(line);
  out.sync_and_close();
}

std::vector<Record> load_records(const fs::path& file) {
  std::vector<Record> records;
  if (!fs::exists(file)) return records;
  const std::string text = read_text_file(file);
  size_t start = 0;
  for (int64_t number = 1; start < text.size(); ++number) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = std::string_view(text).substr(start, end - start);
    const bool last_without_newline = end == text.size();
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = fmt::format("{}:{}", file.string(), number);
    const Json json = Json::parse(line, nullptr, false);
    if (json.is_discarded()) {
      AXNN_CHECK(last_without_newline, "{}: not a JSON line; the records file is damaged", where);
      spdlog::warn("{}: skipping a truncated last line (a run was killed while writing it)", where);
      break;
    }
    records.push_back(record_from_json(json, where));
  }
  return records;
}

void write_records(const fs::path& file, const std::vector<Record>& records) {
  std::string text;
  for (const Record& r : records) text += record_line(r, file);
  create_parent(file);
  // Written beside the target and renamed over it: readers never see a half-written file.
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = file.parent_path() /
                       fmt::format(".{}.tmp{}-{}", file.filename().string(), ::getpid(), counter++);
  try {
    File out(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    out.write_all(text);
    out.sync_and_close();
  } catch (const Error&) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: cannot replace it with {}: {}", file.string(), tmp.string(),
                            std::strerror(err)));
  }
}

fs::path records_file(const fs::path& dir, std::string_view workload) {
  check_workload_name(workload, "records file");
  return dir / "records" / (std::string(workload) + ".jsonl");
}

fs::path selected_file(const fs::path& dir, std::string_view workload) {
  check_workload_name(workload, "selected file");
  return dir / "selected" / (std::string(workload) + ".jsonl");
}

std::vector<std::string> list_workloads(const fs::path& dir, std::string_view sub,
                                        std::string_view ext) {
  // The extension with or without its dot: ".jsonl" and "jsonl" mean the same.
  const std::string dotted = ext.starts_with('.') ? std::string(ext) : fmt::format(".{}", ext);
  std::vector<std::string> names;
  const fs::path folder = dir / sub;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return names;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const fs::path& path = entry.path();
    if (!entry.is_regular_file() || path.extension() != dotted) continue;
    const std::string name = path.stem().string();
    try {
      check_workload_name(name, path.string());
    } catch (const Error& e) {
      spdlog::warn("{} (ignored)", e.what());
      continue;
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace axnn::tune
