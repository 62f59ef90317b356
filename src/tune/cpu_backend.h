// The cpu target: kernels from cpu_codegen compiled at run time with the system compiler (c++, or
// $CXX) into shared objects, cached by a hash of compiler, flags, CPU and source, built in parallel
// with a timeout, and loaded with dlopen.
#pragma once

#include <memory>

#include "tune/backend.h"
#include "tune/cpu_codegen.h"

namespace axnn::tune {

// This machine's vector width, registers and cores (AXNN_ISA lowers the vector width).
CpuInfo host_cpu_info();

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace axnn::tune
