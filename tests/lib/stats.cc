#include "tests/lib/stats.h"

#include <algorithm>
#include <cmath>

namespace warden::testlib {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * (v.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

double CoefficientOfVariation(const std::vector<double>& v) {
  double m = Mean(v), var = 0;
  for (double x : v) var += (x - m) * (x - m);
  return v.size() > 1 && m > 0 ? std::sqrt(var / (v.size() - 1)) / m : 0;
}

Percentiles NearestRank(std::vector<double> v) {
  Percentiles s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t r = static_cast<size_t>(std::ceil(q * v.size()));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  };
  s.n = v.size();
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.max = v.back();
  s.min = v.front();
  s.mean = Mean(v);
  return s;
}

std::vector<double> Ratios(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> q;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (b[i] > 0) q.push_back(a[i] / b[i]);
  return q;
}

RatioSummary SummarizeRatios(const std::vector<double>& a, const std::vector<double>& b) {
  RatioSummary r;
  std::vector<double> q = Ratios(a, b);
  if (q.empty()) return r;
  r.n = q.size();
  r.median = Median(q);
  r.p25 = Quantile(q, 0.25);
  r.p75 = Quantile(q, 0.75);
  std::vector<double> dev;
  for (double x : q) dev.push_back(std::fabs(x - r.median));
  r.se = 1.2533 * 1.4826 * Median(dev) / std::sqrt(static_cast<double>(q.size()));
  return r;
}

}  // namespace warden::testlib
