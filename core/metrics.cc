#include "core/metrics.hh"

#include <algorithm>
#include <cstdio>

#include "cql/error_body.hh"

namespace tandem::core {

void latency_histogram::init(const std::vector<double>& bounds_ms) {
    bounds_s.clear();
    for (double b : bounds_ms) bounds_s.push_back(b / 1000.0);
    std::sort(bounds_s.begin(), bounds_s.end());
    counts = std::make_unique<std::atomic<uint64_t>[]>(bounds_s.size() + 1);
}

const char* node_error_name(size_t kind) {
    static const char* names[node_metrics::error_kinds] = {"client_timeout", "read_timeout",  "read_failure",
                                                           "write_timeout",  "write_failure", "overloaded",
                                                           "unavailable",    "unprepared",    "other"};
    return kind < node_metrics::error_kinds ? names[kind] : "other";
}

size_t node_error_kind(int32_t code) {
    using cql::error_code;
    switch (static_cast<error_code>(code)) {
        case error_code::read_timeout: return 1;
        case error_code::read_failure: return 2;
        case error_code::write_timeout: return 3;
        case error_code::write_failure: return 4;
        case error_code::overloaded: return 5;
        case error_code::unavailable: return 6;
        case error_code::unprepared: return 7;
        default: return 8;
    }
}

void node_metrics::count_error(int32_t cql_error_code) { bump(failed[node_error_kind(cql_error_code)]); }

worker_metrics::worker_metrics(bucket_settings buckets) : _buckets(std::move(buckets)) {
    counters.writes.init(_buckets.origin_ms);  // ZDM uses origin's buckets for writes
    counters.reads_origin.init(_buckets.origin_ms);
    counters.reads_target.init(_buckets.target_ms);
}

node_metrics& worker_metrics::node(int side, const std::string& endpoint) {
    std::lock_guard g(_nodes_lock);
    auto& slot = _nodes[{side, endpoint}];
    if (!slot) {
        slot = std::make_unique<node_metrics>();
        const auto& b = side == 0 ? _buckets.origin_ms : side == 1 ? _buckets.target_ms : _buckets.async_ms;
        slot->reads.init(b);
        slot->writes.init(b);
    }
    return *slot;
}

namespace {

// Builds the exposition text: a HELP/TYPE block per metric, then its lines.
class exposition {
    const std::string& _prefix;
    std::string _out;

public:
    explicit exposition(const std::string& prefix) : _prefix(prefix) {}
    void metric(const std::string& name, const char* type, const char* help) {
        _out += "# HELP " + _prefix + "_" + name + " " + help + "\n# TYPE " + _prefix + "_" + name + " " + type + "\n";
    }
    void line(const std::string& name, const std::string& labels, double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        _out += _prefix + "_" + name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
    }
    // A histogram summed over `parts` (same bounds): _bucket lines, _sum, _count.
    void histogram(const std::string& name, const std::string& labels, const std::vector<const latency_histogram*>& parts) {
        if (parts.empty()) return;
        const auto& bounds = parts.front()->bounds_s;
        const std::string sep = labels.empty() ? "" : ",";
        uint64_t cumulative = 0, ns = 0, n = 0;
        for (size_t i = 0; i <= bounds.size(); ++i) {
            for (const auto* h : parts) cumulative += h->counts[i].load(std::memory_order_relaxed);
            char le[32];
            if (i < bounds.size()) {
                std::snprintf(le, sizeof le, "%g", bounds[i]);
            } else {
                std::snprintf(le, sizeof le, "+Inf");
            }
            line(name + "_bucket", labels + sep + "le=\"" + le + "\"", static_cast<double>(cumulative));
        }
        for (const auto* h : parts) {
            ns += h->sum_ns.load(std::memory_order_relaxed);
            n += h->count.load(std::memory_order_relaxed);
        }
        line(name + "_sum", labels, static_cast<double>(ns) / 1e9);
        line(name + "_count", labels, static_cast<double>(n));
    }
    std::string take() { return std::move(_out); }
};

using workers_t = std::span<const worker_metrics* const>;

// Counters are unsigned; gauges (in flight, held) signed, summed as such.
template <class Field>
double sum(workers_t workers, Field field) {
    using value = decltype(field(std::declval<proxy_counters&>()).load());
    value v = 0;
    for (const auto* w : workers) v += field(w->counters).load(std::memory_order_relaxed);
    return static_cast<double>(v);
}

// The zdm_<cluster>_* series (R10.1), summed over workers by node.
void node_series(exposition& x, workers_t workers) {
    for (int side = 0; side < 3; ++side) {
        const std::string c = side == 0 ? "origin" : side == 1 ? "target" : "async";
        struct totals_t {
            uint64_t failed[node_metrics::error_kinds] = {};
            int64_t connections = 0, used = 0;
            uint64_t failed_connections = 0;
            std::vector<const latency_histogram*> reads, writes;
        };
        std::map<std::string, totals_t> by_node;
        for (const auto* w : workers) {
            w->for_each_node([&](int s, const std::string& endpoint, const node_metrics& m) {
                if (s != side) return;
                auto& t = by_node[endpoint];
                for (size_t k = 0; k < node_metrics::error_kinds; ++k) t.failed[k] += m.failed[k].load(std::memory_order_relaxed);
                t.connections += m.connections.load(std::memory_order_relaxed);
                t.used += m.used_stream_ids.load(std::memory_order_relaxed);
                t.failed_connections += m.failed_connections.load(std::memory_order_relaxed);
                t.reads.push_back(&m.reads);
                t.writes.push_back(&m.writes);
            });
        }
        if (by_node.empty()) continue;
        x.metric(c + "_requests_failed_total", "counter", "Requests that failed on this node, by error");
        for (const auto& [node, t] : by_node) {
            for (size_t k = 0; k < node_metrics::error_kinds; ++k) {
                x.line(c + "_requests_failed_total", "node=\"" + node + "\",error=\"" + node_error_name(k) + "\"", static_cast<double>(t.failed[k]));
            }
        }
        x.metric(c + "_request_duration_seconds", "histogram", "Time until this node answered");
        for (const auto& [node, t] : by_node) {
            x.histogram(c + "_request_duration_seconds", "node=\"" + node + "\",type=\"reads\"", t.reads);
            x.histogram(c + "_request_duration_seconds", "node=\"" + node + "\",type=\"writes\"", t.writes);
        }
        x.metric(c + "_connections_total", "gauge", "Open connections to this node");
        for (const auto& [node, t] : by_node) x.line(c + "_connections_total", "node=\"" + node + "\"", static_cast<double>(t.connections));
        x.metric(c + "_failed_connections_total", "counter", "Connections to this node that could not be opened");
        for (const auto& [node, t] : by_node) {
            x.line(c + "_failed_connections_total", "node=\"" + node + "\"", static_cast<double>(t.failed_connections));
        }
        x.metric(c + "_used_stream_ids_total", "gauge", "Stream ids in use on connections to this node");
        for (const auto& [node, t] : by_node) x.line(c + "_used_stream_ids_total", "node=\"" + node + "\"", static_cast<double>(t.used));
    }
}

// tandem's own series (beyond ZDM's).
void tandem_series(exposition& x, workers_t workers) {
    auto counter = [&](const std::string& name, const char* help, auto field) {
        x.metric(name, "counter", help);
        x.line(name, "", sum(workers, field));
    };
    counter("tandem_requests_total", "QUERY, EXECUTE and BATCH requests", [](auto& c) -> auto& { return c.requests; });
    counter("tandem_request_timeouts_total",
            "Requests answered with a timeout error because a cluster did not answer in proxy_request_timeout_ms",
            [](auto& c) -> auto& { return c.timeouts; });
    counter("tandem_unrecognized_statements_total", "Statements the classifier did not recognise, sent to both clusters as writes",
            [](auto& c) -> auto& { return c.unrecognized_statements; });
    counter("tandem_unprepared_healed_total", "UNPREPARED replies healed by preparing again on that cluster and re-sending",
            [](auto& c) -> auto& { return c.unprepared_healed; });
    counter("tandem_client_reads_paused_total",
            "Times tandem stopped reading a connection because more than the send limit waited to leave: a client whose "
            "requests wait for a cluster slower than it, or a client's own cluster connections while it does not read its replies",
            [](auto& c) -> auto& { return c.reads_paused; });
    counter("tandem_overloaded_answers_total",
            "Requests tandem answered OVERLOADED itself (R4.3): no free stream id or no connection on a cluster the request "
            "needed (requests pile up behind a slow cluster), or shutting down; a node's own OVERLOADED is not counted here",
            [](auto& c) -> auto& { return c.overloaded_answers; });
    counter("tandem_login_cache_hits_total",
            "cluster_connections SHARED: client logins accepted because the cluster accepted the same credentials less than "
            "cluster_connections_login_cache_ms ago (no connection to the cluster to check them)",
            [](auto& c) -> auto& { return c.login_cache_hits; });
    counter("tandem_intercepted_requests_total", "system.local / system.peers reads answered by tandem",
            [](auto& c) -> auto& { return c.intercepted; });
    x.metric("tandem_journal_writes_total", "counter",
             "write_mode DUAL_ASYNC_ON_SECONDARY: writes by outcome (journaled: answered after the primary and the journal; "
             "secondary_failed: the secondary's copy failed or was not sent, kept for replay; full: sent as DUAL_SYNC, the journal "
             "being full; synchronous: lightweight transactions, counter and list updates, schema changes, always on both clusters)");
    x.line("tandem_journal_writes_total", "outcome=\"journaled\"", sum(workers, [](auto& c) -> auto& { return c.journaled_writes; }));
    x.line("tandem_journal_writes_total", "outcome=\"secondary_failed\"",
           sum(workers, [](auto& c) -> auto& { return c.journal_secondary_failed; }));
    x.line("tandem_journal_writes_total", "outcome=\"full\"", sum(workers, [](auto& c) -> auto& { return c.journal_full; }));
    x.line("tandem_journal_writes_total", "outcome=\"synchronous\"", sum(workers, [](auto& c) -> auto& { return c.journal_sync_writes; }));
    x.metric("tandem_async_reads_total", "counter", "Reads mirrored to the secondary (read_mode DUAL_ASYNC_ON_SECONDARY), by outcome");
    x.line("tandem_async_reads_total", "outcome=\"sent\"", sum(workers, [](auto& c) -> auto& { return c.async_sent; }));
    x.line("tandem_async_reads_total", "outcome=\"ok\"", sum(workers, [](auto& c) -> auto& { return c.async_ok; }));
    x.line("tandem_async_reads_total", "outcome=\"failed\"", sum(workers, [](auto& c) -> auto& { return c.async_failed; }));
    x.line("tandem_async_reads_total", "outcome=\"skipped\"", sum(workers, [](auto& c) -> auto& { return c.async_skipped; }));
}

}  // namespace

std::string prometheus_text(const std::string& prefix, workers_t workers, const proxy_gauges& g) {
    exposition x(prefix);
    x.metric("proxy_failed_writes_total", "counter", "Writes that failed on origin, target or both");
    x.line("proxy_failed_writes_total", "failed_on=\"origin\"", sum(workers, [](auto& c) -> auto& { return c.writes_failed_origin; }));
    x.line("proxy_failed_writes_total", "failed_on=\"target\"", sum(workers, [](auto& c) -> auto& { return c.writes_failed_target; }));
    x.line("proxy_failed_writes_total", "failed_on=\"both\"", sum(workers, [](auto& c) -> auto& { return c.writes_failed_both; }));
    x.metric("proxy_failed_reads_total", "counter", "Reads that failed, by the cluster that served them");
    x.line("proxy_failed_reads_total", "cluster=\"origin\"", sum(workers, [](auto& c) -> auto& { return c.reads_failed_origin; }));
    x.line("proxy_failed_reads_total", "cluster=\"target\"", sum(workers, [](auto& c) -> auto& { return c.reads_failed_target; }));
    x.metric("proxy_request_duration_seconds", "histogram", "Time from receiving a request to answering it");
    for (auto [type, field] : {std::pair{"writes", &proxy_counters::writes}, std::pair{"reads_origin", &proxy_counters::reads_origin},
                               std::pair{"reads_target", &proxy_counters::reads_target}}) {
        std::vector<const latency_histogram*> parts;
        for (const auto* w : workers) parts.push_back(&(w->counters.*field));
        x.histogram("proxy_request_duration_seconds", std::string("type=\"") + type + "\"", parts);
    }
    x.metric("proxy_inflight_requests_total", "gauge", "Requests waiting for a cluster");
    x.line("proxy_inflight_requests_total", "", sum(workers, [](auto& c) -> auto& { return c.inflight; }));
    x.metric("tandem_held_requests", "gauge",
             "Requests read from clients and not yet sent to a cluster: pipelined before the client's handshake completed, or "
             "(cluster_connections SHARED) read before the node's pool connections ran short of stream ids and the client was "
             "paused; they leave in order when there is room");
    x.line("tandem_held_requests", "", sum(workers, [](auto& c) -> auto& { return c.held; }));
    x.metric("client_connections_total", "gauge", "Open client connections");
    x.line("client_connections_total", "", static_cast<double>(g.client_connections));
    x.metric("pscache_entries_total", "gauge", "Prepared statements tandem knows");
    x.line("pscache_entries_total", "", static_cast<double>(g.pscache_entries));
    x.metric("pscache_miss_total", "counter", "EXECUTE or BATCH with a prepared id tandem does not know");
    x.line("pscache_miss_total", "", sum(workers, [](auto& c) -> auto& { return c.pscache_misses; }));
    node_series(x, workers);
    tandem_series(x, workers);
    return x.take();
}

std::map<std::string, int64_t> metric_totals(workers_t workers, const proxy_gauges& g) {
    std::map<std::string, int64_t> t;
    auto add = [&](const char* name, auto field) { t[name] += static_cast<int64_t>(sum(workers, field)); };
    add("requests", [](auto& c) -> auto& { return c.requests; });
    add("failed_writes_origin", [](auto& c) -> auto& { return c.writes_failed_origin; });
    add("failed_writes_target", [](auto& c) -> auto& { return c.writes_failed_target; });
    add("failed_writes_both", [](auto& c) -> auto& { return c.writes_failed_both; });
    add("failed_reads_origin", [](auto& c) -> auto& { return c.reads_failed_origin; });
    add("failed_reads_target", [](auto& c) -> auto& { return c.reads_failed_target; });
    add("timeouts", [](auto& c) -> auto& { return c.timeouts; });
    add("async_sent", [](auto& c) -> auto& { return c.async_sent; });
    add("async_ok", [](auto& c) -> auto& { return c.async_ok; });
    add("async_failed", [](auto& c) -> auto& { return c.async_failed; });
    add("async_skipped", [](auto& c) -> auto& { return c.async_skipped; });
    add("pscache_misses", [](auto& c) -> auto& { return c.pscache_misses; });
    add("intercepted", [](auto& c) -> auto& { return c.intercepted; });
    add("unrecognized_statements", [](auto& c) -> auto& { return c.unrecognized_statements; });
    add("journaled_writes", [](auto& c) -> auto& { return c.journaled_writes; });
    add("journal_secondary_failed", [](auto& c) -> auto& { return c.journal_secondary_failed; });
    add("journal_full", [](auto& c) -> auto& { return c.journal_full; });
    add("journal_sync_writes", [](auto& c) -> auto& { return c.journal_sync_writes; });
    add("inflight", [](auto& c) -> auto& { return c.inflight; });
    add("held", [](auto& c) -> auto& { return c.held; });
    t["client_connections"] = g.client_connections;
    t["pscache_entries"] = g.pscache_entries;
    return t;
}

}  // namespace tandem::core
