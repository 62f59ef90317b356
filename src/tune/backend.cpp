#include "tune/backend.h"

#include "core/error.h"
#include "core/files.h"
#include "mult/registry.h"
#include "tune/cpu_backend.h"
#include "tune/cuda_backend.h"
#include "tune/lut_backend.h"

namespace axnn::tune {

std::filesystem::path default_kernel_cache() {
  const std::optional<std::filesystem::path> dir = user_cache_dir("kernels");
  AXNN_CHECK(dir, "no kernel cache folder: set XDG_CACHE_HOME or HOME, or pass a cache folder");
  return *dir;
}

std::unique_ptr<Backend> make_backend(Target target) {
  return target == Target::kCpu ? make_cpu_backend() : make_cuda_backend();
}

std::unique_ptr<Backend> make_backend_for(const Record& record) {
  if (record.op == "lut-conv2d") return make_lut_backend(get_multiplier(record.dtype));
  return make_backend(parse_target(record.target));
}

}  // namespace axnn::tune
