#include "core/worker_state.hh"

#include "core/consistency.hh"

#include <algorithm>
#include <chrono>

#include "core/client_session.hh"
#include "core/proxy.hh"

namespace tandem::core {

worker_state::worker_state(proxy& px, net::worker& wk)
    : p(px),
      w(wk),
      cache(px.prepared(), 10000),
      metrics(bucket_settings{px.cfg().metrics_origin_latency_buckets_ms, px.cfg().metrics_target_latency_buckets_ms,
                              px.cfg().metrics_async_read_latency_buckets_ms}),
      tables(px.cfg().metrics_origin_latency_buckets_ms) {
    consistency_override[0] = consistency_named(px.cfg().origin_consistency_level);
    consistency_override[1] = consistency_named(px.cfg().target_consistency_level);
}

uint16_t worker_state::table_index(std::string_view keyspace, std::string_view table) {
    if (table.empty()) return no_table;
    _table_key.assign(keyspace);
    _table_key.push_back('.');
    _table_key.append(table);
    if (auto it = _table_cache.find(std::string_view(_table_key)); it != _table_cache.end()) return it->second;
    const uint16_t i = p.tables().index_of(keyspace, table);
    if (_table_cache.size() < 10000) _table_cache.emplace(_table_key, i);
    return i;
}

void worker_state::on_journal_durable(uint64_t upto) {
    // Replies arrive out of id order: every waiter is looked at, the rest kept in order.
    _due.clear();  // capacity kept
    size_t kept = 0;
    for (size_t i = 0; i < _waiters.size(); ++i) {
        if (_waiters[i].id <= upto) {
            _due.push_back(std::move(_waiters[i]));
        } else {
            // Never moved onto itself: a self-moved weak_ptr is left empty (expired), and the
            // reply it stands for would wait until its timeout.
            if (kept != i) _waiters[kept] = std::move(_waiters[i]);
            ++kept;
        }
    }
    _waiters.resize(kept);
    for (auto& wt : _due) {
        if (!wt.alive.expired()) wt.session->on_durable(wt.slot, wt.gen);
    }
    _due.clear();
}

bool worker_state::take_tracing_token() {
    int64_t limit = p.cfg().tracing_rate_limit;
    if (limit <= 0) return true;
    double rate = static_cast<double>(limit) / static_cast<double>(std::max<size_t>(p.options().workers, 1));
    uint64_t now = w.now_ns();
    if (_tracing_refill_ns == 0) _tracing_tokens = rate;
    _tracing_tokens = std::min(rate, _tracing_tokens + static_cast<double>(now - _tracing_refill_ns) / 1e9 * rate);
    _tracing_refill_ns = now;
    if (_tracing_tokens < 1) return false;
    _tracing_tokens -= 1;
    return true;
}

function_values worker_state::function_values_now() {
    auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return function_values([this] { return uuids.next_bytes(); }, [this] { return uuids.random_uuid(); }, wall.count());
}

void worker_state::begin_drain() {
    draining = true;
    w.stop_listening();
}

}  // namespace tandem::core
