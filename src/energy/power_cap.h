// Power caps are a machine-wide setting shared with every other user of the GPU, so axnn only
// reads them unless told otherwise (`--set-power-caps`), and then puts the original limit back:
// when the guard goes out of scope (normal end or an exception) and on SIGINT, SIGTERM or SIGHUP.
#pragma once

#include <string_view>
#include <vector>

#include "energy/probe.h"

namespace axnn::energy {

class PowerCapGuard {
 public:
  // Reads the limit to restore and the constraints; throws axnn::Error if the probe cannot set
  // limits or does not report its current one, or if another guard is active.
  explicit PowerCapGuard(EnergyProbe& probe);
  // Restores the original limit if set() changed it; a failure is logged with the command that
  // restores it by hand (a destructor cannot throw).
  ~PowerCapGuard();
  PowerCapGuard(const PowerCapGuard&) = delete;
  PowerCapGuard& operator=(const PowerCapGuard&) = delete;

  // Throws axnn::Error naming the device's min and max limits if `watts` is outside them.
  void check(double watts) const;
  // Checks, then sets the limit (the probe refuses clearly without the permission).
  void set(double watts);
  double original_watts() const { return original_; }

 private:
  void restore() noexcept;

  EnergyProbe& probe_;
  PowerLimits limits_;
  double original_ = 0;
  bool changed_ = false;
};

// "300,250.5" -> {300, 250.5}; throws axnn::Error naming `what` for anything but positive
// numbers or for a repeated cap.
std::vector<double> parse_power_caps(std::string_view text, std::string_view what);

}  // namespace axnn::energy
