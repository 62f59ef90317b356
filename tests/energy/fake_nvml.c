/* A stand-in for libnvidia-ml.so.1 with the entry points axnn's NVML probe uses. Its energy
 * counter and power only change when the test says so (fake_nvml_add_energy_mj,
 * fake_nvml_configure), and it records every nvmlDeviceSetPowerManagementLimit call, in memory
 * and, if fake_nvml_set_log or $FAKE_NVML_LOG (read at nvmlInit_v2) named a file, as a line
 * "set MILLIWATTS" there (so that a test can see what a killed child process or the axnn command
 * did). Compiled by the tests with the system C compiler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;

enum {
  kSuccess = 0,
  kUninitialized = 1,
  kInvalidArgument = 2,
  kNotSupported = 3,
  kNoPermission = 4
};

struct State {
  int initialized;
  unsigned long long energy_mj;
  unsigned power_mw;
  unsigned limit_mw, default_mw, min_mw, max_mw;
  int energy_supported;
  int set_permitted;
  int init_fails;
  int set_calls;
  unsigned last_set_mw;
  char log[4096];
};
static const struct State kDefaults = {.energy_mj = 1000000ull,
                                       .power_mw = 150000,
                                       .limit_mw = 250000,
                                       .default_mw = 300000,
                                       .min_mw = 100000,
                                       .max_mw = 350000,
                                       .energy_supported = 1,
                                       .set_permitted = 1};
static struct State fake = kDefaults;

/* Test controls. */
void fake_nvml_reset(void) { fake = kDefaults; }
void fake_nvml_add_energy_mj(unsigned long long mj) { fake.energy_mj += mj; }
int fake_nvml_set_calls(void) { return fake.set_calls; }
unsigned fake_nvml_last_set_mw(void) { return fake.last_set_mw; }
unsigned fake_nvml_limit_mw(void) { return fake.limit_mw; }
void fake_nvml_set_log(const char* path) { snprintf(fake.log, sizeof fake.log, "%s", path); }
/* key: "power_mw", "limit_mw", "energy_supported", "set_permitted", "init_fails". */
int fake_nvml_configure(const char* key, long long value) {
  if (strcmp(key, "power_mw") == 0)
    fake.power_mw = (unsigned)value;
  else if (strcmp(key, "limit_mw") == 0)
    fake.limit_mw = (unsigned)value;
  else if (strcmp(key, "energy_supported") == 0)
    fake.energy_supported = (int)value;
  else if (strcmp(key, "set_permitted") == 0)
    fake.set_permitted = (int)value;
  else if (strcmp(key, "init_fails") == 0)
    fake.init_fails = (int)value;
  else
    return 0;
  return 1;
}

/* The NVML entry points. */
static struct nvmlDevice_st* const kDevice = (struct nvmlDevice_st*)&fake;

nvmlReturn_t nvmlInit_v2(void) {
  const char* log = getenv("FAKE_NVML_LOG");
  if (fake.init_fails) return kUninitialized;
  if (log != NULL && fake.log[0] == '\0') fake_nvml_set_log(log);
  fake.initialized = 1;
  return kSuccess;
}
nvmlReturn_t nvmlShutdown(void) {
  fake.initialized = 0;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
  if (!fake.initialized) return kUninitialized;
  if (index != 0) return kInvalidArgument;
  *device = kDevice;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned length) {
  if (device != kDevice) return kInvalidArgument;
  snprintf(name, length, "%s", "Fake GPU 9000");
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* mj) {
  if (device != kDevice) return kInvalidArgument;
  if (!fake.energy_supported) return kNotSupported;
  *mj = fake.energy_mj;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned* mw) {
  if (device != kDevice) return kInvalidArgument;
  *mw = fake.power_mw;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned* mw) {
  if (device != kDevice) return kInvalidArgument;
  *mw = fake.limit_mw;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned* mw) {
  if (device != kDevice) return kInvalidArgument;
  *mw = fake.default_mw;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned* min_mw,
                                                          unsigned* max_mw) {
  if (device != kDevice) return kInvalidArgument;
  *min_mw = fake.min_mw;
  *max_mw = fake.max_mw;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t device, unsigned mw) {
  if (device != kDevice) return kInvalidArgument;
  ++fake.set_calls;
  if (fake.log[0] != '\0') {
    FILE* log = fopen(fake.log, "a");
    if (log != NULL) {
      fprintf(log, "set %u\n", mw);
      fclose(log);
    }
  }
  if (!fake.set_permitted) return kNoPermission;
  if (mw < fake.min_mw || mw > fake.max_mw) return kInvalidArgument;
  fake.last_set_mw = mw;
  fake.limit_mw = mw;
  return kSuccess;
}
const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kNotSupported:
      return "Not Supported";
    case kNoPermission:
      return "Insufficient Permissions";
    default:
      return "Unknown Error";
  }
}
