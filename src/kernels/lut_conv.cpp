// LUT-conv as an im2col GEMM per group over LutGemm.
//
// Layout. src is NCHW codes, the weights OIHW codes, dst NCHW int32. For group g the stationary
// operand A is the group's weights as a [C/groups x KH x KW]-deep matrix of O/groups rows
// (contiguous in OIHW), packed once by create(). The streamed operand B is
// cols[k][q] = src[n][g C/groups + c][y S_h - P_h + i D_h][x S_w - P_w + j D_w] (pad_code outside
// the input), k = (c, i, j) over the group's channels and the window, q = (n, y, x) over every
// output position of every image, so the whole batch is one GEMM per group:
// dst_g[o][q] = sum_k table[w_g[o][k]][cols[k][q]].
//
// Blocking. cols is never built for the whole batch: the columns are taken chunk_columns() at a
// time (im2col_bytes / depth, at least 64, so that a chunk streams from L2), a chunk may start and
// end anywhere in an output row or image, and each chunk's O/groups x chunk result is scattered
// into dst. im2col is parallel over k (each thread writes whole rows of cols, walking the chunk one
// output row segment at a time: a memcpy of one input row for stride 1, padding by memset), the
// GEMM over its own threads, the scatter over the output channels (copying, or dequantizing into
// fp32 on the way). cols and the result are the calling thread's scratch, kept between runs.
#include "kernels/lut_conv.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/profile.h"
#include "kernels/lut_gemm.h"
#include "kernels/term_gemm.h"

namespace axnn::kernels {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr double kMaxElements = 9.0e15;  // far from int64 overflow in any index product
constexpr int64_t kMinChunkColumns = 64;
constexpr int kMaxThreads = 1024;

constexpr std::string_view kRefSchedules[] = {"rows"};
constexpr std::string_view kAvx2Schedules[] = {"table-load-over-m", "table-load-over-n",
                                               "table-load-16-over-m", "columns-over-m"};
constexpr std::string_view kAvx512Schedules[] = {"table-load-over-m", "table-load-over-n",
                                                 "planes-over-m", "planes-over-n",
                                                 "table-load-16-over-m"};

// ceil(a / b) for b > 0 and any sign of a.
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

thread_local std::vector<uint8_t> cols_scratch;
thread_local std::vector<int32_t> result_scratch;

// Checks run()'s arguments; returns the thread count to use.
int checked_threads(const void* src, const void* dst, int threads) {
  AXNN_CHECK(src != nullptr, "LutConv2d::run: src is null");
  AXNN_CHECK(dst != nullptr, "LutConv2d::run: dst is null");
  AXNN_CHECK(threads >= 0 && threads <= kMaxThreads, "LutConv2d::run: threads = {}: expected 0..{}",
             threads, kMaxThreads);
  return threads == 0 ? omp_get_max_threads() : threads;
}

}  // namespace

class LutConv2d::State {
 public:
  LutConv2dDesc geometry;  // table, weights and schedule cleared: only the sizes are kept
  int64_t group_channels = 0, group_out = 0, oh = 0, ow = 0, chunk = 0;
  uint8_t pad = 0;
  std::vector<LutGemm> gemms;        // one per group, or
  std::vector<TermGemm> term_gemms;  // one per group for product terms

  int64_t depth() const { return group_channels * geometry.kh * geometry.kw; }
  int64_t positions() const { return oh * ow; }

  // With stride 1 and as many output as input columns, the window offset (i, j) maps output
  // position p of an image to input position p + (i D_h - P_h) W + (j D_w - P_w): one copy of the
  // image's rows that lie inside, then padding for the rows above and below and the columns a
  // horizontal offset pushes outside.
  bool shift_copies_images = false;

  // cols[k][q] of one whole image for window offset (i, j), `plane` the image's input channel.
  void shifted_image(const uint8_t* plane, int64_t i, int64_t j, uint8_t* dst) const {
    const LutConv2dDesc& s = geometry;
    const int64_t w = s.width, di = i * s.dilation_h - s.pad_h, dj = j * s.dilation_w - s.pad_w;
    const int64_t y0 = std::clamp(-di, int64_t{0}, oh), y1 = std::clamp(s.height - di, y0, oh);
    std::memset(dst, pad, static_cast<size_t>(y0 * w));
    std::memset(dst + y1 * w, pad, static_cast<size_t>((oh - y1) * w));
    if (y1 == y0) return;
    // The flat range of rows y0..y1, less what would read before or after the plane (border
    // columns, padded below).
    const int64_t offset = di * w + dj;
    const int64_t begin = std::max(y0 * w, -offset);
    const int64_t end = std::min(y1 * w, s.height * w - offset);
    if (end > begin) std::memcpy(dst + begin, plane + begin + offset, static_cast<size_t>(end - begin));
    const int64_t left = std::clamp(-dj, int64_t{0}, w), right = std::clamp(w - dj, left, w);
    // Column by column: the borders are a few bytes a row, too short for memset calls.
    for (int64_t x = 0; x < left; ++x)
      for (int64_t y = y0; y < y1; ++y) dst[y * w + x] = pad;
    for (int64_t x = right; x < w; ++x)
      for (int64_t y = y0; y < y1; ++y) dst[y * w + x] = pad;
  }

  // cols[k][q] for q in [q0, q0 + count) of group g.
  void im2col(const uint8_t* src, int64_t g, int64_t q0, int64_t count, uint8_t* cols,
              int threads) const {
    const LutConv2dDesc& s = geometry;
    const int64_t kernel = s.kh * s.kw, depth = this->depth();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t k = 0; k < depth; ++k) {
      const int64_t c = k / kernel, i = k / s.kw % s.kh, j = k % s.kw;
      uint8_t* dst = cols + k * count;
      int64_t n = q0 / positions(), y = q0 % positions() / ow, xo = q0 % ow;
      for (int64_t q = 0; q < count;) {
        if (shift_copies_images && y == 0 && xo == 0 && count - q >= positions()) {
          const uint8_t* plane = src + (n * s.channels + g * group_channels + c) * s.height * s.width;
          shifted_image(plane, i, j, dst + q);
          q += positions();
          ++n;
          continue;
        }
        // The rest of output row y of image n: one input row, or padding.
        const int64_t len = std::min(ow - xo, count - q);
        const int64_t ih = y * s.stride_h - s.pad_h + i * s.dilation_h;
        if (ih < 0 || ih >= s.height) {
          std::memset(dst + q, pad, static_cast<size_t>(len));
        } else {
          const uint8_t* row =
              src + ((n * s.channels + g * group_channels + c) * s.height + ih) * s.width;
          // Output columns t in [t0, t1) read inside the row, the others padding.
          const int64_t first = xo * s.stride_w - s.pad_w + j * s.dilation_w;  // iw of t = 0
          const int64_t t0 = std::clamp(ceil_div(-first, s.stride_w), int64_t{0}, len);
          const int64_t t1 = std::clamp(ceil_div(s.width - first, s.stride_w), t0, len);
          std::memset(dst + q, pad, static_cast<size_t>(t0));
          if (s.stride_w == 1) {
            std::memcpy(dst + q + t0, row + first + t0, static_cast<size_t>(t1 - t0));
          } else {
            for (int64_t t = t0; t < t1; ++t) dst[q + t] = row[first + t * s.stride_w];
          }
          std::memset(dst + q + t1, pad, static_cast<size_t>(len - t1));
        }
        q += len;
        xo += len;
        if (xo == ow) {
          xo = 0;
          if (++y == oh) y = 0, ++n;
        }
      }
    }
  }

  // dst[n][g * group_out + o][p] = store(result[o][q]) for the chunk's columns q = (n, p);
  // store(o, src, dst, len) writes one run of a channel.
  template <class Out, class Store>
  void scatter(const int32_t* result, int64_t g, int64_t q0, int64_t count, Out* dst, int threads,
               const Store& store) const {
    const int64_t out_channels = geometry.out_channels, positions = this->positions();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t o = 0; o < group_out; ++o) {
      for (int64_t q = 0; q < count;) {
        const int64_t n = (q0 + q) / positions, p = (q0 + q) % positions;
        const int64_t len = std::min(positions - p, count - q);
        store(g * group_out + o, result + o * count + q,
              dst + (n * out_channels + g * group_out + o) * positions + p, len);
        q += len;
      }
    }
  }

  template <class Out, class Store>
  void run(const uint8_t* src, Out* dst, int threads, const Store& store) const;
};

LutConv2d LutConv2d::create(const LutConv2dDesc& desc) {
  const auto check_dim = [](int64_t value, const char* field, int64_t min) {
    AXNN_CHECK(value >= min && value < kMaxDim, "LutConv2dDesc.{} = {}: expected {}..{}", field,
               value, min, kMaxDim - 1);
  };
  check_dim(desc.batch, "batch", 1);
  check_dim(desc.channels, "channels", 1);
  check_dim(desc.height, "height", 1);
  check_dim(desc.width, "width", 1);
  check_dim(desc.out_channels, "out_channels", 1);
  check_dim(desc.kh, "kh", 1);
  check_dim(desc.kw, "kw", 1);
  check_dim(desc.groups, "groups", 1);
  check_dim(desc.stride_h, "stride_h", 1);
  check_dim(desc.stride_w, "stride_w", 1);
  check_dim(desc.pad_h, "pad_h", 0);
  check_dim(desc.pad_w, "pad_w", 0);
  check_dim(desc.dilation_h, "dilation_h", 1);
  check_dim(desc.dilation_w, "dilation_w", 1);
  AXNN_CHECK(desc.channels % desc.groups == 0 && desc.out_channels % desc.groups == 0,
             "LutConv2dDesc.groups = {} must divide channels = {} and out_channels = {}",
             desc.groups, desc.channels, desc.out_channels);
  AXNN_CHECK(desc.bits >= 2 && desc.bits <= 8, "LutConv2dDesc.bits = {}: expected 2..8", desc.bits);
  AXNN_CHECK(desc.pad_code >= 0 && desc.pad_code < (1 << desc.bits),
             "LutConv2dDesc.pad_code = {} is not a {}-bit code", desc.pad_code, desc.bits);
  AXNN_CHECK(desc.weights != nullptr, "LutConv2dDesc.weights is null");
  AXNN_CHECK(desc.im2col_bytes >= 1 && desc.im2col_bytes < kMaxDim,
             "LutConv2dDesc.im2col_bytes = {}: expected 1..{}", desc.im2col_bytes, kMaxDim - 1);

  auto state = std::make_shared<State>();
  State& s = *state;
  s.group_channels = desc.channels / desc.groups;
  s.group_out = desc.out_channels / desc.groups;
  // As the op always computed them (integer division truncating toward zero); every term is below
  // 2^62, so nothing overflows.
  const int64_t oh =
      (desc.height + 2 * desc.pad_h - desc.dilation_h * (desc.kh - 1) - 1) / desc.stride_h + 1;
  const int64_t ow =
      (desc.width + 2 * desc.pad_w - desc.dilation_w * (desc.kw - 1) - 1) / desc.stride_w + 1;
  AXNN_CHECK(oh >= 1 && ow >= 1,
             "LutConv2dDesc: the {}x{} window (dilation {}x{}) does not fit the {}x{} input "
             "padded by {}x{}",
             desc.kh, desc.kw, desc.dilation_h, desc.dilation_w, desc.height, desc.width,
             desc.pad_h, desc.pad_w);
  s.oh = oh;
  s.ow = ow;
  const double src_elements = double(desc.batch) * desc.channels * desc.height * desc.width;
  const double dst_elements = double(desc.batch) * desc.out_channels * s.oh * s.ow;
  const double depth = double(s.group_channels) * double(desc.kh) * double(desc.kw);
  const double weight_elements = double(desc.out_channels) * depth;
  AXNN_CHECK(src_elements < kMaxElements && dst_elements < kMaxElements &&
                 weight_elements < kMaxElements && depth < kMaxDim,
             "LutConv2dDesc: {} src, {} dst and {} weight elements (depth {}) are too many",
             src_elements, dst_elements, weight_elements, depth);

  s.geometry = desc;
  s.geometry.table = {};
  s.geometry.weights = nullptr;
  s.pad = static_cast<uint8_t>(desc.pad_code);
  s.shift_copies_images = desc.stride_h == 1 && desc.stride_w == 1 && s.ow == desc.width;
  const int64_t total = desc.batch * s.positions();
  s.chunk = std::min(std::max(desc.im2col_bytes / s.depth(), kMinChunkColumns), total);
  for (int64_t g = 0; g < desc.groups && desc.terms; ++g) {
    TermGemmDesc gemm;
    gemm.terms = *desc.terms;
    gemm.a = desc.weights + g * s.group_out * s.depth();
    gemm.m = s.group_out;
    gemm.k = s.depth();
    s.term_gemms.push_back(TermGemm::create(gemm));
  }
  for (int64_t g = 0; g < desc.groups && !desc.terms; ++g) {
    LutGemmDesc gemm;
    gemm.table = desc.table;
    gemm.bits = desc.bits;
    gemm.a = desc.weights + g * s.group_out * s.depth();
    gemm.m = s.group_out;
    gemm.k = s.depth();
    gemm.isa = desc.isa;
    gemm.schedule = desc.schedule;
    s.gemms.push_back(LutGemm::create(gemm));
  }
  return LutConv2d(std::move(state));
}

template <class Out, class Store>
void LutConv2d::State::run(const uint8_t* src, Out* dst, int threads, const Store& store) const {
  const int64_t total = geometry.batch * positions();
  if (cols_scratch.size() < static_cast<size_t>(depth() * chunk))
    cols_scratch.resize(static_cast<size_t>(depth() * chunk));
  if (result_scratch.size() < static_cast<size_t>(group_out * chunk))
    result_scratch.resize(static_cast<size_t>(group_out * chunk));
  uint8_t* cols = cols_scratch.data();
  int32_t* result = result_scratch.data();
  for (int64_t g = 0; g < geometry.groups; ++g) {
    for (int64_t q0 = 0; q0 < total; q0 += chunk) {
      const int64_t count = std::min(chunk, total - q0);
      {
        const profile::StageScope timer("im2col");
        im2col(src, g, q0, count, cols, threads);
      }
      if (gemms.empty()) {
        const profile::StageScope timer("kernel");
        term_gemms[static_cast<size_t>(g)].run(cols, count, result, count, count, threads);
      } else {
        gemms[static_cast<size_t>(g)].run(cols, count, result, count, count, threads);
      }
      const profile::StageScope timer("scatter");
      scatter(result, g, q0, count, dst, threads, store);
    }
  }
}

void LutConv2d::run(const uint8_t* src, int32_t* dst, int threads) const {
  threads = checked_threads(src, dst, threads);
  state_->run(src, dst, threads, [](int64_t, const int32_t* from, int32_t* to, int64_t len) {
    std::memcpy(to, from, static_cast<size_t>(len) * sizeof(int32_t));
  });
}

void LutConv2d::run(const uint8_t* src, float* dst, const float* divisors, int threads) const {
  threads = checked_threads(src, dst, threads);
  AXNN_CHECK(divisors != nullptr, "LutConv2d::run: divisors is null");
  state_->run(src, dst, threads, [divisors](int64_t o, const int32_t* from, float* to, int64_t len) {
    const float d = divisors[o];
    if (!(d > 0)) {
      std::fill(to, to + len, 0.0f);
      return;
    }
    for (int64_t i = 0; i < len; ++i) to[i] = static_cast<float>(from[i]) / d;
  });
}

int64_t LutConv2d::out_height() const { return state_->oh; }
int64_t LutConv2d::out_width() const { return state_->ow; }
int64_t LutConv2d::chunk_columns() const { return state_->chunk; }
std::string LutConv2d::impl_name() const {
  const State& s = *state_;
  return s.gemms.empty() ? s.term_gemms.front().impl_name() : std::string(s.gemms.front().impl_name());
}
std::string_view LutConv2d::schedule() const {
  const State& s = *state_;
  return s.gemms.empty() ? "terms" : s.gemms.front().schedule(s.chunk);
}

std::span<const std::string_view> lut_gemm_schedules(std::string_view impl) {
  if (impl == "ref") return kRefSchedules;
  if (impl == "avx2") return kAvx2Schedules;
  if (impl == "avx512") return kAvx512Schedules;
  throw Error(
      fmt::format("lut_gemm_schedules: unknown impl '{}' (expected ref, avx2 or avx512)", impl));
}

}  // namespace axnn::kernels
