#include "tune/cpu_codegen.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace axnn::tune {

const char* const kCpuKernelApi = R"(extern "C" {
// shape[9] = N, H, W, CO, CI, KH, KW, stride, padding
void axnn_conv_shape(long* shape);
long axnn_conv_packed_weight_floats(void);
long axnn_conv_dst_floats(void);
long axnn_conv_workspace_floats(void);  // zero-filled by the caller before the first run
// OIHW weights -> the packed layout (64-byte aligned buffers throughout)
void axnn_conv_pack_weights(const float* weights, float* packed);
void axnn_conv_run(const float* src, const float* packed, float* dst, float* workspace);
// NCHW[vec]c dst -> plain NCHW
void axnn_conv_unpack_dst(const float* dst, float* plain);
}
)";

namespace {

constexpr int64_t kMaxUnrolledStatements = 6000;  // bounds code size (and compile time)

std::vector<int64_t> range(int64_t first, int64_t last) {
  std::vector<int64_t> values;
  for (int64_t v = first; v <= last; ++v) values.push_back(v);
  return values;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The derived sizes of a configuration, shared by the constraint, the features and the generator.
struct Plan {
  int64_t vec, ocv, owt, oht, ict, order, unroll, threads;
  int64_t ob, cob, ocb, acc;
};

Plan plan_of(const Conv2dShape& s, const Config& c) {
  Plan p{c.at("vec"), c.at("oc_vecs"), c.at("ow_tile"), c.at("oh_tile"), c.at("ic_tile"),
         c.at("order"), c.at("unroll"), c.at("threads"), 0, 0, 0, 0};
  p.ob = p.vec * p.ocv;
  p.cob = ceil_div(s.co, p.vec);
  p.ocb = p.cob / p.ocv;
  p.acc = p.oht * p.owt * p.ocv;
  return p;
}

// Statements in the unrolled part of the biggest tile's inner loop.
int64_t unrolled_statements(const Conv2dShape& s, const Plan& p) {
  const int64_t per_tap = p.ocv + p.acc;
  return per_tap * (p.unroll == 0 ? 1 : p.unroll == 1 ? s.kw : s.kh * s.kw);
}

std::string constraint(const Conv2dShape& s, const CpuInfo& cpu, const Config& c) {
  const Plan p = plan_of(s, c);
  if (p.vec > cpu.max_vec) return fmt::format("vec {} is wider than the CPU's {}", p.vec, cpu.max_vec);
  if (p.cob % p.ocv != 0)
    return fmt::format("oc_vecs {} does not divide the {} vectors of output channels", p.ocv, p.cob);
  if (p.owt > s.ow()) return fmt::format("ow_tile {} exceeds OW {}", p.owt, s.ow());
  if (p.oht > s.oh()) return fmt::format("oh_tile {} exceeds OH {}", p.oht, s.oh());
  // Accumulators, the weight vectors and one broadcast input must fit in the registers.
  if (p.acc + p.ocv + 1 > cpu.registers)
    return fmt::format("{} accumulators + {} weight vectors exceed {} registers", p.acc, p.ocv,
                       cpu.registers);
  if (s.ci % p.ict != 0) return fmt::format("ic_tile {} does not divide CI {}", p.ict, s.ci);
  if (unrolled_statements(s, p) > kMaxUnrolledStatements)
    return fmt::format("unroll {} makes {} statements", p.unroll, unrolled_statements(s, p));
  return "";
}

// Tasks the outermost (parallel) loop has.
int64_t parallel_tasks(const Conv2dShape& s, const Plan& p) {
  const int64_t rows = ceil_div(s.oh(), p.oht);
  return p.order == 0 ? p.ocb : p.order == 1 ? rows : p.ocb * rows;
}

std::vector<float> features(const Conv2dShape& s, const Config& c) {
  const Plan p = plan_of(s, c);
  const double taps = double(s.kh * s.kw);
  const double in_rows = double((p.oht - 1) * s.stride + s.kh);
  const double tasks = double(parallel_tasks(s, p));
  return {float(p.vec),
          float(p.ocv),
          float(p.owt),
          float(p.oht),
          float(p.ict),
          float(p.order),
          float(p.unroll),
          float(p.threads),
          float(p.ob),
          float(p.acc),
          float(double(p.acc) / double(p.ocv + p.oht * p.owt)),  // FMAs per load
          float(double(p.ob * p.ict) * taps * 4 / 1024),           // weight tile, KiB
          float(double(p.ict) * in_rows * double(s.w + 2 * s.pad) * 4 / 1024),  // input, KiB
          float(s.ow() % p.owt),
          float(s.oh() % p.oht),
          float(double(p.cob * p.vec - s.co) / double(p.cob * p.vec)),  // padded channel share
          float(std::min(tasks, double(p.threads)) / double(p.threads)),
          float(double(s.ci / p.ict))};
}

// Emits the register tile function tile_R_J: R rows x J columns x oc_vecs vectors.
void emit_tile(std::string& out, const Conv2dShape& s, const Plan& p, int64_t rows, int64_t cols) {
  out += fmt::format(
      "static inline void tile_{0}_{1}(const float* __restrict in, const float* __restrict w,\n"
      "                                float* __restrict out, bool first) {{\n",
      rows, cols);
  const auto acc = [](int64_t r, int64_t j, int64_t v) { return fmt::format("a{}_{}_{}", r, j, v); };
  const auto offset = [&](int64_t r, int64_t j, int64_t v) {
    return v * s.oh() * s.ow() * p.vec + r * s.ow() * p.vec + j * p.vec;
  };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t v = 0; v < p.ocv; ++v) out += fmt::format("  vf {};\n", acc(r, j, v));
  out += "  if (first) {\n";
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t v = 0; v < p.ocv; ++v) out += fmt::format("    {} = vf{{}};\n", acc(r, j, v));
  out += "  } else {\n";
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t v = 0; v < p.ocv; ++v)
        out += fmt::format("    {} = *(const vf*)(out + {});\n", acc(r, j, v), offset(r, j, v));
  out += "  }\n";
  out += "  for (long c = 0; c < ICT; ++c) {\n";
  out += "    const float* ic = in + c * (HP * WP);\n";
  out += "    const float* wc = w + c * (KH * KW * OB);\n";
  // The body for one (kh, kw) tap, with kh and kw either loop variables or constants.
  const auto tap = [&](const std::string& kh, const std::string& kw, const std::string& indent) {
    std::string body;
    body += fmt::format("{}{{\n", indent);
    body += fmt::format("{}  const float* wp = wc + ({} * KW + {}) * OB;\n", indent, kh, kw);
    body += fmt::format("{}  const float* ip = ic + {} * WP + {};\n", indent, kh, kw);
    for (int64_t v = 0; v < p.ocv; ++v)
      body += fmt::format("{}  const vf w{} = *(const vf*)(wp + {});\n", indent, v, v * p.vec);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        body += fmt::format("{}  {{ const float x = ip[{}];", indent,
                            r * s.stride * (s.w + 2 * s.pad) + j * s.stride);
        for (int64_t v = 0; v < p.ocv; ++v) body += fmt::format(" {} += w{} * x;", acc(r, j, v), v);
        body += " }\n";
      }
    body += fmt::format("{}}}\n", indent);
    return body;
  };
  if (p.unroll == 0) {
    out += "    for (long kh = 0; kh < KH; ++kh)\n      for (long kw = 0; kw < KW; ++kw)\n";
    out += tap("kh", "kw", "      ");
  } else if (p.unroll == 1) {
    out += "    for (long kh = 0; kh < KH; ++kh) {\n";
    for (int64_t kw = 0; kw < s.kw; ++kw) out += tap("kh", std::to_string(kw), "      ");
    out += "    }\n";
  } else {
    for (int64_t kh = 0; kh < s.kh; ++kh)
      for (int64_t kw = 0; kw < s.kw; ++kw)
        out += tap(std::to_string(kh), std::to_string(kw), "    ");
  }
  out += "  }\n";
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t v = 0; v < p.ocv; ++v)
        out += fmt::format("  *(vf*)(out + {}) = {};\n", offset(r, j, v), acc(r, j, v));
  out += "}\n\n";
}

// The columns of one strip of `rows` output rows: full tiles, then the tail tile.
std::string strip_calls(const Conv2dShape& s, const Plan& p, int64_t rows,
                        const std::string& indent) {
  const int64_t full = s.ow() / p.owt * p.owt, tail = s.ow() % p.owt;
  std::string out;
  if (full > 0)
    out += fmt::format(
        "{0}for (long ow0 = 0; ow0 < {1}; ow0 += OWT)\n"
        "{0}  tile_{2}_{3}(i + ow0 * S, ww, o + ow0 * VEC, first);\n",
        indent, full, rows, p.owt);
  if (tail > 0)
    out += fmt::format("{}tile_{}_{}(i + {} * S, ww, o + {} * VEC, first);\n", indent, rows, tail,
                       full, full);
  return out;
}

}  // namespace

Space cpu_space(const Conv2dShape& shape, const CpuInfo& cpu, int threads) {
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= shape.ci; ++d)
    if (shape.ci % d == 0) divisors.push_back(d);
  std::vector<int64_t> vecs;
  for (int64_t v : {4, 8, 16})
    if (v <= cpu.max_vec) vecs.push_back(v);
  std::vector<Knob> knobs = {
      {"vec", vecs},
      {"oc_vecs", {1, 2, 3, 4, 6, 8}},
      {"ow_tile", range(1, std::min<int64_t>(16, shape.ow()))},
      {"oh_tile", range(1, std::min<int64_t>(4, shape.oh()))},
      {"ic_tile", divisors},
      {"order", {0, 1, 2}},
      {"unroll", {0, 1, 2}},
      {"threads", threads > 0 ? std::vector<int64_t>{threads} : range(1, cpu.cores)},
  };
  return Space(
      std::move(knobs), [shape, cpu](const Config& c) { return constraint(shape, cpu, c); },
      [shape](const Config& c) { return features(shape, c); });
}

std::string cpu_kernel_source(const Conv2dShape& s, const Config& config) {
  const Plan p = plan_of(s, config);
  std::string out = fmt::format(
      "// Generated by axnn tune: fp32 conv2d [N,H,W,CO,CI,KH,KW,stride,padding] = [{}],\n"
      "// schedule {}. Layouts and blocking: src/tune/cpu_codegen.h of axnn.\n",
      s.str(), Space::to_json(config).dump());
  out += "#include <cstring>\n\n";
  out += kCpuKernelApi;
  out += fmt::format("\ntypedef float vf __attribute__((vector_size({})));\n\nnamespace {{\n\n",
                     p.vec * 4);
  out += fmt::format(
      "constexpr long N = {}, H = {}, W = {}, CO = {}, CI = {}, KH = {}, KW = {}, S = {}, P = {};\n"
      "constexpr long OH = {}, OW = {}, HP = H + 2 * P, WP = W + 2 * P;\n"
      "constexpr long VEC = {}, OCV = {}, OB = VEC * OCV, COB = {}, OCB = COB / OCV;\n"
      "constexpr long OHT = {}, OWT = {}, ICT = {};\n\n",
      s.n, s.h, s.w, s.co, s.ci, s.kh, s.kw, s.stride, s.pad, s.oh(), s.ow(), p.vec, p.ocv, p.cob,
      p.oht, p.owt, p.ict);
  const int64_t oh_tail = s.oh() % p.oht, ow_tail = s.ow() % p.owt;
  for (int64_t rows : {p.oht, oh_tail}) {
    if (rows == 0) continue;
    emit_tile(out, s, p, rows, p.owt);
    if (ow_tail > 0) emit_tile(out, s, p, rows, ow_tail);
  }
  // One strip: the output rows [oh0, oh0 + OHT) (fewer at the end) of one oc block and ci tile.
  out +=
      "inline void strip(const float* in, const float* w, float* out, long ocb, long ic0,\n"
      "                  long oh0) {\n"
      "  const float* i = in + ic0 * (HP * WP) + oh0 * S * WP;\n"
      "  const float* ww = w + (ocb * CI + ic0) * (KH * KW * OB);\n"
      "  float* o = out + ocb * OCV * (OH * OW * VEC) + oh0 * (OW * VEC);\n"
      "  const bool first = ic0 == 0;\n";
  if (oh_tail == 0) {
    out += strip_calls(s, p, p.oht, "  ");
  } else {
    out += "  if (oh0 + OHT <= OH) {\n" + strip_calls(s, p, p.oht, "    ") + "  } else {\n" +
           strip_calls(s, p, oh_tail, "    ") + "  }\n";
  }
  out += "}\n\n";
  const std::string parallel =
      p.threads > 1 ? fmt::format("#pragma omp parallel for num_threads({}) schedule(static){}\n",
                                  p.threads, p.order == 2 ? " collapse(2)" : "")
                    : "";
  out += "void conv_image(const float* in, const float* w, float* out) {\n" + parallel;
  if (p.order == 0) {
    out +=
        "  for (long ocb = 0; ocb < OCB; ++ocb)\n"
        "    for (long ic0 = 0; ic0 < CI; ic0 += ICT)\n"
        "      for (long oh0 = 0; oh0 < OH; oh0 += OHT) strip(in, w, out, ocb, ic0, oh0);\n";
  } else if (p.order == 1) {
    out +=
        "  for (long oh0 = 0; oh0 < OH; oh0 += OHT)\n"
        "    for (long ic0 = 0; ic0 < CI; ic0 += ICT)\n"
        "      for (long ocb = 0; ocb < OCB; ++ocb) strip(in, w, out, ocb, ic0, oh0);\n";
  } else {
    out +=
        "  for (long ocb = 0; ocb < OCB; ++ocb)\n"
        "    for (long oh0 = 0; oh0 < OH; oh0 += OHT)\n"
        "      for (long ic0 = 0; ic0 < CI; ic0 += ICT) strip(in, w, out, ocb, ic0, oh0);\n";
  }
  out += "}\n\n}  // namespace\n\n";
  out += R"(void axnn_conv_shape(long* shape) {
  const long values[9] = {N, H, W, CO, CI, KH, KW, S, P};
  std::memcpy(shape, values, sizeof values);
}
long axnn_conv_packed_weight_floats(void) { return OCB * CI * KH * KW * OB; }
long axnn_conv_dst_floats(void) { return N * COB * OH * OW * VEC; }
long axnn_conv_workspace_floats(void) { return P > 0 ? CI * HP * WP : 1; }

void axnn_conv_pack_weights(const float* weights, float* packed) {
  for (long ocb = 0; ocb < OCB; ++ocb)
    for (long ci = 0; ci < CI; ++ci)
      for (long k = 0; k < KH * KW; ++k)
        for (long lane = 0; lane < OB; ++lane) {
          const long co = ocb * OB + lane;
          packed[((ocb * CI + ci) * KH * KW + k) * OB + lane] =
              co < CO ? weights[(co * CI + ci) * KH * KW + k] : 0.0f;
        }
}

void axnn_conv_run(const float* src, const float* packed, float* dst, float* workspace) {
  for (long n = 0; n < N; ++n) {
    const float* in = src + n * CI * H * W;
    if (P > 0) {  // the interior of the zero-bordered workspace
      for (long c = 0; c < CI; ++c)
        for (long y = 0; y < H; ++y)
          std::memcpy(workspace + (c * HP + y + P) * WP + P, in + (c * H + y) * W,
                      W * sizeof(float));
      in = workspace;
    }
    conv_image(in, packed, dst + n * COB * OH * OW * VEC);
  }
}

void axnn_conv_unpack_dst(const float* dst, float* plain) {
  for (long n = 0; n < N; ++n)
    for (long co = 0; co < CO; ++co)
      for (long y = 0; y < OH; ++y)
        for (long x = 0; x < OW; ++x)
          plain[((n * CO + co) * OH + y) * OW + x] =
              dst[(((n * COB + co / VEC) * OH + y) * OW + x) * VEC + co % VEC];
}
)";
  return out;
}

}  // namespace axnn::tune
