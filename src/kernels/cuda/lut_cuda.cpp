// The host side of the CUDA kernels: every argument is checked here (naming the field at fault)
// before any CUDA call, so a bad call fails the same with or without a GPU; then the launch
// functions of lut_cuda_launch.h enqueue the kernels and a launch error becomes axnn::Error.
#include "kernels/cuda/lut_cuda.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "core/error.h"
#include "kernels/cuda/lut_cuda_launch.h"

namespace axnn::kernels::cuda {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr double kMaxElements = 9.0e15;  // far from int64 overflow in any index product
constexpr int64_t kMaxCodebooks = int64_t{1} << 16;

static_assert(
    static_cast<int>(LutStorage::kOffset16) == static_cast<int>(detail::Storage::kOffset16) &&
    static_cast<int>(LutStorage::kShared32) == static_cast<int>(detail::Storage::kShared32) &&
    static_cast<int>(LutStorage::kGlobal32) == static_cast<int>(detail::Storage::kGlobal32));

void check_launch(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw Error(fmt::format("{}: CUDA error {} ({})", what, cudaGetErrorName(err),
                            cudaGetErrorString(err)));
}

void check_dim(int64_t value, const char* strukt, const char* field, int64_t min) {
  AXNN_CHECK(value >= min && value < kMaxDim, "{}.{} = {}: expected {}..{}", strukt, field, value,
             min, kMaxDim - 1);
}

void check_bits(int bits, const char* strukt) {
  AXNN_CHECK(bits >= 2 && bits <= 8, "{}.bits = {}: expected 2..8", strukt, bits);
}

void check_table_range(int32_t table_min, int32_t table_max, const char* strukt) {
  AXNN_CHECK(table_min <= table_max, "{}.table_min = {} exceeds table_max = {}", strukt, table_min,
             table_max);
}

void check_not_null(const void* ptr, const char* strukt, const char* field) {
  AXNN_CHECK(ptr != nullptr, "{}.{} is null", strukt, field);
}

void check_codebooks(int64_t c, const char* strukt) {
  AXNN_CHECK(c >= 1 && c <= kMaxCodebooks, "{}.c = {}: expected 1..{}", strukt, c, kMaxCodebooks);
}

// A leading dimension: 0 means `dense`, else at least `dense`.
int64_t resolve_ld(int64_t ld, int64_t dense, const char* strukt, const char* field,
                   const char* dense_name) {
  AXNN_CHECK(ld == 0 || (ld >= dense && ld < kMaxDim),
             "{}.{} = {}: expected 0 (dense) or {} = {} .. {}", strukt, field, ld, dense_name,
             dense, kMaxDim - 1);
  return ld == 0 ? dense : ld;
}

}  // namespace

bool device_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why != nullptr)
      *why = fmt::format("no usable CUDA device: {} ({})", cudaGetErrorName(err),
                         cudaGetErrorString(err));
    cudaGetLastError();  // clear the error, so that it does not surface at a later call
    return false;
  }
  if (count == 0) {
    if (why != nullptr) *why = "no usable CUDA device: the driver reports 0 devices";
    return false;
  }
  if (why != nullptr) why->clear();
  return true;
}

LutStorage lut_storage(int bits, int32_t table_min, int32_t table_max) {
  check_bits(bits, "lut_storage");
  check_table_range(table_min, table_max, "lut_storage");
  // The kernels' own rule (lut_cuda_params.h), which the host emulation of the kernels uses too.
  return static_cast<LutStorage>(detail::choose_storage(bits, table_min, table_max));
}

const char* lut_storage_name(LutStorage storage) {
  switch (storage) {
    case LutStorage::kOffset16:
      return "offset16";
    case LutStorage::kShared32:
      return "shared32";
    case LutStorage::kGlobal32:
      return "global32";
  }
  return "?";
}

void lut_gemm_cuda(const LutGemmArgs& args) {
  constexpr const char* kS = "LutGemmArgs";
  check_bits(args.bits, kS);
  check_table_range(args.table_min, args.table_max, kS);
  check_not_null(args.table, kS, "table");
  check_not_null(args.a, kS, "a");
  check_not_null(args.b, kS, "b");
  check_not_null(args.c, kS, "c");
  check_dim(args.m, kS, "m", 1);
  check_dim(args.k, kS, "k", 1);
  check_dim(args.n, kS, "n", 0);
  check_dim(args.batch, kS, "batch", 0);
  detail::GemmParams p{};
  p.lda = resolve_ld(args.lda, args.k, kS, "lda", "k");
  p.ldb = resolve_ld(args.ldb, args.n, kS, "ldb", "n");
  p.ldc = resolve_ld(args.ldc, args.n, kS, "ldc", "n");
  AXNN_CHECK(args.batch_stride_a >= 0 && args.batch_stride_b >= 0 && args.batch_stride_c >= 0,
             "LutGemmArgs.batch_stride_a/b/c = {}/{}/{}: expected >= 0", args.batch_stride_a,
             args.batch_stride_b, args.batch_stride_c);
  AXNN_CHECK(
      args.batch <= 1 || args.batch_stride_c != 0,
      "LutGemmArgs.batch_stride_c = 0 with batch = {}: the slices would all write the same C",
      args.batch);
  const double extent_a = double(args.batch) * args.batch_stride_a + double(args.m) * p.lda;
  const double extent_b = double(args.batch) * args.batch_stride_b + double(args.k) * p.ldb;
  const double extent_c = double(args.batch) * args.batch_stride_c + double(args.m) * p.ldc;
  AXNN_CHECK(extent_a < kMaxElements && extent_b < kMaxElements && extent_c < kMaxElements,
             "LutGemmArgs: the operands span {}, {} and {} elements: too many", extent_a, extent_b,
             extent_c);
  p.table = args.table;
  p.bits = args.bits;
  p.storage = static_cast<detail::Storage>(lut_storage(args.bits, args.table_min, args.table_max));
  p.base = args.table_min;
  p.a = args.a;
  p.b = args.b;
  p.c = args.c;
  p.m = args.m;
  p.n = args.n;
  p.k = args.k;
  p.batch = args.batch;
  p.batch_stride_a = args.batch_stride_a;
  p.batch_stride_b = args.batch_stride_b;
  p.batch_stride_c = args.batch_stride_c;
  check_launch(detail::launch_lut_gemm(p, static_cast<cudaStream_t>(args.stream)), "lut_gemm_cuda");
}

namespace {

// The geometry checks of LutConv2d::create, with LutConv2dArgs' field names; returns OH, OW.
std::pair<int64_t, int64_t> check_conv_geometry(const LutConv2dArgs& a) {
  constexpr const char* kS = "LutConv2dArgs";
  check_dim(a.batch, kS, "batch", 1);
  check_dim(a.channels, kS, "channels", 1);
  check_dim(a.height, kS, "height", 1);
  check_dim(a.width, kS, "width", 1);
  check_dim(a.out_channels, kS, "out_channels", 1);
  check_dim(a.kh, kS, "kh", 1);
  check_dim(a.kw, kS, "kw", 1);
  check_dim(a.groups, kS, "groups", 1);
  check_dim(a.stride_h, kS, "stride_h", 1);
  check_dim(a.stride_w, kS, "stride_w", 1);
  check_dim(a.pad_h, kS, "pad_h", 0);
  check_dim(a.pad_w, kS, "pad_w", 0);
  check_dim(a.dilation_h, kS, "dilation_h", 1);
  check_dim(a.dilation_w, kS, "dilation_w", 1);
  AXNN_CHECK(a.channels % a.groups == 0 && a.out_channels % a.groups == 0,
             "LutConv2dArgs.groups = {} must divide channels = {} and out_channels = {}", a.groups,
             a.channels, a.out_channels);
  // As LutConv2d computes them (integer division truncating toward zero).
  const int64_t oh = (a.height + 2 * a.pad_h - a.dilation_h * (a.kh - 1) - 1) / a.stride_h + 1;
  const int64_t ow = (a.width + 2 * a.pad_w - a.dilation_w * (a.kw - 1) - 1) / a.stride_w + 1;
  AXNN_CHECK(oh >= 1 && ow >= 1,
             "LutConv2dArgs: the {}x{} window (dilation {}x{}) does not fit the {}x{} input "
             "padded by {}x{}",
             a.kh, a.kw, a.dilation_h, a.dilation_w, a.height, a.width, a.pad_h, a.pad_w);
  const double src_elements = double(a.batch) * a.channels * a.height * a.width;
  const double dst_elements = double(a.batch) * a.out_channels * oh * ow;
  const double depth = double(a.channels / a.groups) * double(a.kh) * double(a.kw);
  const double weight_elements = double(a.out_channels) * depth;
  AXNN_CHECK(src_elements < kMaxElements && dst_elements < kMaxElements &&
                 weight_elements < kMaxElements && depth < kMaxDim,
             "LutConv2dArgs: {} src, {} dst and {} weight elements (depth {}) are too many",
             src_elements, dst_elements, weight_elements, depth);
  return {oh, ow};
}

}  // namespace

int64_t lut_conv2d_out_height(const LutConv2dArgs& args) { return check_conv_geometry(args).first; }

int64_t lut_conv2d_out_width(const LutConv2dArgs& args) { return check_conv_geometry(args).second; }

void lut_conv2d_cuda(const LutConv2dArgs& args) {
  constexpr const char* kS = "LutConv2dArgs";
  const auto [oh, ow] = check_conv_geometry(args);
  check_bits(args.bits, kS);
  check_table_range(args.table_min, args.table_max, kS);
  AXNN_CHECK(args.pad_code >= 0 && args.pad_code < (1 << args.bits),
             "LutConv2dArgs.pad_code = {} is not a {}-bit code", args.pad_code, args.bits);
  check_not_null(args.table, kS, "table");
  check_not_null(args.src, kS, "src");
  check_not_null(args.weights, kS, "weights");
  check_not_null(args.dst, kS, "dst");
  detail::ConvParams p{};
  p.table = args.table;
  p.bits = args.bits;
  p.storage = static_cast<detail::Storage>(lut_storage(args.bits, args.table_min, args.table_max));
  p.base = args.table_min;
  p.pad_code = args.pad_code;
  p.src = args.src;
  p.weights = args.weights;
  p.dst = args.dst;
  p.batch = args.batch;
  p.channels = args.channels;
  p.height = args.height;
  p.width = args.width;
  p.out_channels = args.out_channels;
  p.kh = args.kh;
  p.kw = args.kw;
  p.groups = args.groups;
  p.stride_h = args.stride_h;
  p.stride_w = args.stride_w;
  p.pad_h = args.pad_h;
  p.pad_w = args.pad_w;
  p.dilation_h = args.dilation_h;
  p.dilation_w = args.dilation_w;
  p.out_h = oh;
  p.out_w = ow;
  check_launch(detail::launch_lut_conv2d(p, static_cast<cudaStream_t>(args.stream)),
               "lut_conv2d_cuda");
}

void maddness_encode_cuda(const MaddnessEncodeArgs& args) {
  constexpr const char* kS = "MaddnessEncodeArgs";
  check_dim(args.n, kS, "n", 0);
  check_dim(args.d, kS, "d", 1);
  check_codebooks(args.c, kS);
  AXNN_CHECK(args.depth >= 1 && args.depth <= 4, "MaddnessEncodeArgs.depth = {}: expected 1..4",
             args.depth);
  detail::EncodeParams p{};
  p.ldx = resolve_ld(args.ldx, args.d, kS, "ldx", "d");
  p.ldcodes = resolve_ld(args.ldcodes, args.c, kS, "ldcodes", "c");
  check_not_null(args.x, kS, "x");
  check_not_null(args.split_dims, kS, "split_dims");
  check_not_null(args.thresholds, kS, "thresholds");
  check_not_null(args.codes, kS, "codes");
  AXNN_CHECK(double(args.n) * p.ldx < kMaxElements && double(args.n) * p.ldcodes < kMaxElements,
             "MaddnessEncodeArgs: n = {} rows of {} floats / {} codes are too many", args.n, p.ldx,
             p.ldcodes);
  p.x = args.x;
  p.n = args.n;
  p.d = args.d;
  p.c = args.c;
  p.depth = args.depth;
  p.split_dims = args.split_dims;
  p.thresholds = args.thresholds;
  p.codes = args.codes;
  check_launch(detail::launch_maddness_encode(p, static_cast<cudaStream_t>(args.stream)),
               "maddness_encode_cuda");
}

void maddness_decode_cuda(const MaddnessDecodeArgs& args) {
  constexpr const char* kS = "MaddnessDecodeArgs";
  check_dim(args.n, kS, "n", 0);
  check_dim(args.m, kS, "m", 1);
  check_codebooks(args.c, kS);
  const bool int8 = args.lut_int8 != nullptr, fp32 = args.lut_fp32 != nullptr;
  AXNN_CHECK(int8 != fp32, "MaddnessDecodeArgs: give exactly one of lut_int8 and lut_fp32 ({})",
             int8 ? "both are set" : "neither is set");
  AXNN_CHECK(!int8 || args.dst_int32 != nullptr,
             "MaddnessDecodeArgs.dst_int32 is null (an int8 table needs it)");
  AXNN_CHECK(!fp32 || args.dst_fp32 != nullptr,
             "MaddnessDecodeArgs.dst_fp32 is null (an fp32 table needs it)");
  AXNN_CHECK(args.average_levels >= 0 && args.average_levels <= 4,
             "MaddnessDecodeArgs.average_levels = {}: expected 0..4", args.average_levels);
  AXNN_CHECK(args.average_levels == 0 || int8,
             "MaddnessDecodeArgs.average_levels = {}: only int8 tables are averaged (this one is "
             "fp32)",
             args.average_levels);
  const int64_t group = int64_t{1} << args.average_levels;
  AXNN_CHECK(args.c % group == 0,
             "MaddnessDecodeArgs.average_levels = {}: c = {} is not divisible by 2^{} = {}",
             args.average_levels, args.c, args.average_levels, group);
  check_not_null(args.codes, kS, "codes");
  detail::DecodeParams p{};
  p.ldcodes = resolve_ld(args.ldcodes, args.c, kS, "ldcodes", "c");
  p.ldd = resolve_ld(args.ldd, args.n, kS, "ldd", "n");
  AXNN_CHECK(double(args.n) * p.ldcodes < kMaxElements && double(args.m) * p.ldd < kMaxElements &&
                 double(args.c) * 16 * args.m < kMaxElements,
             "MaddnessDecodeArgs: n = {}, m = {}, c = {} are too many elements", args.n, args.m,
             args.c);
  p.codes = args.codes;
  p.n = args.n;
  p.c = args.c;
  p.m = args.m;
  p.lut_int8 = args.lut_int8;
  p.lut_fp32 = args.lut_fp32;
  p.average_levels = args.average_levels;
  p.dst_int32 = int8 ? args.dst_int32 : nullptr;
  p.dst_fp32 = fp32 ? args.dst_fp32 : nullptr;
  check_launch(detail::launch_maddness_decode(p, static_cast<cudaStream_t>(args.stream)),
               "maddness_decode_cuda");
}

}  // namespace axnn::kernels::cuda
