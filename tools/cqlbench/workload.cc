#include "tools/cqlbench/workload.hh"

#include <algorithm>

namespace tandem::cqlbench {

namespace {
double zeta(uint64_t n, double theta) {
    double sum = 0;
    for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
    return sum;
}
}  // namespace

key_chooser::key_chooser(kind k, uint64_t n, uint64_t seed) : _kind(k), _n(n == 0 ? 1 : n), _rng(seed) {
    if (_kind == kind::zipfian) {
        // Computed once: O(n), fine for the key counts a benchmark uses (up to ~10^7).
        _zeta_n = zeta(_n, _theta);
        _zeta2 = zeta(2, _theta);
        _alpha = 1.0 / (1.0 - _theta);
        _eta = (1 - std::pow(2.0 / static_cast<double>(_n), 1 - _theta)) / (1 - _zeta2 / _zeta_n);
    }
}

uint64_t key_chooser::next() {
    switch (_kind) {
        case kind::sequential:
            return _seq++ % _n;
        case kind::uniform:
            return std::uniform_int_distribution<uint64_t>(0, _n - 1)(_rng);
        case kind::zipfian: {
            double u = std::uniform_real_distribution<double>(0, 1)(_rng);
            double uz = u * _zeta_n;
            if (uz < 1.0) return 0;
            if (uz < 1.0 + std::pow(0.5, _theta)) return 1;
            auto v = static_cast<uint64_t>(static_cast<double>(_n) * std::pow(_eta * u - _eta + 1, _alpha));
            return v >= _n ? _n - 1 : v;
        }
    }
    return 0;
}

bool parse_kind(const std::string& s, key_chooser::kind& out) {
    if (s == "uniform") out = key_chooser::kind::uniform;
    else if (s == "sequential") out = key_chooser::kind::sequential;
    else if (s == "zipfian") out = key_chooser::kind::zipfian;
    else return false;
    return true;
}

}  // namespace tandem::cqlbench
