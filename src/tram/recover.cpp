#include "tram/recover.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "nn/ax_layers.h"

namespace axnn::tram {

std::vector<nn::ConfigRule> mapped_rules(const std::filesystem::path& map_dir) {
  const auto per_layer = map_dir / "layers.yaml";
  if (std::filesystem::exists(per_layer)) return nn::load_config_rules(per_layer);
  const auto summary = map_dir / "mapping.json";
  AXNN_CHECK(std::filesystem::exists(summary),
             "{}: no mapping.json or layers.yaml (run axnn tram map first)", map_dir.string());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(read_text_file(summary));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("{}: not JSON: {}", summary.string(), e.what()));
  }
  AXNN_CHECK(
      json.contains("files") && json["files"].contains("axm") && json["files"]["axm"].is_string(),
      "{}: no \"files\": {{\"axm\": ...}} naming the mapped multiplier", summary.string());
  std::filesystem::path axm = json["files"]["axm"].get<std::string>();
  // A relative name is the map folder's file, wherever the folder has moved since.
  if (axm.is_relative()) axm = map_dir / axm.filename();
  return nn::rules_for_all(axm.string());
}

Recovery recover(models::Model& model, const std::vector<nn::ConfigRule>& rules,
                 const data::Dataset& train_set, const data::Dataset& test_set,
                 const train::TrainOptions& options,
                 const std::function<void(const train::EpochStats&)>& on_epoch) {
  const auto start = std::chrono::steady_clock::now();
  nn::configure_layers(model, rules);
  Recovery r;
  r.mapped_top1_pct = 100 * train::evaluate(model, test_set);
  const std::optional<double> power = nn::network_relative_power(model);
  AXNN_CHECK(power.has_value(),
             "TRAM recover: a mapped multiplier has no relative power (was it costed?)");
  r.relative_power = *power;
  train::train(model, train_set, options, on_epoch);
  r.recovered_top1_pct = 100 * train::evaluate(model, test_set);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace axnn::tram
