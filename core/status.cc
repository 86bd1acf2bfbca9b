#include "core/status.hh"

namespace tandem::core {

uint64_t recent_latency::upper_edge(size_t i) {
    if (i < 4) return i;
    const size_t power = i / 4 + 1, sub = i % 4;
    // Bucket values: [2^power + sub * 2^(power-2), 2^power + (sub + 1) * 2^(power-2)).
    return (uint64_t{1} << power) + (sub + 1) * (uint64_t{1} << (power - 2)) - 1;
}

void status_sample::add(const recent_latency& r) {
    for (size_t i = 0; i < recent_latency::buckets; ++i) latency[i] += r.counts[i].load(std::memory_order_relaxed);
}

double quantile_ms(const std::array<uint64_t, recent_latency::buckets>& counts, double q) {
    uint64_t total = 0;
    for (uint64_t c : counts) total += c;
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (seen >= rank) return static_cast<double>(recent_latency::upper_edge(i)) / 1e6;
    }
    return static_cast<double>(recent_latency::upper_edge(counts.size() - 1)) / 1e6;
}

void status_window::add(const status_sample& s) {
    std::lock_guard g(_lock);
    _samples.push_back(s);
    // Keep one sample at or before the window's start, so the span covers the whole window.
    while (_samples.size() > 2 && _samples[1].at_s <= s.at_s - _window_s) _samples.pop_front();
}

window_summary status_window::summary() const {
    std::lock_guard g(_lock);
    window_summary w;
    if (_samples.size() < 2) return w;
    const status_sample& last = _samples.back();
    const status_sample* first = &_samples.front();  // at or just before the window's start
    w.seconds = last.at_s - first->at_s;
    w.requests = last.requests - first->requests;
    w.errors = last.errors - first->errors;
    if (w.seconds > 0) {
        w.requests_per_s = static_cast<double>(w.requests) / w.seconds;
        w.errors_per_s = static_cast<double>(w.errors) / w.seconds;
    }
    std::array<uint64_t, recent_latency::buckets> d{};
    for (size_t i = 0; i < d.size(); ++i) d[i] = last.latency[i] - first->latency[i];
    w.p50_ms = quantile_ms(d, 0.5);
    w.p99_ms = quantile_ms(d, 0.99);
    return w;
}

}  // namespace tandem::core
