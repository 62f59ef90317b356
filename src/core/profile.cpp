#include "core/profile.h"

#include <atomic>
#include <map>
#include <mutex>
#include <utility>

namespace axnn::profile {
namespace {

std::atomic<bool> on{false};

// Entries by (layer, stage), with their order of appearance; guarded by `mutex` since layers may
// run on several threads (attention heads, data-parallel search).
std::mutex mutex;
std::map<std::pair<std::string, std::string>, size_t> index;
std::vector<Entry> entries;

const std::string kNoLayer;
thread_local const std::string* current_layer = &kNoLayer;

void record(const std::string& layer, std::string_view stage,
            std::chrono::steady_clock::time_point start) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = index.try_emplace({layer, std::string(stage)}, entries.size());
  if (inserted) entries.push_back({layer, std::string(stage), 0, 0});
  Entry& e = entries[it->second];
  e.seconds += seconds;
  ++e.calls;
}

}  // namespace

void set_enabled(bool enable) { on.store(enable, std::memory_order_relaxed); }
bool enabled() { return on.load(std::memory_order_relaxed); }

StageScope::StageScope(std::string_view stage) : stage_(stage), on_(enabled()) {
  if (on_) start_ = std::chrono::steady_clock::now();
}

StageScope::~StageScope() {
  if (on_) record(*current_layer, stage_, start_);
}

LayerScope::LayerScope(const std::string& layer) : previous_(current_layer), on_(enabled()) {
  if (!on_) return;
  current_layer = &layer;
  start_ = std::chrono::steady_clock::now();
}

LayerScope::~LayerScope() {
  if (!on_) return;
  record(*current_layer, "total", start_);
  current_layer = previous_;
}

std::vector<Entry> take() {
  const std::lock_guard<std::mutex> lock(mutex);
  std::vector<Entry> out = std::move(entries);
  entries.clear();
  index.clear();
  return out;
}

}  // namespace axnn::profile
