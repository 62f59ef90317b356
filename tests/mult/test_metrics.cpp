#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "mult/generators.h"
#include "mult/metrics.h"

namespace axnn {
namespace {

// Straight from DESIGN.md section 2, in double, one pass per metric.
ErrorMetrics naive_metrics(const Multiplier& m) {
  std::vector<double> e, exact;
  for (int x = 0; x < m.codes(); ++x) {
    for (int w = 0; w < m.codes(); ++w) {
      exact.push_back(double(m.value(x)) * m.value(w));
      e.push_back(m.at(x, w) - exact.back());
    }
  }
  const double n = double(e.size()), scale = std::pow(2.0, 2 * m.bits());
  ErrorMetrics r;
  double rel_count = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    r.nmed += std::abs(e[i]) / scale / n;
    r.wce_pct = std::max(r.wce_pct, std::abs(e[i]) / scale * 100);
    r.ep_pct += (e[i] != 0) * 100 / n;
    if (exact[i] != 0) {
      r.mre_pct += std::abs(e[i]) / std::abs(exact[i]) * 100;
      r.wcre_pct = std::max(r.wcre_pct, std::abs(e[i]) / std::abs(exact[i]) * 100);
      ++rel_count;
    }
    r.mse += e[i] * e[i] / n;
    r.bias += e[i] / n;
    r.mred += std::abs(e[i]) / std::max(std::abs(exact[i]), 1.0) / n;
  }
  r.mre_pct /= rel_count;
  r.mae_pct = r.nmed * 100;
  return r;
}

void expect_metrics_near(const ErrorMetrics& got, const ErrorMetrics& want, double tol = 1e-9) {
  EXPECT_NEAR(got.mae_pct, want.mae_pct, tol);
  EXPECT_NEAR(got.wce_pct, want.wce_pct, tol);
  EXPECT_NEAR(got.ep_pct, want.ep_pct, tol);
  EXPECT_NEAR(got.mre_pct, want.mre_pct, tol);
  EXPECT_NEAR(got.wcre_pct, want.wcre_pct, tol);
  EXPECT_NEAR(got.mse, want.mse, tol * std::max(1.0, want.mse));
  EXPECT_NEAR(got.bias, want.bias, tol);
  EXPECT_NEAR(got.nmed, want.nmed, tol);
  EXPECT_NEAR(got.mred, want.mred, tol);
}

TEST(Metrics, ExactMultipliersHaveNoError) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool is_signed : {false, true}) {
      expect_metrics_near(compute_metrics(make_exact(bits, is_signed)), ErrorMetrics{}, 0);
    }
  }
}

TEST(Metrics, MatchNaiveRecomputation) {
  std::vector<Multiplier> mults;
  for (bool s : {false, true}) {
    mults.push_back(make_truncated(8, s, 6));
    mults.push_back(make_bam(8, s, 2, 5));
    mults.push_back(make_drum(8, s, 4));
    mults.push_back(make_mitchell(6, s));
    mults.push_back(make_columns(3, s, std::vector<bool>(5, false)));
    mults.push_back(make_bam(6, s, 1, 7));
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> noise(-300, 300);
  for (bool s : {false, true}) {
    mults.push_back(from_function("noisy", 8, s, [&](int x, int w) { return x * w + noise(rng); }));
  }
  for (const auto& m : mults) {
    SCOPED_TRACE(m.name());
    expect_metrics_near(compute_metrics(m), naive_metrics(m));
  }
}

TEST(Metrics, TwoBitUnsignedTruncationByHand) {
  // trunc2u_k1 = x*w - (x&1)(w&1): e = -1 on (1,1), (1,3), (3,1), (3,3), exact 1, 3, 3, 9.
  const ErrorMetrics m = compute_metrics(make_truncated(2, false, 1));
  EXPECT_DOUBLE_EQ(m.mae_pct, 4.0 / 16 / 16 * 100);
  EXPECT_DOUBLE_EQ(m.wce_pct, 1.0 / 16 * 100);
  EXPECT_DOUBLE_EQ(m.ep_pct, 25);
  EXPECT_DOUBLE_EQ(m.mre_pct, (1 + 1.0 / 3 + 1.0 / 3 + 1.0 / 9) / 9 * 100);
  EXPECT_DOUBLE_EQ(m.wcre_pct, 100);
  EXPECT_DOUBLE_EQ(m.mse, 0.25);
  EXPECT_DOUBLE_EQ(m.bias, -0.25);
  EXPECT_DOUBLE_EQ(m.nmed, 4.0 / 16 / 16);
  EXPECT_DOUBLE_EQ(m.mred, (1 + 1.0 / 3 + 1.0 / 3 + 1.0 / 9) / 16);
}

TEST(Metrics, TwoBitSignedTruncationByHand) {
  // trunc2s_k1: e = -1 where both values are odd (+-1); exact there is +-1, 9 pairs nonzero.
  const ErrorMetrics m = compute_metrics(make_truncated(2, true, 1));
  EXPECT_DOUBLE_EQ(m.mae_pct, 4.0 / 16 / 16 * 100);
  EXPECT_DOUBLE_EQ(m.ep_pct, 25);
  EXPECT_DOUBLE_EQ(m.mre_pct, 4.0 / 9 * 100);
  EXPECT_DOUBLE_EQ(m.wcre_pct, 100);
  EXPECT_DOUBLE_EQ(m.bias, -0.25);
  EXPECT_DOUBLE_EQ(m.mred, 4.0 / 16);
}

TEST(Metrics, HandTableWithPositiveAndNegativeErrors) {
  // 2-bit signed; e = +3 at (-2,-2) (exact 4 -> 7) and e = -2 at (1,1) (exact 1 -> -1).
  const Multiplier m = from_function("hand", 2, true, [](int x, int w) {
    if (x == -2 && w == -2) return 7;
    if (x == 1 && w == 1) return -1;
    return x * w;
  });
  const ErrorMetrics r = compute_metrics(m);
  EXPECT_DOUBLE_EQ(r.mae_pct, 5.0 / 16 / 16 * 100);
  EXPECT_DOUBLE_EQ(r.wce_pct, 3.0 / 16 * 100);
  EXPECT_DOUBLE_EQ(r.ep_pct, 2.0 / 16 * 100);
  EXPECT_DOUBLE_EQ(r.mre_pct, (3.0 / 4 + 2.0) / 9 * 100);
  EXPECT_DOUBLE_EQ(r.wcre_pct, 200);
  EXPECT_DOUBLE_EQ(r.mse, 13.0 / 16);
  EXPECT_DOUBLE_EQ(r.bias, 1.0 / 16);
  EXPECT_DOUBLE_EQ(r.mred, (3.0 / 4 + 2.0) / 16);
}

// Unsigned truncation by k <= b removes column c (c+1 cells, each 1 with probability 1/4) for
// c < k: the worst case is every cell set, sum (c+1) 2^c = (k-1) 2^k + 1, the mean a quarter of it,
// and no error is positive. Signed truncation by k <= b-1 removes the same cells of the codes.
TEST(Metrics, TruncationClosedForm) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool is_signed : {false, true}) {
      const int max_k = is_signed ? bits - 1 : bits;
      for (int k = 1; k <= max_k; ++k) {
        SCOPED_TRACE(::testing::Message()
                     << "bits=" << bits << " signed=" << is_signed << " k=" << k);
        const double worst = double(k - 1) * (1 << k) + 1;
        const double scale = std::pow(2.0, 2 * bits);
        const ErrorMetrics m = compute_metrics(make_truncated(bits, is_signed, k));
        EXPECT_DOUBLE_EQ(m.wce_pct, worst / scale * 100);
        EXPECT_DOUBLE_EQ(m.bias, -worst / 4);
        EXPECT_DOUBLE_EQ(m.nmed, worst / 4 / scale);
        EXPECT_DOUBLE_EQ(m.mae_pct, worst / 4 / scale * 100);
      }
    }
  }
}

// Tables at the ends of int32: |e| reaches 2^31 + 4 and the squared errors sum past 2^64, which
// the integer sums must hold exactly. 2-bit signed values 0, 1, -2, -1: sum of x*w = (-2)^2 = 4,
// sum of (x*w)^2 = 6^2 = 36, exact != 0 on 9 pairs (products 1, -2, -1, -2, 4, 2, -1, 2, 1).
TEST(Metrics, ExtremeInt32TablesByHand) {
  constexpr double k31 = 2147483648.0;  // 2^31
  const Multiplier low("low", 2, true,
                       std::vector<int32_t>(16, std::numeric_limits<int32_t>::min()));
  // e = -2^31 - x*w, so |e| = 2^31 + x*w (x*w >= -2).
  const ErrorMetrics m = compute_metrics(low);
  EXPECT_DOUBLE_EQ(m.bias, -k31 - 4.0 / 16);
  EXPECT_DOUBLE_EQ(m.nmed, (16 * k31 + 4) / 16 / 16);
  EXPECT_DOUBLE_EQ(m.mae_pct, (16 * k31 + 4) / 16 / 16 * 100);
  EXPECT_DOUBLE_EQ(m.wce_pct, (k31 + 4) / 16 * 100);
  EXPECT_DOUBLE_EQ(m.ep_pct, 100);
  // mean (2^31 + xw)^2 = 2^62 + 2^32 * 4/16 + 36/16; the last term is below double's resolution.
  EXPECT_DOUBLE_EQ(m.mse, 0x1p62 + 0x1p30 + 36.0 / 16);
  // |e|/|exact| = (2^31 + p)/|p|: sum of 1/|p| = 6.25, sum of sign(p) = 1; the worst at p = 1.
  EXPECT_DOUBLE_EQ(m.mre_pct, (6.25 * k31 + 1) / 9 * 100);
  EXPECT_DOUBLE_EQ(m.wcre_pct, (k31 + 1) * 100);
  // Over all 16 pairs: the 7 with exact 0 add 2^31 each.
  EXPECT_DOUBLE_EQ(m.mred, (7 * k31 + 6.25 * k31 + 1) / 16);

  // Unsigned 2-bit, every entry 2^31 - 1: e = 2^31 - 1 - x*w >= 0, sum x*w = 6^2 = 36.
  const Multiplier high("high", 2, false,
                        std::vector<int32_t>(16, std::numeric_limits<int32_t>::max()));
  const ErrorMetrics h = compute_metrics(high);
  EXPECT_DOUBLE_EQ(h.bias, k31 - 1 - 36.0 / 16);
  EXPECT_DOUBLE_EQ(h.nmed, (16 * (k31 - 1) - 36) / 16 / 16);
  EXPECT_DOUBLE_EQ(h.wce_pct, (k31 - 1) / 16 * 100);  // at x*w = 0
  EXPECT_DOUBLE_EQ(h.ep_pct, 100);
  EXPECT_DOUBLE_EQ(h.wcre_pct, (k31 - 2) * 100);  // at x*w = 1
}

TEST(Metrics, JsonAndTextCarryEveryMetricInOneNumberFormat) {
  Multiplier m = make_truncated(2, false, 1);
  m.meta().area_um2 = 12.5;
  const ErrorMetrics e = compute_metrics(m);
  const nlohmann::ordered_json j = to_json(m, e);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "bits", "signed", "mae_pct", "wce_pct",
                                            "ep_pct", "mre_pct", "wcre_pct", "mse", "bias", "nmed",
                                            "mred", "relative_power", "area_um2", "delay_ns",
                                            "power_mw", "source", "description"}));
  EXPECT_EQ(j["name"], "trunc2u_k1");
  EXPECT_EQ(j["signed"], false);
  EXPECT_EQ(j["bias"].get<double>(), -0.25);
  EXPECT_EQ(j["area_um2"].get<double>(), 12.5);
  EXPECT_TRUE(j["relative_power"].is_null());

  EXPECT_EQ(format_number(100), "100");
  EXPECT_EQ(format_number(-0.25), "-0.25");
  EXPECT_EQ(format_number(1.0 / 3), "0.333333");
  EXPECT_EQ(format_number(1.5e-5), "1.5e-05");
  const std::string report = format_report(m, e);
  EXPECT_THAT(report, ::testing::HasSubstr("width           2-bit unsigned\n"));
  EXPECT_THAT(report, ::testing::HasSubstr("area            12.5 um^2\n"));
  EXPECT_THAT(report, ::testing::HasSubstr("relative power  unknown\n"));
  EXPECT_THAT(report, ::testing::HasSubstr("  MRE%   " + format_number(e.mre_pct) + "\n"));
  EXPECT_THAT(report, ::testing::HasSubstr("  bias   -0.25\n"));
  EXPECT_EQ(format_summary(e), "MAE% 1.5625, WCE% 6.25, EP% 25");
  const std::string row = format_table_row(m, e);
  EXPECT_THAT(row, ::testing::HasSubstr("trunc2u_k1"));
  EXPECT_THAT(row, ::testing::HasSubstr(" 1.5625 "));
  EXPECT_THAT(format_table_row(m, e, "label (x)"), ::testing::StartsWith("  label (x) "));
  EXPECT_EQ(format_table_header().size(), row.size());
}

}  // namespace
}  // namespace axnn
