#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace axnn {

Progress::Progress(std::string what, int64_t total, std::string unit)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done, const std::string& extra) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const auto eta = static_cast<int64_t>(rate > 0 ? static_cast<double>(total_ - done) / rate : 0);
  std::fprintf(stderr, "\r%s %lld/%lld %s  %.0f %s/s  ETA %lld:%02lld  %s\033[K", what_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), rate,
               unit_.c_str(), static_cast<long long>(eta / 60), static_cast<long long>(eta % 60),
               extra.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && !finished_) std::fputs("\r\033[K", stderr);
  finished_ = true;
}

}  // namespace axnn
