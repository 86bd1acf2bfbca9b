#pragma once
// cluster_connections SHARED (README, "Cluster connections"): one worker's connections to the
// nodes of both clusters' local datacenters, shared by every client session of the worker,
// instead of an origin and a target connection per client connection.
//
// Connections come in groups, one per (cluster, protocol version, keyspace) -- a group other than
// the default one closes after `cluster_connections_keyspace_idle_ms` (5 minutes) without a
// request: a request is sent
// in its client's protocol version, byte for byte, so a group speaks one version; a statement
// whose table is unqualified runs in its client's keyspace, so it goes to a group whose
// connections said `USE` that keyspace at open and never change it (the default group, keyspace
// "", gets only what does not depend on one: EXECUTE, qualified statements). A group has
// `cluster_connections_per_node` connections to each node, opened with tandem's credentials for
// that cluster (origin_username ...), heartbeated, reopened with backoff (1 s to 15 s); nodes
// marked down by the control connection are skipped. The default group of the clusters'
// version opens at start; others on first use (their first requests wait for it, then fail
// with the open's error: a keyspace that does not exist answers as Cassandra would).
//
// Routing: a request with a token (EXECUTE with the partition key bound) goes to the token's
// owner in the cluster's ring (system.local / system.peers `tokens`), or the next node of the
// ring that is up; others round robin. A reply finds its session through a route (slot,
// generation): the pool's own request ids (client::connection's stream ids) carry the route's
// index and generation, so a reply for a request given up (timeout, session closed) is dropped
// (route_table.hh; the table gives a burst's routes back once it drained).
//
// Worker thread only.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/client/connection.hh"
#include "core/client/token_ring.hh"
#include "core/metrics.hh"
#include "core/route_table.hh"
#include "net/timer_wheel.hh"

namespace tandem::core {

// Which of a node's `count` connections takes a request sent in loop turn `turn`: the one the
// turn already uses, so that all a turn sends to the node leaves in one write (taking them in
// turn per request split every batch into a write per connection); a new turn takes the next
// one. When that one is congested, the next that is not (a stalled node's requests spread over
// its connections before its clients are held back), else any that can take a request.
// `next` and `seen` are the node's state; -1 when no connection can take it.
template <class CanTake, class Congested>
int connection_for_turn(size_t count, uint32_t& next, uint64_t& seen, uint64_t turn, CanTake&& can_take, Congested&& congested) {
    if (seen != turn) {
        seen = turn;
        ++next;
    }
    for (const bool congested_too : {false, true}) {
        for (size_t k = 0; k < count; ++k) {
            const size_t at = (next + k) % count;
            if (can_take(at) && (congested_too || !congested(at))) {
                next += static_cast<uint32_t>(k);
                return static_cast<int>(at);
            }
        }
    }
    return -1;
}

// Stream ids per pool connection: a node's connections share 16,384 (at least 1,024 each), so
// the point where a node that falls behind holds its clients back (three quarters of a
// connection's ids waiting for replies, client::connection::congested) is the same 12,288
// requests per node with one connection as with two: with one connection of 8,192 a node took
// 6,144 and the soak's load swings held clients back (bench/RESULTS.md, session 15). Not the
// protocol's 32,768 per node: what a stalled node leaves behind (the per-id tables, the requests
// held for it) stays small (with 32,768 each stall of the soak left RSS 1-3 MiB higher, session 10).
constexpr size_t pool_ids_per_node = 16384;
constexpr uint16_t pool_stream_ids(int64_t per_node) {
    const auto each = pool_ids_per_node / static_cast<size_t>(per_node < 1 ? 1 : per_node);
    return static_cast<uint16_t>(each < 1024 ? 1024 : each);
}

class client_session;
class worker_state;
struct cluster_view;

class shared_pool : public client::reply_sink {
public:
    explicit shared_pool(worker_state& w);
    ~shared_pool() override;

    // Opens the default group of each cluster and starts the upkeep timer (heartbeats,
    // reopening, topology changes).
    void start();
    void stop();

    struct request {
        int side = 0;
        uint8_t version = 4;
        std::string_view keyspace;       // the group: "" for a request that needs none
        std::optional<int64_t> token;    // its partition key's token, when known
        int node = -1;                   // this node (an index into the cluster's hosts), or any
        cql::opcode op = cql::opcode::query;
        uint8_t flags = 0;
        std::string_view body;           // plain (uncompressed)
        client_session* session = nullptr;
        uint32_t slot = 0, gen = 0;      // the session's pending slot (or stream_ids::async, a compare tag)
    };
    struct sent {
        uint64_t tag = 0;  // 0: not sent
        int node = -1;     // the node it went to (-1 while its group opens)
        node_metrics* metrics = nullptr;  // that node's series
        bool congested = false;  // the connection it went to has more than its send limit queued
    };
    // Whether send() would take a request for `side` now (a ready connection with a free id, or
    // a group opening with room to wait): checked for every cluster before anything is sent,
    // so a write never reaches one cluster only.
    bool can_take(int side, uint8_t version, std::string_view keyspace) const;
    sent send(const request& r);
    // A PREPARE sent to node `sent_to`: the same to every other node of its group that is up
    // (replies ignored), so an EXECUTE routed to any replica finds the statement there, as a
    // driver's prepare-on-all-hosts does.
    void prepare_elsewhere(const request& r, int sent_to);
    // The request was given up: its reply, when it comes, is dropped.
    void forget(uint64_t tag);
    // The node a request still out went to (its counters), or null (not sent yet, or answered).
    node_metrics* metrics_of(uint64_t tag) {
        const auto* r = _routes.find(tag);
        return r ? r->metrics : nullptr;
    }
    // Every request of a closing session.
    void forget_session(const client_session* s);
    // Back-pressure (README, "Memory under load"): a session whose request went to a congested
    // connection stops reading its client; `room()` is called on each waiting session when any
    // pool connection drained below half its limit.
    void wait_for_room(client_session* s) { _waiters.push_back(s); }
    // Some ready connection to `side` is congested (DUAL_ASYNC_ON_SECONDARY: the secondary's
    // copy then goes to the journal alone).
    bool congested(int side) const;
    // A ready connection to `side` in any group.
    bool reachable(int side) const;
    // No connection to `side` is ready and every node that is up refused the last attempt.
    bool unreachable(int side) const;
    // Why, for the client's error: the last refusal.
    const std::string& last_error(int side) const { return _last_error[side]; }

    void on_reply(client::connection& c, uint64_t tag, const client::reply& r) override;

private:
    struct conn_slot {
        client::connection* c = nullptr;
        bool opening = false, ready = false;
        bool failed_once = false;
        bool lost = false;  // it was ready once and closed: its next ready is a reconnection
        uint64_t retry_at_ms = 0;
        uint32_t backoff_ms = 0;
        uint64_t last_heartbeat_ms = 0;
    };
    struct node_pool {
        std::string address, server_name, endpoint;
        uint16_t port = 9042;
        bool up = true;
        node_metrics* metrics = nullptr;
        std::vector<conn_slot> conns;
        uint32_t next = 0;  // connection_for_turn's state
        uint64_t turn = 0;
        // PREPAREs sent to the group while this node was down or had no ready connection (it was
        // opening or reconnecting): sent on its first connection that becomes ready, as drivers
        // prepare again on a node that comes up, so an EXECUTE routed here finds the statement
        // (not an UNPREPARED and a heal). Bodies, deduplicated, at most max_owed (beyond, the
        // heal covers it).
        std::vector<std::pair<std::string, uint8_t>> owed;
    };
    static constexpr size_t max_owed = 1024;
    struct waiting {
        uint64_t tag;
        cql::opcode op;
        uint8_t flags;
        std::string body;
        std::optional<int64_t> token;
        int node;
    };
    struct group {
        int side = 0;
        uint8_t version = 4;
        std::string keyspace;
        std::shared_ptr<const cluster_view> view;  // the nodes were taken from this one
        std::vector<node_pool> nodes;  // by the view's host index
        client::token_ring ring;
        std::deque<waiting> queue;  // requests that came before a connection was ready
        uint32_t next_node = 0;
        size_t ready = 0;
        bool events = false;  // SCHEMA_CHANGE for sessions of this version (origin's default group)
        uint64_t last_used_ms = 0;
        bool keyspace_refused = false;  // USE failed (a keyspace that does not exist): reopened on the next request only
    };
    static constexpr size_t max_waiting = 4096;

    group* find(int side, uint8_t version, std::string_view keyspace) const;
    group& make_group(int side, uint8_t version, std::string keyspace);
    void set_nodes(group& g, std::shared_ptr<const cluster_view> v);
    void open(const std::shared_ptr<group>& g, size_t node, size_t slot);
    void on_ready(group& g, size_t node, size_t slot);
    void on_closed(group& g, size_t node, size_t slot, int error);
    void refuse(group& g, const std::string& why);
    static bool all_failed(const group& g);
    void flush_queue(group& g);
    // A PREPARE: the same to one ready connection of every other node that is up (replies
    // dropped); owed to the nodes that have none.
    void prepare_on_others(group& g, std::string_view body, uint8_t flags, int sent_to);
    // What `n` is owed, on its first ready connection (when it has one).
    static void pay_owed(const group& g, node_pool& n);
    client::connection* pick(group& g, std::optional<int64_t> token, int node, int& chosen);
    void tick();
    void refresh_views();
    void wake_waiters();  // every session on the wait_for_room list reads again
    // A reply for `tag` made here (a request that cannot be sent), delivered as the node's.
    void answer_error(uint64_t tag, uint8_t version, const std::string& message);

    worker_state& _w;
    std::vector<std::shared_ptr<group>> _groups;
    route_table _routes;
    net::timer _timer;
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
    bool _stopped = false;
    uint64_t _views_seen = 0;
    std::string _last_error[2];
    std::vector<client_session*> _waiters;  // wait_for_room
};

}  // namespace tandem::core
