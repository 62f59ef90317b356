// Multiplier file formats: round trips of random tables through every format, hand-written files
// checked entry by entry, and one clear error for every kind of malformed file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/error.h"
#include "mult/formats.h"

namespace axnn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh directory per test, removed afterwards.
class FormatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ = fs::temp_directory_path() / fmt::format("axnn_formats_{}_{}", ::getpid(), name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] fs::path put(const std::string& file, const std::string& content) const {
    fs::path path = dir_ / file;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  fs::path dir_;
};

Multiplier random_multiplier(const std::string& name, int bits, bool is_signed, int64_t lo,
                             int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  std::vector<int32_t> lut(size_t{1} << (2 * bits));
  for (int32_t& v : lut) v = static_cast<int32_t>(dist(rng));
  // The ends of the range must survive too.
  lut.front() = static_cast<int32_t>(lo);
  lut.back() = static_cast<int32_t>(hi);
  return {name, bits, is_signed, std::move(lut)};
}

Multiplier exact_multiplier(const std::string& name, int bits, bool is_signed) {
  const int codes = 1 << bits;
  std::vector<int32_t> lut;
  for (int x = 0; x < codes; ++x) {
    for (int w = 0; w < codes; ++w) {
      lut.push_back(Multiplier::code_value(x, bits, is_signed) *
                    Multiplier::code_value(w, bits, is_signed));
    }
  }
  return {name, bits, is_signed, std::move(lut)};
}

std::vector<int32_t> to_vector(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

ReadOptions with_signedness(bool is_signed) {
  ReadOptions options;
  options.is_signed = is_signed;
  return options;
}

// The signedness a file of the damage tests below was written with; only TFApprox needs telling.
ReadOptions damage_options(MultFormat format, bool is_signed) {
  return format == MultFormat::kTfApprox ? with_signedness(is_signed) : ReadOptions{};
}

std::string trim_copy(const std::string& s) {
  const size_t start = s.find_first_not_of(" \t\r\n");
  return start == std::string::npos ? ""
                                    : s.substr(start, s.find_last_not_of(" \t\r\n") - start + 1);
}

// Runs fn and checks that it throws one axnn::Error whose message holds every piece.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> pieces) {
  try {
    fn();
    ADD_FAILURE() << "no axnn::Error thrown";
  } catch (const Error& e) {
    for (const std::string& piece : pieces) {
      EXPECT_THAT(e.what(), HasSubstr(piece));
    }
  }
}

// ---- names and extensions ---------------------------------------------------------------------

TEST(FormatNames, RoundTripAndUnknown) {
  for (MultFormat f : {MultFormat::kAxm, MultFormat::kHeader, MultFormat::kTfApprox,
                       MultFormat::kTram, MultFormat::kCsv}) {
    EXPECT_EQ(parse_format(format_name(f)), f);
  }
  EXPECT_EQ(format_name(MultFormat::kTfApprox), "tfapprox");
  expect_error([] { parse_format("evoapprox"); },
               {"unknown multiplier format 'evoapprox'", "axm, header, tfapprox, tram, csv"});
  expect_error([] { parse_format(""); }, {"unknown multiplier format ''"});
}

TEST(FormatNames, FromExtension) {
  EXPECT_EQ(format_from_path("a/m.axm"), MultFormat::kAxm);
  EXPECT_EQ(format_from_path("m.h"), MultFormat::kHeader);
  EXPECT_EQ(format_from_path("m.hpp"), MultFormat::kHeader);
  EXPECT_EQ(format_from_path("m.cuh"), MultFormat::kHeader);
  EXPECT_EQ(format_from_path("m.BIN"), MultFormat::kTfApprox);
  EXPECT_EQ(format_from_path("m.txt"), MultFormat::kTram);
  EXPECT_EQ(format_from_path("m.csv"), MultFormat::kCsv);
  EXPECT_EQ(format_from_path("m.Axm"), MultFormat::kAxm);
  EXPECT_EQ(format_from_path("m.CSV"), MultFormat::kCsv);
  expect_error([] { format_from_path("dir/m.npy"); },
               {"file dir/m.npy", "'.npy'", ".axm, .h, .hpp, .cuh, .bin, .txt, .csv"});
  expect_error([] { format_from_path("noext"); }, {"file noext", "extension ''"});
  EXPECT_EQ(format_from_extension("x/y.HPP"), MultFormat::kHeader);
  EXPECT_EQ(format_from_extension("x/y.npy"), std::nullopt);
  EXPECT_EQ(format_from_extension("x/axm"), std::nullopt);
  EXPECT_EQ(formats_help(),
            "axm (.axm), header (.h/.hpp/.cuh), tfapprox (.bin), tram (.txt), csv (.csv)");
}

// ---- round trips ----------------------------------------------------------------------------

struct RoundTripCase {
  MultFormat format;
  int bits;
  bool is_signed;
};

std::string case_name(const ::testing::TestParamInfo<RoundTripCase>& info) {
  return fmt::format("{}_{}bit_{}", format_name(info.param.format), info.param.bits,
                     info.param.is_signed ? "signed" : "unsigned");
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (bool is_signed : {false, true}) {
    for (MultFormat f : {MultFormat::kAxm, MultFormat::kTram, MultFormat::kCsv}) {
      for (int bits = Multiplier::kMinBits; bits <= Multiplier::kMaxBits; ++bits) {
        cases.push_back({f, bits, is_signed});
      }
    }
    cases.push_back({MultFormat::kHeader, 8, is_signed});
    cases.push_back({MultFormat::kTfApprox, 8, is_signed});
  }
  return cases;
}

class RoundTripTest : public FormatsTest, public ::testing::WithParamInterface<RoundTripCase> {};

TEST_P(RoundTripTest, WriteThenReadGivesTheSameMultiplier) {
  const auto [format, bits, is_signed] = GetParam();
  // The value range each format can hold: 16-bit formats keep the products' type.
  int64_t lo = std::numeric_limits<int32_t>::min();
  int64_t hi = std::numeric_limits<int32_t>::max();
  if (format == MultFormat::kHeader || format == MultFormat::kTfApprox) {
    lo = is_signed ? std::numeric_limits<int16_t>::min() : 0;
    hi = is_signed ? std::numeric_limits<int16_t>::max() : std::numeric_limits<uint16_t>::max();
  }
  const std::string name = fmt::format("rt_{}_{}", bits, is_signed ? "s" : "u");
  Multiplier mult =
      random_multiplier(name, bits, is_signed, lo, hi, 1234u + 17u * bits + (is_signed ? 1u : 0u));
  mult.meta().relative_power = 1.0 / 3.0;
  mult.meta().area_um2 = 0.1;
  mult.meta().delay_ns = 1e-300;
  mult.meta().source = "test \"quoted\" source";
  mult.meta().description = "line one\nline two, caf\u00e9";

  const std::string ext = format == MultFormat::kAxm        ? ".axm"
                          : format == MultFormat::kHeader   ? ".h"
                          : format == MultFormat::kTfApprox ? ".bin"
                          : format == MultFormat::kTram     ? ".txt"
                                                            : ".csv";
  const fs::path path = dir_ / (name + ext);
  write_multiplier(mult, path);
  // TFApprox files cannot say that a table is signed.
  ReadOptions options;
  if (format == MultFormat::kTfApprox) options.is_signed = is_signed;
  const Multiplier back = read_multiplier(path, std::nullopt, options);

  EXPECT_EQ(back.name(), name);
  EXPECT_EQ(back.bits(), bits);
  EXPECT_EQ(back.is_signed(), is_signed);
  EXPECT_EQ(to_vector(back), to_vector(mult));
  if (format == MultFormat::kAxm) {
    EXPECT_EQ(back.meta().relative_power, mult.meta().relative_power);
    EXPECT_EQ(back.meta().power_mw, std::nullopt);
    EXPECT_EQ(back.meta().area_um2, mult.meta().area_um2);
    EXPECT_EQ(back.meta().delay_ns, mult.meta().delay_ns);
    EXPECT_EQ(back.meta().source, mult.meta().source);
    EXPECT_EQ(back.meta().description, mult.meta().description);
  } else {
    // The other formats carry no metadata; the source says where the table came from.
    EXPECT_EQ(back.meta().relative_power, std::nullopt);
    EXPECT_THAT(back.meta().source, HasSubstr(path.string()));
    EXPECT_THAT(back.meta().source, HasSubstr(std::string(format_name(format))));
  }
  // Exactly the target is left in the directory: no temporary files.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  // Writing what was read gives the same bytes: the writers are deterministic.
  const fs::path again = dir_ / "again.out";
  write_multiplier(back, again, format);
  std::ifstream a(path, std::ios::binary), b(again, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}),
            std::string(std::istreambuf_iterator<char>(b), {}));
}

INSTANTIATE_TEST_SUITE_P(AllFormats, RoundTripTest, ::testing::ValuesIn(round_trip_cases()),
                         case_name);

TEST_F(FormatsTest, ReadOptionsNameOverridesTheStem) {
  const Multiplier mult = exact_multiplier("exact4", 4, true);
  for (const char* file : {"a.axm", "a.txt", "a.csv"}) {
    write_multiplier(mult, dir_ / file);
    ReadOptions options;
    options.name = "renamed";
    EXPECT_EQ(read_multiplier(dir_ / file, std::nullopt, options).name(), "renamed") << file;
  }
  EXPECT_EQ(read_multiplier(dir_ / "a.axm").name(), "exact4");  // axm keeps its own name
  EXPECT_EQ(read_multiplier(dir_ / "a.csv").name(), "a");
}

TEST_F(FormatsTest, ExplicitFormatIgnoresTheExtension) {
  const Multiplier mult = exact_multiplier("m", 3, false);
  write_multiplier(mult, dir_ / "table.dat", MultFormat::kCsv);
  const Multiplier back = read_multiplier(dir_ / "table.dat", MultFormat::kCsv);
  EXPECT_EQ(to_vector(back), to_vector(mult));
  expect_error([&] { read_multiplier(dir_ / "table.dat"); }, {"table.dat", "'.dat'"});
}

// ---- hand-written files ---------------------------------------------------------------------

TEST_F(FormatsTest, AxmFixture) {
  const fs::path path = put("m.axm",
                            "axnn-multiplier 1\n"
                            "{\"name\":\"tiny\",\"bits\":2,\"signed\":true,\"relative_power\":0.5,"
                            "\"area_um2\":null}\n"
                            "0 0 0 0\n"
                            "0 1 -2 -1\n"
                            "0 -2 4 2\n"
                            "0 -1 5 7\n");
  const Multiplier m = read_multiplier(path);
  EXPECT_EQ(m.name(), "tiny");
  EXPECT_EQ(m.bits(), 2);
  EXPECT_TRUE(m.is_signed());
  EXPECT_EQ(m.meta().relative_power, 0.5);
  EXPECT_EQ(m.meta().area_um2, std::nullopt);
  EXPECT_EQ(m.meta().source, "");
  EXPECT_EQ(m.at(1, 2), -2);
  EXPECT_EQ(m.at(3, 3), 7);
  EXPECT_EQ(m.at(m.code(-2), m.code(-1)), 2);  // rows are activations: lut[-2][-1]
  EXPECT_EQ(m.at(m.code(-1), m.code(-2)), 5);
}

TEST_F(FormatsTest, AxmLayoutIsOneRowPerLine) {
  Multiplier mult = exact_multiplier("ex", 2, false);
  mult.meta().relative_power = 1.0;
  write_multiplier(mult, dir_ / "ex.axm");
  std::ifstream in(dir_ / "ex.axm");
  const std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(text,
            "axnn-multiplier 1\n"
            "{\"name\":\"ex\",\"bits\":2,\"signed\":false,\"relative_power\":1.0,\"power_mw\":null,"
            "\"area_um2\":null,\"delay_ns\":null,\"source\":\"\",\"description\":\"\"}\n"
            "0 0 0 0\n"
            "0 1 2 3\n"
            "0 2 4 6\n"
            "0 3 6 9\n");
}

// A TransAxx-style header with everything the reader must tolerate: comments, preprocessor
// lines, __device__ and static, a different name, ragged whitespace, trailing commas.
std::string header_text(const std::string& declaration, int rows, int cols,
                        const std::function<std::string(int, int)>& value) {
  std::string text = "#pragma once\n#include <stdint.h>\n/* generated\n   by hand */\n" +
                     declaration + " = // the table\n{";
  for (int x = 0; x < rows; ++x) {
    text += x % 3 == 0 ? "\n  {" : "{ ";
    for (int w = 0; w < cols; ++w) {
      text += value(x, w);
      text += w + 1 < cols ? (w % 50 == 49 ? ",\n" : ", ") : (x % 2 ? "," : "");
    }
    text += "},";
  }
  return text + "\n} ;  // end\n";
}

std::string signed_product(int x, int w) {
  return std::to_string(static_cast<int8_t>(x) * static_cast<int8_t>(w));
}

TEST_F(FormatsTest, HeaderFixture) {
  const fs::path path =
      put("mul8s_1KV6.h", header_text("const static __device__  int16_t\n mul8s_lut [256] [256]",
                                      256, 256, [](int x, int w) {
                                        return x == 3 && w == 5 ? std::string("/*odd*/ 16")
                                                                : signed_product(x, w);
                                      }));
  const Multiplier m = read_multiplier(path);
  EXPECT_EQ(m.name(), "mul8s_1KV6");
  EXPECT_EQ(m.bits(), 8);
  EXPECT_TRUE(m.is_signed());
  EXPECT_EQ(m.at(255, 255), 1);      // -1 * -1
  EXPECT_EQ(m.at(128, 1), -128);     // -128 * 1
  EXPECT_EQ(m.at(128, 128), 16384);  // -128 * -128
  EXPECT_EQ(m.at(127, 2), 254);
  EXPECT_EQ(m.at(3, 5), 16);  // the one approximate entry

  // The element type is the signedness: a forced one must agree with it.
  EXPECT_TRUE(read_multiplier(path, std::nullopt, with_signedness(true)).is_signed());
  expect_error([&] { read_multiplier(path, std::nullopt, with_signedness(false)); },
               {path.string() + ", line 5", "elements are int16_t",
                "hold a signed multiplier, but it was asked for as unsigned"});
}

TEST_F(FormatsTest, HeaderUnsignedElementsAndAdaptStyle) {
  const fs::path path =
      put("mul8u.hpp", header_text("const unsigned short lut[256][256]", 256, 256,
                                   [](int x, int w) { return std::to_string(x * w); }));
  const Multiplier m = read_multiplier(path);
  EXPECT_FALSE(m.is_signed());
  EXPECT_EQ(m.at(255, 255), 65025);
  EXPECT_EQ(to_vector(m), to_vector(exact_multiplier("u", 8, false)));
  EXPECT_FALSE(read_multiplier(path, std::nullopt, with_signedness(false)).is_signed());
  expect_error([&] { read_multiplier(path, std::nullopt, with_signedness(true)); },
               {"mul8u.hpp, line 5", "elements are unsigned short",
                "hold an unsigned multiplier, but it was asked for as signed"});

  const fs::path adapt =
      put("adapt.h", header_text("const short int lut [256][256]", 256, 256, [](int x, int w) {
            return x == 1 && w == 1 ? std::string("0x1") : signed_product(x, w);
          }));
  EXPECT_EQ(to_vector(read_multiplier(adapt)), to_vector(exact_multiplier("s", 8, true)));

  // Specifiers in any order, as the different generators of these headers write them.
  for (const char* declaration :
       {"__device__ const int16_t lut[256][256]", "static const signed short int table[256][256]",
        "constexpr std::int16_t lut[0x100][256]", "uint16_t lut[256][256]"}) {
    const bool is_unsigned = std::string(declaration).starts_with("uint16_t");
    const fs::path other = put("other.cuh", header_text(declaration, 256, 256, [&](int x, int w) {
                                 return is_unsigned ? std::to_string(x * w) : signed_product(x, w);
                               }));
    EXPECT_EQ(to_vector(read_multiplier(other)), to_vector(exact_multiplier("e", 8, !is_unsigned)))
        << declaration;
  }
}

TEST_F(FormatsTest, TfApproxFixture) {
  std::string bytes(131072, '\0');
  const auto put_word = [&](size_t x, size_t w, uint16_t v) {
    bytes[2 * (x * 256 + w)] = static_cast<char>(v & 0xff);
    bytes[2 * (x * 256 + w) + 1] = static_cast<char>(v >> 8);
  };
  put_word(3, 5, 15);
  put_word(5, 3, 14);
  put_word(255, 255, 65025);
  put_word(0, 255, 0xffff);
  const fs::path path = put("mul8u_ABC.bin", bytes);
  // The file cannot say, and the same bytes are a valid table either way.
  expect_error([&] { read_multiplier(path); },
               {"file " + path.string() +
                ": a TFApprox binary does not record signedness: pass --signed or --unsigned"});
  const Multiplier m = read_multiplier(path, std::nullopt, with_signedness(false));
  EXPECT_EQ(m.name(), "mul8u_ABC");
  EXPECT_FALSE(m.is_signed());
  EXPECT_EQ(m.at(3, 5), 15);
  EXPECT_EQ(m.at(5, 3), 14);
  EXPECT_EQ(m.at(255, 255), 65025);
  EXPECT_EQ(m.at(0, 255), 65535);
  EXPECT_EQ(m.at(1, 1), 0);

  ReadOptions as_signed;
  as_signed.is_signed = true;
  const Multiplier s = read_multiplier(path, std::nullopt, as_signed);
  EXPECT_TRUE(s.is_signed());
  EXPECT_EQ(s.at(0, 255), -1);
  EXPECT_EQ(s.at(255, 255), 65025 - 65536);
}

TEST_F(FormatsTest, TramFixtureSigned) {
  // TRAM order for 2-bit signed operands: 0, 1, -2, -1. One approximate entry: -2 * -1 = 3.
  std::string text =
      "INFO: loading model\n"
      "Warning: something unrelated 1 2 3\n"
      "LUT for approximate multiplier:\n";
  for (int a : {0, 1, -2, -1}) {
    for (int b : {0, 1, -2, -1}) {
      text += fmt::format("{} {} {}\n", a, b, a == -2 && b == -1 ? 3 : a * b);
    }
  }
  const Multiplier m = read_multiplier(put("tram2s.txt", text));
  EXPECT_EQ(m.bits(), 2);
  EXPECT_TRUE(m.is_signed());
  EXPECT_EQ(m.at(m.code(-2), m.code(-1)), 3);
  EXPECT_EQ(m.at(m.code(-1), m.code(-2)), 2);
  EXPECT_EQ(m.at(m.code(-2), m.code(-2)), 4);
  EXPECT_EQ(m.at(m.code(1), m.code(-2)), -2);
}

TEST_F(FormatsTest, TramFixtureUnsignedCrlfAnyOrder) {
  std::string text = "LUT for approximate multiplier:\r\n";
  for (int a = 3; a >= 0; --a) {
    for (int b = 0; b < 4; ++b) text += fmt::format("  {}\t{} {}\r\n", a, b, a * b + (a == 3));
  }
  const Multiplier m = read_multiplier(put("tram2u.txt", text + "\r\n"));
  EXPECT_FALSE(m.is_signed());
  EXPECT_EQ(m.at(2, 3), 6);
  EXPECT_EQ(m.at(3, 0), 1);
  EXPECT_EQ(m.at(3, 3), 10);
}

TEST_F(FormatsTest, TramWriterUsesTramOrder) {
  write_multiplier(exact_multiplier("e", 2, true), dir_ / "e.txt");
  std::ifstream in(dir_ / "e.txt");
  const std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_THAT(text, ::testing::StartsWith("LUT for approximate multiplier:\n0 0 0\n0 1 0\n0 -2 0\n"
                                          "0 -1 0\n1 0 0\n1 1 1\n1 -2 -2\n"));
  EXPECT_THAT(text, ::testing::EndsWith("-1 -1 1\n"));
}

TEST_F(FormatsTest, CsvFixture) {
  const fs::path path = put("m.csv",
                            "x, w, product\n"
                            "1,1,1\n0,0,0\n0,1,0\n0,2,0\n0,3,0\n1,0,0\n1,2,2\n1,3,3\n"
                            "2,0,0\n2,1,2\n2,2,5\n2,3,7\n3,0,0\n3,1,3\n3,2,6\n3,3,9\n");
  const Multiplier m = read_multiplier(path);
  EXPECT_EQ(m.bits(), 2);
  EXPECT_FALSE(m.is_signed());
  EXPECT_EQ(m.at(2, 2), 5);
  EXPECT_EQ(m.at(2, 3), 7);  // x = 2 is the row
  EXPECT_EQ(m.at(3, 2), 6);

  // The same operands read as 3-bit signed values would need 64 rows: the width follows the count.
  ReadOptions as_signed;
  as_signed.is_signed = true;
  expect_error([&] { read_multiplier(path, std::nullopt, as_signed); },
               {"line 5", "operand w 2 is outside the 2-bit signed (as asked) range -2..1"});
}

// ---- malformed files ------------------------------------------------------------------------

TEST_F(FormatsTest, MissingEmptyAndDirectory) {
  for (const char* file : {"none.axm", "none.h", "none.bin", "none.txt", "none.csv"}) {
    expect_error([&] { read_multiplier(dir_ / file); }, {(dir_ / file).string(), "no such file"});
  }
  for (const char* file : {"empty.axm", "empty.h", "empty.txt", "empty.csv"}) {
    const fs::path path = put(file, "");
    expect_error([&] { read_multiplier(path); }, {path.string(), "empty"});
  }
  const fs::path blank = put("blank.csv", "\n  \n");
  expect_error([&] { read_multiplier(blank); }, {"blank.csv", "empty"});
  const fs::path empty_bin = put("empty.bin", "");
  expect_error([&] { read_multiplier(empty_bin); }, {"empty.bin", "is 0 bytes", "131072"});
  fs::create_directory(dir_ / "sub.axm");
  expect_error([&] { read_multiplier(dir_ / "sub.axm"); }, {"sub.axm", "is a directory"});
  expect_error([&] { read_multiplier(dir_ / "m.xyz"); }, {"m.xyz", "'.xyz'"});
  // A status() error other than not-found is reported as it is, not as a missing file.
  const fs::path too_long = dir_ / (std::string(300, 'n') + ".axm");
  const std::string e = [&] {
    try {
      read_multiplier(too_long);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  }();
  EXPECT_THAT(e, HasSubstr(too_long.string()));
  EXPECT_THAT(e, HasSubstr(std::make_error_code(std::errc::filename_too_long).message()));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("no such file")));
}

std::string axm_text(const std::string& meta, const std::vector<std::string>& rows) {
  std::string text = "axnn-multiplier 1\n" + meta + "\n";
  for (const std::string& row : rows) text += row + "\n";
  return text;
}

TEST_F(FormatsTest, AxmErrors) {
  const std::string meta2 = R"({"name":"t","bits":2,"signed":false})";
  const std::vector<std::string> rows2 = {"0 0 0 0", "0 1 2 3", "0 2 4 6", "0 3 6 9"};
  const auto check = [&](const std::string& content, std::initializer_list<std::string> pieces) {
    const fs::path path = put("bad.axm", content);
    expect_error([&] { read_multiplier(path); }, pieces);
  };
  // The good file reads, so each error below comes from its one change.
  EXPECT_EQ(read_multiplier(put("good.axm", axm_text(meta2, rows2))).at(3, 3), 9);
  // Zero quantities are fine.
  EXPECT_EQ(read_multiplier(put("zero.axm", axm_text(R"({"name":"t","bits":2,"signed":false,)"
                                                     R"("power_mw":0,"relative_power":0.0})",
                                                     rows2)))
                .meta()
                .power_mw,
            0.0);

  check("axnn-multiplier 2\n{}\n",
        {(dir_ / "bad.axm").string() + ": axm version 2 is not supported (this axnn reads "
                                       "version 1)"});
  check("P2\n4 4\n", {"line 1", "expected 'axnn-multiplier 1'", "'P2'"});
  check("axnn-multiplier one\n", {"line 1", "axm version 'one' is not an integer"});
  check("axnn-multiplier 1\n", {"line 2", "metadata line is missing"});
  check("axnn-multiplier 1\n{\"bits\":2,\n", {"line 2", "not valid JSON"});
  check(axm_text("[2]", rows2), {"line 2", "must be a JSON object"});
  check(axm_text(R"({"name":"t","signed":false})", rows2), {"line 2", "'bits'", "nothing"});
  check(axm_text(R"({"name":"t","bits":"2","signed":false})", rows2),
        {"line 2", "'bits' must be an integer", "\"2\""});
  check(axm_text(R"({"name":"t","bits":9,"signed":false})", rows2),
        {"line 2", "bit width 9 is outside", "2..8"});
  check(axm_text(R"({"name":"t","bits":2,"signed":"no"})", rows2), {"line 2", "'signed'"});
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"relative_pwr":0.5})", rows2),
        {"line 2", "unknown metadata field 'relative_pwr'"});
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"power_mw":"1mW"})", rows2),
        {"line 2", "'power_mw' must be a number"});
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"source":3})", rows2),
        {"line 2", "'source' must be a string"});
  // nlohmann's own out_of_range comes out naming the file and line.
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"relative_power":1e999})", rows2),
        {(dir_ / "bad.axm").string() + ", line 2", "1e999"});
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"relative_power":-1e999})", rows2),
        {(dir_ / "bad.axm").string() + ", line 2"});
  for (const char* key : {"relative_power", "power_mw", "area_um2", "delay_ns"}) {
    check(axm_text(fmt::format(R"({{"name":"t","bits":2,"signed":false,"{}":-0.5}})", key), rows2),
          {"line 2", fmt::format("'{}' must be finite and >= 0, found -0.5", key)});
  }
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"bits":3})", rows2),
        {"line 2", "metadata field 'bits' appears more than once"});
  check(axm_text(R"({"name":"t","bits":2,"signed":false,"area_um2":1,"area_um2":null})", rows2),
        {"line 2", "'area_um2' appears more than once"});
  check(axm_text(R"({"name":"t","bits":18446744073709551616,"signed":false})", rows2),
        {"line 2", "'bits' must be an integer"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3"}), {"line 5", "ends after 2 of 4 rows"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2", "0 2 4 6", "0 3 6 9"}),
        {"line 4", "row 1 has 3 values", "needs 4"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3 4", "0 2 4 6", "0 3 6 9"}),
        {"line 4", "row 1 has 5 values"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3", "0 2 x4 6", "0 3 6 9"}),
        {"line 5", "lut[2][2] 'x4' is not an integer"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3", "0 2 4 6", "0 3 6 2147483648"}),
        {"line 6", "lut[3][3] 2147483648 is outside the int32 range"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3", "0 2 4 6", "0 3 6 99999999999999999999999"}),
        {"line 6", "out of range"});
  check(axm_text(meta2, {"0 0 0 0", "0 1 2 3", "0 2 4 6", "0 3 6 9", "", "0 0 0 0"}),
        {"line 8", "unexpected text after the 4 table rows"});

  const fs::path good = dir_ / "good.axm";
  ReadOptions as_signed;
  as_signed.is_signed = true;
  expect_error([&] { read_multiplier(good, std::nullopt, as_signed); },
               {"good.axm", "holds an unsigned multiplier", "asked for as signed"});
}

TEST_F(FormatsTest, HeaderErrors) {
  const auto product = [](int x, int w) { return signed_product(x, w); };
  const std::string good = header_text("const short lut[256][256]", 256, 256, product);
  ASSERT_EQ(read_multiplier(put("good.h", good)).at(2, 3), 6);
  const auto check = [&](const std::string& content, std::initializer_list<std::string> pieces) {
    const fs::path path = put("bad.h", content);
    expect_error([&] { read_multiplier(path); }, pieces);
  };
  // Lines: 4 preamble lines, the declaration on 5, '{' on 6, row 0 from line 7, a line break
  // after every 50 values and before every third row.
  check(good.substr(0, good.size() / 2), {"bad.h, line", "expected"});
  check(good.substr(0, good.rfind('}')), {"ends before the table's closing '}'"});
  check(header_text("const short lut[256][256]", 256, 255, product),
        {"line", "row 0 ends after 255 of 256 values"});
  check(header_text("const short lut[256][256]", 256, 257, product),
        {"line 12", "row 0 has more than 256 values"});
  check(header_text("const short lut[256][256]", 255, 256, product),
        {"the table ends after 255 of 256 rows"});
  check(header_text("const short lut[256][256]", 257, 256, product),
        {"the table has more than 256 rows"});
  check(header_text("const short lut[16][16]", 16, 16, product),
        {"line 5", "array dimension '16' is not 256", "8-bit"});
  check(header_text("const float lut[256][256]", 256, 256, product),
        {"line 5", "unexpected 'float'"});
  check(header_text("const int lut[256][256]", 256, 256, product),
        {"line 5", "element type must be one of short, int16_t"});
  check(header_text("const short lut[256][256]", 256, 256,
                    [](int x, int w) { return x == 9 && w == 1 ? "40000" : std::to_string(0); }),
        {"line 55", "lut[9][1] 40000 is outside the int16 range -32768..32767"});
  check(header_text("const unsigned short lut[256][256]", 256, 256,
                    [](int x, int w) { return x == 0 && w == 7 ? "-1" : std::to_string(0); }),
        {"line 7", "lut[0][7] -1 is outside the uint16 range 0..65535"});
  check(header_text("const short lut[256][256]", 256, 256,
                    [](int x, int w) { return x == 12 && w == 3 ? "1e3" : std::to_string(0); }),
        {"line 71", "lut[12][3] '1e3' is not an integer"});
  check(header_text("const short lut[256][256]", 256, 256,
                    [](int x, int w) { return x == 12 && w == 3 ? "abc" : std::to_string(0); }),
        {"line 71", "expected the integer lut[12][3], found 'abc'"});
  check(good + "const short lut2[1][1] = {{0}};\n", {"unexpected 'const' after the table"});
  check("// just a comment\n#pragma once\n", {"bad.h", "holds no table"});
  check("/* never closed\nconst short lut[256][256] = {", {"line 1", "never closed"});
  check(std::string(good).replace(good.find(" ;"), 2, ""), {"expected ';' after the table"});
  check("const short lut[256][256] {", {"line 1", "expected '=' after the array dimensions"});
}

TEST_F(FormatsTest, TfApproxErrors) {
  for (size_t size : {size_t{131071}, size_t{131074}, size_t{65536}}) {
    const fs::path path = put("bad.bin", std::string(size, '\x01'));
    expect_error([&] { read_multiplier(path); },
                 {path.string(), fmt::format("is {} bytes", size), "exactly 131072 bytes"});
  }
}

std::string tram_text(int bits, bool is_signed,
                      const std::function<std::string(int, int, int)>& line) {
  std::string text = "LUT for approximate multiplier:\n";
  for (int x = 0; x < (1 << bits); ++x) {
    for (int w = 0; w < (1 << bits); ++w) {
      const int a = Multiplier::code_value(x, bits, is_signed);
      const int b = Multiplier::code_value(w, bits, is_signed);
      text += line(a, b, a * b);
    }
  }
  return text;
}

std::string plain_tram_line(int a, int b, int p) { return fmt::format("{} {} {}\n", a, b, p); }

TEST_F(FormatsTest, TramErrors) {
  const auto check = [&](const std::string& content, std::initializer_list<std::string> pieces,
                         const ReadOptions& options = {}) {
    const fs::path path = put("bad.txt", content);
    expect_error([&] { read_multiplier(path, std::nullopt, options); }, pieces);
  };
  ASSERT_EQ(read_multiplier(put("good.txt", tram_text(3, true, plain_tram_line))).bits(), 3);

  check("INFO: nothing here\n1 2 2\n", {"bad.txt", "no 'LUT for approximate multiplier:' line"});
  check("LUT for approximate multiplier:\n", {"the table has 0 entries"});
  // 2-bit signed: line 1 is the marker, entry i on line i + 2.
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == 1 && b == -2 ? std::string("1 -2\n") : plain_tram_line(a, b, p);
                  }),
        {"line 8", "expected 'a b product', found '1 -2'"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == 1 && b == 1 ? std::string("1 1 1 1\n") : plain_tram_line(a, b, p);
                  }),
        {"line 7", "expected 'a b product'"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == 1 && b == 1 ? std::string("1 one 1\n") : plain_tram_line(a, b, p);
                  }),
        {"line 7", "operand b 'one' is not an integer"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == 1 && b == 1 ? std::string("1 1 4294967296\n")
                                            : plain_tram_line(a, b, p);
                  }),
        {"line 7", "product 4294967296 is outside the int32 range"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == -1 && b == -1 ? std::string("") : plain_tram_line(a, b, p);
                  }),
        {"bad.txt, line 16", "the table has 15 entries", "4^b"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == -1 && b == -1 ? plain_tram_line(0, 1, 0) : plain_tram_line(a, b, p);
                  }),
        {"line 17", "pair a = 0, b = 1 appears twice (also on line 3)"});
  check(tram_text(2, true,
                  [](int a, int b, int p) {
                    return a == -1 && b == -1 ? plain_tram_line(2, -1, -2)
                                              : plain_tram_line(a, b, p);
                  }),
        {"line 17", "operand a 2 is outside the 2-bit signed",
         "signed since line 4 has a negative operand", "-2..1"});
  check(tram_text(2, false,
                  [](int a, int b, int p) {
                    return a == 3 && b == 3 ? plain_tram_line(3, 4, 12) : plain_tram_line(a, b, p);
                  }),
        {"line 17", "operand b 4 is outside the 2-bit unsigned", "0..3"});
  ReadOptions as_unsigned;
  as_unsigned.is_signed = false;
  check(tram_text(2, true, plain_tram_line),
        {"line 4", "operand b -2 is outside the 2-bit unsigned (as asked) range 0..3"},
        as_unsigned);
  check(tram_text(2, true, plain_tram_line) + "INFO: done\n",
        {"line 18", "expected 'a b product', found 'INFO: done'"});
}

TEST_F(FormatsTest, CsvErrors) {
  const auto check = [&](const std::string& content, std::initializer_list<std::string> pieces) {
    const fs::path path = put("bad.csv", content);
    expect_error([&] { read_multiplier(path); }, pieces);
  };
  const auto csv = [](const std::function<std::string(int, int)>& row) {
    std::string text = "x,w,product\n";
    for (int x = 0; x < 4; ++x) {
      for (int w = 0; w < 4; ++w) text += row(x, w);
    }
    return text;
  };
  const auto plain = [](int x, int w) { return fmt::format("{},{},{}\n", x, w, x * w); };
  ASSERT_EQ(read_multiplier(put("good.csv", csv(plain))).at(3, 2), 6);

  check("a,b,p\n0,0,0\n", {"line 1", "expected the header 'x,w,product', found 'a,b,p'"});
  check(csv([&](int x, int w) { return x == 1 && w == 0 ? "1,0\n" : plain(x, w); }),
        {"line 6", "expected 3 fields", "found 2"});
  check(csv([&](int x, int w) { return x == 1 && w == 0 ? "1,0,0,0\n" : plain(x, w); }),
        {"line 6", "found 4"});
  check(csv([&](int x, int w) { return x == 2 && w == 1 ? "2,1,two\n" : plain(x, w); }),
        {"line 11", "product 'two' is not an integer"});
  check(csv([&](int x, int w) { return x == 2 && w == 1 ? "2,1.5,2\n" : plain(x, w); }),
        {"line 11", "operand w '1.5' is not an integer"});
  check(csv([&](int x, int w) { return x == 3 && w == 3 ? "0,0,0\n" : plain(x, w); }),
        {"line 17", "pair x = 0, w = 0 appears twice (also on line 2)"});
  check(csv(plain) + "0,0,0\n", {"line 18", "the table has 17 entries"});
  check(csv([&](int x, int w) { return x == 3 && w == 3 ? "-3,3,9\n" : plain(x, w); }),
        {"line 4", "operand w 2 is outside the 2-bit signed", "line 17 has a negative"});
}

TEST_F(FormatsTest, TextFormatsNeedTheirFinalNewline) {
  // Cut inside the last product: "... 9" became "... " + "1" would otherwise read as 1.
  const Multiplier mult = exact_multiplier("e", 2, false);
  for (const char* file : {"e.axm", "e.txt", "e.csv"}) {
    write_multiplier(mult, dir_ / file);
    std::string text;
    {
      std::ifstream in(dir_ / file, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_EQ(text.substr(text.size() - 2), "9\n") << file;
    const fs::path cut = put(std::string("cut_") + file, text.substr(0, text.size() - 1));
    expect_error([&] { read_multiplier(cut); },
                 {cut.string(), "does not end with a newline", "cut short"});
  }
}

TEST_F(FormatsTest, CsvByteOrderMark) {
  const fs::path path =
      put("bom.csv", "\xEF\xBB\xBFx,w,product\n" + std::string("0,0,0\n0,1,0\n1,0,0\n1,1,1\n") +
                         "0,-1,0\n0,-2,0\n1,-1,-1\n1,-2,-2\n"
                         "-1,0,0\n-1,1,-1\n-1,-1,1\n-1,-2,2\n"
                         "-2,0,0\n-2,1,-2\n-2,-1,2\n-2,-2,4\n");
  EXPECT_EQ(to_vector(read_multiplier(path)), to_vector(exact_multiplier("e", 2, true)));
}

// The files every writer produces, for damaging below.
std::vector<std::pair<std::string, MultFormat>> damage_sources() {
  return {{"d.axm", MultFormat::kAxm},
          {"d.h", MultFormat::kHeader},
          {"d.bin", MultFormat::kTfApprox},
          {"d.txt", MultFormat::kTram},
          {"d.csv", MultFormat::kCsv}};
}

TEST_F(FormatsTest, EveryTruncationIsAnError) {
  std::mt19937 rng(2024);
  for (const auto& [file, format] : damage_sources()) {
    const int bits = format == MultFormat::kHeader || format == MultFormat::kTfApprox ? 8 : 3;
    write_multiplier(random_multiplier("d", bits, true, -20000, 20000, 5), dir_ / file);
    const ReadOptions options = damage_options(format, true);
    std::string text;
    {
      std::ifstream in(dir_ / file, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::vector<size_t> cuts = {
        0, 1, text.size() / 2, text.size() - 1, text.size() - 2, text.size() - 3};
    for (int i = 0; i < 60; ++i) cuts.push_back(rng() % text.size());
    for (size_t cut : cuts) {
      const fs::path path = put("cut_" + file, text.substr(0, cut));
      const std::string lost = text.substr(cut);
      // Losing only the header's final newline leaves a complete table.
      if (format == MultFormat::kHeader && trim_copy(lost).empty()) continue;
      EXPECT_THROW(read_multiplier(path, std::nullopt, options), Error)
          << file << " cut at " << cut;
    }
  }
}

TEST_F(FormatsTest, DamagedFilesNeverCrash) {
  // Random byte edits must give a table or one axnn::Error, nothing else (run under ASan too).
  const std::string alphabet = " ,;{}[]-+0123456789xe\n\r/*#\"";
  std::mt19937 rng(99);
  for (const auto& [file, format] : damage_sources()) {
    const int bits = format == MultFormat::kHeader || format == MultFormat::kTfApprox ? 8 : 3;
    write_multiplier(random_multiplier("d", bits, false, 0, 300, 6), dir_ / file);
    const ReadOptions options = damage_options(format, false);
    std::string text;
    {
      std::ifstream in(dir_ / file, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    int errors = 0;
    for (int i = 0; i < 60; ++i) {
      std::string damaged = text;
      for (auto edits = 1 + rng() % 3; edits > 0; --edits) {
        const size_t at = rng() % damaged.size();
        switch (rng() % 3) {
          case 0:
            damaged[at] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            damaged.erase(at, 1 + rng() % 8);
            break;
          default:
            damaged.insert(at, 1, alphabet[rng() % alphabet.size()]);
        }
      }
      const fs::path path = put("damaged_" + file, damaged);
      try {
        const Multiplier m = read_multiplier(path, std::nullopt, options);
        EXPECT_EQ(m.lut().size(), size_t{1} << (2 * m.bits()));
      } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr(path.string()));
        ++errors;
      }
    }
    EXPECT_GT(errors, 30) << file;  // most damage must be noticed
  }
}

// ---- writing --------------------------------------------------------------------------------

TEST_F(FormatsTest, WriteErrorsLeaveNothingBehind) {
  const Multiplier four = exact_multiplier("four", 4, true);
  expect_error([&] { write_multiplier(four, dir_ / "four.h"); },
               {"multiplier 'four'", "four.h", "8-bit tables only", "4-bit"});
  expect_error([&] { write_multiplier(four, dir_ / "four.bin"); }, {"four.bin", "8-bit"});
  expect_error([&] { write_multiplier(four, dir_ / "four.npy"); }, {"four.npy", "'.npy'"});

  // Exact unsigned 8-bit products (up to 65025) do not fit the int16 elements of a signed table.
  const Multiplier wide("wide", 8, true, to_vector(exact_multiplier("u", 8, false)));
  expect_error([&] { write_multiplier(wide, dir_ / "wide.h"); },
               {"wide.h", "lut[129][255] = 32895 does not fit the header's short elements"});
  expect_error([&] { write_multiplier(wide, dir_ / "wide.bin"); },
               {"wide.bin", "lut[129][255] = 32895 does not fit a TFApprox table (int16"});
  const Multiplier negative = random_multiplier("neg", 8, false, -5, 5, 7);
  expect_error([&] { write_multiplier(negative, dir_ / "neg.bin"); },
               {"lut[0][0] = -5 does not fit a TFApprox table (uint16 0..65535)"});

  Multiplier not_finite = exact_multiplier("nan", 2, false);
  not_finite.meta().power_mw = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { write_multiplier(not_finite, dir_ / "nan.axm"); },
               {"nan.axm", "power_mw is nan"});
  EXPECT_TRUE(fs::is_empty(dir_));

  expect_error([&] { write_multiplier(four, dir_ / "no" / "such" / "dir.axm"); },
               {"multiplier 'four'", "dir.axm", "cannot create temporary file"});
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(FormatsTest, FailedWriteKeepsThePreviousFile) {
  const Multiplier good = random_multiplier("good", 8, false, 0, 65535, 11);
  write_multiplier(good, dir_ / "m.bin");
  const Multiplier too_wide = random_multiplier("bad", 8, false, 0, 70000, 12);
  expect_error([&] { write_multiplier(too_wide, dir_ / "m.bin"); }, {"does not fit"});
  EXPECT_EQ(to_vector(read_multiplier(dir_ / "m.bin", std::nullopt, with_signedness(false))),
            to_vector(good));

  // A directory in the way: the rename fails and the temporary file is removed.
  fs::create_directory(dir_ / "taken.axm");
  fs::create_directory(dir_ / "taken.axm" / "inside");
  expect_error([&] { write_multiplier(good, dir_ / "taken.axm"); }, {"taken.axm", "cannot rename"});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);

  // Overwriting with a good table replaces the file.
  const Multiplier other = random_multiplier("other", 8, false, 0, 65535, 13);
  write_multiplier(other, dir_ / "m.bin");
  EXPECT_EQ(to_vector(read_multiplier(dir_ / "m.bin", std::nullopt, with_signedness(false))),
            to_vector(other));
}

}  // namespace
}  // namespace axnn
