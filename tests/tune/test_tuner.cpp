#include <gtest/gtest.h>

#include <set>

#include "common/error_of.h"
#include "core/subprocess.h"
#include "tune/cpu_backend.h"
#include "tune/tuner.h"

namespace axnn::tune {
namespace {

TuneOptions quick(int trials) {
  TuneOptions o;
  o.trials = trials;
  o.batch = 6;
  o.threads = 1;
  o.timing = {0, 1, 1, 0};  // one timed run: these tests check the bookkeeping, not speed
  return o;
}

class Tuner : public ::testing::Test {
 protected:
  TempDir dir_{"axnn-test-tuner"};
  std::unique_ptr<Backend> backend_ = make_cpu_backend();
  NamedConv2d workload_{"small", parse_conv2d_shape("1,8,8,16,8,3,3,1,1", "test")};
  std::filesystem::path file_ = dir_.path() / "records.jsonl";

  TuneOptions options(int trials) {
    TuneOptions o = quick(trials);
    o.build.cache_dir = dir_.path() / "cache";
    return o;
  }
};

TEST_F(Tuner, RecordsEveryTrialAndResumes) {
  const TuneSummary first = tune_conv2d(*backend_, workload_, options(14), file_);
  EXPECT_EQ(first.trials, 14);
  EXPECT_EQ(first.new_trials, 14);
  ASSERT_TRUE(first.best);
  std::vector<Record> records = load_records(file_);
  ASSERT_EQ(records.size(), 14u);
  std::set<std::string> configs;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].trial, static_cast<int64_t>(i));
    EXPECT_EQ(records[i].workload_name, "small");
    EXPECT_TRUE(records[i].ok()) << records[i].error;
    configs.insert(records[i].config.dump());
  }
  EXPECT_EQ(configs.size(), 14u);  // never the same configuration twice

  // Resuming: 6 more trials, none repeated, numbered on.
  const TuneSummary second = tune_conv2d(*backend_, workload_, options(20), file_);
  EXPECT_EQ(second.trials, 20);
  EXPECT_EQ(second.new_trials, 6);
  records = load_records(file_);
  ASSERT_EQ(records.size(), 20u);
  for (size_t i = 14; i < 20; ++i) {
    EXPECT_EQ(records[i].trial, static_cast<int64_t>(i));
    EXPECT_TRUE(configs.insert(records[i].config.dump()).second);
  }
  // Asking for no more than there is measures nothing.
  EXPECT_EQ(tune_conv2d(*backend_, workload_, options(20), file_).new_trials, 0);
}

TEST_F(Tuner, TheSameSeedProposesTheSameFirstRound) {
  TuneOptions o = options(6);
  tune_conv2d(*backend_, workload_, o, file_);
  const auto other = dir_.path() / "again.jsonl";
  tune_conv2d(*backend_, workload_, o, other);
  const std::vector<Record> a = load_records(file_), b = load_records(other);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].config, b[i].config);
}

TEST_F(Tuner, EarlyStoppingEndsARunWithoutProgress) {
  TuneOptions o = options(60);
  o.early_stopping = 1;  // the first round that finds nothing faster ends the run
  const TuneSummary s = tune_conv2d(*backend_, workload_, o, file_);
  EXPECT_LT(s.trials, 60);
  EXPECT_TRUE(s.early_stopped);
}

TEST_F(Tuner, RecordsOfAnotherShapeUnderTheSameNameAreRefused) {
  tune_conv2d(*backend_, workload_, options(2), file_);
  const NamedConv2d other{"small", parse_conv2d_shape("1,8,8,16,4,3,3,1,1", "test")};
  EXPECT_NE(test_util::error_of([&] { tune_conv2d(*backend_, other, options(4), file_); })
                .find("holds records of conv2d float32 1,8,8,16,8,3,3,1,1 for workload 'small'"),
            std::string::npos);
}

TEST_F(Tuner, ATinySpaceIsExhaustedNotLooped) {
  // 1x1 output channel plane with one input channel: very few configurations exist.
  const NamedConv2d tiny{"tiny", parse_conv2d_shape("1,1,1,4,1,1,1,1,0", "test")};
  const TuneSummary s = tune_conv2d(*backend_, tiny, options(500), file_);
  EXPECT_TRUE(s.space_exhausted);
  EXPECT_LT(s.trials, 500);
  EXPECT_EQ(s.failed, 0);
}

}  // namespace
}  // namespace axnn::tune
