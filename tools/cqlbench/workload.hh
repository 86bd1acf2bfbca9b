#pragma once
// cqlbench's load shapes: key distributions and the open-loop schedule.

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace tandem::cqlbench {

// Keys in [0, n): uniform, sequential (wrapping), or zipfian (YCSB's generator, theta 0.99:
// a few hot keys, a long tail).
class key_chooser {
public:
    enum class kind : uint8_t { uniform, sequential, zipfian };
    key_chooser(kind k, uint64_t n, uint64_t seed);
    uint64_t next();

private:
    kind _kind;
    uint64_t _n;
    uint64_t _seq = 0;
    std::mt19937_64 _rng;
    double _theta = 0.99, _zeta_n = 0, _alpha = 0, _eta = 0, _zeta2 = 0;
};

// Open loop at a fixed rate: request i is due at start + i / rate. Latency is measured from
// that intended time, so a stall shows up in every request it delayed (no coordinated
// omission).
class schedule {
public:
    schedule(double rate_per_s, uint64_t start_ns) : _interval_ns(1e9 / rate_per_s), _start_ns(start_ns) {}
    // How many requests are due by `now_ns` that have not been issued yet.
    uint64_t due(uint64_t now_ns) const {
        if (now_ns < _start_ns) return 0;
        auto should = static_cast<uint64_t>(static_cast<double>(now_ns - _start_ns) / _interval_ns) + 1;
        return should > _issued ? should - _issued : 0;
    }
    // The intended send time of the next request, and marks it issued.
    uint64_t take() { return _start_ns + static_cast<uint64_t>(static_cast<double>(_issued++) * _interval_ns); }
    uint64_t issued() const { return _issued; }
    // The intended send time of the next request.
    uint64_t next_ns() const { return _start_ns + static_cast<uint64_t>(static_cast<double>(_issued) * _interval_ns); }

private:
    double _interval_ns;
    uint64_t _start_ns;
    uint64_t _issued = 0;
};

bool parse_kind(const std::string& s, key_chooser::kind& out);

}  // namespace tandem::cqlbench
