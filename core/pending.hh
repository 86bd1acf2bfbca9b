#pragma once
// Requests in flight on one client connection (DESIGN.md data path, step 6): a slot per request
// that knows which clusters it waits for, holds the first of two replies until the second comes
// (§4.3), and what is needed to heal an UNPREPARED or store a PREPARE's ids. Slots are reused
// (their strings keep their capacity: no allocation per request in the steady state); a slot's
// generation changes at each use, so a cluster reply or a timer for an earlier use is dropped.
// Also the client's stream ids in flight (R3.2), one bit each. Worker thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/free_indexes.hh"
#include "core/functions.hh"
#include "core/metrics.hh"
#include "core/prepared.hh"
#include "core/sides.hh"
#include "core/wire.hh"
#include "cql/envelope.hh"
#include "net/timer_wheel.hh"

namespace tandem::core {

enum class request_kind : uint8_t { plain, options, startup, auth_primary, auth_secondary, prepare };

// What only some requests need, made the first time a request on the slot needs it and kept
// with the slot (its strings keep their capacity): a PREPARE's statement, to store once both
// clusters answered, and a traced request's id. Apart from the slot, so that the requests most
// in flight (EXECUTE, QUERY, BATCH) do not carry it: a stalled cluster puts tens of thousands of
// slots in use.
struct pending_extra {
    std::string query, keyspace;
    std::string cluster_query;                // the text sent to the clusters
    std::vector<generated_marker> generated;  // function markers tandem added to the prepared text
    route prep_route = route::both;
    bool prep_write = false;
    bool prep_replayable = false;  // a write the journal may replay (prepared_entry)
    bool generated_named = false;
    bool keyspace_flag = false;
    std::string request_id;  // tracing (R3.14), hex

    void clear();
};

// What each cluster was sent where tandem changed the request, made when a request first needs
// it and kept with the slot (the capacity too): the requests most in flight, sent as received,
// need none of it.
struct pending_copies {
    std::string side_body[2];
};

struct pending {
    uint32_t index = 0;  // its place in the table
    uint32_t gen = 0;
    uint64_t started_ns = 0;
    bool used = false;
    request_kind kind = request_kind::plain;
    int16_t client_stream = 0;
    uint8_t version = 4;
    destinations expect, got;  // the clusters it was sent to, and those that answered
    cluster_role primary = cluster_role::origin;
    int16_t proxy_stream[2] = {-1, -1};
    bool write = false;    // counted as a write (failed_writes) vs a read
    bool counted = false;  // QUERY/EXECUTE/BATCH (R4.19)
    cql::consistency cl = cql::consistency::one;
    int8_t first_side = -1;  // the first of two replies, held until the second arrives (§4.3)
    int8_t healing = -1;     // the cluster a healing PREPARE is out to
    bool healed = false;
    bool kept = false;  // an EXECUTE or BATCH kept for healing (req_h, req_copy or side bodies)
    bool side_rewritten[2] = {false, false};
    bool first_in_copy = false;  // the held reply is *held_copy, not first_owner's
    bool target_same = false;  // the target's rewritten body is side_body[0] (the same bytes)
    bool answered = false;
    bool secondary_ok = false;  // the secondary has its copy: no need to wait for the disk
    uint16_t table = 0xFFFF;    // the table it names (table_stats.hh), or none; PREPARE: the statement's
    int16_t auth_steps = 0;     // secondary handshake round trips
    uint32_t bytes = 0;         // the request's size while its client waits for it (back-pressure)
    uint32_t compare_tag = 0;   // its dual-read comparison (async_reads.cc), or 0
    cql::envelope_header first_h;
    cql::envelope_header req_h;
    net::rx_buffer first_owner;
    // EXECUTE / BATCH: the request as received, kept until it completes, so an UNPREPARED from one
    // cluster can be healed by preparing there again and re-sending (once); and what each cluster
    // was sent where tandem changed it (side_rewritten, in copies). The request as received is not
    // kept when both clusters got changed bodies, nor the target's when it equals the origin's.
    std::string req_copy;
    // write_mode DUAL_ASYNC_ON_SECONDARY: the journal record of the secondary's copy (0: none);
    // `answered`: the client has its reply already (the slot then waits for the secondary only,
    // its client stream free again).
    uint64_t journal_id = 0;
    // cluster_connections SHARED: the pool's handle of each cluster's copy, and the node it went to.
    uint64_t shared_tag[2] = {0, 0};
    int16_t shared_node[2] = {-1, -1};
    net::timer timer;
    std::unique_ptr<pending_extra> x;      // PREPARE and tracing only (extra())
    std::unique_ptr<pending_copies> copies;  // bodies of tandem's (mine())
    // The first of two replies when it cannot stay in its receive buffer (the ring runs low while
    // a stalled cluster keeps thousands waiting: most are a few bytes, RESULT Void), apart from
    // `copies` so that such a slot makes a string, not room for three.
    std::unique_ptr<std::string> held_copy;

    pending_extra& extra() {
        if (!x) x = std::make_unique<pending_extra>();
        return *x;
    }
    pending_copies& mine() {
        if (!copies) copies = std::make_unique<pending_copies>();
        return *copies;
    }
    // What cluster `s` is sent where tandem changed the request (written with side()).
    std::string& side(int s) { return mine().side_body[s]; }
    std::string_view side_view(int s) const {
        if (!copies) return {};
        return s == 1 && target_same ? copies->side_body[0] : copies->side_body[s];
    }
    size_t side_bytes() const { return copies ? copies->side_body[0].size() + copies->side_body[1].size() : 0; }
    // The reply held (hold()), or the handshake's primary reply.
    std::string_view first_body() const {
        if (first_in_copy) return *held_copy;
        return first_owner.view();
    }
    // Holds `body` as a copy (the reply must outlive its receive buffer).
    void hold_copy(std::string_view body) {
        first_owner.release();
        if (!held_copy) held_copy = std::make_unique<std::string>();
        held_copy->assign(body);
        first_in_copy = true;
    }
    void drop_held() {
        first_owner.release();
        if (held_copy) held_copy->clear();
        first_in_copy = false;
    }
    // The traced request's id, or empty.
    std::string_view request_id() const { return x ? std::string_view(x->request_id) : std::string_view(); }

    bool waits_for(int side) const { return expect.has(side) && !got.has(side); }
    bool complete() const { return got == expect; }
    // The cluster answered (true the first time only).
    bool mark_answered(int side) {
        if (!expect.has(side) || got.has(side)) return false;
        got = got.with(side);
        return true;
    }
    // A new request to `side` on this slot (healing, secondary auth): waiting for it again.
    void expect_again(int side, int16_t proxy_id) {
        expect = expect.with(side);
        got = got.without(side);
        proxy_stream[side] = proxy_id;
    }

    // The first reply waits for the second: a reference to its receive buffer while buffers are
    // plentiful, a copy when the ring runs low (held buffers must not starve the receives that
    // would complete them).
    void hold(int side, const inbound_envelope& e, bool buffers_plentiful);
    void reset();
};

class pending_table {
public:
    // A slot for a new request on the client's `stream` (marked busy until release).
    pending& take(request_kind k, int16_t stream);
    void release(pending& p);
    // The client has its reply; the slot stays (waiting for the secondary) but its stream id is
    // the client's again.
    void detach_client(pending& p) {
        mark_stream(p.client_stream, false);
        p.client_stream = -1;
        p.answered = true;
    }
    // The slot `index` if it is still at generation `gen`.
    pending* find(uint32_t index, uint32_t gen) {
        if (index >= _slots.size()) return nullptr;
        auto* p = _slots[index].get();
        return p->used && p->gen == gen ? p : nullptr;
    }
    bool stream_busy(int16_t stream) const;
    size_t in_use() const { return _slots.size() - _free.size(); }
    size_t size() const { return _slots.size(); }
    size_t slots_capacity() const { return _slots.capacity(); }
    // Gives back what a burst left behind (a stalled cluster can put thousands of requests in
    // flight on one connection): free slots past the last used one beyond `keep`, and string
    // capacity above `max_string` in free slots. A slot made
    // again later starts past every generation its index had, so a late reply for a trimmed
    // slot never matches a new request.
    void trim(size_t keep = small, size_t max_string = 64 * 1024);
    // trim() once every 1024 calls while the table is large and mostly free. Call it where no
    // reference to a free slot is held (the session's entry points from the worker).
    void maybe_trim() {
        if (_slots.size() > small && ++_calls % 1024 == 0 && in_use() * 2 < _slots.size()) trim();
    }

    // Grown past its small size by a burst, and nothing in flight now: trim() at the next
    // entry point would give the burst's memory back.
    bool idle_after_burst() const { return _slots.size() > small && in_use() == 0; }

    template <class Fn>
    void for_each_used(Fn&& fn) {
        for (auto& s : _slots) {
            if (s->used) fn(*s);
        }
    }

private:
    void mark_stream(int16_t stream, bool busy);
    std::vector<std::unique_ptr<pending>> _slots;  // stable addresses (timers point at them)
    // Free slots: past `small`, the lowest index first, so a burst's slots end up at the tail,
    // where trim() can drop them (free_indexes.hh).
    static constexpr size_t small = 64;
    free_indexes _free{small};
    uint32_t _gen_base = 0;       // above every generation of a trimmed slot
    uint32_t _calls = 0;
    std::vector<uint64_t> _busy_streams;  // grown to the highest client stream id seen
};

}  // namespace tandem::core
