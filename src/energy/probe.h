// Energy probes: what a device can tell about its energy use and power limits, behind one
// interface. NVML for NVIDIA GPUs (opened with dlopen, so nothing of CUDA is needed to build),
// Linux powercap RAPL for CPU packages, and a null probe that says why nothing can be read.
// A probe reads; only set_power_limit changes anything, and only PowerCapGuard calls it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tune/workload.h"

namespace axnn::energy {

// Watts; a field is empty where the device does not report it.
struct PowerLimits {
  std::optional<double> current, default_limit, min, max;
};

class EnergyProbe {
 public:
  virtual ~EnergyProbe() = default;
  virtual std::string name() const = 0;    // "nvml", "rapl", "null"
  virtual std::string device() const = 0;  // GPU name, RAPL domains; empty for null
  // Empty when the probe can be used, else why not (which library, file or call failed).
  virtual std::string unavailable_reason() const = 0;
  bool available() const { return unavailable_reason().empty(); }

  // True if the device has a cumulative energy counter; otherwise energy comes from sampling
  // power_watts().
  virtual bool has_energy_counter() const = 0;
  // The counter in joules since an arbitrary origin, never decreasing (wraparound handled);
  // throws axnn::Error if there is no counter or a read fails.
  virtual double energy_joules() = 0;
  // Instantaneous (driver-averaged) power draw, empty if not reported.
  virtual std::optional<double> power_watts() = 0;
  virtual PowerLimits power_limits() = 0;
  // Throws axnn::Error naming the device and the cause (not supported, no permission, outside
  // the constraints). Machine-wide: call it through PowerCapGuard, which restores the limit.
  virtual void set_power_limit(double watts) = 0;
  // The same without throwing or allocating, for a signal handler; false if it failed.
  virtual bool set_power_limit_from_signal(double watts) noexcept = 0;
};

// NVML's shared library: `library` if given, else $AXNN_NVML_LIBRARY, else "libnvidia-ml.so.1".
// Never throws: a probe that cannot be used reports why.
std::unique_ptr<EnergyProbe> make_nvml_probe(const std::string& library = "",
                                             unsigned device_index = 0);
// The powercap tree: `root` if given, else $AXNN_POWERCAP_ROOT, else /sys/class/powercap. Sums
// the package domains intel-rapl:N. Never throws.
std::unique_ptr<EnergyProbe> make_rapl_probe(const std::filesystem::path& root = {});
std::unique_ptr<EnergyProbe> make_null_probe(std::string reason);

// cuda -> NVML, cpu -> RAPL; either falls back to the null probe carrying the reason.
std::unique_ptr<EnergyProbe> make_probe(tune::Target target);

// One line per fact (name, device, availability, counter, power, limits) for `axnn energy probe`.
std::string describe_probe(EnergyProbe& probe);

}  // namespace axnn::energy
