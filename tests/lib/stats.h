// Statistics of measured samples: medians, quantiles, nearest-rank percentiles, and the ratios of
// paired measurements (a variant against a baseline measured in the same round).
#pragma once

#include <cstddef>
#include <vector>

namespace warden::testlib {

// The middle value (the mean of the two middle ones for an even count); 0 for no samples.
double Median(std::vector<double> v);
double Mean(const std::vector<double>& v);
// The q-quantile (0..1), interpolated linearly between the closest ranks; 0 for no samples.
double Quantile(std::vector<double> v, double q);
// Sample standard deviation / mean; 0 with fewer than two samples or a mean of 0.
double CoefficientOfVariation(const std::vector<double>& v);

// Nearest-rank percentiles (every figure is one of the samples).
struct Percentiles {
  size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
Percentiles NearestRank(std::vector<double> v);

// a[i] / b[i] of paired measurements, for every i where b[i] > 0.
std::vector<double> Ratios(const std::vector<double>& a, const std::vector<double>& b);

// Those ratios' median, quartiles and the standard error of the median (1.2533 * sigma /
// sqrt(n), sigma estimated robustly as 1.4826 * MAD).
struct RatioSummary {
  double median = 0, p25 = 0, p75 = 0, se = 0;
  size_t n = 0;
};
RatioSummary SummarizeRatios(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace warden::testlib
