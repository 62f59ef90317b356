#include "tune/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace axnn::tune {

double Conv2dShape::flops() const {
  return 2.0 * static_cast<double>(n) * static_cast<double>(co) * static_cast<double>(oh()) *
         static_cast<double>(ow()) * static_cast<double>(ci) * static_cast<double>(kh * kw);
}

std::string Conv2dShape::key() const {
  return fmt::format("conv2d_N_{}_H_{}_W_{}_CO_{}_CI_{}_KH_{}_KW_{}_strides_{}_padding_{}", n, h, w,
                     co, ci, kh, kw, stride, pad);
}

std::string Conv2dShape::str() const { return fmt::format("{}", fmt::join(values(), ",")); }

std::vector<int64_t> Conv2dShape::values() const { return {n, h, w, co, ci, kh, kw, stride, pad}; }

void check_conv2d_shape(const Conv2dShape& s, std::string_view what) {
  const std::vector<int64_t> values = s.values();
  static constexpr const char* kNames[] = {"N", "H", "W", "CO", "CI", "KH", "KW", "stride",
                                           "padding"};
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t low = i == 8 ? 0 : 1;
    AXNN_CHECK(values[i] >= low && values[i] <= kMaxConvDim, "{}: {} = {} is out of range {}..{}",
               what, kNames[i], values[i], low, kMaxConvDim);
  }
  AXNN_CHECK(s.h + 2 * s.pad >= s.kh && s.w + 2 * s.pad >= s.kw,
             "{}: the {}x{} kernel does not fit the {}x{} input padded by {}", what, s.kh, s.kw,
             s.h, s.w, s.pad);
  const double input = double(s.n) * double(s.ci) * double(s.h + 2 * s.pad) * double(s.w + 2 * s.pad);
  const double weights = double(s.co) * double(s.ci) * double(s.kh) * double(s.kw);
  const double output = double(s.n) * double(s.co) * double(s.oh()) * double(s.ow());
  AXNN_CHECK(std::max({input, weights, output}) <= double(kMaxConvElements),
             "{}: shape {} has a tensor of more than {} elements", what, s.str(),
             kMaxConvElements);
}

Conv2dShape conv2d_shape_from_values(const std::vector<int64_t>& v, std::string_view what) {
  AXNN_CHECK(v.size() == 9, "{}: a Conv2D shape has 9 numbers N,H,W,CO,CI,KH,KW,stride,padding, "
             "not {}", what, v.size());
  const Conv2dShape shape{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
  check_conv2d_shape(shape, what);
  return shape;
}

namespace {

// The numbers of `text` separated by commas and/or blanks.
std::vector<int64_t> parse_numbers(std::string_view text, std::string_view what) {
  std::vector<int64_t> values;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ',' || std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    const size_t stop = text.find_first_of(", \t\r", i);
    const std::string_view token = text.substr(i, stop == std::string_view::npos ? stop : stop - i);
    AXNN_CHECK(ec == std::errc() && end == token.data() + token.size(),
               "{}: '{}' is not an integer", what, token);
    values.push_back(value);
    i += token.size();
  }
  return values;
}

}  // namespace

Conv2dShape parse_conv2d_shape(std::string_view text, std::string_view what) {
  return conv2d_shape_from_values(parse_numbers(text, what), what);
}

void check_workload_name(std::string_view name, std::string_view what) {
  const bool ok = !name.empty() && name.size() <= 100 && name != "." && name != ".." &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                           c == '-';
                  });
  AXNN_CHECK(ok, "{}: workload name '{}' must be 1-100 characters of A-Z a-z 0-9 _ . -", what,
             name);
}

std::vector<NamedConv2d> load_conv2d_batch(const std::string& path) {
  std::ifstream in(path);
  AXNN_CHECK(in, "{}: cannot open the Conv2D batch file", path);
  std::vector<NamedConv2d> shapes;
  std::set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = fmt::format("{}:{}", path, number);
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::string_view text = line;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    // A trailing token with a letter is the name.
    std::string name;
    const size_t last = text.find_last_of(", \t");
    const std::string_view tail = last == std::string_view::npos ? text : text.substr(last + 1);
    if (std::any_of(tail.begin(), tail.end(),
                    [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
      name = std::string(tail);
      check_workload_name(name, where);
      text = text.substr(0, last == std::string_view::npos ? 0 : last);
    } else {
      name = fmt::format("case{}", shapes.size() + 1);
    }
    AXNN_CHECK(names.insert(name).second, "{}: the name '{}' is used twice", where, name);
    shapes.push_back({name, parse_conv2d_shape(text, where)});
  }
  AXNN_CHECK(!shapes.empty(), "{}: no Conv2D shape in the batch file", path);
  return shapes;
}

std::string_view target_name(Target target) { return target == Target::kCpu ? "cpu" : "cuda"; }

Target parse_target(std::string_view name) {
  if (name == "cpu") return Target::kCpu;
  if (name == "cuda") return Target::kCuda;
  throw Error(fmt::format("unknown target '{}' (known: cpu, cuda)", name));
}

}  // namespace axnn::tune
