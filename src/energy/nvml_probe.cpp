// The NVML probe. The library is opened with dlopen and the few entry points used are declared
// here, so building needs no CUDA or NVML headers and a machine without a GPU still runs axnn.
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "energy/probe.h"

namespace axnn::energy {
namespace {

// From nvml.h (stable C ABI): return codes used here and the opaque device handle.
using NvmlReturn = int;
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlNotSupported = 3;
constexpr NvmlReturn kNvmlNoPermission = 4;
constexpr unsigned kNvmlNameLength = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

struct NvmlApi {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  NvmlReturn (*handle_by_index)(unsigned, NvmlDevice*);
  NvmlReturn (*name)(NvmlDevice, char*, unsigned);
  NvmlReturn (*total_energy)(NvmlDevice, unsigned long long*);  // mJ
  NvmlReturn (*power_usage)(NvmlDevice, unsigned*);             // mW
  NvmlReturn (*limit)(NvmlDevice, unsigned*);                   // mW
  NvmlReturn (*default_limit)(NvmlDevice, unsigned*);
  NvmlReturn (*limit_constraints)(NvmlDevice, unsigned*, unsigned*);
  NvmlReturn (*set_limit)(NvmlDevice, unsigned);
  const char* (*error_string)(NvmlReturn);
};

class NvmlProbe final : public EnergyProbe {
 public:
  NvmlProbe(const std::string& library, unsigned index) : library_(library), index_(index) {
    open();
  }
  ~NvmlProbe() override {
    if (initialized_) api_.shutdown();
    if (handle_ != nullptr) dlclose(handle_);
  }

  std::string name() const override { return "nvml"; }
  std::string device() const override { return device_name_; }
  std::string unavailable_reason() const override { return reason_; }
  bool has_energy_counter() const override { return has_counter_; }

  double energy_joules() override {
    require_available();
    AXNN_CHECK(has_counter_, "GPU {} ({}) has no NVML energy counter", index_, device_name_);
    unsigned long long mj = 0;
    check(api_.total_energy(device_, &mj), "nvmlDeviceGetTotalEnergyConsumption");
    return static_cast<double>(mj) * 1e-3;
  }

  std::optional<double> power_watts() override {
    require_available();
    unsigned mw = 0;
    if (api_.power_usage(device_, &mw) != kNvmlSuccess) return std::nullopt;
    return mw * 1e-3;
  }

  PowerLimits power_limits() override {
    require_available();
    PowerLimits limits;
    unsigned mw = 0, max_mw = 0;
    if (api_.limit(device_, &mw) == kNvmlSuccess) limits.current = mw * 1e-3;
    if (api_.default_limit(device_, &mw) == kNvmlSuccess) limits.default_limit = mw * 1e-3;
    if (api_.limit_constraints(device_, &mw, &max_mw) == kNvmlSuccess) {
      limits.min = mw * 1e-3;
      limits.max = max_mw * 1e-3;
    }
    return limits;
  }

  void set_power_limit(double watts) override {
    require_available();
    const NvmlReturn rc = api_.set_limit(device_, to_milliwatts(watts));
    AXNN_CHECK(rc != kNvmlNoPermission,
               "setting the power limit of GPU {} ({}) to {} W is not permitted (NVML: {}): it "
               "needs root; run as root or leave out --set-power-caps",
               index_, device_name_, watts, error_string(rc));
    AXNN_CHECK(rc != kNvmlNotSupported,
               "GPU {} ({}) does not support setting its power limit (NVML: {})", index_,
               device_name_, error_string(rc));
    check(rc, fmt::format("nvmlDeviceSetPowerManagementLimit({} W)", watts));
  }

  bool set_power_limit_from_signal(double watts) noexcept override {
    return reason_.empty() && api_.set_limit(device_, to_milliwatts(watts)) == kNvmlSuccess;
  }

 private:
  static unsigned to_milliwatts(double watts) {
    return static_cast<unsigned>(watts * 1000.0 + 0.5);
  }

  void open() {
    handle_ = dlopen(library_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* why = dlerror();
      reason_ = fmt::format("cannot open the NVML library {} ({}); is an NVIDIA driver installed?",
                            library_, why != nullptr ? why : "unknown error");
      return;
    }
    // The versioned names are what nvml.h maps the plain ones to.
    const bool found =
        bind(api_.init, "nvmlInit_v2") && bind(api_.shutdown, "nvmlShutdown") &&
        bind(api_.handle_by_index, "nvmlDeviceGetHandleByIndex_v2") &&
        bind(api_.name, "nvmlDeviceGetName") &&
        bind(api_.total_energy, "nvmlDeviceGetTotalEnergyConsumption") &&
        bind(api_.power_usage, "nvmlDeviceGetPowerUsage") &&
        bind(api_.limit, "nvmlDeviceGetPowerManagementLimit") &&
        bind(api_.default_limit, "nvmlDeviceGetPowerManagementDefaultLimit") &&
        bind(api_.limit_constraints, "nvmlDeviceGetPowerManagementLimitConstraints") &&
        bind(api_.set_limit, "nvmlDeviceSetPowerManagementLimit") &&
        bind(api_.error_string, "nvmlErrorString");
    if (!found) return;
    NvmlReturn rc = api_.init();
    if (rc != kNvmlSuccess) {
      reason_ = fmt::format("nvmlInit_v2 failed: {}", error_string(rc));
      return;
    }
    initialized_ = true;
    rc = api_.handle_by_index(index_, &device_);
    if (rc != kNvmlSuccess) {
      reason_ =
          fmt::format("no GPU {} (nvmlDeviceGetHandleByIndex_v2: {})", index_, error_string(rc));
      return;
    }
    char name[kNvmlNameLength] = {};
    device_name_ = api_.name(device_, name, kNvmlNameLength) == kNvmlSuccess
                       ? std::string(name)
                       : fmt::format("GPU {}", index_);
    // Volta and later count energy; older GPUs only report power, which is then sampled.
    unsigned long long mj = 0;
    has_counter_ = api_.total_energy(device_, &mj) == kNvmlSuccess;
    log().info("nvml: {} ({}), energy counter {}", device_name_, library_,
               has_counter_ ? "present" : "absent");
  }

  template <typename F>
  bool bind(F& function, const char* symbol) {
    function = reinterpret_cast<F>(dlsym(handle_, symbol));
    if (function == nullptr)
      reason_ = fmt::format("the NVML library {} has no {} (driver too old?)", library_, symbol);
    return function != nullptr;
  }

  std::string error_string(NvmlReturn rc) const {
    const char* text = api_.error_string != nullptr ? api_.error_string(rc) : nullptr;
    return fmt::format("{} (code {})", text != nullptr ? text : "unknown error", rc);
  }

  void check(NvmlReturn rc, std::string_view call) const {
    AXNN_CHECK(rc == kNvmlSuccess, "{} on GPU {} ({}) failed: {}", call, index_, device_name_,
               error_string(rc));
  }

  void require_available() const { AXNN_CHECK(reason_.empty(), "NVML not available: {}", reason_); }

  std::string library_;
  unsigned index_;
  void* handle_ = nullptr;
  NvmlApi api_{};
  bool initialized_ = false;
  NvmlDevice device_ = nullptr;
  std::string device_name_;
  std::string reason_;
  bool has_counter_ = false;
};

}  // namespace

std::unique_ptr<EnergyProbe> make_nvml_probe(const std::string& library, unsigned device_index) {
  std::string path = library;
  if (path.empty()) {
    const char* env = std::getenv("AXNN_NVML_LIBRARY");
    path = env != nullptr && *env != '\0' ? env : "libnvidia-ml.so.1";
  }
  return std::make_unique<NvmlProbe>(path, device_index);
}

}  // namespace axnn::energy
