#include "core/histogram.hh"

#include <cmath>

namespace tandem::core {

void histogram::add(const histogram& other) {
    for (size_t i = 0; i < buckets; ++i) _counts[i] += other._counts[i];
    _total += other._total;
    _sum += other._sum;
    _clamped += other._clamped;
    if (other._total) {
        if (other._max > _max) _max = other._max;
        if (other._min < _min) _min = other._min;
    }
}

uint64_t histogram::upper_edge(size_t i) {
    if (i < (size_t{1} << sub_bits)) return i;
    size_t group = i >> sub_bits;  // 1 → power sub_bits, ...
    int power = static_cast<int>(group) + sub_bits - 1;
    uint64_t sub = i & ((size_t{1} << sub_bits) - 1);
    uint64_t base = (uint64_t{1} << power) + (sub << (power - sub_bits));
    return base + (uint64_t{1} << (power - sub_bits)) - 1;
}

uint64_t histogram::quantile(double q) const {
    if (_total == 0) return 0;
    if (q <= 0) return min();
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(_total)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets; ++i) {
        seen += _counts[i];
        if (seen >= rank) {
            uint64_t edge = upper_edge(i);
            return edge < _max ? edge : _max;
        }
    }
    return _max;
}

}  // namespace tandem::core
