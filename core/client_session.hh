#pragma once
// One client connection and everything tandem does for it (DESIGN.md, "The data path"). The
// session owns the client connection's reader and writer, its cluster links (origin, target,
// and the async one to the secondary), and its pending requests; its methods are grouped by
// stage, one file each:
//
//   client_session.cc  the connection's life: connect both clusters, read envelopes, queue
//                      them during the handshake, answer errors, close
//   handshake.cc       OPTIONS / STARTUP / AUTH_RESPONSE across both clusters (handshake.hh)
//   request_path.cc    a request from its envelope to the sends: one function per request kind
//   replies.cc         a cluster's reply to the client: merging (merge.hh), healing
//                      UNPREPARED, timeouts, per-node metrics, events
//   async_reads.cc     the dual-read connection: mirror, its handshake, what it counts
//
// Worker thread only. The request path allocates nothing and takes no lock in the steady state
// (tests/core/session_test.cc counts allocations).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster_link.hh"
#include "core/fifo.hh"
#include "core/handshake.hh"
#include "core/journal.hh"
#include "core/pending.hh"
#include "core/topology.hh"
#include "core/sides.hh"
#include "core/table_stats.hh"
#include "core/wire.hh"
#include "core/worker_state.hh"
#include "cql/error_body.hh"
#include "cql/primitives.hh"
#include "net/worker.hh"

namespace tandem::core {

struct prepared_entry;

// ZDM's UNPREPARED message text for an unknown prepared id (R5.3): drivers re-prepare on it.
std::string unprepared_text(std::string_view id);

// What each cluster gets: the body as received, or a rewritten one (its compression flag is
// then cleared).
struct outbound {
    std::string_view body[2];
    bool rewritten[2] = {false, false};

    static outbound as_received() { return {}; }
    // The same rewritten body for both clusters.
    static outbound same(std::string_view b) { return outbound{{b, b}, {true, true}}; }
    // What the slot kept for each cluster (keep_request).
    static outbound kept(const pending& p) {
        return outbound{{p.side_view(0), p.side_view(1)}, {p.side_rewritten[0], p.side_rewritten[1]}};
    }
};

class client_session : public net::connection_handler {
public:
    client_session(worker_state& w, net::connection& conn);
    ~client_session() override;

    // Connects to both clusters; requests are read as they come and served once both are up.
    void start();
    std::weak_ptr<bool> alive() const { return _alive; }

    // net::connection_handler: the client connection.
    void on_data(net::connection& c, net::rx_buffer data) override;
    void on_close(net::connection& c, int error) override;
    void on_drained(net::connection& c) override;

    // Back-pressure (README, "Memory under load"): after reading, a session whose client or
    // request connections have more than the send limit queued stops reading its client;
    // `relieve()` (a connection drained, a link closed) reads again once none has.
    void relieve();
    // cluster_connections SHARED: a pool connection drained (shared_pool::wait_for_room).
    void pool_room();
    // More than the send limit of replies waits for the client: its request link `l` stops
    // reading (PER_CLIENT) until the client drained them (on_drained).
    bool holding_replies(const cluster_link* l) const { return _client.over_limit() && (l == _links[0] || l == _links[1]); }
    void count_paused();  // tandem_client_reads_paused_total

    // From the cluster links.
    void on_reply(int side, uint32_t slot, uint32_t gen, inbound_envelope&& env);
    void on_event(int side, inbound_envelope&& env);
    void on_async_reply(int side, uint32_t compare_tag, inbound_envelope&& env);
    void on_link_closed(int side, int error);
    // The journal record of slot `slot` is durable: its held primary reply goes to the client.
    void on_durable(uint32_t slot, uint32_t gen);
    // cluster_connections SHARED (shared_pool.hh): a reply from the worker's pool for slot
    // `slot` (or stream_ids::async), from node `m`; an event for sessions of `version`.
    void on_shared_reply(int side, uint32_t slot, uint32_t gen, const cql::envelope_header& h, std::string_view body, node_metrics* m);
    void on_shared_event(uint8_t version, const cql::envelope_header& h, std::string_view body);
    // The pool connection that carried this request was lost before the node answered; `h` and
    // `body` are the SERVER_ERROR that says so.
    void on_shared_lost(int side, uint32_t slot, uint32_t gen, const cql::envelope_header& h, std::string_view body);
    bool link_ready(const cluster_link& l) const;
    uint8_t protocol_version() const { return _version; }
    cql::compression compression() const { return _compression; }

private:
    // client_session.cc: life ---------------------------------------------------------------
    void connect_cluster(int side, std::vector<size_t> candidates);
    void open_link(int side, int cluster, const host_info& node, uint32_t timeout_ms, std::vector<size_t> rest);
    void on_link_connected(int side, net::connection* c, int error, std::vector<size_t> remaining);
    void on_cluster_connected(int side, net::connection* c, int error, std::vector<size_t> remaining);
    void drain_queue();
    void fail_session(const std::string& why);
    void answer(int16_t stream, cql::opcode op, std::string_view body);
    void answer_error(int16_t stream, const cql::error_message& e);
    void protocol_version_error(uint8_t raw_version);
    void framing_lost(const envelope_reader::outcome& out);
    pending& alloc(request_kind k, int16_t stream);
    void release(pending& p);
    // After the client's reply: the slot is released, or, when the secondary's journaled copy is
    // still out, kept for it with the client's stream free.
    void finish(pending& p);
    bool plentiful() const { return _w.w.buffers().available() > _w.w.buffers().count() / 2; }
    // A request body that does not decode gets PROTOCOL_ERROR on its stream (STYLE 12).
    template <typename R>
    bool decoded(const R& m, int16_t stream) {
        if (m) return true;
        answer_error(stream, cql::error_message::protocol(std::string(m.error())));
        return false;
    }

    // request_path.cc: a request to the sends ------------------------------------------------
    void process(inbound_envelope&& env);
    void process_envelope(inbound_envelope&& env);
    void apply_tracing(cql::envelope_header& h, const cql::body_parts& parts);
    void route_request(inbound_envelope&& env, std::string_view plain);
    void on_query(inbound_envelope&& env, std::string_view plain);
    void on_prepare(inbound_envelope&& env, std::string_view plain);
    void on_execute(inbound_envelope&& env, std::string_view plain);
    void on_batch(inbound_envelope&& env, std::string_view plain);
    void forward_unchanged(inbound_envelope&& env, request_kind k);
    bool answer_intercepted(const cql::envelope_header& h, system_table table, std::string_view query);
    void answer_intercepted_prepare(const cql::envelope_header& h, system_table table, std::string_view query, std::string_view ks);
    cluster_role system_cluster() const { return _system_cluster; }
    void forward(const inbound_envelope& env, pending& p, destinations to, outbound out = outbound::as_received());
    void override_consistency(const cql::envelope_header& h, pending& p, destinations to, outbound& out);
    void assign_timestamp(const cql::envelope_header& h, pending& p, outbound& out);
    void rewrite_side(pending& p, outbound& out, int side, std::string_view message);
    void send_to(pending& p, int side, const inbound_envelope& env, const outbound& out);
    void keep_request(pending& p, const inbound_envelope& env);
    // write_mode DUAL_ASYNC_ON_SECONDARY (journal.hh): the secondary's copy of a dual write goes
    // to the journal; false when the secondary cannot be left out (the request fails).
    bool journal_write(const cql::envelope_header& h, pending& p, destinations& to, const outbound& out);
    void on_journaled_reply(pending& p, int side, inbound_envelope&& env);
    bool writes_async() const;
    bool congested() const;
    void uncount(pending& p);  // its bytes no longer count as waited for
    // Back-pressure: a client's requests in flight (that it waits for) beyond this many bytes stop
    // its reading until they are down to half.
    static constexpr size_t max_inflight_bytes = 16u << 20;
    journal_prepared_view journal_ref(const prepared_entry& e) const;
    uint16_t table_of(const cql::statement_info& info, std::string_view ks);  // per-table series
    // write_mode DUAL_ASYNC_ON_SECONDARY: a session that lost its secondary connection opens a
    // new one in the background (backoff 1 s to 15 s) with its own handshake, the async
    // connection's (the client's STARTUP, the configured or forwarded credentials, USE).
    void maybe_rejoin();
    void schedule_rejoin();  // a timer that calls maybe_rejoin until the secondary is back
    void on_rejoin_connected(int side, net::connection* c, int error);
    void on_rejoin_reply(cluster_link& l, cql::opcode op);
    enum class own_step : uint8_t { going, ready, failed };
    own_step own_handshake_step(cluster_link& l, int cluster, cql::opcode op, std::string& why);
    std::string with_prefix(std::string body) const {
        if (_req_prefix.empty()) return body;  // moved, not copied
        return _req_prefix + body;
    }

    // cluster_connections SHARED: the handshake is tandem's (the pool is logged in already):
    // STARTUP answered READY, or AUTHENTICATE when a cluster checks the client's credentials,
    // which a connection of the client's own then checks there (shared_login).
    void shared_startup(const cql::envelope_header& h);
    void shared_login(const cql::envelope_header& h, std::string user, std::string password);
    void shared_send(pending& p, int side, const cql::envelope_header& h, std::string_view body, int node = -1,
                     std::string_view keyspace = {}, bool use_request_keyspace = true);
    std::optional<int64_t> token_of(const prepared_entry& e, const cql::value_list& values) const;

    // handshake.cc ----------------------------------------------------------------------------
    void on_startup(inbound_envelope&& env, std::string_view plain);
    void on_auth_response(inbound_envelope&& env, std::string_view plain);
    void on_startup_replies(pending& p, int side, inbound_envelope&& env);
    void on_primary_auth_reply(pending& p, int side, inbound_envelope&& env);
    void on_secondary_auth_reply(pending& p, int side, inbound_envelope&& env);
    void start_secondary_auth(pending& p, const cql::envelope_header& primary_reply_h, std::string primary_reply_body);
    void send_secondary_token(pending& p, bool plain_first);
    void refuse_handshake(pending& p, const std::string& message);
    void handshake_done(pending& p, const cql::envelope_header& h, std::string_view body);
    void answer_supported(pending& p);
    std::string supported_body() const;
    void switch_client_framing();
    std::string creds_token_for(int side, bool& ok) const;

    // replies.cc ------------------------------------------------------------------------------
    void arm_timeout(pending& p);
    void on_timeout(pending& p);
    void merge_replies(pending& p, int side, inbound_envelope&& env);
    bool store_prepared(pending& p, int side, const inbound_envelope& env);
    void deliver(pending& p, int side, const cql::envelope_header& h, std::string_view body, const net::rx_buffer* owner);
    void deliver_held(pending& p, int side);
    bool try_heal(pending& p, int side, const inbound_envelope& env);
    const prepared_entry* unprepared_entry(int side, std::string_view id) const;
    std::string prepare_again(const prepared_entry& e) const;
    void heal_reply(pending& p, int side, inbound_envelope&& env);
    void record_duration(const pending& p, uint64_t now_ns);
    void record_node(node_metrics& m, const pending& p, const inbound_envelope& env, uint64_t now_ns);

    // async_reads.cc --------------------------------------------------------------------------
    void send_async(const cql::envelope_header& h, std::string_view body, uint32_t compare_tag = 0);
    // Dual-read comparison (read_mode DUAL_ASYNC_ON_SECONDARY, dual_read_compare): a read
    // mirrored to the secondary gets a tag; each side's result arrives as row hashes, and once
    // both did, the outcome is counted for the table (and a mismatch logged).
    uint32_t begin_compare(uint16_t table, std::string_view statement, const cql::query_parameters& params);
    void compare_arrived(uint32_t tag, int which, const cql::envelope_header& h, std::string_view body);
    void drop_compare(uint32_t tag);
    void count_dual_read(uint16_t table, dual_read_outcome o);
    void connect_async();
    void on_async_connected(net::connection* c, int error);
    void on_async_handshake_reply(cluster_link& l, cql::opcode op);
    void on_async_result(cluster_link& l, const inbound_envelope& env, uint32_t compare_tag);
    const prepared_entry* mirrored_result(const cql::envelope_header& h, std::string_view plain, uint32_t compare_tag, node_metrics* m);
    int secondary() const;

    worker_state& _w;
    net::connection& _client;
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
    cluster_link* _links[3] = {nullptr, nullptr, nullptr};  // origin, target, async
    std::string _link_endpoint[3];
    int _connecting = 0;
    std::string _fatal;  // why the session cannot serve (a cluster unreachable)
    envelope_reader _reader;
    envelope_writer _writer;
    std::unique_ptr<net::tls_stream> _tls;  // client-facing TLS, or none
    body_codec _codec;
    uint8_t _version = 0;
    cql::compression _compression = cql::compression::none;
    enum class phase : uint8_t { connecting, handshake, ready } _phase = phase::connecting;
    struct queued_env {
        cql::envelope_header h;
        std::string body;
    };
    // Requests read before the clusters or the handshake were ready, or (SHARED) while the pool
    // has no room for this client (`_pool_wait`: what was received before reading paused), in
    // order (core/fifo.hh: no memory while empty, and the size of what it holds while it never
    // quite empties).
    fifo<queued_env> _queued;
    bool _version_error_sent = false;
    std::string _keyspace;
    handshake_state _hs;
    cql::inet_address _local_address;
    std::string _peer;  // the client's address, for logs
    pending_table _slots;
    std::string _scratch, _scratch2;
    uint64_t _async_retry_at_ms = 0;
    size_t _ids_per_link;
    uint8_t _cluster_version_floor = 4;
    cluster_role _system_cluster = cluster_role::origin;  // system_queries_mode (R3.8), read once: it is not a live setting  // the lower of the control connections' versions, at connect
    // The request being routed: its custom payload prefix (possibly changed by tracing) and its
    // message; every body tandem rewrites is prefix + new message.
    std::string _req_prefix;
    std::string_view _req_message;
    bool _prefix_changed = false;
    std::string _request_id;  // hex, when tracing gave the request one
    std::string _prefixed;    // _req_prefix + _req_message, when the prefix changed
    std::string _timestamped;  // assign_timestamp: a message with tandem's timestamp
    // The request being routed, for the journal: whether replaying it is safe, and the prepared
    // statements it names (the secondary's ids).
    struct compare_entry {
        uint32_t gen = 0;
        bool used = false;
        uint16_t table = 0xFFFF;
        bool have[2] = {false, false};    // primary, secondary
        bool failed[2] = {false, false};
        std::vector<uint64_t> rows[2];
        std::string raw[2];  // the rows' bytes, with dual_read_log_values only
        std::string statement, key;
    };
    cluster_link* _rejoin = nullptr;
    // PER_CLIENT: the secondary's reconnection; SHARED (which never rejoins): a STARTUP waiting
    // for the pool's first connections, and its deadline.
    net::timer _rejoin_timer;
    uint64_t _rejoin_at_ms = 0;
    uint32_t _rejoin_backoff_ms = 0;
    std::vector<compare_entry> _compares;  // at most 256 reads compared at once per connection
    std::vector<uint32_t> _compare_free;
    bool _replayable = false;
    std::vector<journal_prepared_view> _journal_refs;
    // cluster_connections SHARED: the worker's pool serves this session; what the request being
    // routed needs from it (its plain body, the keyspace its statement runs in, its token).
    bool _shared = false;
    bool _registered = false;  // REGISTER answered by tandem: SCHEMA_CHANGE events wanted
    bool _pool_wait = false;   // on the pool's wait_for_room list
    bool _trim_posted = false;  // release(): the slots' trim waits for the next turn
    uint32_t _req_bytes = 0;      // the request being processed (alloc() counts it)
    size_t _inflight_bytes = 0;   // requests in flight that the client waits for
    node_metrics* _reply_metrics = nullptr;
    std::string_view _req_plain;
    std::string _req_ks;
    std::optional<int64_t> _req_token;
};

}  // namespace tandem::core
