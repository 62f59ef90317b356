#include "core/cpu.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/log.h"

namespace axnn {

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kRef:
      return "ref";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512})
    if (name == isa_name(isa)) return isa;
  throw Error(fmt::format("unknown ISA level '{}' (expected ref, avx2 or avx512)", name));
}

Isa detected_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi"))
      return Isa::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
    return Isa::kRef;
  }();
  return isa;
}

Isa active_isa() {
  static const Isa isa = [] {
    Isa detected = detected_isa();
    const char* forced = std::getenv("AXNN_ISA");
    if (!forced || !*forced) return detected;
    Isa want = parse_isa(forced);
    AXNN_CHECK(want <= detected, "AXNN_ISA={} asks for more than this CPU supports ({})", forced,
               isa_name(detected));
    log().debug("AXNN_ISA forces {} (detected {})", isa_name(want), isa_name(detected));
    return want;
  }();
  return isa;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos || line.find_first_not_of(" \t", key.size()) != colon) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

}  // namespace axnn
