#pragma once
// A log-linear latency histogram in the HdrHistogram style: values are grouped by power of two,
// and each power of two is split into 128 equal sub-buckets, so a recorded value is reported
// within 1/128 (0.8%) of itself. Covers 1 ns to 2^40 ns (about 18 minutes); values above are
// clamped and counted. Recording is O(1) with no allocation; one histogram per thread, merged
// with add().

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::core {

class histogram {
public:
    static constexpr int sub_bits = 7;  // 128 sub-buckets
    static constexpr int max_power = 40;
    static constexpr uint64_t max_value = (uint64_t{1} << max_power) - 1;

    void record(uint64_t value_ns) {
        if (value_ns > max_value) {
            value_ns = max_value;
            ++_clamped;
        }
        ++_counts[index_of(value_ns)];
        ++_total;
        if (value_ns > _max) _max = value_ns;
        if (value_ns < _min) _min = value_ns;
        _sum += value_ns;
    }
    void add(const histogram& other);
    void reset() { *this = histogram(); }

    uint64_t count() const { return _total; }
    uint64_t max() const { return _max; }
    uint64_t min() const { return _total ? _min : 0; }
    double mean() const { return _total ? static_cast<double>(_sum) / static_cast<double>(_total) : 0; }
    uint64_t clamped() const { return _clamped; }
    // The value at quantile q (0..1): the upper edge of the bucket holding it, capped at max().
    uint64_t quantile(double q) const;

    static size_t index_of(uint64_t v) {
        if (v < (uint64_t{1} << sub_bits)) return static_cast<size_t>(v);  // exact below 128
        int power = 63 - __builtin_clzll(v);                                 // v in [2^power, 2^(power+1))
        uint64_t sub = (v >> (power - sub_bits)) & ((uint64_t{1} << sub_bits) - 1);
        return static_cast<size_t>((power - sub_bits + 1) << sub_bits) + static_cast<size_t>(sub);
    }
    // The largest value that maps to bucket `i`.
    static uint64_t upper_edge(size_t i);

private:
    static constexpr size_t buckets = static_cast<size_t>(max_power - sub_bits + 1) << sub_bits;
    std::array<uint64_t, buckets> _counts{};
    uint64_t _total = 0;
    uint64_t _max = 0;
    uint64_t _min = UINT64_MAX;
    uint64_t _sum = 0;
    uint64_t _clamped = 0;
};

}  // namespace tandem::core
