// Training, evaluation, calibration and checkpoints on a small synthetic dataset.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/halves.h"
#include "core/error.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "train/train.h"

namespace axnn::train {
namespace {

using ::testing::HasSubstr;

using axnn::test_util::halves;

std::filesystem::path temp(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("axnn_test_" + name + "_" + std::to_string(::getpid()));
}

TEST(Train, LearnsASeparableTaskAndTheCheckpointRoundTrips) {
  const data::Dataset train_set = halves(512, 1), test_set = halves(256, 2);
  const models::InputSpec spec{1, 12, 2};
  auto model = models::make_model("mlp", spec);
  TrainOptions options;
  options.epochs = 3;
  options.batch_size = 32;
  int epochs_seen = 0;
  train(*model, train_set, options,
        [&](const EpochStats& s) { epochs_seen = static_cast<int>(s.epoch); });
  EXPECT_EQ(epochs_seen, 3);
  EXPECT_GT(evaluate(*model, test_set), 0.95);

  // Calibrate with an approximate multiplier on the hidden layer, save, load: same outputs.
  std::vector<nn::ConfigRule> rules(1);
  rules[0].match = "fc2";
  rules[0].config.mult = "exact8s";
  nn::configure_layers(*model, rules);
  calibrate(*model, train_set, 2, 64);
  const at::Tensor before = model->forward(test_set.batch_images(0, 16)).detach();
  const auto path = temp("ckpt.pt");
  save_checkpoint(*model, {"mlp", spec, "halves"}, path);
  CheckpointInfo info;
  const auto loaded = load_checkpoint(path, &info);
  std::filesystem::remove(path);
  EXPECT_EQ(info.model, "mlp");
  EXPECT_EQ(info.layers["fc2"]["mult"], "exact8s");
  EXPECT_EQ(info.layers["fc1"]["mult"], "exact");
  EXPECT_TRUE(at::equal(loaded->forward(test_set.batch_images(0, 16)).detach(), before));
}

TEST(Train, BadCheckpointsNameTheFile) {
  auto message = [](const std::filesystem::path& p) {
    try {
      load_checkpoint(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message(temp("missing.pt")), HasSubstr("not found"));
  const auto junk = temp("junk.pt");
  std::ofstream(junk) << "not a checkpoint";
  EXPECT_THAT(message(junk), HasSubstr(junk.string() + ": cannot be read"));
  std::filesystem::remove(junk);
}

TEST(Train, CalibrationIsRequiredBeforeApproximateEvaluation) {
  const data::Dataset set = halves(64, 3);
  auto model = models::make_model("lenet5", {1, 12, 2});
  nn::configure_layers(*model, nn::rules_for_all("trunc8s_k4"));
  EXPECT_THROW(evaluate(*model, set), Error);
  calibrate(*model, set, 1, 64);
  const double accuracy = evaluate(*model, set);
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);
}

}  // namespace
}  // namespace axnn::train
