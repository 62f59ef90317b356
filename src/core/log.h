// The project's logger. Level from AXNN_LOG_LEVEL (trace, debug, info, warn, error, off;
// default warn).
#pragma once

#include <spdlog/spdlog.h>

namespace axnn {

spdlog::logger& log();

}  // namespace axnn
