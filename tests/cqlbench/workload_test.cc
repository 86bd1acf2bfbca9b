#include "tools/cqlbench/workload.hh"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tandem::cqlbench {
namespace {

TEST(workload, sequential_wraps) {
    key_chooser k(key_chooser::kind::sequential, 3, 1);
    EXPECT_EQ(k.next(), 0u);
    EXPECT_EQ(k.next(), 1u);
    EXPECT_EQ(k.next(), 2u);
    EXPECT_EQ(k.next(), 0u);
}

TEST(workload, uniform_covers_the_range_evenly) {
    key_chooser k(key_chooser::kind::uniform, 10, 1);
    std::map<uint64_t, int> counts;
    for (int i = 0; i < 100000; ++i) {
        auto v = k.next();
        ASSERT_LT(v, 10u);
        ++counts[v];
    }
    EXPECT_EQ(counts.size(), 10u);
    for (auto& [key, n] : counts) EXPECT_NEAR(n, 10000, 600) << key;
}

TEST(workload, zipfian_is_skewed_toward_the_first_keys) {
    key_chooser k(key_chooser::kind::zipfian, 1000, 1);
    std::map<uint64_t, int> counts;
    for (int i = 0; i < 100000; ++i) {
        auto v = k.next();
        ASSERT_LT(v, 1000u);
        ++counts[v];
    }
    // Theta 0.99 over 1000 keys: key 0 takes about 13%, the top 10 about 39%.
    EXPECT_NEAR(counts[0] / 100000.0, 0.133, 0.02);
    int top10 = 0;
    for (uint64_t i = 0; i < 10; ++i) top10 += counts[i];
    EXPECT_NEAR(top10 / 100000.0, 0.39, 0.04);
    EXPECT_GT(counts.size(), 500u);  // and a long tail
}

TEST(workload, schedule_issues_at_the_rate_from_intended_times) {
    schedule s(1000.0, 1'000'000'000);  // 1000/s from t = 1 s
    EXPECT_EQ(s.due(999'999'999), 0u);
    EXPECT_EQ(s.due(1'000'000'000), 1u);
    EXPECT_EQ(s.due(1'010'000'000), 11u);  // 10 ms later: 11 due
    uint64_t first = s.take();
    uint64_t second = s.take();
    EXPECT_EQ(first, 1'000'000'000u);
    EXPECT_EQ(second, 1'001'000'000u);  // intended, not actual, send times
    EXPECT_EQ(s.due(1'010'000'000), 9u);
    // A stall: everything due since stays due, each with its own intended time.
    EXPECT_EQ(s.due(2'000'000'000), 999u);
}

}  // namespace
}  // namespace tandem::cqlbench
