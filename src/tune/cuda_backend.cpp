// Direct fp32 conv2d for NVIDIA GPUs, generated per shape and schedule.
//
// Layout: src NCHW, weight OIHW, dst NCHW, no bias. Every shape number and schedule knob is an
// integer literal in the generated source; the kernel takes only the three buffer pointers.
//
// Tiling (TVM's multi-level GPU tiling): each output axis a in (co, oh, ow) is split as
//   a = blocks x vthread x thread x inner,
// a block computing a tile of B_a = vthread * thread * inner positions of every axis for one image.
// The grid is 1-D over N x ceil(CO/B_co) x ceil(OH/B_oh) x ceil(OW/B_ow) (ow fastest); the block is
// 1-D over thread_co x thread_oh x thread_ow (ow fastest, so neighbouring threads store
// neighbouring outputs). A thread keeps vthread * inner outputs per axis in registers, at block
// offsets v * (thread * inner) + t * inner + i: its virtual threads lie a whole thread tile apart.
// Tiles cover the axes (at most one partly empty block per axis); positions past the end are
// computed on zero-filled or clamped operands and never stored.
//
// Reduction: ci in chunks of rc_inner, then ky, kx. With stage_input the chunk's input window
// (rc_inner x ((B_oh-1)*S+KH) x ((B_ow-1)*S+KW), zero padded) is copied into shared memory by all
// threads of the block; with stage_weight its weights (B_co x rc_inner x KH x KW, stored as
// [ci][ky][kx][co] so a warp's reads of one (ci, ky, kx) are contiguous). __syncthreads separates
// loading a chunk from using it and using it from overwriting it. For each (ci, ky, kx) a thread
// loads its weights and inputs into registers and accumulates their outer product.
//
// Unrolling: the register-tile loops are always unrolled (the accumulators must stay in
// registers); the reduction loops kx, ky, rc_inner are unrolled from the inside out while the
// unrolled body stays within unroll_max_step multiply-adds (TVM's auto_unroll_max_step), and get
// "#pragma unroll 1" beyond.
#include "tune/cuda_backend.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "tune/cuda_api.h"
#include "tune/reference.h"

namespace axnn::tune {

namespace {

constexpr int64_t kMaxVthread = 8;
constexpr int64_t kMaxInner = 8;
constexpr int64_t kMaxRcInner = 64;
// Registers per thread: accumulators, and the operands of one outer product.
constexpr int64_t kMaxAccumulators = 64;
constexpr int64_t kMaxOperandRegisters = 64;
constexpr int64_t kWarp = 32;
const std::vector<int64_t> kUnrollSteps = {0, 16, 64, 512, 1500};
constexpr uint64_t kOperandSeed = 1;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Powers of two and the divisors of `extent`, below 2 * extent (a tile may cover the axis with a
// tail but never be mostly empty) and up to `cap`.
std::vector<int64_t> tile_values(int64_t extent, int64_t cap) {
  const int64_t limit = std::min(cap, 2 * extent - 1);
  std::set<int64_t> values;
  for (int64_t p = 1; p <= limit; p *= 2) values.insert(p);
  for (int64_t d = 1; d <= std::min(limit, extent); ++d)
    if (extent % d == 0) values.insert(d);
  return {values.begin(), values.end()};
}

int64_t knob(const Config& config, const std::string& name) {
  const auto it = config.find(name);
  AXNN_CHECK(it != config.end(), "cuda conv2d configuration: knob '{}' is missing", name);
  return it->second;
}

struct Axis {
  const char* name;
  int64_t extent, vthread, thread, inner;
  int64_t tile() const { return vthread * thread * inner; }
  int64_t regs() const { return vthread * inner; }
  int64_t blocks() const { return ceil_div(extent, tile()); }
  bool tail() const { return extent % tile() != 0; }
  // The block offset of a thread's register (v, i) as an expression of the thread index `t`.
  std::string offset(const char* v, const char* t, const char* i) const {
    return fmt::format("{} * {} + {} * {} + {}", v, thread * inner, t, inner, i);
  }
};

// A configuration with the shape's derived sizes.
struct Schedule {
  Conv2dShape s;
  Axis co, oh, ow;
  int64_t rc, stage_input, stage_weight, unroll;

  Schedule(const Conv2dShape& shape, const Config& c)
      : s(shape),
        co{"co", shape.co, knob(c, "co_vthread"), knob(c, "co_thread"), knob(c, "co_inner")},
        oh{"oh", shape.oh(), knob(c, "oh_vthread"), knob(c, "oh_thread"), knob(c, "oh_inner")},
        ow{"ow", shape.ow(), knob(c, "ow_vthread"), knob(c, "ow_thread"), knob(c, "ow_inner")},
        rc(knob(c, "rc_inner")),
        stage_input(knob(c, "stage_input")),
        stage_weight(knob(c, "stage_weight")),
        unroll(knob(c, "unroll_max_step")) {}

  int64_t threads() const { return co.thread * oh.thread * ow.thread; }
  int64_t blocks() const { return s.n * co.blocks() * oh.blocks() * ow.blocks(); }
  int64_t accumulators() const { return co.regs() * oh.regs() * ow.regs(); }
  int64_t operand_registers() const { return co.regs() + oh.regs() * ow.regs(); }
  int64_t in_tile_h() const { return (oh.tile() - 1) * s.stride + s.kh; }
  int64_t in_tile_w() const { return (ow.tile() - 1) * s.stride + s.kw; }
  int64_t input_tile() const { return rc * in_tile_h() * in_tile_w(); }
  int64_t weight_tile() const { return co.tile() * rc * s.kh * s.kw; }
  int64_t shared_bytes() const {
    return 4 * (stage_input * input_tile() + stage_weight * weight_tile());
  }
  bool rc_tail() const { return s.ci % rc != 0; }
};

std::string why_invalid(const Schedule& k, const CudaLimits& limits) {
  for (const Axis* a : {&k.co, &k.oh, &k.ow}) {
    if (a->tile() >= 2 * a->extent)
      return fmt::format(
          "the {} tile {} (vthread {} x thread {} x inner {}) is not below twice "
          "the axis ({})",
          a->name, a->tile(), a->vthread, a->thread, a->inner, a->extent);
  }
  if (k.threads() > limits.max_threads_per_block)
    return fmt::format("{} threads per block exceed the limit of {}", k.threads(),
                       limits.max_threads_per_block);
  const int64_t outputs = k.co.extent * k.oh.extent * k.ow.extent;
  if (k.threads() < std::min(kWarp, outputs))
    return fmt::format("{} threads per block: less than a warp", k.threads());
  if (k.accumulators() > kMaxAccumulators)
    return fmt::format("{} accumulators per thread exceed {}", k.accumulators(), kMaxAccumulators);
  if (k.operand_registers() > kMaxOperandRegisters)
    return fmt::format("{} operand registers per thread exceed {}", k.operand_registers(),
                       kMaxOperandRegisters);
  if (k.shared_bytes() > limits.max_shared_bytes)
    return fmt::format("{} bytes of shared memory exceed the limit of {}", k.shared_bytes(),
                       limits.max_shared_bytes);
  return "";
}

// The cost model's inputs: the knobs (in the space's order) and what they imply.
std::vector<float> features_of(const Schedule& k) {
  const double threads = static_cast<double>(k.threads());
  const double warps = static_cast<double>(ceil_div(k.threads(), kWarp));
  const double outputs = static_cast<double>(k.s.n * k.co.extent * k.oh.extent * k.ow.extent);
  const double computed = static_cast<double>(k.blocks()) * threads * k.accumulators();
  // Multiply-adds of a block per reduction chunk over the floats it reads from global memory.
  const double block_macs =
      static_cast<double>(k.co.tile() * k.oh.tile() * k.ow.tile() * k.rc * k.s.kh * k.s.kw);
  const double block_reads = static_cast<double>(k.input_tile() + k.weight_tile());
  std::vector<float> f;
  for (const Axis* a : {&k.co, &k.oh, &k.ow})
    f.insert(f.end(), {float(a->vthread), float(a->thread), float(a->inner)});
  f.insert(f.end(), {float(k.rc), float(k.stage_input), float(k.stage_weight), float(k.unroll)});
  f.insert(f.end(), {float(threads), float(k.blocks()), float(k.shared_bytes()),
                     float(k.accumulators()), float(k.co.tile()), float(k.oh.tile()),
                     float(k.ow.tile()), float(threads / (warps * kWarp)),
                     float(computed / outputs), float(block_macs / block_reads),
                     float(double(k.accumulators()) / double(k.operand_registers()))});
  return f;
}

// Source text, indented by nesting.
class Emitter {
 public:
  template <class... Args>
  void line(fmt::format_string<Args...> format, Args&&... args) {
    text_.append(2 * depth_, ' ');
    text_ += fmt::format(format, std::forward<Args>(args)...);
    text_ += '\n';
  }
  template <class... Args>
  void open(fmt::format_string<Args...> format, Args&&... args) {
    line(format, std::forward<Args>(args)...);
    ++depth_;
  }
  void close() {
    --depth_;
    line("}}");
  }
  // A fully unrolled loop `for (int var = 0; var < extent; ++var) {`.
  void unrolled(const char* var, int64_t extent) {
    line("#pragma unroll");
    open("for (int {0} = 0; {0} < {1}; ++{0}) {{", var, extent);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  int depth_ = 0;
};

// "a && b" of the non-empty conditions, or "" if none.
std::string all_of(const std::vector<std::string>& conditions) {
  std::string joined;
  for (const std::string& c : conditions)
    if (!c.empty()) joined += (joined.empty() ? "" : " && ") + c;
  return joined;
}

// "cond ? load : 0.0f", or the load alone when nothing needs checking.
std::string guarded(const std::string& condition, const std::string& load) {
  return condition.empty() ? load : fmt::format("{} ? {} : 0.0f", condition, load);
}

void emit_staging(Emitter& e, const Schedule& k) {
  const Conv2dShape& s = k.s;
  const int64_t threads = k.threads();
  if (k.stage_input) {
    const int64_t th = k.in_tile_h(), tw = k.in_tile_w();
    e.open("for (int i = tid; i < {}; i += {}) {{", k.input_tile(), threads);
    e.line("const int c = i / {};", th * tw);
    e.line("const int ih = oh0 * {} - {} + i / {} % {};", s.stride, s.pad, tw, th);
    e.line("const int iw = ow0 * {} - {} + i % {};", s.stride, s.pad, tw);
    const bool rows = s.pad > 0 || k.oh.tail(), cols = s.pad > 0 || k.ow.tail();
    const std::string ok = all_of({k.rc_tail() ? fmt::format("rc0 + c < {}", s.ci) : "",
                                   rows ? fmt::format("(unsigned)ih < {}u", s.h) : "",
                                   cols ? fmt::format("(unsigned)iw < {}u", s.w) : ""});
    e.line(
        "s_src[i] = {};",
        guarded(ok, fmt::format("src[((n * {} + rc0 + c) * {} + ih) * {} + iw]", s.ci, s.h, s.w)));
    e.close();
  }
  if (k.stage_weight) {
    const int64_t khw = s.kh * s.kw;
    e.open("for (int i = tid; i < {}; i += {}) {{", k.weight_tile(), threads);
    e.line("const int k = i % {};", khw);
    e.line("const int c = i / {} % {};", khw, k.rc);
    e.line("const int co_l = i / {};", khw * k.rc);
    const std::string ok = all_of({k.co.tail() ? fmt::format("co0 + co_l < {}", s.co) : "",
                                   k.rc_tail() ? fmt::format("rc0 + c < {}", s.ci) : ""});
    e.line("s_weight[(c * {} + k) * {} + co_l] = {};", khw, k.co.tile(),
           guarded(ok, fmt::format("weight[((co0 + co_l) * {} + rc0 + c) * {} + k]", s.ci, khw)));
    e.close();
  }
  e.line("__syncthreads();");
}

// The pragma of each reduction loop (rc_inner, ky, kx), unrolled from the inside out.
std::array<std::string, 3> reduction_pragmas(const Schedule& k) {
  std::array<std::string, 3> pragmas;
  const int64_t extents[3] = {k.rc, k.s.kh, k.s.kw};
  int64_t body = k.accumulators();
  bool unrolled = true;
  for (int l = 2; l >= 0; --l) {
    body *= extents[l];
    unrolled = unrolled && body <= k.unroll;
    pragmas[l] = unrolled ? "#pragma unroll" : "#pragma unroll 1";
  }
  return pragmas;
}

void emit_products(Emitter& e, const Schedule& k) {
  const Conv2dShape& s = k.s;
  const int64_t khw = s.kh * s.kw;
  e.line("float w[{}];", k.co.regs());
  e.unrolled("vco", k.co.vthread);
  e.unrolled("ico", k.co.inner);
  e.line("const int co_l = {};", k.co.offset("vco", "t_co", "ico"));
  if (k.stage_weight) {
    e.line("w[vco * {} + ico] = s_weight[(rci * {} + ky * {} + kx) * {} + co_l];", k.co.inner, khw,
           s.kw, k.co.tile());
  } else {
    // Rows past CO read the last row: in bounds, and their results are never stored.
    const std::string row = k.co.tail()
                                ? fmt::format("(co0 + co_l < {0} ? co0 + co_l : {0})", s.co - 1)
                                : std::string("(co0 + co_l)");
    e.line("w[vco * {} + ico] = weight[({} * {} + ci) * {} + ky * {} + kx];", k.co.inner, row, s.ci,
           khw, s.kw);
  }
  e.close();
  e.close();

  const int64_t row_regs = k.ow.regs();
  e.line("float x[{}];", k.oh.regs() * row_regs);
  e.unrolled("voh", k.oh.vthread);
  e.unrolled("ioh", k.oh.inner);
  e.unrolled("vow", k.ow.vthread);
  e.unrolled("iow", k.ow.inner);
  e.line("const int oh_l = {};", k.oh.offset("voh", "t_oh", "ioh"));
  e.line("const int ow_l = {};", k.ow.offset("vow", "t_ow", "iow"));
  const std::string x =
      fmt::format("x[(voh * {} + ioh) * {} + vow * {} + iow]", k.oh.inner, row_regs, k.ow.inner);
  if (k.stage_input) {
    e.line("{} = s_src[(rci * {} + oh_l * {} + ky) * {} + ow_l * {} + kx];", x, k.in_tile_h(),
           s.stride, k.in_tile_w(), s.stride);
  } else {
    e.line("const int ih = (oh0 + oh_l) * {} - {} + ky;", s.stride, s.pad);
    e.line("const int iw = (ow0 + ow_l) * {} - {} + kx;", s.stride, s.pad);
    const bool rows = s.pad > 0 || k.oh.tail(), cols = s.pad > 0 || k.ow.tail();
    const std::string ok = all_of({rows ? fmt::format("(unsigned)ih < {}u", s.h) : "",
                                   cols ? fmt::format("(unsigned)iw < {}u", s.w) : ""});
    e.line("{} = {};", x,
           guarded(ok, fmt::format("src[((n * {} + ci) * {} + ih) * {} + iw]", s.ci, s.h, s.w)));
  }
  for (int l = 0; l < 4; ++l) e.close();

  const int64_t plane = k.oh.regs() * row_regs;
  e.unrolled("a", k.co.regs());
  e.unrolled("b", plane);
  e.line("acc[a * {} + b] += w[a] * x[b];", plane);
  e.close();
  e.close();
}

std::string config_text(const Config& config) {
  std::string text;
  for (const auto& [name, value] : config) text += fmt::format(" {}={}", name, value);
  return text;
}

std::string kernel_source(const Schedule& k, const Config& config) {
  const Conv2dShape& s = k.s;
  Emitter e;
  e.line("// axnn conv2d {} (N,H,W,CO,CI,KH,KW,stride,pad), fp32 NCHW x OIHW -> NCHW", s.str());
  e.line("// schedule:{}", config_text(config));
  e.line("// launch: grid {}, block {}, shared {} bytes", k.blocks(), k.threads(),
         k.shared_bytes());
  e.open(
      "extern \"C\" __global__ void __launch_bounds__({}) {}(const float* __restrict__ src, "
      "const float* __restrict__ weight, float* __restrict__ dst) {{",
      k.threads(), kCudaKernelName);
  if (k.stage_input) e.line("__shared__ float s_src[{}];", k.input_tile());
  if (k.stage_weight) e.line("__shared__ float s_weight[{}];", k.weight_tile());
  const int64_t bow = k.ow.blocks(), boh = k.oh.blocks(), bco = k.co.blocks();
  e.line("const int tid = threadIdx.x;");
  e.line("const int t_ow = tid % {};", k.ow.thread);
  e.line("const int t_oh = tid / {} % {};", k.ow.thread, k.oh.thread);
  e.line("const int t_co = tid / {};", k.ow.thread * k.oh.thread);
  e.line("const int bid = blockIdx.x;");
  e.line("const int ow0 = bid % {} * {};", bow, k.ow.tile());
  e.line("const int oh0 = bid / {} % {} * {};", bow, boh, k.oh.tile());
  e.line("const int co0 = bid / {} % {} * {};", bow * boh, bco, k.co.tile());
  e.line("const int n = bid / {};", bow * boh * bco);
  e.line("float acc[{}];", k.accumulators());
  e.unrolled("i", k.accumulators());
  e.line("acc[i] = 0.0f;");
  e.close();

  const std::array<std::string, 3> pragmas = reduction_pragmas(k);
  e.line("#pragma unroll 1");
  e.open("for (int rc0 = 0; rc0 < {0}; rc0 += {1}) {{", s.ci, k.rc);
  if (k.stage_input || k.stage_weight) emit_staging(e, k);
  e.line("{}", pragmas[0]);
  e.open("for (int rci = 0; rci < {}; ++rci) {{", k.rc);
  if (k.rc_tail()) e.line("if (rc0 + rci >= {}) break;", s.ci);
  if (!k.stage_input || !k.stage_weight) e.line("const int ci = rc0 + rci;");
  e.line("{}", pragmas[1]);
  e.open("for (int ky = 0; ky < {}; ++ky) {{", s.kh);
  e.line("{}", pragmas[2]);
  e.open("for (int kx = 0; kx < {}; ++kx) {{", s.kw);
  emit_products(e, k);
  e.close();
  e.close();
  e.close();
  if (k.stage_input || k.stage_weight) e.line("__syncthreads();");
  e.close();

  const int64_t plane = k.oh.regs() * k.ow.regs();
  e.unrolled("vco", k.co.vthread);
  e.unrolled("ico", k.co.inner);
  e.unrolled("voh", k.oh.vthread);
  e.unrolled("ioh", k.oh.inner);
  e.unrolled("vow", k.ow.vthread);
  e.unrolled("iow", k.ow.inner);
  e.line("const int co = co0 + {};", k.co.offset("vco", "t_co", "ico"));
  e.line("const int oh = oh0 + {};", k.oh.offset("voh", "t_oh", "ioh"));
  e.line("const int ow = ow0 + {};", k.ow.offset("vow", "t_ow", "iow"));
  const std::string ok = all_of({k.co.tail() ? fmt::format("co < {}", s.co) : "",
                                 k.oh.tail() ? fmt::format("oh < {}", s.oh()) : "",
                                 k.ow.tail() ? fmt::format("ow < {}", s.ow()) : ""});
  const std::string store = fmt::format(
      "dst[((n * {} + co) * {} + oh) * {} + ow] = acc[(vco * {} + ico) * {} + (voh * {} + ioh) * "
      "{} + vow * {} + iow];",
      s.co, s.oh(), s.ow(), k.co.inner, plane, k.oh.inner, k.ow.regs(), k.ow.inner);
  e.line("{}", ok.empty() ? store : fmt::format("if ({}) {}", ok, store));
  for (int l = 0; l < 6; ++l) e.close();
  e.close();
  return e.take();
}

std::string tail(const std::string& log, size_t length = 2000) {
  return log.size() > length ? log.substr(log.size() - length) : log;
}

struct CompileOutcome {
  ErrorCode code = ErrorCode::kNone;
  std::string error;
  std::string binary;
};

// One NVRTC compilation on its own thread. NVRTC cannot be interrupted from outside: the waiting
// side gives up at the deadline and sets `cancel`, which stops the compilation at its next check
// where NVRTC has nvrtcSetFlowCallback (12.8 and later); older versions run on to the end, on a
// detached thread that owns everything it touches.
struct CompileJob {
  std::string source;
  std::vector<std::string> options;
  std::atomic<bool> cancel{false};
  bool done = false;  // the rest under Board::mutex
  cuda::NvrtcOutput output;
  std::string failure;  // NVRTC itself failed
};

struct Board {
  std::mutex mutex;
  std::condition_variable changed;
};

// Compiles the non-empty sources, `jobs` at a time, each within `timeout_seconds`.
std::vector<CompileOutcome> compile_all(const std::vector<std::string>& sources,
                                        const std::vector<std::string>& options, int jobs,
                                        double timeout_seconds) {
  using Clock = std::chrono::steady_clock;
  const cuda::Nvrtc& nvrtc = cuda::Nvrtc::get();
  std::vector<CompileOutcome> outcomes(sources.size());
  const auto board = std::make_shared<Board>();
  std::vector<std::shared_ptr<CompileJob>> started(sources.size());
  std::vector<std::pair<size_t, Clock::time_point>> running;  // index, deadline
  const auto timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  size_t next = 0;
  std::unique_lock lock(board->mutex);
  for (;;) {
    for (; next < sources.size() && static_cast<int>(running.size()) < jobs; ++next) {
      if (sources[next].empty()) continue;
      auto job = std::make_shared<CompileJob>();
      job->source = sources[next];
      job->options = options;
      started[next] = job;
      running.emplace_back(next, Clock::now() + timeout);
      std::thread([board, job, &nvrtc] {
        cuda::NvrtcOutput output;
        std::string failure;
        try {
          output = nvrtc.compile(job->source, "kernel.cu", job->options, &job->cancel);
        } catch (const std::exception& e) {
          failure = e.what();
        }
        const std::lock_guard guard(board->mutex);
        job->output = std::move(output);
        job->failure = std::move(failure);
        job->done = true;
        board->changed.notify_all();
      }).detach();
    }
    if (running.empty()) break;
    Clock::time_point first = running.front().second;
    for (const auto& [index, deadline] : running) first = std::min(first, deadline);
    board->changed.wait_until(lock, first, [&] {
      return std::any_of(running.begin(), running.end(),
                         [&](const auto& r) { return started[r.first]->done; });
    });
    const Clock::time_point now = Clock::now();
    std::erase_if(running, [&](const std::pair<size_t, Clock::time_point>& r) {
      CompileJob& job = *started[r.first];
      CompileOutcome& outcome = outcomes[r.first];
      if (job.done) {
        if (!job.failure.empty()) {
          outcome = {ErrorCode::kCompileDevice, job.failure, ""};
        } else if (job.output.cancelled) {
          outcome = {ErrorCode::kBuildTimeout, "NVRTC was stopped at the timeout", ""};
        } else if (!job.output.ok) {
          outcome = {ErrorCode::kCompileDevice, "NVRTC: " + tail(job.output.log), ""};
        } else {
          outcome = {ErrorCode::kNone, "", std::move(job.output.binary)};
        }
        return true;
      }
      if (now < r.second) return false;
      job.cancel = true;
      outcome = {ErrorCode::kBuildTimeout, fmt::format("NVRTC took over {} s", timeout_seconds),
                 ""};
      return true;
    });
  }
  return outcomes;
}

// The primary context of device 0 (CUDA_VISIBLE_DEVICES picks which GPU that is).
class Device {
 public:
  Device() : driver_(cuda::Driver::get()) {
    int count = 0;
    driver_.check(driver_.cuDeviceGetCount(&count), "cuDeviceGetCount");
    AXNN_CHECK(count > 0, "CUDA not available: the NVIDIA driver sees no GPU");
    driver_.check(driver_.cuDeviceGet(&device_, 0), "cuDeviceGet");
    char name[256] = {};
    driver_.check(driver_.cuDeviceGetName(name, sizeof(name) - 1, device_), "cuDeviceGetName");
    name_ = name;
    major_ = attribute(cuda::kAttrComputeCapabilityMajor);
    minor_ = attribute(cuda::kAttrComputeCapabilityMinor);
    sms_ = attribute(cuda::kAttrMultiprocessorCount);
    limits_.max_threads_per_block =
        std::min<int64_t>(limits_.max_threads_per_block, attribute(cuda::kAttrMaxThreadsPerBlock));
    limits_.max_shared_bytes =
        std::min<int64_t>(limits_.max_shared_bytes, attribute(cuda::kAttrMaxSharedMemoryPerBlock));
    driver_.check(driver_.cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain");
  }
  ~Device() { driver_.cuDevicePrimaryCtxRelease(device_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const cuda::Driver& driver() const { return driver_; }
  // The calling thread's current context: the tuner may run kernels on any thread.
  void make_current() const { driver_.check(driver_.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); }
  const std::string& name() const { return name_; }
  int arch() const { return major_ * 10 + minor_; }
  std::string description() const {
    return fmt::format("{} (compute capability {}.{}, {} SMs)", name_, major_, minor_, sms_);
  }
  const CudaLimits& limits() const { return limits_; }

 private:
  int attribute(int which) const {
    int value = 0;
    driver_.check(driver_.cuDeviceGetAttribute(&value, which, device_), "cuDeviceGetAttribute");
    return value;
  }

  const cuda::Driver& driver_;
  cuda::CUdevice device_ = 0;
  cuda::CUcontext context_ = nullptr;
  std::string name_;
  int major_ = 0, minor_ = 0, sms_ = 0;
  CudaLimits limits_;
};

class DeviceBuffer {
 public:
  DeviceBuffer(std::shared_ptr<const Device> device, const std::vector<float>& host)
      : device_(std::move(device)), bytes_(host.size() * sizeof(float)) {
    const cuda::Driver& d = device_->driver();
    d.check(d.cuMemAlloc(&pointer_, bytes_), "cuMemAlloc");
    d.check(d.cuMemcpyHtoD(pointer_, host.data(), bytes_), "cuMemcpyHtoD");
  }
  ~DeviceBuffer() { device_->driver().cuMemFree(pointer_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  cuda::CUdeviceptr pointer() const { return pointer_; }

 private:
  std::shared_ptr<const Device> device_;
  size_t bytes_;
  cuda::CUdeviceptr pointer_ = 0;
};

// A shape's operands on the device and its expected output, shared by all its candidates.
struct Problem {
  Problem(std::shared_ptr<const Device> device, const Conv2dShape& shape,
          const ConvOperands& operands)
      : shape(shape),
        expected(conv2d_ref(shape, operands)),
        src(device, operands.src),
        weight(device, operands.weights),
        dst(device, expected) {}
  Conv2dShape shape;
  std::vector<float> expected;
  DeviceBuffer src, weight, dst;
};

class Module {
 public:
  Module(std::shared_ptr<const Device> device, const std::string& image)
      : device_(std::move(device)) {
    const cuda::Driver& d = device_->driver();
    d.check(d.cuModuleLoadData(&module_, image.data()), "cuModuleLoadData");
    d.check(d.cuModuleGetFunction(&function_, module_, kCudaKernelName), "cuModuleGetFunction");
  }
  ~Module() {
    if (module_) device_->driver().cuModuleUnload(module_);
  }
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  cuda::CUfunction function() const { return function_; }

 private:
  std::shared_ptr<const Device> device_;
  cuda::CUmodule module_ = nullptr;
  cuda::CUfunction function_ = nullptr;
};

class CudaKernel final : public Kernel {
 public:
  CudaKernel(std::shared_ptr<const Device> device, std::shared_ptr<const Problem> problem,
             std::unique_ptr<Module> module, CudaLaunch launch)
      : device_(std::move(device)),
        problem_(std::move(problem)),
        module_(std::move(module)),
        launch_(launch) {}

  void run() override {
    device_->make_current();
    cuda::CUdeviceptr src = problem_->src.pointer(), weight = problem_->weight.pointer(),
                      dst = problem_->dst.pointer();
    void* params[] = {&src, &weight, &dst};
    const cuda::Driver& d = device_->driver();
    d.check(
        d.cuLaunchKernel(module_->function(), static_cast<unsigned>(launch_.grid), 1, 1,
                         static_cast<unsigned>(launch_.block), 1, 1, 0, nullptr, params, nullptr),
        "cuLaunchKernel");
  }

  void sync() override {
    device_->make_current();
    device_->driver().check(device_->driver().cuCtxSynchronize(), "cuCtxSynchronize");
  }

  std::string check() override {
    const cuda::Driver& d = device_->driver();
    const std::vector<float>& expected = problem_->expected;
    device_->make_current();
    // NaN everywhere first: an output the kernel fails to write cannot pass.
    constexpr unsigned kQuietNan = 0x7fc00000u;
    d.check(d.cuMemsetD32(problem_->dst.pointer(), kQuietNan, expected.size()), "cuMemsetD32");
    run();
    sync();
    std::vector<float> actual(expected.size());
    d.check(d.cuMemcpyDtoH(actual.data(), problem_->dst.pointer(), actual.size() * sizeof(float)),
            "cuMemcpyDtoH");
    return compare_conv2d(problem_->shape, expected, actual.data());
  }

 private:
  std::shared_ptr<const Device> device_;
  std::shared_ptr<const Problem> problem_;
  std::unique_ptr<Module> module_;
  CudaLaunch launch_;
};

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
}

// The exported driver: fills the operands like the tuner (integers in [-3, 3]), warms up, times
// ITERATIONS launches with CUDA events and prints the seeds' lines; --check compares the output
// with plain loops on the host.
constexpr const char* kDriverTemplate =
    R"(// Times the axnn conv2d kernel in kernel.cu: @SHAPE@ (N,H,W,CO,CI,KH,KW,stride,pad).
// Usage: @NAME@ [iterations=100] [--check]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" __global__ void @KERNEL@(const float* __restrict__ src, const float* __restrict__ weight,
                                    float* __restrict__ dst);

#define CHECK_CUDA(call)                                                               \
  do {                                                                                 \
    const cudaError_t status = (call);                                                 \
    if (status != cudaSuccess) {                                                       \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(status));      \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

namespace {

const long kN = @N@, kH = @H@, kW = @W@, kCO = @CO@, kCI = @CI@, kKH = @KH@, kKW = @KW@;
const long kStride = @STRIDE@, kPad = @PAD@, kOH = @OH@, kOW = @OW@;

void launch(const float* src, const float* weight, float* dst) {
  @KERNEL@<<<@GRID@, @BLOCK@>>>(src, weight, dst);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 100;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check") == 0) {
      check = true;
    } else {
      iterations = std::atoi(argv[i]);
      if (iterations < 1) {
        std::fprintf(stderr, "iterations must be a positive integer, not '%s'\n", argv[i]);
        return 2;
      }
    }
  }
  std::vector<float> src(kN * kCI * kH * kW), weight(kCO * kCI * kKH * kKW);
  std::vector<float> dst(kN * kCO * kOH * kOW);
  unsigned state = 1;
  const auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int>(state >> 16) % 7 - 3);
  };
  for (float& x : src) x = next();
  for (float& x : weight) x = next();
  float *d_src, *d_weight, *d_dst;
  CHECK_CUDA(cudaMalloc(&d_src, src.size() * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&d_weight, weight.size() * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&d_dst, dst.size() * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(d_src, src.data(), src.size() * sizeof(float), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_weight, weight.data(), weight.size() * sizeof(float),
                        cudaMemcpyHostToDevice));
  launch(d_src, d_weight, d_dst);  // warm-up
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaDeviceSynchronize());
  if (check) {
    CHECK_CUDA(cudaMemcpy(dst.data(), d_dst, dst.size() * sizeof(float), cudaMemcpyDeviceToHost));
    for (long n = 0; n < kN; ++n)
      for (long co = 0; co < kCO; ++co)
        for (long y = 0; y < kOH; ++y)
          for (long x = 0; x < kOW; ++x) {
            long long sum = 0;
            for (long ci = 0; ci < kCI; ++ci)
              for (long ky = 0; ky < kKH; ++ky)
                for (long kx = 0; kx < kKW; ++kx) {
                  const long iy = y * kStride + ky - kPad, ix = x * kStride + kx - kPad;
                  if (iy < 0 || iy >= kH || ix < 0 || ix >= kW) continue;
                  sum += static_cast<long long>(src[((n * kCI + ci) * kH + iy) * kW + ix]) *
                         static_cast<long long>(weight[((co * kCI + ci) * kKH + ky) * kKW + kx]);
                }
            const float got = dst[((n * kCO + co) * kOH + y) * kOW + x];
            if (got != static_cast<float>(sum)) {
              std::fprintf(stderr, "Check failed at [%ld, %ld, %ld, %ld]: expected %lld, got %g\n",
                           n, co, y, x, sum, got);
              return 1;
            }
          }
    std::printf("Check: ok\n");
  }
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i) launch(d_src, d_weight, d_dst);
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  CHECK_CUDA(cudaGetLastError());
  float total_ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&total_ms, start, stop));
  const double mean_ms = static_cast<double>(total_ms) / iterations;
  const double flops = @FLOPS@;
  std::printf("GFLOP/s: %.2f\n", flops / (mean_ms * 1e-3) / 1e9);
  std::printf("Mean time per iteration: %.6f ms\n", mean_ms);
  CHECK_CUDA(cudaFree(d_src));
  CHECK_CUDA(cudaFree(d_weight));
  CHECK_CUDA(cudaFree(d_dst));
  return 0;
}
)";

class CudaBackend final : public Backend {
 public:
  CudaBackend() : nvrtc_(cuda::Nvrtc::get()), device_(std::make_shared<const Device>()) {
    // CUBIN for the device's own architecture when NVRTC knows it, else PTX for the newest older
    // one, which the driver compiles for the device on load.
    const std::vector<int> archs = nvrtc_.supported_archs();
    const int arch = device_->arch();
    if (std::find(archs.begin(), archs.end(), arch) != archs.end()) {
      options_ = cuda_compile_options(arch, true);
    } else {
      int best = 0;
      for (const int a : archs)
        if (a <= arch) best = std::max(best, a);
      AXNN_CHECK(best > 0, "NVRTC {} cannot compile for {}: it supports sm_{} to sm_{}",
                 nvrtc_.version(), device_->description(), archs.empty() ? 0 : archs.front(),
                 archs.empty() ? 0 : archs.back());
      options_ = cuda_compile_options(best, false);
    }
    spdlog::info("cuda: {} with NVRTC {} ({})", device_->description(), nvrtc_.version(),
                 fmt::join(options_, " "));
  }

  Target target() const override { return Target::kCuda; }
  std::string device() const override { return device_->description(); }

  // The thread count is a set of knobs here; `threads` (a CPU setting) does not apply.
  Space space(const Conv2dShape& shape, int) const override {
    return cuda_conv2d_space(shape, device_->limits());
  }

  std::string generate(const Conv2dShape& shape, const Config& config) const override {
    return generate_cuda_conv2d(shape, config, device_->limits());
  }

  std::vector<Built> build(const Conv2dShape& shape, const std::vector<Config>& configs,
                           const BuildOptions& options) override {
    check_conv2d_shape(shape, "cuda build");
    const std::filesystem::path cache =
        options.cache_dir.empty() ? default_kernel_cache() : options.cache_dir;
    std::filesystem::create_directories(cache);
    const Space space = this->space(shape, 0);
    const bool cubin = options_.front().find("=sm_") != std::string::npos;
    uint64_t identity = fnv1a(nvrtc_.version() + "\n");
    for (const std::string& option : options_) identity = fnv1a(option + "\n", identity);

    std::vector<Built> built(configs.size());
    std::vector<std::string> sources(configs.size()), to_compile(configs.size());
    std::vector<std::filesystem::path> binaries(configs.size());
    std::vector<CompileOutcome> cached(configs.size());
    for (size_t i = 0; i < configs.size(); ++i) {
      if (std::string why = space.why_invalid(configs[i]); !why.empty()) {
        built[i].error_code = ErrorCode::kInstantiation;
        built[i].error = std::move(why);
        continue;
      }
      sources[i] = kernel_source(Schedule(shape, configs[i]), configs[i]);
      binaries[i] = cache / fmt::format("conv2d_{:016x}.{}", fnv1a(sources[i], identity),
                                        cubin ? "cubin" : "ptx");
      if (std::filesystem::exists(binaries[i]))
        cached[i].binary = read_text_file(binaries[i], "cached CUDA kernel");
      else
        to_compile[i] = sources[i];
    }
    const int jobs = options.jobs > 0
                         ? options.jobs
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<CompileOutcome> compiled =
        compile_all(to_compile, options_, jobs, options.timeout_seconds);

    for (size_t i = 0; i < configs.size(); ++i) {
      if (sources[i].empty()) continue;
      CompileOutcome& outcome = to_compile[i].empty() ? cached[i] : compiled[i];
      if (outcome.code != ErrorCode::kNone) {
        built[i].error_code = outcome.code;
        built[i].error = std::move(outcome.error);
        continue;
      }
      if (!to_compile[i].empty()) {
        try {
          store(binaries[i], sources[i], outcome.binary);
        } catch (const std::exception& e) {  // the kernel is in memory: only the cache misses it
          spdlog::warn("cannot cache the CUDA kernel {}: {}", binaries[i].string(), e.what());
        }
      }
      built[i] = load_and_check(shape, configs[i], outcome.binary);
    }
    return built;
  }

  std::map<std::string, std::string> export_files(const Conv2dShape& shape, const Config& config,
                                                  const std::string& name) const override {
    check_workload_name(name, "cuda export name");
    const std::string source = generate(shape, config);
    const CudaLaunch launch = cuda_conv2d_launch(shape, config);
    std::string driver = kDriverTemplate;
    const std::vector<std::pair<std::string, std::string>> values = {
        {"@SHAPE@", shape.str()},
        {"@NAME@", name},
        {"@KERNEL@", kCudaKernelName},
        {"@N@", std::to_string(shape.n)},
        {"@H@", std::to_string(shape.h)},
        {"@W@", std::to_string(shape.w)},
        {"@CO@", std::to_string(shape.co)},
        {"@CI@", std::to_string(shape.ci)},
        {"@KH@", std::to_string(shape.kh)},
        {"@KW@", std::to_string(shape.kw)},
        {"@STRIDE@", std::to_string(shape.stride)},
        {"@PAD@", std::to_string(shape.pad)},
        {"@OH@", std::to_string(shape.oh())},
        {"@OW@", std::to_string(shape.ow())},
        {"@GRID@", std::to_string(launch.grid)},
        {"@BLOCK@", std::to_string(launch.block)},
        {"@FLOPS@", fmt::format("{:.1f}", shape.flops())},
    };
    for (const auto& [from, to] : values) replace_all(driver, from, to);
    const std::string cmake = fmt::format(
        "# {}: axnn conv2d {} tuned on {}\n"
        "add_executable({} {}/kernel.cu {}/driver.cu)\n"
        "set_target_properties({} PROPERTIES CUDA_ARCHITECTURES {})\n",
        name, shape.str(), device_->description(), name, name, name, name, device_->arch());
    return {{"kernel.cu", source}, {"driver.cu", driver}, {"CMakeLists.part", cmake}};
  }

 private:
  // Written under a unique name and renamed into place: another process may store it too.
  static void store(const std::filesystem::path& binary, const std::string& source,
                    const std::string& image) {
    const std::string unique =
        fmt::format(".{}.{}", ::getpid(), std::hash<std::thread::id>{}(std::this_thread::get_id()));
    std::filesystem::path source_file = binary;
    source_file.replace_extension(".cu");
    write_text_file(source_file.string() + unique, source);
    write_text_file(binary.string() + unique, image);
    std::filesystem::rename(source_file.string() + unique, source_file);
    std::filesystem::rename(binary.string() + unique, binary);
  }

  Built load_and_check(const Conv2dShape& shape, const Config& config, const std::string& image) {
    Built built;
    std::unique_ptr<Module> module;
    try {
      device_->make_current();
      module = std::make_unique<Module>(device_, image);
    } catch (const Error& e) {
      built.error_code = ErrorCode::kCompileDevice;
      built.error = e.what();
      return built;
    }
    try {
      auto kernel = std::make_unique<CudaKernel>(device_, problem(shape), std::move(module),
                                                 cuda_conv2d_launch(shape, config));
      if (std::string wrong = kernel->check(); !wrong.empty()) {
        built.error_code = ErrorCode::kWrongAnswer;
        built.error = std::move(wrong);
        return built;
      }
      built.kernel = std::move(kernel);
    } catch (const Error& e) {
      built.error_code = ErrorCode::kRuntimeDevice;
      built.error = e.what();
    }
    return built;
  }

  // The last shape's problem: the tuner builds one shape's candidates round after round.
  std::shared_ptr<const Problem> problem(const Conv2dShape& shape) {
    if (!problem_ || !(problem_->shape == shape)) {
      device_->make_current();
      problem_ =
          std::make_shared<const Problem>(device_, shape, conv2d_operands(shape, kOperandSeed));
    }
    return problem_;
  }

  const cuda::Nvrtc& nvrtc_;
  std::shared_ptr<const Device> device_;
  std::vector<std::string> options_;
  std::shared_ptr<const Problem> problem_;
};

}  // namespace

Space cuda_conv2d_space(const Conv2dShape& shape, const CudaLimits& limits) {
  check_conv2d_shape(shape, "cuda conv2d space");
  std::vector<Knob> knobs;
  for (const auto& [name, extent] :
       {std::pair<std::string, int64_t>{"co", shape.co}, {"oh", shape.oh()}, {"ow", shape.ow()}}) {
    knobs.push_back({name + "_vthread", tile_values(extent, kMaxVthread)});
    knobs.push_back({name + "_thread", tile_values(extent, limits.max_threads_per_block)});
    knobs.push_back({name + "_inner", tile_values(extent, kMaxInner)});
  }
  knobs.push_back({"rc_inner", tile_values(shape.ci, kMaxRcInner)});
  knobs.push_back({"stage_input", {0, 1}});
  knobs.push_back({"stage_weight", {0, 1}});
  knobs.push_back({"unroll_max_step", kUnrollSteps});
  return Space(
      std::move(knobs),
      [shape, limits](const Config& c) { return why_invalid(Schedule(shape, c), limits); },
      [shape](const Config& c) { return features_of(Schedule(shape, c)); });
}

CudaLaunch cuda_conv2d_launch(const Conv2dShape& shape, const Config& config) {
  const Schedule k(shape, config);
  return {k.blocks(), k.threads(), k.shared_bytes()};
}

std::string generate_cuda_conv2d(const Conv2dShape& shape, const Config& config,
                                 const CudaLimits& limits) {
  const std::string why = cuda_conv2d_space(shape, limits).why_invalid(config);
  AXNN_CHECK(why.empty(), "conv2d {}: invalid cuda configuration: {}", shape.str(), why);
  return kernel_source(Schedule(shape, config), config);
}

std::vector<std::string> cuda_compile_options(int arch, bool cubin) {
  return {fmt::format("--gpu-architecture={}_{}", cubin ? "sm" : "compute", arch),
          "-default-device"};
}

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace axnn::tune
