// CPU feature detection and the AXNN_ISA override. Kernels ask for the ISA level once and cache it.
#pragma once

#include <string>
#include <string_view>

namespace axnn {

// Ordered levels: each includes the ones below it.
enum class Isa { kRef = 0, kAvx2 = 1, kAvx512 = 2 };  // kAvx512 = F + BW + VL + VBMI

std::string_view isa_name(Isa isa);
// Parses "ref", "avx2" or "avx512"; throws axnn::Error naming the value otherwise.
Isa parse_isa(std::string_view name);
// What this CPU supports (detected once).
Isa detected_isa();
// The level kernels use: detected_isa(), lowered by AXNN_ISA if set. Asking for a level the CPU
// lacks is an error naming both.
Isa active_isa();

// The value of the first "key : value" line of /proc/cpuinfo with this key ("model name",
// "flags"); empty if none.
std::string cpuinfo_field(const std::string& key);

}  // namespace axnn
