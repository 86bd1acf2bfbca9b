#include "core/histogram.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace tandem::core {
namespace {

TEST(histogram, every_value_lands_within_one_percent) {
    // From 1 µs to 60 s, every recorded value reads back within 1% (the bound).
    for (uint64_t v = 1000; v <= 60'000'000'000ULL; v = v * 37 / 31 + 1) {
        histogram h;
        h.record(v);
        uint64_t got = h.quantile(0.5);
        EXPECT_GE(got, v);
        EXPECT_LE(static_cast<double>(got - v), 0.01 * static_cast<double>(v)) << v;
        // The bucket bounds are consistent with the index function.
        size_t i = histogram::index_of(v);
        EXPECT_GE(histogram::upper_edge(i), v);
        if (i > 0) {
            EXPECT_LT(histogram::upper_edge(i - 1), v);
        }
    }
}

TEST(histogram, quantiles_match_a_sorted_sample) {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> dist(11.0, 1.5);  // around 60 µs, long tail
    std::vector<uint64_t> values;
    histogram h;
    for (int i = 0; i < 200000; ++i) {
        auto v = static_cast<uint64_t>(dist(rng)) + 1;
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.5, 0.9, 0.99, 0.999, 0.9999}) {
        uint64_t exact = values[static_cast<size_t>(std::ceil(q * values.size())) - 1];
        uint64_t got = h.quantile(q);
        EXPECT_GE(got, exact) << q;
        EXPECT_LE(static_cast<double>(got - exact), 0.01 * static_cast<double>(exact)) << q;
    }
    EXPECT_EQ(h.quantile(1.0), values.back());
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.count(), values.size());
}

TEST(histogram, merge_and_clamp) {
    histogram a, b;
    a.record(100);
    b.record(1'000'000);
    b.record(histogram::max_value + 5);
    a.add(b);
    EXPECT_EQ(a.count(), 3u);
    EXPECT_EQ(a.clamped(), 1u);
    EXPECT_EQ(a.max(), histogram::max_value);
    EXPECT_EQ(a.quantile(0.3), 100u);  // below 128 ns values are exact
    EXPECT_GE(a.quantile(0.5), 1'000'000u);
    EXPECT_LE(a.quantile(0.5), 1'010'000u);
    EXPECT_EQ(a.min(), 100u);
}

}  // namespace
}  // namespace tandem::core
