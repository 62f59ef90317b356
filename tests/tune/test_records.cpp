#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error_of.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/records.h"

namespace axnn::tune {
namespace {

namespace fs = std::filesystem;
using test_util::error_of;

Record sample(int64_t trial) {
  Record r;
  r.workload_name = "case5";
  r.shape = {1, 56, 56, 64, 64, 3, 3, 1, 1};
  r.target = "cuda";
  r.device = "NVIDIA GeForce RTX 3090";
  r.config = {{"tile_co", 8}, {"tile_ow", 14}};
  r.costs = {2e-3, 1e-3, 3e-3};
  r.trial = trial;
  r.timestamp = 1795000000.5;
  return r;
}

Record failed(int64_t trial) {
  Record r = sample(trial);
  r.costs.clear();
  r.error_code = ErrorCode::kCompileDevice;
  r.error = "kernel.cu(12): error: identifier \"x\" is undefined";
  return r;
}

void expect_same(const Record& a, const Record& b) {
  EXPECT_EQ(a.workload_name, b.workload_name);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.costs, b.costs);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.trial, b.trial);
  EXPECT_EQ(a.timestamp, b.timestamp);
}

TEST(Records, MedianTimeAndGflops) {
  const Record r = sample(0);
  EXPECT_DOUBLE_EQ(r.seconds(), 2e-3);
  // 2 * 1 * 64 * 56 * 56 * 64 * 3 * 3 = 231211008 flops in 2 ms.
  EXPECT_NEAR(r.gflops(), 115.605504, 1e-9);
  Record even = r;
  even.costs = {4e-3, 1e-3, 2e-3, 8e-3};
  EXPECT_DOUBLE_EQ(even.seconds(), 3e-3);
  EXPECT_TRUE(std::isinf(failed(0).seconds()));
  EXPECT_EQ(failed(0).gflops(), 0.0);
}

TEST(Records, ErrorCodeNamesFollowTvm) {
  EXPECT_EQ(error_code_name(ErrorCode::kNone), "none");
  EXPECT_EQ(error_code_name(ErrorCode::kCompileHost), "compile-host");
  EXPECT_EQ(error_code_name(ErrorCode::kWrongAnswer), "wrong-answer");
  EXPECT_EQ(error_code_name(ErrorCode::kRunTimeout), "run-timeout");
  EXPECT_EQ(static_cast<int>(ErrorCode::kUnknown), 8);
}

TEST(Records, JsonRoundTrip) {
  for (const Record& r : {sample(17), failed(3)}) {
    const nlohmann::json json = record_to_json(r);
    EXPECT_EQ(json.at("workload").at("shape"), nlohmann::json::parse("[1,56,56,64,64,3,3,1,1]"));
    EXPECT_EQ(json.at("workload").at("op"), "conv2d");
    expect_same(record_from_json(nlohmann::json::parse(json.dump()), "test"), r);
  }
  Record imported = sample(0);
  imported.origin = "tvm-auto-scheduler";
  imported.config = nlohmann::json::parse(R"([[], [["SP", 3, 0, 1, [1, 1, 1, 1], 1]]])");
  expect_same(record_from_json(record_to_json(imported), "test"), imported);
}

TEST(Records, FieldErrorsNameTheRecordAndField) {
  const nlohmann::json good = record_to_json(sample(0));
  const auto error_with = [&](const char* pointer, const nlohmann::json& value) {
    nlohmann::json json = good;
    json[nlohmann::json::json_pointer(pointer)] = value;
    return error_of([&] { record_from_json(json, "runs.jsonl:4"); });
  };
  const auto error_without = [&](const char* key) {
    nlohmann::json json = good;
    json.erase(key);
    return error_of([&] { record_from_json(json, "runs.jsonl:4"); });
  };
  EXPECT_EQ(error_without("costs"), "runs.jsonl:4: the record has no field \"costs\"");
  EXPECT_EQ(error_with("/version", 2),
            "runs.jsonl:4: field \"version\" is 2; this axnn reads version 1");
  EXPECT_EQ(error_with("/trial", "7"),
            "runs.jsonl:4: field \"trial\" must be an integer, not \"7\"");
  EXPECT_EQ(error_with("/error_code", 9), "runs.jsonl:4: field \"error_code\" is 9, not 0..8");
  EXPECT_EQ(error_with("/costs", nlohmann::json::parse("[0.001, -1]")),
            "runs.jsonl:4: field \"costs\" holds -1, not a positive number of seconds");
  EXPECT_EQ(error_with("/target", "tpu"),
            "runs.jsonl:4: field \"target\": unknown target 'tpu' (known: cpu, cuda)");
  EXPECT_EQ(error_with("/origin", "ansor"),
            "runs.jsonl:4: field \"origin\" is 'ansor', not one of axnn, tvm-auto-scheduler, "
            "tvm-autotvm");
  EXPECT_EQ(error_with("/config", nlohmann::json::array()),
            "runs.jsonl:4: field \"config\" must be an object, not array");
  EXPECT_EQ(error_with("/workload/op", "dense"),
            "runs.jsonl:4: workload op 'dense' with dtype 'float32' is not tuned (conv2d float32, "
            "or lut-conv2d with a multiplier name)");
  EXPECT_EQ(error_with("/workload/dtype", "float16"),
            "runs.jsonl:4: workload op 'conv2d' with dtype 'float16' is not tuned (conv2d "
            "float32, or lut-conv2d with a multiplier name)");
  EXPECT_NE(error_with("/workload/name", "a/b").find("runs.jsonl:4: field \"workload.name\""),
            std::string::npos);
  EXPECT_NE(error_with("/workload/shape", nlohmann::json::parse("[1,56,56,64,64,3,3,1]"))
                .find("runs.jsonl:4: field \"workload.shape\": a Conv2D shape has 9 numbers"),
            std::string::npos);
  EXPECT_EQ(error_with("/error_code", 4),
            "runs.jsonl:4: field \"costs\" must be non-empty exactly when \"error_code\" is 0 (it "
            "is 4 with 3 costs)");
}

TEST(Records, AppendAndLoad) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "records" / "case5.jsonl";
  EXPECT_TRUE(load_records(file).empty());  // a missing file has no records
  const std::vector<Record> written = {sample(0), failed(1), sample(2)};
  for (const Record& r : written) append_record(file, r);
  const std::vector<Record> loaded = load_records(file);
  ASSERT_EQ(loaded.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) expect_same(loaded[i], written[i]);
}

TEST(Records, AppendRefusesARecordItCouldNotLoad) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "case5.jsonl";
  append_record(file, sample(0));
  Record bad = sample(1);
  bad.workload_name = "../escape";
  EXPECT_NE(error_of([&] { append_record(file, bad); }).find("field \"workload.name\""),
            std::string::npos);
  EXPECT_EQ(load_records(file).size(), 1u);
}

TEST(Records, TruncatedLastLineIsSkippedThenRepairedByAppend) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "case5.jsonl";
  const std::string first = record_to_json(sample(0)).dump();
  const std::string second = record_to_json(sample(1)).dump();
  write_text_file(file, first + "\n" + second.substr(0, 50));
  ASSERT_EQ(load_records(file).size(), 1u);
  append_record(file, sample(2));
  EXPECT_EQ(read_text_file(file), first + "\n" + record_to_json(sample(2)).dump() + "\n");
  const std::vector<Record> loaded = load_records(file);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[1].trial, 2);
}

TEST(Records, WholeLastLineWithoutNewlineIsKept) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "case5.jsonl";
  write_text_file(file, record_to_json(sample(0)).dump());  // hand-written, no final newline
  ASSERT_EQ(load_records(file).size(), 1u);
  append_record(file, sample(1));
  EXPECT_EQ(load_records(file).size(), 2u);
}

TEST(Records, MalformedLinesAreErrorsNamingFileAndLine) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "case5.jsonl";
  const std::string line = record_to_json(sample(0)).dump();
  // A broken line in the middle, and a broken last line that ends with a newline (not torn).
  write_text_file(file, line + "\n\n{\"version\": 1,\n" + line + "\n");
  EXPECT_EQ(error_of([&] { load_records(file); }),
            file.string() + ":3: not a JSON line; the records file is damaged");
  write_text_file(file, line + "\n" + line.substr(0, 40) + "\n");
  EXPECT_EQ(error_of([&] { load_records(file); }),
            file.string() + ":2: not a JSON line; the records file is damaged");
  nlohmann::json json = record_to_json(sample(0));
  json.erase("trial");
  write_text_file(file, line + "\n" + json.dump() + "\n");
  EXPECT_EQ(error_of([&] { load_records(file); }),
            file.string() + ":2: the record has no field \"trial\"");
}

TEST(Records, WriteRecordsReplacesTheFile) {
  const TempDir dir("axnn_records");
  const fs::path file = dir.path() / "selected" / "case5.jsonl";
  write_records(file, {sample(0), sample(1), sample(2)});
  write_records(file, {failed(4)});
  const std::vector<Record> loaded = load_records(file);
  ASSERT_EQ(loaded.size(), 1u);
  expect_same(loaded[0], failed(4));
  // Nothing but the file is left in its folder (no temporary file).
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(file.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Records, DirectoryLayout) {
  const TempDir dir("axnn_records");
  EXPECT_EQ(records_file(dir.path(), "case5"), dir.path() / "records" / "case5.jsonl");
  EXPECT_EQ(selected_file(dir.path(), "case5"), dir.path() / "selected" / "case5.jsonl");
  EXPECT_NE(error_of([&] { records_file(dir.path(), "../case5"); }).find("workload name"),
            std::string::npos);
  EXPECT_TRUE(list_workloads(dir.path(), "records", ".jsonl").empty());  // no folder yet
  fs::create_directories(dir.path() / "records");
  for (const char* name : {"case7.jsonl", "case10.jsonl", "case1.jsonl", "notes.txt"})
    write_text_file(dir.path() / "records" / name, "");
  const std::vector<std::string> expected = {"case1", "case10", "case7"};
  EXPECT_EQ(list_workloads(dir.path(), "records", ".jsonl"), expected);
  EXPECT_EQ(list_workloads(dir.path(), "records", "jsonl"), expected);
}

}  // namespace
}  // namespace axnn::tune
