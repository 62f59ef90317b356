#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/registry.h"

namespace axnn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Registry, BuiltinNamesCallTheGenerators) {
  const std::vector<std::pair<std::string, Multiplier>> cases = {
      {"exact8s", make_exact(8, true)},
      {"exact4u", make_exact(4, false)},
      {"trunc8s_k4", make_truncated(8, true, 4)},
      {"trunc8u_k6", make_truncated(8, false, 6)},
      {"drum8u_k4", make_drum(8, false, 4)},
      {"bam8u_h2_v4", make_bam(8, false, 2, 4)},
      {"mitchell8s", make_mitchell(8, true)},
      {"cols3u_00111", make_columns(3, false, {false, false, true, true, true})},
  };
  for (const auto& [name, want] : cases) {
    SCOPED_TRACE(name);
    const auto got = make_builtin(name);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->name(), name);
    EXPECT_EQ(got->bits(), want.bits());
    EXPECT_EQ(got->is_signed(), want.is_signed());
    EXPECT_EQ(table(*got), table(want));
    EXPECT_EQ(got->meta().source, want.meta().source);
  }
}

TEST(Registry, ColumnFlagsLeftOutAtTheTopAreKept) {
  const auto short_form = make_builtin("cols8s_0000");
  ASSERT_TRUE(short_form.has_value());
  EXPECT_EQ(short_form->name(), "cols8s_000011111111111");
  EXPECT_EQ(table(*short_form), table(make_truncated(8, true, 4)));
}

TEST(Registry, NamesOutsideTheGrammarAreNotBuiltins) {
  for (const char* name : {"foo", "exact8x", "exact8s_k1", "trunc8s", "trunc8s_k", "cols8u_012",
                           "Exact8s", "mul8s_1L2H", "bam8u_h2", "drum8u_k4_", "exact8s.axm"}) {
    EXPECT_FALSE(make_builtin(name).has_value()) << name;
  }
}

TEST(Registry, LeadingZerosAreRejectedNamingTheCanonicalName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"exact08s", "exact8s"},        {"mitchell04u", "mitchell4u"},
      {"trunc8s_k04", "trunc8s_k4"},  {"trunc08s_k4", "trunc8s_k4"},
      {"drum8u_k00", "drum8u_k0"},    {"bam8u_h02_v004", "bam8u_h2_v4"},
      {"cols04u_0011", "cols4u_0011"}};
  for (const auto& [name, canonical] : cases) {
    const std::string e = error_of([&] { make_builtin(name); });
    EXPECT_THAT(e, HasSubstr("multiplier '" + name + "'")) << name;
    EXPECT_THAT(e, HasSubstr("write '" + canonical + "'")) << name;
  }
  // A lone zero is canonical.
  ASSERT_TRUE(make_builtin("trunc8s_k0").has_value());
  EXPECT_EQ(make_builtin("trunc8s_k0")->name(), "trunc8s_k0");
}

TEST(Registry, BadParametersNameTheMultiplierAndTheValue) {
  EXPECT_THAT(error_of([] { make_builtin("trunc8u_k16"); }), HasSubstr("trunc8u_k16"));
  EXPECT_THAT(error_of([] { make_builtin("trunc8u_k16"); }), HasSubstr("k = 16"));
  EXPECT_THAT(error_of([] { make_builtin("exact9s"); }), HasSubstr("bits = 9"));
  EXPECT_THAT(error_of([] { make_builtin("bam4s_h5_v0"); }), HasSubstr("hbl = 5"));
  EXPECT_THAT(error_of([] { make_builtin("cols2u_00000"); }), HasSubstr("5 given"));
  EXPECT_THAT(error_of([] { make_builtin("drum8s_k999"); }), HasSubstr("k = 999"));
}

TEST(Registry, CuratedNamesAreCanonicalAndCoverWidths8And4) {
  const auto names = curated_builtin_names();
  for (const char* want :
       {"exact8s", "exact8u", "exact4s", "exact4u", "mitchell8s", "trunc8s_k4"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const auto& name : names) {
    const auto m = make_builtin(name);
    ASSERT_TRUE(m.has_value()) << name;
    EXPECT_EQ(m->name(), name);
  }
}

TEST(Registry, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0);
  EXPECT_EQ(edit_distance("abc", ""), 3);
  EXPECT_EQ(edit_distance("exact8s", "exact8s"), 0);
  EXPECT_EQ(edit_distance("exct8s", "exact8s"), 1);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
}

// Saves the variables the registry reads and restores them after each test, even one that stops
// at a failed ASSERT.
class RegistryFiles : public ::testing::Test {
 protected:
  static constexpr const char* kVariables[] = {"AXNN_MULT_PATH", "XDG_DATA_HOME", "HOME"};

  void SetUp() override {
    for (const char* name : kVariables) {
      const char* value = std::getenv(name);
      saved_env_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
    }
    root_ =
        fs::temp_directory_path() /
        ("axnn_test_registry_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "a");
    fs::create_directories(root_ / "b");
  }
  void TearDown() override {
    fs::remove_all(root_);
    for (const auto& [name, value] : saved_env_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

  // Writes m as root_/dir/stem.axm under the internal name `name`.
  fs::path put(const std::string& dir, const std::string& stem, Multiplier m,
               const std::string& name) {
    m.set_name(name);
    const fs::path path = root_ / dir / (stem + ".axm");
    write_multiplier(m, path);
    return path;
  }

  fs::path root_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_env_;
};

TEST_F(RegistryFiles, FindsFilesByStemInternalNameAndPath) {
  const fs::path path = put("a", "my_trunc", make_truncated(4, false, 2), "internal_trunc");
  const MultiplierRegistry registry({root_ / "a", root_ / "missing"});
  ASSERT_EQ(registry.files().size(), 1u);
  EXPECT_EQ(registry.files()[0].stem, "my_trunc");
  const auto want = table(make_truncated(4, false, 2));
  EXPECT_EQ(table(registry.get("my_trunc")), want);
  EXPECT_EQ(table(registry.get("internal_trunc")), want);
  EXPECT_EQ(table(registry.get(path.string())), want);
  EXPECT_EQ(registry.get("internal_trunc").name(), "internal_trunc");
}

TEST_F(RegistryFiles, FirstFolderWinsAndBuiltinsComeFirst) {
  put("a", "dup", make_exact(4, true), "dup_a");
  put("b", "dup", make_mitchell(4, true), "dup_b");
  put("b", "exact4s", make_mitchell(4, true), "exact4s");
  const MultiplierRegistry registry({root_ / "a", root_ / "b"});
  EXPECT_EQ(registry.get("dup").name(), "dup_a");
  EXPECT_EQ(registry.get("dup_b").name(), "dup_b");
  EXPECT_EQ(table(registry.get("exact4s")), table(make_exact(4, true)));
}

TEST_F(RegistryFiles, UnknownNamesListTheClosest) {
  put("a", "evo_mul8u_17KS", make_drum(8, false, 4), "mul8u_17KS");
  const MultiplierRegistry registry({root_ / "a"});
  const std::string e1 = error_of([&] { registry.get("exct8s"); });
  EXPECT_THAT(e1, HasSubstr("unknown multiplier 'exct8s'"));
  EXPECT_THAT(e1, HasSubstr("exact8s"));
  EXPECT_THAT(e1, HasSubstr("trunc<b><s|u>_k<k>"));
  const std::string e2 = error_of([&] { registry.get("evo_mul8u_17K"); });
  EXPECT_THAT(e2, HasSubstr("closest known names: evo_mul8u_17KS"));
  EXPECT_THAT(error_of([&] { registry.get("no/such/file.axm"); }), HasSubstr("no/such/file.axm"));
}

TEST_F(RegistryFiles, EnvironmentPathThenUserFolder) {
  put("a", "from_path", make_exact(3, false), "from_path");
  fs::create_directories(root_ / "xdg" / "axnn" / "multipliers");
  write_multiplier(make_exact(3, true), root_ / "xdg" / "axnn" / "multipliers" / "from_user.axm");
  const std::string mult_path = (root_ / "missing").string() + ":" + (root_ / "a").string();
  ASSERT_EQ(setenv("AXNN_MULT_PATH", mult_path.c_str(), 1), 0);
  ASSERT_EQ(setenv("XDG_DATA_HOME", (root_ / "xdg").c_str(), 1), 0);
  const MultiplierRegistry registry = MultiplierRegistry::from_environment();
  ASSERT_EQ(registry.search_dirs().size(), 3u);
  EXPECT_EQ(registry.search_dirs()[2], root_ / "xdg" / "axnn" / "multipliers");
  ASSERT_EQ(registry.files().size(), 2u);
  EXPECT_EQ(registry.files()[0].stem, "from_path");
  EXPECT_EQ(registry.files()[1].stem, "from_user");
  EXPECT_TRUE(get_multiplier("from_user").is_signed());
  ASSERT_EQ(unsetenv("XDG_DATA_HOME"), 0);
  ASSERT_EQ(setenv("HOME", "/nonexistent_home", 1), 0);
  EXPECT_EQ(MultiplierRegistry::user_dir(),
            fs::path("/nonexistent_home/.local/share/axnn/multipliers"));
  ASSERT_EQ(unsetenv("HOME"), 0);
  EXPECT_EQ(MultiplierRegistry::user_dir(), std::nullopt);
}

TEST_F(RegistryFiles, AxmExtensionInAnyCase) {
  put("a", "lower", make_exact(3, false), "lower");
  write_multiplier(make_exact(3, true), root_ / "a" / "UPPER.AXM", MultFormat::kAxm);
  write_multiplier(make_exact(3, true), root_ / "a" / "Mixed.Axm", MultFormat::kAxm);
  write_multiplier(make_exact(3, true), root_ / "a" / "other.csv");
  const MultiplierRegistry registry({root_ / "a"});
  std::vector<std::string> stems;
  for (const auto& file : registry.files()) stems.push_back(file.stem);
  EXPECT_EQ(stems, (std::vector<std::string>{"Mixed", "UPPER", "lower"}));
  EXPECT_TRUE(registry.get("UPPER").is_signed());
}

TEST_F(RegistryFiles, HelpTextsAreTheRegistrysOwn) {
  const std::string grammar(builtin_grammar_help());
  for (const char* piece :
       {"exact<b><s|u>", "trunc<b><s|u>_k<k>", "bam<b><s|u>_h<hbl>_v<vbl>", "drum<b><s|u>_k<k>",
        "mitchell<b><s|u>", "cols<b><s|u>_<flags>", "0..2b-1", "leading zeros"}) {
    EXPECT_THAT(grammar, HasSubstr(piece));
  }
  EXPECT_THAT(lookup_help(), HasSubstr("AXNN_MULT_PATH"));
  EXPECT_THAT(lookup_help(), HasSubstr(formats_help()));
  const MultiplierRegistry registry({root_ / "a"});
  EXPECT_THAT(error_of([&] { registry.get("nothing_like_it"); }), HasSubstr(grammar));
  EXPECT_THAT(error_of([&] { registry.get(""); }), HasSubstr(grammar));
}

}  // namespace
}  // namespace axnn
