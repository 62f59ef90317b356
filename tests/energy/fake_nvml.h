// The fake NVML library (fake_nvml.c), compiled once per test process with the system C compiler
// into a fresh temporary folder, opened here to drive it; the probe under test opens the same
// file, so both see one library state.
#pragma once

#include <dlfcn.h>

#include <string>

#include "core/error.h"
#include "core/subprocess.h"

namespace axnn::energy::testing {

class FakeNvml {
 public:
  // Reset to its defaults: limit 250 W (default 300, min 100, max 350), power 150 W, energy
  // counter present at 1000 J, setting permitted.
  static FakeNvml& get() {
    static FakeNvml fake;
    fake.reset_();
    return fake;
  }

  const std::string& path() const { return path_; }
  void add_energy_mj(unsigned long long mj) { add_energy_mj_(mj); }
  void configure(const char* key, long long value) {
    AXNN_CHECK(configure_(key, value) == 1, "fake NVML: unknown setting {}", key);
  }
  int set_calls() { return set_calls_(); }
  unsigned last_set_mw() { return last_set_mw_(); }
  unsigned limit_mw() { return limit_mw_(); }
  void set_log(const std::string& file) { set_log_(file.c_str()); }

 private:
  FakeNvml() : dir_("axnn-fake-nvml") {
    const std::string source = std::string(AXNN_SOURCE_DIR) + "/tests/energy/fake_nvml.c";
    path_ = (dir_.path() / "libfake-nvml.so").string();
    const ProcessResult built = run_process({"cc", "-shared", "-fPIC", "-O1", "-o", path_, source});
    AXNN_CHECK(built.exit_code == 0, "cannot compile {}: {}", source, built.output);
    handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    AXNN_CHECK(handle_ != nullptr, "cannot open {}: {}", path_, dlerror());
    bind(reset_, "fake_nvml_reset");
    bind(add_energy_mj_, "fake_nvml_add_energy_mj");
    bind(configure_, "fake_nvml_configure");
    bind(set_calls_, "fake_nvml_set_calls");
    bind(last_set_mw_, "fake_nvml_last_set_mw");
    bind(limit_mw_, "fake_nvml_limit_mw");
    bind(set_log_, "fake_nvml_set_log");
  }

  template <typename F>
  void bind(F& function, const char* symbol) {
    function = reinterpret_cast<F>(dlsym(handle_, symbol));
    AXNN_CHECK(function != nullptr, "{}: no {}", path_, symbol);
  }

  TempDir dir_;
  std::string path_;
  void* handle_ = nullptr;
  void (*reset_)() = nullptr;
  void (*add_energy_mj_)(unsigned long long) = nullptr;
  int (*configure_)(const char*, long long) = nullptr;
  int (*set_calls_)() = nullptr;
  unsigned (*last_set_mw_)() = nullptr;
  unsigned (*limit_mw_)() = nullptr;
  void (*set_log_)(const char*) = nullptr;
};

}  // namespace axnn::energy::testing
