#include "core/table_stats.hh"

#include <xxhash.h>

#include <cstdio>

#include "cql/result.hh"

namespace tandem::core {

uint16_t table_registry::index_of(std::string_view keyspace, std::string_view table) {
    std::string key;
    key.reserve(keyspace.size() + table.size() + 1);
    key.append(keyspace).push_back('.');
    key.append(table);
    std::lock_guard lk(_lock);
    if (auto it = _index.find(key); it != _index.end()) return it->second;
    if (_names.size() >= limit) return limit;
    const auto i = static_cast<uint16_t>(_names.size());
    _names.emplace_back(std::string(keyspace), std::string(table));
    _index.emplace(std::move(key), i);
    return i;
}

std::vector<std::pair<std::string, std::string>> table_registry::names() const {
    std::lock_guard lk(_lock);
    return _names;
}

const char* to_string(dual_read_outcome o) {
    switch (o) {
        case dual_read_outcome::match: return "match";
        case dual_read_outcome::mismatch: return "mismatch";
        case dual_read_outcome::secondary_error: return "secondary_error";
        case dual_read_outcome::not_compared: return "not_compared";
    }
    return "?";
}

table_metrics::table_metrics(const std::vector<double>& bounds_ms) : tables(std::make_unique<table_counters[]>(table_registry::limit + 1)) {
    for (size_t i = 0; i <= table_registry::limit; ++i) tables[i].latency.init(bounds_ms);
}

namespace {

std::string label_value(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

std::string table_series(const std::string& prefix, const table_registry& registry, const std::vector<const table_metrics*>& workers) {
    auto names = registry.names();
    names.emplace_back("", "other");
    const std::string p = prefix + "_tandem_table_";
    std::string requests, failed, latency, reads;
    auto sum = [&](size_t i, auto field) {
        uint64_t t = 0;
        for (const auto* w : workers) t += field(w->tables[i]).load(std::memory_order_relaxed);
        return t;
    };
    for (size_t i = 0; i < names.size(); ++i) {
        const size_t at = i + 1 == names.size() ? table_registry::limit : i;
        const std::string labels = "keyspace=\"" + label_value(names[i].first) + "\",table=\"" + label_value(names[i].second) + "\"";
        const uint64_t n = sum(at, [](const table_counters& t) -> const std::atomic<uint64_t>& { return t.requests; });
        uint64_t dual = 0;
        for (size_t o = 0; o < dual_read_outcomes; ++o) {
            dual += sum(at, [o](const table_counters& t) -> const std::atomic<uint64_t>& { return t.dual_reads[o]; });
        }
        if (n == 0 && dual == 0) continue;
        requests += p + "requests_total{" + labels + "} " + number(static_cast<double>(n)) + "\n";
        for (int c = 0; c < 2; ++c) {
            failed += p + "failed_requests_total{" + labels + ",cluster=\"" + (c == 0 ? "origin" : "target") + "\"} " +
                      number(static_cast<double>(sum(at, [c](const table_counters& t) -> const std::atomic<uint64_t>& { return t.failed[c]; }))) +
                      "\n";
        }
        if (!workers.empty()) {
            const auto& bounds = workers.front()->tables[at].latency.bounds_s;
            uint64_t cumulative = 0;
            for (size_t b = 0; b <= bounds.size(); ++b) {
                for (const auto* w : workers) cumulative += w->tables[at].latency.counts[b].load(std::memory_order_relaxed);
                char le[32];
                if (b < bounds.size()) {
                    std::snprintf(le, sizeof le, "%g", bounds[b]);
                } else {
                    std::snprintf(le, sizeof le, "+Inf");
                }
                latency += p + "request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " + number(static_cast<double>(cumulative)) + "\n";
            }
            uint64_t ns = 0, count = 0;
            for (const auto* w : workers) {
                ns += w->tables[at].latency.sum_ns.load(std::memory_order_relaxed);
                count += w->tables[at].latency.count.load(std::memory_order_relaxed);
            }
            latency += p + "request_duration_seconds_sum{" + labels + "} " + number(static_cast<double>(ns) / 1e9) + "\n";
            latency += p + "request_duration_seconds_count{" + labels + "} " + number(static_cast<double>(count)) + "\n";
        }
        if (dual > 0) {
            for (size_t o = 0; o < dual_read_outcomes; ++o) {
                reads += prefix + "_tandem_dual_reads_total{" + labels + ",outcome=\"" + to_string(static_cast<dual_read_outcome>(o)) + "\"} " +
                         number(static_cast<double>(
                             sum(at, [o](const table_counters& t) -> const std::atomic<uint64_t>& { return t.dual_reads[o]; }))) +
                         "\n";
            }
        }
    }
    std::string out;
    out += "# HELP " + p + "requests_total QUERY, EXECUTE and BATCH requests by the table they name (the first " +
           std::to_string(table_registry::limit) + " tables seen; the rest as table=\"other\")\n# TYPE " + p + "requests_total counter\n" +
           requests;
    out += "# HELP " + p + "failed_requests_total Requests answered with an error, by table and by the cluster the error came from\n# TYPE " +
           p + "failed_requests_total counter\n" + failed;
    out += "# HELP " + p + "request_duration_seconds Time from receiving a request to answering it, by table\n# TYPE " + p +
           "request_duration_seconds histogram\n" + latency;
    out += "# HELP " + prefix + "_tandem_dual_reads_total Reads mirrored to the secondary (read_mode DUAL_ASYNC_ON_SECONDARY) by table "
           "and by how the secondary's result compared with the primary's\n# TYPE " + prefix + "_tandem_dual_reads_total counter\n" + reads;
    return out;
}

std::optional<std::vector<uint64_t>> row_hashes(std::string_view plain, uint8_t version, std::string* raw) {
    std::vector<uint64_t> out;
    if (plain.size() < 4) return std::nullopt;
    if (cql::load_be32(plain.data()) != static_cast<uint32_t>(cql::result_kind::rows)) return out;
    auto m = cql::result_message::decode(plain, version);
    if (!m) return std::nullopt;
    const std::string_view rows = m->rows_raw;
    if (raw) raw->assign(rows);
    const auto columns = static_cast<size_t>(std::max(m->metadata.column_count, 0));
    size_t at = 0;
    out.reserve(static_cast<size_t>(std::max(m->row_count, 0)));
    for (int32_t r = 0; r < m->row_count; ++r) {
        const size_t start = at;
        for (size_t c = 0; c < columns; ++c) {
            if (at + 4 > rows.size()) return std::nullopt;
            const auto len = static_cast<int32_t>(cql::load_be32(rows.data() + at));
            at += 4;
            if (len > 0) {
                if (at + static_cast<size_t>(len) > rows.size()) return std::nullopt;
                at += static_cast<size_t>(len);
            }
        }
        out.push_back(XXH3_64bits(rows.data() + start, at - start));
    }
    return out;
}

}  // namespace tandem::core
