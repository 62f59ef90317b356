#include "bench/model_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <optional>

#include "core/error.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "train/train.h"

namespace axnn::bench {

ModelBenchResult run_model_bench(const ModelBenchOptions& options) {
  AXNN_CHECK(options.batch >= 1, "--batch must be >= 1, got {}", options.batch);
  AXNN_CHECK(options.threads >= 1, "--threads must be >= 1, got {}", options.threads);
  check_timing_options(options.timing);
  at::set_num_threads(options.threads);
  torch::manual_seed(options.seed);

  train::CheckpointInfo info;
  std::shared_ptr<models::Model> model;
  if (options.checkpoint.empty()) {
    model = models::make_model(options.model, options.spec);
    info.spec = options.spec;
  } else {
    model = train::load_checkpoint(options.checkpoint, &info);
  }
  model->eval();
  model->to(options.device);
  torch::NoGradGuard no_grad;
  const at::Tensor images =
      torch::randn({options.batch, info.spec.channels, info.spec.image_size, info.spec.image_size})
          .to(options.device);
  // A GPU runs the forward pass asynchronously: a timed run ends when the device is done.
  const auto forward = [&] {
    model->forward(images);
    if (options.device.is_cuda()) torch::cuda::synchronize(options.device.index());
  };

  ModelBenchResult result;
  result.model = std::string(model->model_name());
  result.mult = options.mult;
  result.batch = options.batch;
  result.threads = options.threads;
  result.device = options.device.str();

  nn::configure_layers(*model, nn::rules_for_all("exact"));
  result.fp32 = measure(forward, options.timing);

  nn::configure_layers(*model, nn::rules_for_all(options.mult));
  if (options.checkpoint.empty()) {
    // Random weights have no calibration: take it from the benchmark batch.
    nn::set_calibrating(*model, true);
    model->forward(images);
    nn::set_calibrating(*model, false);
  }
  result.approx = measure(forward, options.timing);

  const std::optional<double> power = nn::network_relative_power(*model);
  result.relative_power = power.value_or(-1);
  for (const auto& layer : nn::layer_table(*model))
    result.macs_per_image += static_cast<double>(layer.macs_per_sample);
  return result;
}

nlohmann::ordered_json to_json(const ModelBenchResult& r) {
  const auto timing = [&](const Timing& t) {
    return nlohmann::ordered_json{{"images_per_s", r.images_per_second(t)},
                                  {"images_per_s_median", r.batch / t.median},
                                  {"seconds_min", t.min},
                                  {"seconds_median", t.median},
                                  {"runs", t.samples.size()}};
  };
  return {{"model", r.model},
          {"mult", r.mult},
          {"batch", r.batch},
          {"threads", r.threads},
          {"device", r.device},
          {"macs_per_image", r.macs_per_image},
          {"relative_power", r.relative_power < 0 ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(r.relative_power)},
          {"approx", timing(r.approx)},
          {"fp32", timing(r.fp32)},
          {"slowdown", r.slowdown()},
          {"slowdown_median", r.slowdown_median()}};
}

std::string format_model_bench(const ModelBenchResult& r) {
  return fmt::format(
      "{} batch {} on {}, {:.1f} M MACs/image\n"
      "  approximate int8 ({}): {:9.1f} images/s (median {:.1f})\n"
      "  LibTorch fp32:{:>{}} {:9.1f} images/s (median {:.1f})\n"
      "  approximate / fp32 time: {:.2f}x (median {:.2f}x; target <= {})\n",
      r.model, r.batch, r.device == "cpu" ? fmt::format("{} thread(s)", r.threads) : r.device,
      r.macs_per_image * 1e-6, r.mult, r.images_per_second(r.approx), r.batch / r.approx.median, "",
      r.mult.size() + 7, r.images_per_second(r.fp32), r.batch / r.fp32.median, r.slowdown(),
      r.slowdown_median(), r.device == "cpu" ? "1.5x" : "3x");
}

}  // namespace axnn::bench
