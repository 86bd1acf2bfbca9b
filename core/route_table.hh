#pragma once
// cluster_connections SHARED: which client session waits for each request a worker's pool sent
// (shared_pool.hh). A request's tag (the 64 bits a pool connection hands back with the reply)
// is a route's index and generation, so a reply for a request given up (timeout, session
// closed) finds a newer generation and is dropped.
//
// The table grows to one route per request in flight: a cluster that stalls while clients keep
// sending can put tens of thousands there. Past `small` routes the lowest free index is taken
// first (free_indexes.hh), so once the burst drains the routes in use gather at the front and
// trim() gives the free tail back (README, "Memory under load"); a route made again at a trimmed index
// starts past every generation that index had.
//
// Worker thread only.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/free_indexes.hh"

namespace tandem::core {

class client_session;
struct node_metrics;

class route_table {
public:
    static constexpr size_t small = 4096;  // kept however idle; below it, free routes are reused last-in first-out

    struct route {
        client_session* session = nullptr;  // null: free
        uint32_t slot = 0, gen = 0;         // the session's pending slot and its generation
        uint32_t self_gen = 0;
        uint8_t side = 0;
        node_metrics* metrics = nullptr;  // the node it went to
    };

    // A route for a request of `session` (sent to the node of `metrics`, null while its group
    // opens); its tag. Index 0 is never handed out (a tag of 0 is a request nobody waits for:
    // heartbeats, prepares on the other nodes).
    uint64_t add(client_session* session, uint32_t slot, uint32_t gen, uint8_t side, node_metrics* metrics = nullptr) {
        uint32_t idx;
        if (!_free.empty()) {
            idx = _free.take(_routes.size());
        } else {
            idx = static_cast<uint32_t>(_routes.size());
            _routes.emplace_back();
            _routes.back().self_gen = _gen_base;
        }
        auto& rt = _routes[idx];
        rt.session = session;
        rt.slot = slot;
        rt.gen = gen;
        rt.side = side;
        rt.metrics = metrics;
        return (static_cast<uint64_t>(rt.self_gen) << 32) | idx;
    }

    // The route `tag` names, while it is waited for.
    route* find(uint64_t tag) {
        const uint32_t idx = static_cast<uint32_t>(tag);
        if (idx == 0 || idx >= _routes.size()) return nullptr;
        auto& rt = _routes[idx];
        return rt.session && rt.self_gen == static_cast<uint32_t>(tag >> 32) ? &rt : nullptr;
    }

    // Given up or answered: a later reply with `tag` is dropped.
    void forget(uint64_t tag) {
        route* rt = find(tag);
        if (!rt) return;
        rt->session = nullptr;
        ++rt->self_gen;
        _free.give(static_cast<uint32_t>(tag), _routes.size());
    }

    // Forgets every route of `session` (it closes).
    void forget_session(const client_session* session) {
        for (uint32_t i = 1; i < _routes.size(); ++i) {
            if (_routes[i].session == session) forget((static_cast<uint64_t>(_routes[i].self_gen) << 32) | i);
        }
    }

    // Gives back the free routes past the last one in use (down to `small`), when at least half
    // the table is free. Cheap when there is nothing to give back; call it from a periodic tick.
    void trim() {
        if (_routes.size() <= small || _free.size() * 2 < _routes.size()) return;
        const size_t before = _routes.size();
        while (_routes.size() > small && !_routes.back().session) {
            _gen_base = std::max(_gen_base, _routes.back().self_gen + 1);
            _routes.pop_back();
        }
        if (_routes.size() == before) return;
        _free.cut(_routes.size());
        if (_routes.capacity() > 2 * _routes.size()) _routes.shrink_to_fit();
    }

    size_t size() const { return _routes.size() - 1; }  // routes in use or free (index 0 aside)
    size_t in_use() const { return size() - _free.size(); }
    size_t capacity_bytes() const { return _routes.capacity() * sizeof(route); }

private:
    std::vector<route> _routes{1};  // index 0: no route
    free_indexes _free{small};
    uint32_t _gen_base = 0;         // where a route made at a trimmed index starts
};

}  // namespace tandem::core
