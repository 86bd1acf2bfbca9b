#pragma once
// One worker's share of the proxy: its prepared-statement cache, counters, client sessions, the
// v5 writers to flush at the end of the loop turn, its UUID generator and tracing budget.
// Everything here belongs to the worker's thread, except the counters, which the metrics
// endpoint reads (metrics.hh).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/consistency.hh"
#include "core/functions.hh"
#include "core/metrics.hh"
#include "core/prepared.hh"
#include "core/shared_pool.hh"
#include "core/table_stats.hh"
#include "core/wire.hh"
#include "net/worker.hh"

namespace tandem::core {

class proxy;
class client_session;
class write_journal;

class worker_state {
public:
    worker_state(proxy& px, net::worker& wk);

    proxy& p;
    net::worker& w;
    prepared_cache cache;
    worker_metrics metrics;
    proxy_counters& counters = metrics.counters;
    uint64_t next_host[2] = {0, 0};  // round robin over each cluster's nodes (R1.17)
    bool draining = false;           // shutting down: new requests get OVERLOADED (R11.1)
    std::unordered_set<client_session*> sessions;
    // cluster_connections SHARED: this worker's connections to both clusters (null: PER_CLIENT).
    std::unique_ptr<shared_pool> pool;
    timeuuid_generator uuids;
    // origin_consistency_level, target_consistency_level (by side); none: the client's.
    std::optional<cql::consistency> consistency_override[2];
    // A write timestamp (microseconds since the epoch) for a dual write without one: the clock,
    // or one past the last given, so this worker never hands out the same one twice.
    int64_t next_write_timestamp() { return _timestamps.next(); }

    // write_mode DUAL_ASYNC_ON_SECONDARY: the journal (null without write_journal_dir), this
    // worker's listener in it, and the replies waiting for their record to be durable.
    write_journal* journal = nullptr;
    size_t journal_listener = 0;
    std::string journal_scratch;
    struct durable_waiter {
        uint64_t id;
        client_session* session;
        std::weak_ptr<bool> alive;
        uint32_t slot, gen;
    };
    // A reply held until record `id` is durable; the session's on_durable() follows.
    void wait_durable(uint64_t id, client_session* s, std::weak_ptr<bool> alive, uint32_t slot, uint32_t gen) {
        _waiters.push_back({id, s, std::move(alive), slot, gen});
    }
    // From the journal (posted to this worker): records up to `upto` are on disk.
    void on_journal_durable(uint64_t upto);
    // Log lines that could come with every request, at most one per `every_ms` per worker: the
    // journal full (10 s), a dual-read mismatch (1 s).
    struct log_limit {
        uint64_t every_ms, last_ms = 0;
        bool due(uint64_t now_ms) {
            if (last_ms != 0 && now_ms < last_ms + every_ms) return false;
            last_ms = now_ms;
            return true;
        }
    };
    log_limit journal_full_log{10000}, dual_read_log{1000};

    // Writers with v5 frames to send this turn; flushed by the turn hook.
    std::vector<envelope_writer*> flush_list;
    void flush_writers() {
        for (auto* wr : flush_list) wr->flush();
        flush_list.clear();
    }

    node_metrics& node(int side, const std::string& endpoint) { return metrics.node(side, endpoint); }
    // Per-table series: this worker's counters, and a table's index (cached; the proxy-wide
    // registry is asked once per table).
    table_metrics tables;
    uint16_t table_index(std::string_view keyspace, std::string_view table);

    // tracing_rate_limit, shared evenly by the workers: a token bucket refilled per second.
    bool take_tracing_token();
    // R7: the values that replace volatile function calls in one request.
    function_values function_values_now();
    // Stop accepting; sessions answer new requests OVERLOADED.
    void begin_drain();

private:
    timestamp_generator _timestamps;
    std::vector<durable_waiter> _waiters, _due;
    std::unordered_map<std::string, uint16_t, string_hash, std::equal_to<>> _table_cache;
    std::string _table_key;
    double _tracing_tokens = 0;
    uint64_t _tracing_refill_ns = 0;
};

}  // namespace tandem::core
