#include "tune/lut_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <random>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
#include "tune/cpu_backend.h"
#include "tune/reference.h"

namespace axnn::tune {
namespace {

constexpr uint64_t kOperandSeed = 1;
constexpr int64_t kMinChunkKib = 64;
constexpr int64_t kMaxChunkKib = 16384;

// The operands and expected output of one shape, shared by all its candidates.
struct Problem {
  Conv2dShape shape;
  std::vector<uint8_t> src;      // N x CI x H x W codes
  std::vector<uint8_t> weights;  // CO x CI x KH x KW codes
  std::vector<int32_t> expected;
};

// dst[n][o][y][x] = sum lut[src code][weight code] (mod 2^32), padded inputs reading pad_code.
std::vector<int32_t> lut_conv2d_ref(const Conv2dShape& s, const Multiplier& mult,
                                    const std::vector<uint8_t>& src,
                                    const std::vector<uint8_t>& weights, int pad_code) {
  const int64_t oh = s.oh(), ow = s.ow();
  std::vector<int32_t> dst(static_cast<size_t>(s.n * s.co * oh * ow));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.co; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          uint32_t sum = 0;
          for (int64_t c = 0; c < s.ci; ++c)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t iy = y * s.stride - s.pad + i, ix = x * s.stride - s.pad + j;
                const int code = iy < 0 || iy >= s.h || ix < 0 || ix >= s.w
                                     ? pad_code
                                     : src[((n * s.ci + c) * s.h + iy) * s.w + ix];
                sum += static_cast<uint32_t>(
                    mult.at(code, weights[((o * s.ci + c) * s.kh + i) * s.kw + j]));
              }
          dst[((n * s.co + o) * oh + y) * ow + x] = static_cast<int32_t>(sum);
        }
  return dst;
}

class LutKernel final : public Kernel {
 public:
  LutKernel(kernels::LutConv2d conv, std::shared_ptr<const Problem> problem, int threads)
      : conv_(std::move(conv)),
        problem_(std::move(problem)),
        threads_(threads),
        dst_(problem_->expected.size()) {}

  void run() override { conv_.run(problem_->src.data(), dst_.data(), threads_); }

  std::string check() override {
    std::fill(dst_.begin(), dst_.end(), 0x5a5a5a5a);
    run();
    const auto [want, got] =
        std::mismatch(problem_->expected.begin(), problem_->expected.end(), dst_.begin());
    if (want == problem_->expected.end()) return "";
    const Conv2dShape& s = problem_->shape;
    const int64_t i = want - problem_->expected.begin(), oh = s.oh(), ow = s.ow();
    return fmt::format("[{}, {}, {}, {}]: expected {}, got {}", i / (ow * oh * s.co),
                       i / (ow * oh) % s.co, i / ow % oh, i % ow, *want, *got);
  }

 private:
  kernels::LutConv2d conv_;
  std::shared_ptr<const Problem> problem_;
  int threads_;
  std::vector<int32_t> dst_;
};

std::vector<int64_t> range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t v = first; v <= last; ++v) out.push_back(v);
  return out;
}

class LutBackend final : public Backend {
 public:
  explicit LutBackend(const Multiplier& mult) : mult_(mult), pad_code_(lut_pad_code(mult)) {
    // The kernel's table is lut[x][w] transposed: the weights are its stationary operand.
    const int codes = mult.codes();
    table_.resize(static_cast<size_t>(codes * codes));
    for (int x = 0; x < codes; ++x)
      for (int w = 0; w < codes; ++w) table_[static_cast<size_t>(w * codes + x)] = mult.at(x, w);
    // The impl this table gets at each level (a SIMD impl declines tables spanning more than 16
    // bits, and the next one down takes them), with its schedules.
    const std::vector<uint8_t> a(1, 0);
    for (int level = 0; level <= static_cast<int>(active_isa()); ++level) {
      kernels::LutGemmDesc desc;
      desc.table = table_;
      desc.bits = mult.bits();
      desc.a = a.data();
      desc.m = 1;
      desc.k = 1;
      desc.isa = static_cast<Isa>(level);
      impls_.emplace_back(kernels::LutGemm::create(desc).impl_name());
    }
  }

  Target target() const override { return Target::kCpu; }
  std::string op() const override { return "lut-conv2d"; }
  std::string dtype() const override { return mult_.name(); }

  std::string device() const override {
    const std::string model = cpuinfo_field("model name");
    return fmt::format("{} ({}, {} cores)", model.empty() ? "unknown CPU" : model,
                       isa_name(active_isa()), host_cpu_info().cores);
  }

  Space space(const Conv2dShape& shape, int threads) const override {
    size_t most = 0;
    for (const std::string& impl : impls_)
      most = std::max(most, kernels::lut_gemm_schedules(impl).size());
    std::vector<int64_t> chunks;
    for (int64_t kib = kMinChunkKib; kib <= kMaxChunkKib; kib *= 2) chunks.push_back(kib);
    std::vector<Knob> knobs = {
        {"isa", range(0, static_cast<int64_t>(impls_.size()) - 1)},
        {"schedule", range(0, static_cast<int64_t>(most))},
        {"chunk_kib", chunks},
        {"threads", threads > 0 ? std::vector<int64_t>{threads} : range(1, host_cpu_info().cores)},
    };
    const std::vector<std::string> impls = impls_;
    const double depth = double(shape.ci) * double(shape.kh) * double(shape.kw);
    const double positions = double(shape.n) * double(shape.oh()) * double(shape.ow());
    return Space(
        std::move(knobs),
        [impls](const Config& c) -> std::string {
          const std::string& impl = impls[static_cast<size_t>(c.at("isa"))];
          const size_t count = kernels::lut_gemm_schedules(impl).size();
          if (static_cast<size_t>(c.at("schedule")) > count)
            return fmt::format("schedule = {}: isa = {} runs impl {}, which has {} schedules",
                               c.at("schedule"), c.at("isa"), impl, count);
          return "";
        },
        [depth, positions](const Config& c) {
          const double chunk =
              std::min(std::max(double(c.at("chunk_kib")) * 1024.0 / depth, 64.0), positions);
          return std::vector<float>{float(c.at("isa")),
                                    float(c.at("schedule")),
                                    float(std::log2(double(c.at("chunk_kib")))),
                                    float(c.at("threads")),
                                    float(std::log2(chunk)),
                                    float(std::ceil(positions / chunk))};
        });
  }

  std::string generate(const Conv2dShape& shape, const Config& config) const override {
    const std::string why = space(shape, 0).why_invalid(config);
    AXNN_CHECK(why.empty(), "lut-conv2d {}: invalid configuration: {}", shape.str(), why);
    const std::string& impl = impls_[static_cast<size_t>(config.at("isa"))];
    const int64_t schedule = config.at("schedule");
    return fmt::format(
        "axnn LutConv2d (src/kernels/lut_conv.h) for conv2d {} with multiplier {} ({}-bit {}), "
        "pad code {}: isa <= {} (impl {}), schedule {}, im2col chunk {} KiB, {} threads\n",
        shape.str(), mult_.name(), mult_.bits(), signedness_name(mult_.is_signed()), pad_code_,
        isa_name(static_cast<Isa>(config.at("isa"))), impl,
        schedule == 0 ? std::string("chosen per run")
                      : std::string(kernels::lut_gemm_schedules(impl)[schedule - 1]),
        config.at("chunk_kib"), config.at("threads"));
  }

  std::vector<Built> build(const Conv2dShape& shape, const std::vector<Config>& configs,
                           const BuildOptions&) override {
    const Space space = this->space(shape, 0);
    std::vector<Built> built(configs.size());
    for (size_t i = 0; i < configs.size(); ++i) {
      Built& b = built[i];
      if (std::string why = space.why_invalid(configs[i]); !why.empty()) {
        b.error_code = ErrorCode::kInstantiation;
        b.error = std::move(why);
        continue;
      }
      const std::shared_ptr<const Problem> p = problem(shape);
      const Config& c = configs[i];
      const std::string& impl = impls_[static_cast<size_t>(c.at("isa"))];
      kernels::LutConv2dDesc desc;
      desc.batch = shape.n, desc.channels = shape.ci, desc.height = shape.h, desc.width = shape.w;
      desc.out_channels = shape.co, desc.kh = shape.kh, desc.kw = shape.kw;
      desc.stride_h = desc.stride_w = shape.stride;
      desc.pad_h = desc.pad_w = shape.pad;
      desc.table = table_;
      desc.bits = mult_.bits();
      desc.weights = p->weights.data();
      desc.pad_code = pad_code_;
      desc.im2col_bytes = c.at("chunk_kib") * 1024;
      desc.isa = static_cast<Isa>(c.at("isa"));
      if (c.at("schedule") > 0)
        desc.schedule =
            kernels::lut_gemm_schedules(impl)[static_cast<size_t>(c.at("schedule") - 1)];
      try {
        auto kernel = std::make_unique<LutKernel>(kernels::LutConv2d::create(desc), p,
                                                  static_cast<int>(c.at("threads")));
        if (std::string wrong = kernel->check(); !wrong.empty()) {
          b.error_code = ErrorCode::kWrongAnswer;
          b.error = std::move(wrong);
          continue;
        }
        b.kernel = std::move(kernel);
      } catch (const Error& e) {  // a shape the kernel refuses
        b.error_code = ErrorCode::kInstantiation;
        b.error = e.what();
      } catch (const std::bad_alloc&) {
        b.error_code = ErrorCode::kRuntimeDevice;
        b.error = "out of memory";
      }
    }
    return built;
  }

  std::map<std::string, std::string> export_files(const Conv2dShape& shape, const Config&,
                                                  const std::string&) const override {
    throw Error(fmt::format(
        "lut-conv2d {}: LUT-conv kernels are library kernels (src/kernels/lut_conv.h), nothing is "
        "generated to export; time them with `axnn bench lutgemm`",
        shape.str()));
  }

 private:
  std::shared_ptr<const Problem> problem(const Conv2dShape& shape) {
    return problems_.get(shape, [&] {
      auto p = std::make_shared<Problem>();
      p->shape = shape;
      std::mt19937_64 rng(kOperandSeed);
      std::uniform_int_distribution<int> code(0, mult_.codes() - 1);
      p->src.resize(static_cast<size_t>(shape.n * shape.ci * shape.h * shape.w));
      p->weights.resize(static_cast<size_t>(shape.co * shape.ci * shape.kh * shape.kw));
      for (uint8_t& v : p->src) v = static_cast<uint8_t>(code(rng));
      for (uint8_t& v : p->weights) v = static_cast<uint8_t>(code(rng));
      p->expected = lut_conv2d_ref(shape, mult_, p->src, p->weights, pad_code_);
      return p;
    });
  }

  Multiplier mult_;
  int pad_code_;
  std::vector<int32_t> table_;      // [w_code][x_code]
  std::vector<std::string> impls_;  // by isa level
  ProblemCache<Problem> problems_;
};

}  // namespace

int lut_pad_code(const Multiplier& mult) { return mult.is_signed() ? 0 : 1 << (mult.bits() - 1); }

std::unique_ptr<Backend> make_lut_backend(const Multiplier& mult) {
  return std::make_unique<LutBackend>(mult);
}

}  // namespace axnn::tune
