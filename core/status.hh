#pragma once
// What /api/v1/status reports over the last minute: request and error rates, p50 and p99.
//
// Each worker records every request's latency into a coarse histogram of its own (four
// buckets per power of two, so a quantile is within 19% of the true value; one relaxed
// load and store per request); a sampler off the request path sums the workers every few
// seconds into a window of snapshots, and the last minute is the newest snapshot minus the
// oldest one still inside the minute. The Prometheus histograms stay as ZDM defines them
// (milliseconds buckets from 1 ms: too coarse for a proxy's sub-millisecond medians).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

namespace tandem::core {

struct recent_latency {
    static constexpr size_t buckets = 4 * 42;
    std::array<std::atomic<uint64_t>, buckets> counts{};

    // Bucket of `ns`: 4 per power of two (exact below 4 ns).
    static size_t index_of(uint64_t ns) {
        if (ns < 4) return static_cast<size_t>(ns);
        const int power = 63 - __builtin_clzll(ns);
        const size_t i = static_cast<size_t>(power - 1) * 4 + ((ns >> (power - 2)) & 3);
        return i < buckets ? i : buckets - 1;
    }
    // The largest value of bucket `i`.
    static uint64_t upper_edge(size_t i);
    void record(uint64_t ns) {
        auto& c = counts[index_of(ns)];
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// Cumulative totals at one moment, summed over workers.
struct status_sample {
    double at_s = 0;  // monotonic seconds
    uint64_t requests = 0, errors = 0;
    std::array<uint64_t, recent_latency::buckets> latency{};
    void add(const recent_latency& r);
};

struct window_summary {
    double seconds = 0;  // the span measured (up to the window)
    double requests_per_s = 0, errors_per_s = 0;
    uint64_t requests = 0, errors = 0;
    double p50_ms = 0, p99_ms = 0;  // 0 when no request was timed
};

class status_window {
public:
    explicit status_window(double window_s = 60) : _window_s(window_s) {}
    void add(const status_sample& s);
    // From the newest sample at or before the window's start (or the oldest kept) to the newest.
    window_summary summary() const;

private:
    double _window_s;
    mutable std::mutex _lock;
    std::deque<status_sample> _samples;
};

// The value at quantile q of bucket counts (the upper edge of the bucket that holds it).
double quantile_ms(const std::array<uint64_t, recent_latency::buckets>& counts, double q);

}  // namespace tandem::core
