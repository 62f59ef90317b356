#include "energy/power_cap.h"

#include <fmt/format.h>
#include <pthread.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstddef>
#include <string>

#include "core/error.h"
#include "core/log.h"

namespace axnn::energy {
namespace {

// What a signal handler needs to restore the limit: set by the one active guard. The handler
// calls only the probe's non-allocating setter, then re-raises with the previous disposition so
// the process still ends the way the signal asked.
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
std::atomic<bool> g_guard_active{false};
std::atomic<EnergyProbe*> g_probe{nullptr};
double g_original_watts = 0;
struct sigaction g_previous[std::size(kSignals)];

void restore_and_reraise(int signal) {
  if (EnergyProbe* probe = g_probe.exchange(nullptr)) {
    probe->set_power_limit_from_signal(g_original_watts);
  }
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    if (kSignals[i] == signal) sigaction(signal, &g_previous[i], nullptr);
  }
  raise(signal);  // delivered with the previous action once this handler returns
}

void install_handlers() {
  struct sigaction action = {};
  action.sa_handler = restore_and_reraise;
  sigemptyset(&action.sa_mask);
  for (const int signal : kSignals) sigaddset(&action.sa_mask, signal);
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    sigaction(kSignals[i], &action, &g_previous[i]);
  }
}

void remove_handlers() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    sigaction(kSignals[i], &g_previous[i], nullptr);
  }
}

std::string watts_or_unknown(const std::optional<double>& watts) {
  return watts ? fmt::format("{:g} W", *watts) : "unknown";
}

}  // namespace

PowerCapGuard::PowerCapGuard(EnergyProbe& probe) : probe_(probe) {
  AXNN_CHECK(probe.available(), "cannot set power caps: energy probe {} not available: {}",
             probe.name(), probe.unavailable_reason());
  limits_ = probe.power_limits();
  AXNN_CHECK(limits_.current.has_value(),
             "cannot set power caps on {} ({}): it does not report its current power limit, so "
             "it could not be restored",
             probe.device(), probe.name());
  original_ = *limits_.current;
  AXNN_CHECK(!g_guard_active.exchange(true),
             "cannot set power caps on {}: another power cap guard is active", probe.device());
}

PowerCapGuard::~PowerCapGuard() {
  restore();
  g_guard_active = false;
}

void PowerCapGuard::check(double watts) const {
  AXNN_CHECK(limits_.min && limits_.max,
             "cannot set a power cap of {} W on {}: its power limit constraints are not reported",
             watts, probe_.device());
  AXNN_CHECK(watts >= *limits_.min && watts <= *limits_.max,
             "power cap {} W is outside the limits of {}: min {} W, max {} W", watts,
             probe_.device(), *limits_.min, *limits_.max);
}

void PowerCapGuard::set(double watts) {
  check(watts);
  log().info("setting the power limit of {} to {} W (was {} W)", probe_.device(), watts, original_);
  if (changed_) {
    probe_.set_power_limit(watts);
    return;
  }
  // Handlers before the first change, so that no signal finds the limit changed and unguarded.
  g_original_watts = original_;
  g_probe = &probe_;
  install_handlers();
  try {
    probe_.set_power_limit(watts);
  } catch (...) {
    g_probe = nullptr;
    remove_handlers();
    throw;
  }
  changed_ = true;
}

void PowerCapGuard::restore() noexcept {
  if (!changed_) return;
  changed_ = false;
  // The signals wait until the limit is back and the handlers are gone: one arriving in between
  // would otherwise end the process with the cap still set.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  for (const int signal : kSignals) sigaddset(&blocked, signal);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  g_probe = nullptr;
  try {
    probe_.set_power_limit(original_);
    log().info("restored the power limit of {} to {} W", probe_.device(), original_);
  } catch (const std::exception& e) {
    log().error(
        "could not restore the power limit of {} to {} W ({}); restore it by hand, e.g. "
        "`nvidia-smi -pl {}` (default {})",
        probe_.device(), original_, e.what(), original_, watts_or_unknown(limits_.default_limit));
  }
  remove_handlers();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

std::vector<double> parse_power_caps(std::string_view text, std::string_view what) {
  std::vector<double> caps;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string_view item = text.substr(begin, end - begin);
    double watts = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), watts);
    AXNN_CHECK(!item.empty() && ec == std::errc() && ptr == item.data() + item.size() && watts > 0,
               "{}: expected positive watts separated by commas (e.g. 200,250,300), got '{}'", what,
               item);
    for (const double cap : caps) AXNN_CHECK(cap != watts, "{}: cap {} W repeated", what, watts);
    caps.push_back(watts);
    begin = end + 1;
  }
  return caps;
}

}  // namespace axnn::energy
