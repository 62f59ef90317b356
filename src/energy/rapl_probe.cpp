// The RAPL probe through Linux powercap: each CPU package is a zone intel-rapl:N (AMD Zen too)
// with a microjoule counter energy_uj that wraps at max_energy_range_uj. Sub-zones
// (intel-rapl:N:M: core, uncore, dram) are parts of their package and psys covers the platform,
// so only the package zones are summed.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/log.h"
#include "energy/probe.h"

namespace axnn::energy {
namespace {

namespace fs = std::filesystem;

// The number in a sysfs attribute file; throws axnn::Error naming the file.
uint64_t read_counter(const fs::path& file) {
  std::string text = read_text_file(file);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  AXNN_CHECK(ec == std::errc() && end == text.data() + text.size() && !text.empty(),
             "{}: expected a non-negative integer, read '{}'", file.string(), text);
  return value;
}

struct Zone {
  fs::path dir;
  std::string name;    // "package-0"
  uint64_t range = 0;  // max_energy_range_uj
  uint64_t last = 0;   // the previous energy_uj read
};

class RaplProbe final : public EnergyProbe {
 public:
  explicit RaplProbe(fs::path root) : root_(std::move(root)) { open(); }

  std::string name() const override { return "rapl"; }
  std::string device() const override {
    std::string names;
    for (const Zone& zone : zones_) names += (names.empty() ? "" : "+") + zone.name;
    return names;
  }
  std::string unavailable_reason() const override { return reason_; }
  bool has_energy_counter() const override { return true; }

  double energy_joules() override {
    AXNN_CHECK(reason_.empty(), "RAPL not available: {}", reason_);
    for (Zone& zone : zones_) {
      const uint64_t now = read_counter(zone.dir / "energy_uj");
      // At most one wrap between reads: a package at 200 W takes about 20 minutes to wrap the
      // usual 262 kJ range, far longer than a measurement window.
      total_uj_ += now >= zone.last ? now - zone.last : zone.range - zone.last + now;
      zone.last = now;
    }
    return static_cast<double>(total_uj_) * 1e-6;
  }

  std::optional<double> power_watts() override { return std::nullopt; }

  // The long-term constraint (constraint_0) of each package, summed, where readable.
  PowerLimits power_limits() override {
    PowerLimits limits;
    double current = 0, max = 0;
    bool have_current = !zones_.empty(), have_max = !zones_.empty();
    for (const Zone& zone : zones_) {
      try {
        current += read_counter(zone.dir / "constraint_0_power_limit_uw") * 1e-6;
      } catch (const Error&) {
        have_current = false;
      }
      try {
        max += read_counter(zone.dir / "constraint_0_max_power_uw") * 1e-6;
      } catch (const Error&) {
        have_max = false;
      }
    }
    if (have_current) limits.current = current;
    if (have_max) limits.max = max;
    return limits;
  }

  void set_power_limit(double watts) override {
    AXNN_CHECK(false,
               "axnn does not set RAPL power limits (asked for {} W on {}); power caps are "
               "supported on NVIDIA GPUs (--target cuda)",
               watts, device().empty() ? root_.string() : device());
  }
  bool set_power_limit_from_signal(double) noexcept override { return false; }

 private:
  void open() {
    std::error_code ec;
    if (!fs::is_directory(root_, ec)) {
      reason_ = fmt::format("{} does not exist (no powercap support in this kernel or VM)",
                            root_.string());
      return;
    }
    for (const fs::directory_entry& entry : fs::directory_iterator(root_, ec)) {
      const std::string dir = entry.path().filename().string();
      if (dir.rfind("intel-rapl:", 0) != 0 || std::count(dir.begin(), dir.end(), ':') != 1)
        continue;
      try {
        Zone zone;
        zone.dir = entry.path();
        zone.name = read_text_file(zone.dir / "name");
        while (!zone.name.empty() && zone.name.back() == '\n') zone.name.pop_back();
        if (zone.name.rfind("package", 0) != 0) continue;
        zone.range = read_counter(zone.dir / "max_energy_range_uj");
        zone.last = read_counter(zone.dir / "energy_uj");
        total_uj_ += zone.last;  // starts at the counters' sum, as the device reports it
        zones_.push_back(std::move(zone));
      } catch (const Error& e) {
        // energy_uj is root-only since Linux 5.10 (CVE-2020-8694).
        reason_ = fmt::format("{} (the RAPL counters are readable by root only on most systems)",
                              e.what());
        zones_.clear();
        total_uj_ = 0;
        return;
      }
    }
    if (zones_.empty()) {
      reason_ = fmt::format("{} has no RAPL package zones (intel-rapl:N named package-*)",
                            root_.string());
      return;
    }
    std::sort(zones_.begin(), zones_.end(),
              [](const Zone& a, const Zone& b) { return a.name < b.name; });
    log().info("rapl: {} under {}", device(), root_.string());
  }

  fs::path root_;
  std::vector<Zone> zones_;
  uint64_t total_uj_ = 0;
  std::string reason_;
};

}  // namespace

std::unique_ptr<EnergyProbe> make_rapl_probe(const fs::path& root) {
  fs::path path = root;
  if (path.empty()) {
    const char* env = std::getenv("AXNN_POWERCAP_ROOT");
    path = env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/sys/class/powercap");
  }
  return std::make_unique<RaplProbe>(path);
}

}  // namespace axnn::energy
