#include "tune/tvm_import.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
#include <sstream>
#include <variant>

#include "core/error.h"
#include "core/files.h"

namespace axnn::tune {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// A line TVM wrote correctly but axnn cannot represent: skipped and counted under this reason.
struct Skip {
  std::string reason;
};

struct Parsed {
  Conv2dShape shape;
  std::string target;  // "cpu", "cuda"
  std::string device;
  Json config;
  std::vector<double> costs;
  int64_t error_no = 0;
  double timestamp = 0;
};

const Json& at(const Json& json, size_t index, std::string_view name, std::string_view where) {
  AXNN_CHECK(json.is_array() && index < json.size(), "{}: {} is missing from {}", where, name,
             json.dump());
  return json[index];
}

const Json& member(const Json& json, const char* key, std::string_view where) {
  const auto it = json.find(key);
  AXNN_CHECK(it != json.end(), "{}: no \"{}\" field", where, key);
  return *it;
}

int64_t integer(const Json& json, std::string_view name, std::string_view where) {
  AXNN_CHECK(json.is_number_integer(), "{}: {} must be an integer, not {}", where, name,
             json.dump());
  return json.get<int64_t>();
}

// An integer, or a list of `lengths` equal integers (TVM writes both); nullopt if unequal.
std::optional<int64_t> uniform(const Json& json, std::string_view name,
                               std::initializer_list<size_t> lengths, std::string_view where) {
  if (json.is_number_integer()) return json.get<int64_t>();
  AXNN_CHECK(
      json.is_array() && std::find(lengths.begin(), lengths.end(), json.size()) != lengths.end(),
      "{}: {} must be an integer or a list of {} integers, not {}", where, name,
      fmt::join(lengths, " or "), json.dump());
  const int64_t first = integer(json[0], name, where);
  for (const Json& v : json) {
    if (integer(v, name, where) != first) return std::nullopt;
  }
  return first;
}

// "cuda -keys=cuda,gpu -arch=sm_86 ..." -> target and device.
std::variant<Skip, std::pair<std::string, std::string>> parse_target_string(
    const Json& json, std::string_view where) {
  AXNN_CHECK(json.is_string(), "{}: the target must be a string, not {}", where, json.dump());
  std::istringstream words(json.get<std::string>());
  std::string kind, word;
  words >> kind;
  std::map<std::string, std::string> options;
  while (words >> word) {
    const size_t eq = word.find('=');
    if (word.starts_with('-') && eq != std::string::npos)
      options[word.substr(1, eq - 1)] = word.substr(eq + 1);
  }
  std::string device;
  if (options.contains("model") && options["model"] != "unknown") {
    device = options["model"];
  } else if (options.contains("mcpu")) {
    device = options["mcpu"];
  } else if (options.contains("arch")) {
    device = options["arch"];
  }
  if (kind == "cuda") return std::pair{std::string("cuda"), device};
  if (kind == "llvm") return std::pair{std::string("cpu"), device};
  return Skip{fmt::format("target '{}'", kind)};
}

// [[costs], error_no, all_cost, timestamp]
void parse_result(const Json& result, Parsed& p, std::string_view where) {
  const Json& costs = at(result, 0, "the costs", where);
  AXNN_CHECK(costs.is_array() && !costs.empty(), "{}: the costs must be a non-empty list, not {}",
             where, costs.dump());
  for (const Json& c : costs) {
    AXNN_CHECK(c.is_number() && c.get<double>() > 0,
               "{}: a cost must be a positive number of seconds, not {}", where, c.dump());
    p.costs.push_back(c.get<double>());
  }
  p.error_no = integer(at(result, 1, "error_no", where), "error_no", where);
  AXNN_CHECK(p.error_no >= 0 && p.error_no <= static_cast<int>(ErrorCode::kUnknown),
             "{}: error_no {} is not one of TVM's 0..{}", where, p.error_no,
             static_cast<int>(ErrorCode::kUnknown));
  const Json& timestamp = at(result, 3, "the timestamp", where);
  AXNN_CHECK(timestamp.is_number() && timestamp.get<double>() >= 0,
             "{}: the timestamp must be a non-negative number, not {}", where, timestamp.dump());
  p.timestamp = timestamp.get<double>();
}

// {"i": [[key, target, ...], state], "r": result, "v": "v0.6"}
std::variant<Skip, Parsed> parse_auto_scheduler(const Json& line, std::string_view where) {
  const Json& version = member(line, "v", where);
  AXNN_CHECK(version == "v0.6" || version == "v0.5",
             "{}: auto-scheduler log version {} is not supported (v0.5, v0.6)", where,
             version.dump());
  const Json& input = member(line, "i", where);
  const Json& task = at(input, 0, "the task", where);
  const Json& key_text = at(task, 0, "the workload key", where);
  AXNN_CHECK(key_text.is_string(), "{}: the workload key must be a string, not {}", where,
             key_text.dump());
  const Json key = Json::parse(key_text.get<std::string>(), nullptr, false);
  AXNN_CHECK(!key.is_discarded() && key.is_array() && !key.empty() && key[0].is_string(),
             "{}: the workload key {} is not a JSON list starting with a function name", where,
             key_text.dump());
  const std::string function = key[0].get<std::string>();
  if (function != "conv2d_layer") return Skip{fmt::format("auto-scheduler workload {}", function)};
  AXNN_CHECK(key.size() == 10,
             "{}: conv2d_layer takes N, H, W, CO, CI, KH, KW, stride, padding; the key has {} "
             "arguments",
             where, key.size() - 1);
  std::vector<int64_t> values;
  for (size_t i = 1; i <= 7; ++i) values.push_back(integer(key[i], "a conv2d_layer size", where));
  const std::optional<int64_t> stride = uniform(key[8], "stride", {2}, where);
  const std::optional<int64_t> pad = uniform(key[9], "padding", {2}, where);
  if (!stride) return Skip{"unequal strides"};
  if (!pad) return Skip{"unequal padding"};
  values.push_back(*stride);
  values.push_back(*pad);

  const auto target = parse_target_string(at(task, 1, "the target", where), where);
  if (const Skip* skip = std::get_if<Skip>(&target)) return *skip;
  Parsed p;
  p.shape = conv2d_shape_from_values(values, where);
  std::tie(p.target, p.device) = std::get<std::pair<std::string, std::string>>(target);
  p.config = at(input, 1, "the state", where);
  parse_result(member(line, "r", where), p, where);
  return p;
}

// ["TENSOR", [4 sizes], dtype] -> sizes; sets `dtype` if it is not float32.
std::vector<int64_t> tensor(const Json& arg, std::string_view name, std::string* dtype,
                            std::string_view where) {
  AXNN_CHECK(arg.is_array() && arg.size() == 3 && arg[0] == "TENSOR" && arg[1].is_array() &&
                 arg[1].size() == 4 && arg[2].is_string(),
             "{}: the {} argument must be [\"TENSOR\", [4 sizes], dtype], not {}", where, name,
             arg.dump());
  std::vector<int64_t> sizes;
  for (const Json& v : arg[1]) sizes.push_back(integer(v, fmt::format("a {} size", name), where));
  if (arg[2] != "float32") *dtype = arg[2].get<std::string>();
  return sizes;
}

// Templates whose arguments are (NCHW data, OIHW kernel, strides, padding, dilation, ...).
constexpr std::array<std::string_view, 4> kNchwTemplates = {
    "conv2d_nchw", "conv2d_nchw_winograd", "conv2d_NCHWc", "conv2d_nchw_spatial_pack"};

// {"input": [target, task, args, kwargs], "config": {...}, "result": result, "version": 0.2}
std::variant<Skip, Parsed> parse_autotvm(const Json& line, std::string_view where) {
  const Json& version = member(line, "version", where);
  AXNN_CHECK(version.is_number() && version.get<double>() == 0.2,
             "{}: AutoTVM log version {} is not supported (0.2)", where, version.dump());
  const Json& input = member(line, "input", where);
  const Json& task = at(input, 1, "the task name", where);
  AXNN_CHECK(task.is_string(), "{}: the task name must be a string, not {}", where, task.dump());
  const std::string name = task.get<std::string>();
  const std::string template_name = name.substr(0, name.find('.'));
  if (std::find(kNchwTemplates.begin(), kNchwTemplates.end(), template_name) ==
      kNchwTemplates.end())
    return Skip{fmt::format("AutoTVM task {}", name)};
  const Json& args = at(input, 2, "the task arguments", where);
  AXNN_CHECK(args.is_array() && args.size() >= 5,
             "{}: task {} needs data, kernel, strides, padding and dilation arguments, not {}",
             where, name, args.dump());
  std::string dtype;
  const std::vector<int64_t> data = tensor(args[0], "data", &dtype, where);
  const std::vector<int64_t> kernel = tensor(args[1], "kernel", &dtype, where);
  if (!dtype.empty()) return Skip{fmt::format("dtype {}", dtype)};
  const std::optional<int64_t> stride = uniform(args[2], "strides", {2}, where);
  const std::optional<int64_t> pad = uniform(args[3], "padding", {2, 4}, where);
  const std::optional<int64_t> dilation = uniform(args[4], "dilation", {2}, where);
  if (!stride) return Skip{"unequal strides"};
  if (!pad) return Skip{"unequal padding"};
  if (dilation != 1) return Skip{"dilated conv2d"};
  if (kernel[1] != data[1]) return Skip{"grouped conv2d"};

  const auto target = parse_target_string(at(input, 0, "the target", where), where);
  if (const Skip* skip = std::get_if<Skip>(&target)) return *skip;
  Parsed p;
  p.shape = conv2d_shape_from_values(
      {data[0], data[2], data[3], kernel[0], kernel[1], kernel[2], kernel[3], *stride, *pad},
      where);
  std::tie(p.target, p.device) = std::get<std::pair<std::string, std::string>>(target);
  p.config = member(line, "config", where);
  AXNN_CHECK(p.config.is_object(), "{}: \"config\" must be an object, not {}", where,
             p.config.dump());
  parse_result(member(line, "result", where), p, where);
  return p;
}

}  // namespace

TvmImport import_tvm_log(const fs::path& file, const std::string& workload_name) {
  if (!workload_name.empty()) check_workload_name(workload_name, "TVM import");
  const std::string text = read_text_file(file, "TVM log");
  TvmImport out;
  std::map<std::string, int64_t> trials;                            // per workload name
  std::map<std::string, std::pair<Conv2dShape, std::string>> seen;  // name -> shape, first line
  size_t start = 0;
  for (int64_t number = 1; start < text.size(); ++number) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line_text = std::string_view(text).substr(start, end - start);
    const bool last_without_newline = end == text.size();
    start = end + 1;
    if (line_text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = fmt::format("{}:{}", file.string(), number);
    const Json line = Json::parse(line_text, nullptr, false);
    if (line.is_discarded() && last_without_newline) {
      spdlog::warn("{}: skipping a truncated last line (TVM was stopped while writing it)", where);
      break;
    }
    AXNN_CHECK(!line.is_discarded() && line.is_object(), "{}: not a JSON object", where);
    ++out.lines;
    const bool auto_scheduler = line.contains("i") && line.contains("v");
    AXNN_CHECK(auto_scheduler || line.contains("input"),
               "{}: neither an auto-scheduler record (\"i\", \"r\", \"v\") nor an AutoTVM 0.2 "
               "record (\"input\", \"config\", \"result\", \"version\")",
               where);
    const std::variant<Skip, Parsed> parsed =
        auto_scheduler ? parse_auto_scheduler(line, where) : parse_autotvm(line, where);
    if (const Skip* skip = std::get_if<Skip>(&parsed)) {
      ++out.skipped[skip->reason];
      continue;
    }
    const Parsed& p = std::get<Parsed>(parsed);
    Record r;
    r.workload_name = workload_name.empty() ? p.shape.key() : workload_name;
    const auto [first, inserted] = seen.try_emplace(r.workload_name, p.shape, where);
    AXNN_CHECK(inserted || first->second.first == p.shape,
               "{}: conv2d {} under the workload name '{}', which {} gave conv2d {}; name one "
               "shape at a time",
               where, p.shape.str(), r.workload_name, first->second.second,
               first->second.first.str());
    r.shape = p.shape;
    r.target = p.target;
    r.device = p.device;
    r.origin = auto_scheduler ? "tvm-auto-scheduler" : "tvm-autotvm";
    r.config = p.config;
    const double worst = *std::max_element(p.costs.begin(), p.costs.end());
    if (p.error_no != 0 || worst >= kTvmFailureCost) {
      r.error_code = p.error_no != 0 ? static_cast<ErrorCode>(p.error_no) : ErrorCode::kUnknown;
      r.error = fmt::format("TVM trial failed: error_no {} ({}), cost {:g} s", p.error_no,
                            error_code_name(static_cast<ErrorCode>(p.error_no)), worst);
      ++out.failed;
    } else {
      r.costs = p.costs;
    }
    r.trial = trials[r.workload_name]++;
    r.timestamp = p.timestamp;
    out.records.push_back(std::move(r));
  }
  return out;
}

}  // namespace axnn::tune
