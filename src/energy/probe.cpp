// The null probe, the choice of probe by target, and the probe's description.
#include "energy/probe.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/log.h"

namespace axnn::energy {
namespace {

class NullProbe final : public EnergyProbe {
 public:
  explicit NullProbe(std::string reason) : reason_(std::move(reason)) {
    if (reason_.empty()) reason_ = "no energy probe";
  }
  std::string name() const override { return "null"; }
  std::string device() const override { return ""; }
  std::string unavailable_reason() const override { return reason_; }
  bool has_energy_counter() const override { return false; }
  double energy_joules() override {
    AXNN_CHECK(false, "energy not available: {}", reason_);
    return 0;
  }
  std::optional<double> power_watts() override { return std::nullopt; }
  PowerLimits power_limits() override { return {}; }
  void set_power_limit(double watts) override {
    AXNN_CHECK(false, "cannot set a power limit of {} W: energy probe not available: {}", watts,
               reason_);
  }
  bool set_power_limit_from_signal(double) noexcept override { return false; }

 private:
  std::string reason_;
};

std::string watts_text(const std::optional<double>& watts) {
  return watts ? fmt::format("{:g} W", *watts) : "not reported";
}

}  // namespace

std::unique_ptr<EnergyProbe> make_null_probe(std::string reason) {
  return std::make_unique<NullProbe>(std::move(reason));
}

std::unique_ptr<EnergyProbe> make_probe(tune::Target target) {
  std::unique_ptr<EnergyProbe> probe =
      target == tune::Target::kCuda ? make_nvml_probe() : make_rapl_probe();
  if (probe->available()) return probe;
  const std::string reason = fmt::format("{}: {}", probe->name(), probe->unavailable_reason());
  log().info("energy probe for {}: {}", tune::target_name(target), reason);
  return make_null_probe(reason);
}

std::string describe_probe(EnergyProbe& probe) {
  std::string text = fmt::format("probe: {}\n", probe.name());
  if (!probe.available())
    return text + fmt::format("available: no: {}\n", probe.unavailable_reason());
  text += fmt::format("device: {}\navailable: yes\n", probe.device());
  text += probe.has_energy_counter()
              ? fmt::format("energy counter: yes ({:.3f} J now)\n", probe.energy_joules())
              : "energy counter: no (energy is integrated from sampled power)\n";
  text += fmt::format("power: {}\n", watts_text(probe.power_watts()));
  const PowerLimits limits = probe.power_limits();
  text +=
      fmt::format("power limit: {} (default {}, min {}, max {})\n", watts_text(limits.current),
                  watts_text(limits.default_limit), watts_text(limits.min), watts_text(limits.max));
  return text;
}

}  // namespace axnn::energy
