#include "core/proxy.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <future>
#include <random>
#include <stdexcept>
#include <map>
#include <mutex>
#include <unordered_set>

#include "core/routing.hh"
#include "core/wire.hh"
#include "cql/classifier.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

namespace tandem::core {

namespace {

using cql::envelope_header;
using cql::error_code;
using cql::error_message;
using cql::opcode;

constexpr int origin_side = 0;
constexpr int target_side = 1;
constexpr int async_side = 2;
const char* side_name(int s) { return s == origin_side ? "origin" : s == target_side ? "target" : "async"; }
int side_of(cluster_role r) { return r == cluster_role::origin ? origin_side : target_side; }

const std::string shutting_down = "Shutting down, please retry on next host.";  // zdm-spec App. A

std::string unprepared_text(std::string_view id) {
    return "Prepared query with ID " + cql::to_hex(id) +
           " not found (either the query was not prepared on this host (maybe the host has been restarted?) or you "
           "have prepared too many queries and it has been evicted from the internal cache)";
}

// A RESULT body's kind, or 0.
int32_t result_kind_of(std::string_view plain) { return plain.size() >= 4 ? static_cast<int32_t>(cql::load_be32(plain.data())) : 0; }

// Time-based UUID (version 1) for now() replacement (zdm-spec R7.6): 100 ns ticks since
// 1582-10-15, a random node id with the multicast bit, a clock sequence bumped per UUID.
class timeuuid_generator {
    std::mt19937_64 _rng{std::random_device{}()};
    uint64_t _node;
    uint16_t _seq;

public:
    timeuuid_generator() : _node((_rng() & 0xFFFFFFFFFFFFull) | 0x010000000000ull), _seq(static_cast<uint16_t>(_rng())) {}
    std::string random_bytes(size_t n) {
        std::string out;
        while (out.size() < n) {
            uint64_t r = _rng();
            out.append(reinterpret_cast<const char*>(&r), std::min<size_t>(8, n - out.size()));
        }
        return out;
    }
    // A random (version 4) UUID, for uuid().
    std::string random_uuid() {
        std::string b = random_bytes(16);
        b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
        b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
        return b;
    }
    // The 16 bytes of a fresh time-UUID (a value for a timeuuid bind marker).
    std::string next_bytes() {
        std::string text = next_text();
        std::string out;
        for (size_t i = 0; i + 1 < text.size(); ++i) {
            if (text[i] == '-') continue;
            auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
            out.push_back(static_cast<char>(nib(text[i]) << 4 | nib(text[i + 1])));
            ++i;
        }
        return out;
    }
    std::string next_text() {
        using namespace std::chrono;
        uint64_t ticks = static_cast<uint64_t>(duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count() / 100) +
                         0x01B21DD213814000ull;
        ++_seq;
        uint32_t time_low = static_cast<uint32_t>(ticks);
        uint16_t time_mid = static_cast<uint16_t>(ticks >> 32);
        uint16_t time_hi = static_cast<uint16_t>(((ticks >> 48) & 0x0FFF) | 0x1000);
        uint16_t seq = static_cast<uint16_t>((_seq & 0x3FFF) | 0x8000);
        char buf[40];
        std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", time_low, time_mid, time_hi, seq,
                      static_cast<unsigned long long>(_node));
        return buf;
    }
};

}  // namespace

class client_session;

// One worker's share of the proxy.
class worker_ctx {
public:
    proxy& p;
    net::worker& w;
    prepared_cache cache;
    proxy_counters counters;
    uint64_t next_host[2] = {0, 0};
    bool draining = false;
    std::unordered_set<client_session*> sessions;
    timeuuid_generator uuids;

    std::vector<envelope_writer*> flush_list;  // writers with v5 frames to send this turn
    void flush_writers() {
        for (auto* wr : flush_list) wr->flush();
        flush_list.clear();
    }

    std::mutex nodes_lock;  // the map's shape only (the metrics thread reads it); entries are atomics
    std::map<std::pair<int, std::string>, std::unique_ptr<node_metrics>> nodes;

    node_metrics& node(int side, const std::string& endpoint) {
        std::lock_guard g(nodes_lock);
        auto& slot = nodes[{side, endpoint}];
        if (!slot) {
            slot = std::make_unique<node_metrics>();
            const auto& cfg = p.cfg();
            const auto& buckets = side == 0 ? cfg.metrics_origin_latency_buckets_ms
                                  : side == 1 ? cfg.metrics_target_latency_buckets_ms
                                              : cfg.metrics_async_read_latency_buckets_ms;
            slot->reads.init(buckets);
            slot->writes.init(buckets);
        }
        return *slot;
    }

    // tracing_rate_limit, shared evenly by the workers: a token bucket refilled per second.
    double tracing_tokens = 0;
    uint64_t tracing_refill_ns = 0;
    bool take_tracing_token() {
        int64_t limit = p.cfg().tracing_rate_limit;
        if (limit <= 0) return true;
        double rate = static_cast<double>(limit) / static_cast<double>(std::max<size_t>(p.options().workers, 1));
        uint64_t now = w.now_ns();
        if (tracing_refill_ns == 0) tracing_tokens = rate;
        tracing_tokens = std::min(rate, tracing_tokens + static_cast<double>(now - tracing_refill_ns) / 1e9 * rate);
        tracing_refill_ns = now;
        if (tracing_tokens < 1) return false;
        tracing_tokens -= 1;
        return true;
    }

    worker_ctx(proxy& px, net::worker& wk) : p(px), w(wk), cache(px.prepared(), 10000) {
        counters.writes.init(px.cfg().metrics_origin_latency_buckets_ms);  // ZDM uses origin's for writes
        counters.reads_origin.init(px.cfg().metrics_origin_latency_buckets_ms);
        counters.reads_target.init(px.cfg().metrics_target_latency_buckets_ms);
    }
    void begin_drain();
};

// ---------------------------------------------------------------------------------------------
// A connection from the proxy to one node of one cluster, on behalf of one client session.
// Stream ids are the proxy's own (R4.1): a FIFO of free ids, and per id the pending slot it
// serves. An id whose request was given up (timeout) stays taken until the late reply comes
// (ZDM frees it at once and can match a late reply to a new request, W5).
class cluster_link : public net::connection_handler {
public:
    static constexpr uint32_t free_id = UINT32_MAX;
    static constexpr uint32_t heartbeat_id = UINT32_MAX - 1;
    static constexpr uint32_t abandoned_id = UINT32_MAX - 2;
    static constexpr uint32_t async_id = UINT32_MAX - 3;
    static constexpr uint32_t async_heartbeat_id = UINT32_MAX - 4;

    client_session* session;
    int side;
    std::string endpoint;
    net::connection* conn = nullptr;
    envelope_reader reader;
    envelope_writer writer;
    std::unique_ptr<net::tls_stream> tls;  // cluster TLS, or none
    node_metrics* metrics = nullptr;       // this node's series (owned by the worker)
    uint64_t last_send_ms = 0;
    net::timer heartbeat;
    // Async connections do their own handshake (R2.14).
    enum class async_state : uint8_t { none, startup, auth, ready } astate = async_state::none;

    struct owner_ref {
        uint32_t slot = free_id;
        uint32_t gen = 0;
    };
    // The tables start small and double up to max_ids when every id is taken, so an idle
    // connection costs little (a full table is 2048 x 10 bytes).
    std::vector<owner_ref> owners;
    std::vector<int16_t> fifo;  // free ids, a ring
    size_t head = 0, count = 0;
    size_t max_ids;

    cluster_link(client_session* s, int sd, std::string ep, size_t ids)
        : session(s), side(sd), endpoint(std::move(ep)), reader(response_limits()), max_ids(ids) {
        grow(std::min<size_t>(ids, 32));
    }
    void grow(size_t to) {
        // Called with the ring empty (count == 0): it restarts at 0 with the new ids.
        size_t from = owners.size();
        owners.resize(to);
        fifo.assign(to, 0);
        head = 0;
        for (size_t i = from; i < to; ++i) fifo[count++] = static_cast<int16_t>(i);
    }
    bool has_free_id() const { return count > 0 || owners.size() < max_ids; }
    static cql::header_limits response_limits() {
        cql::header_limits l;
        l.expect = cql::header_limits::direction::responses;
        return l;
    }
    int take_id(uint32_t slot, uint32_t gen) {
        if (count == 0) {
            if (owners.size() >= max_ids) return -1;
            grow(std::min(max_ids, owners.size() * 2));
        }
        int16_t id = fifo[head];
        head = (head + 1) % fifo.size();
        --count;
        owners[static_cast<size_t>(id)] = {slot, gen};
        if (metrics) bump(metrics->used_stream_ids);
        return id;
    }
    void release_id(int16_t id) {
        if (metrics) drop(metrics->used_stream_ids);
        owners[static_cast<size_t>(id)] = {};
        fifo[(head + count) % fifo.size()] = id;
        ++count;
    }
    void abandon(int16_t id) {
        if (id >= 0 && static_cast<size_t>(id) < owners.size() && owners[static_cast<size_t>(id)].slot != free_id) {
            owners[static_cast<size_t>(id)].slot = abandoned_id;
        }
    }
    bool usable() const { return conn && !conn->closing(); }
    void send(const envelope_header& h, std::string_view body) {
        writer.send(*conn, h, body);
        last_send_ms = conn->owner().now_ms();
    }
    void send(const envelope_header& h, net::rx_buffer body) {
        writer.send(*conn, h, std::move(body));
        last_send_ms = conn->owner().now_ms();
    }

    void on_data(net::connection& c, net::rx_buffer data) override;
    void on_close(net::connection& c, int error) override;
};

// ---------------------------------------------------------------------------------------------

enum class request_kind : uint8_t { plain, options, startup, auth_primary, auth_secondary, prepare };

struct pending {
    uint32_t index = 0;  // its place in client_session::slots
    uint32_t gen = 0;
    bool used = false;
    request_kind kind = request_kind::plain;
    int16_t client_stream = 0;
    uint8_t version = 4;
    uint8_t expect = 0, got = 0;  // bit per side
    int16_t proxy_stream[2] = {-1, -1};
    cluster_role primary = cluster_role::origin;
    bool write = false;   // counted as a write (failed_writes) vs a read
    bool counted = false; // QUERY/EXECUTE/BATCH (R4.19)
    cql::consistency cl = cql::consistency::one;
    uint64_t started_ms = 0;
    uint64_t started_ns = 0;
    // The first of two replies, held until the second arrives (§4.3).
    int first_side = -1;
    envelope_header first_h;
    std::string first_copy;
    net::rx_buffer first_owner;
    std::string_view first_body;
    // PREPARE: what to store once both clusters answered.
    std::string query, keyspace;
    route prep_route = route::both;
    bool prep_write = false;
    std::vector<generated_marker> generated;  // function markers tandem added to the prepared text
    bool generated_named = false;
    std::string cluster_query;  // PREPARE: the text sent to the clusters
    bool keyspace_flag = false;
    // EXECUTE / BATCH: the request as sent, kept until it completes, so an UNPREPARED from one
    // cluster can be healed by preparing there again and re-sending (once).
    envelope_header req_h;
    std::string req_copy;
    std::string_view req_body;
    std::string side_body[2];
    bool side_rewritten[2] = {false, false};
    int healing = -1;  // the cluster a healing PREPARE is out to
    bool healed = false;
    std::string request_id;  // tracing (R3.14), hex
    // Secondary handshake: the primary's AUTH_SUCCESS / READY to relay once it succeeds.
    int auth_steps = 0;
    net::timer timer;

    // The first reply waits for the second: a reference to its receive buffer while buffers are
    // plentiful, a copy when the ring runs low (held buffers must not starve the receives that
    // would complete them).
    void hold(int side, const inbound_envelope& e, bool buffers_plentiful) {
        first_side = side;
        first_h = e.header;
        if (!e.owner.empty() && buffers_plentiful) {
            first_owner = e.owner.share();
            first_body = first_owner.view();
        } else {
            first_copy.assign(e.body);
            first_body = first_copy;
        }
    }
    void reset() {
        first_side = -1;
        first_owner.release();
        first_copy.clear();
        first_body = {};
        query.clear();
        keyspace.clear();
        generated.clear();
        cluster_query.clear();
        keyspace_flag = false;
        req_copy.clear();
        req_body = {};
        side_body[0].clear();
        side_body[1].clear();
        side_rewritten[0] = side_rewritten[1] = false;
        healing = -1;
        healed = false;
        request_id.clear();
        expect = got = 0;
        proxy_stream[0] = proxy_stream[1] = -1;
        auth_steps = 0;
        timer.cancel();
    }
};

// One client connection.
class client_session : public net::connection_handler {
public:
    worker_ctx& ctx;
    net::connection& client;
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    cluster_link* links[3] = {nullptr, nullptr, nullptr};
    std::string link_endpoint[3];
    int connecting = 0;
    std::string fatal;  // why the session cannot serve (a cluster unreachable)
    envelope_reader reader;
    envelope_writer writer;
    std::unique_ptr<net::tls_stream> tls;  // client-facing TLS, or none
    body_codec codec;
    uint8_t version = 0;
    enum class phase : uint8_t { connecting, handshake, ready } ph = phase::connecting;
    bool hs_busy = false;
    struct queued_env {
        envelope_header h;
        std::string body;
    };
    std::deque<queued_env> queued;
    bool version_error_sent = false;
    std::string auth_error;  // the secondary's AUTHENTICATION_ERROR, repeated to later handshake requests
    std::string keyspace;
    std::string startup_body;
    cql::compression compression = cql::compression::none;
    // Handshake (§2.4)
    int hs_primary = origin_side;
    int client_creds_side = -1;
    std::string client_user, client_password;
    opcode secondary_startup_op = opcode::ready;
    std::string secondary_authenticator;
    cql::inet_address local_address;
    std::string peer;  // the client's address, for logs
    std::vector<std::unique_ptr<pending>> slots;
    std::vector<uint32_t> free_slots;
    std::string scratch, scratch2;
    uint64_t async_retry_at_ms = 0;
    size_t ids_per_link;

    client_session(worker_ctx& c, net::connection& conn);
    ~client_session() override;

    void start();
    void on_data(net::connection& c, net::rx_buffer data) override;
    void on_close(net::connection& c, int error) override;

    // From links
    void on_link_connected(int side, net::connection* c, int error, std::vector<size_t> remaining);
    void on_reply(int side, uint32_t slot, uint32_t gen, inbound_envelope&& env);
    void on_event(int side, inbound_envelope&& env);
    void on_link_closed(int side, int error);
    void on_async_reply(inbound_envelope&& env);

private:
    void connect_cluster(int side, std::vector<size_t> candidates);
    void connect_async();
    void process(inbound_envelope&& env);
    void drain_queue();
    void answer(int16_t stream, opcode op, std::string_view body);
    void answer_error(int16_t stream, const error_message& e);
    void protocol_version_error(uint8_t raw_version);
    pending* alloc(request_kind k, int16_t stream);
    void release(pending& p);
    pending* slot(uint32_t i, uint32_t gen) {
        if (i >= slots.size()) return nullptr;
        auto* p = slots[i].get();
        return p->used && p->gen == gen ? p : nullptr;
    }
    uint32_t index_of(const pending& p) const;
    std::vector<uint64_t> busy_streams;
    // The request being routed: its custom payload prefix (possibly changed by tracing) and its
    // message; every body tandem rewrites is prefix + new message.
    std::string req_prefix;
    std::string_view req_message;
    bool prefix_changed = false;
    std::string request_id;  // hex, when tracing gave the request one
    uint8_t cluster_version_floor = 4;  // the lower of the control connections' versions, at connect
    std::string prefixed;    // req_prefix + req_message, when the prefix changed
    void apply_tracing(envelope_header& h, const cql::body_parts& parts);
    // R7: the values that replace volatile function calls in one request.
    function_values function_values_now() {
        auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
        return function_values([this] { return ctx.uuids.next_bytes(); }, [this] { return ctx.uuids.random_uuid(); }, wall.count());
    }
    std::string with_prefix(std::string body) const {
        if (req_prefix.empty()) return body;  // moved, not copied
        return req_prefix + body;
    }
    void mark_stream(int16_t stream, bool busy);
    bool stream_busy(int16_t stream) const;
    bool plentiful() const { return ctx.w.buffers().available() > ctx.w.buffers().count() / 2; }
    bool send_to(pending& p, int side, const envelope_header& h, const inbound_envelope& env, std::string_view rewritten,
                 bool use_rewritten);
    void arm_timeout(pending& p);
    void on_timeout(pending& p);
    void deliver(pending& p, int side, const envelope_header& h, std::string_view body, const net::rx_buffer* owner);
    void merge(pending& p, int side, inbound_envelope&& env);
    void answer_supported(pending& p);
    void record_duration(const pending& p, uint64_t now_ns);
    void record_node(node_metrics& m, const pending& p, const inbound_envelope& env, uint64_t now_ns);
    void keep_request(pending& p, const inbound_envelope& env, std::string origin_body, bool origin_rewritten,
                      std::string target_body, bool target_rewritten);
    bool try_heal(pending& p, int side, const inbound_envelope& env);
    void heal_reply(pending& p, int side, inbound_envelope&& env);
    void handle_startup_replies(pending& p, int side, inbound_envelope&& env);
    void start_secondary_auth(pending& p, const envelope_header& primary_reply_h, std::string primary_reply_body);
    void send_secondary_token(pending& p, bool plain_first);
    void handshake_done(pending& p, const envelope_header& h, std::string_view body);
    void fail_session(const std::string& why);
    void arm_heartbeat(cluster_link* l);
    void attach_tls(cluster_link& l, int cluster_side, const std::string& server_name) {
        if (auto* t = ctx.p.cluster_tls(cluster_side == origin_side ? cluster_role::origin : cluster_role::target)) {
            l.tls = std::make_unique<net::tls_stream>(*t, server_name);
            l.writer.set_tls(l.tls.get());
        }
    }
    void start_tls(cluster_link* l) {
        if (l->tls) {
            std::string hello = l->tls->start();
            if (!hello.empty()) l->conn->send(std::move(hello));
        }
    }
    void send_async(const envelope_header& h, std::string_view body);
    std::string creds_token_for(int side, bool& ok);
    void route_request(inbound_envelope&& env, std::string_view plain);
    void forward(inbound_envelope&& env, pending* p, uint8_t sides, std::string_view target_body, bool rewrite_target,
                 std::string_view origin_body = {}, bool rewrite_origin = false);
    void switch_client_framing();
    // A request body that does not decode gets PROTOCOL_ERROR on its stream (STYLE 12).
    template <typename R>
    bool decoded(const R& m, int16_t stream) {
        if (m) return true;
        answer_error(stream, error_message::protocol(std::string(m.error())));
        return false;
    }
};

// ---------------------------------------------------------------------------------------------
// cluster_link

void cluster_link::on_data(net::connection& c, net::rx_buffer data) {
    auto on_envelope = [&](inbound_envelope&& env) {
        if (!session) return false;
        const auto op = env.header.op;
        // v5: this connection switches to framing once it reads READY or AUTHENTICATE (R2.18).
        if ((op == opcode::ready || op == opcode::authenticate) &&
            cql::effective_version(env.header.version) == cql::protocol_version::v5 && !reader.framed()) {
            bool lz4 = session->compression == cql::compression::lz4;
            reader.start_framing(lz4);
            writer.start_framing(lz4);
        }
        int16_t id = env.header.stream;
        if (id < 0) {
            if (op == opcode::event) session->on_event(side, std::move(env));
            return true;
        }
        if (static_cast<size_t>(id) >= owners.size()) {
            spdlog::warn("{} {}: reply for unknown stream id {}", side_name(side), endpoint, id);
            return true;
        }
        owner_ref o = owners[static_cast<size_t>(id)];
        if (o.slot == free_id) {
            spdlog::warn("{} {}: reply for stream id {} that has no request", side_name(side), endpoint, id);
            return true;
        }
        release_id(id);
        if (o.slot == heartbeat_id || o.slot == async_heartbeat_id) return true;
        if (o.slot == abandoned_id) {
            spdlog::debug("{} {}: late reply on stream {} dropped (the request had timed out)", side_name(side), endpoint, id);
            return true;
        }
        if (o.slot == async_id) {
            session->on_async_reply(std::move(env));
            return true;
        }
        session->on_reply(side, o.slot, o.gen, std::move(env));
        return session != nullptr;
    };
    std::string tls_error;
    auto out = reader.feed_from(c, tls.get(), std::move(data), on_envelope, tls_error);
    if (!tls_error.empty()) {
        spdlog::error("{} {}: {}", side_name(side), endpoint, tls_error);
        c.abort(-EPROTO);
        return;
    }
    if (!out.ok) {
        spdlog::error("{} {}: undecodable reply ({}{}); closing", side_name(side), endpoint,
                      out.reason.empty() ? cql::to_string(out.problem) : out.reason, "");
        c.abort(-EPROTO);
    }
}

void cluster_link::on_close(net::connection&, int error) {
    heartbeat.cancel();
    if (metrics) {
        drop(metrics->connections);
        // Ids still taken die with the connection.
        for (const auto& o : owners) {
            if (o.slot != free_id) drop(metrics->used_stream_ids);
        }
    }
    if (session) session->on_link_closed(side, error);
}

// ---------------------------------------------------------------------------------------------
// client_session

namespace {
cql::header_limits request_limits() {
    cql::header_limits l;
    l.expect = cql::header_limits::direction::requests;
    return l;
}
}  // namespace

client_session::client_session(worker_ctx& c, net::connection& conn)
    : ctx(c), client(conn), reader(request_limits()) {
    writer.set_flush_list(&ctx.flush_list);
    if (auto* t = ctx.p.client_tls()) {
        tls = std::make_unique<net::tls_stream>(*t);
        writer.set_tls(tls.get());
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(conn.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        if (ss.ss_family == AF_INET) {
            local_address.size = 4;
            std::memcpy(local_address.bytes.data(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
        } else {
            local_address.size = 16;
            std::memcpy(local_address.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
        }
    }
    sockaddr_storage ps{};
    socklen_t plen = sizeof ps;
    if (getpeername(conn.fd(), reinterpret_cast<sockaddr*>(&ps), &plen) == 0) {
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (ps.ss_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&ps);
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ps);
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        peer = std::string(host) + ":" + std::to_string(port);
    }
    auto ov = ctx.p.view(cluster_role::origin);
    auto tv = ctx.p.view(cluster_role::target);
    int64_t max_ids = std::min<int64_t>(ctx.p.cfg().proxy_max_stream_ids, 2048);
    // v2 clusters: 127 ids (R4.1).
    if ((ov && ov->version == 2) || (tv && tv->version == 2)) max_ids = std::min<int64_t>(max_ids, 127);
    ids_per_link = static_cast<size_t>(std::max<int64_t>(max_ids, 1));
    cluster_version_floor = ctx.p.lower_cluster_version();
    bool oa = ov && ov->auth_enabled;
    bool ta = tv && tv->auth_enabled;
    // §2.4: who handles the client's handshake and whose credentials the client sends.
    hs_primary = (!oa && ta) ? target_side : origin_side;
    if (oa && ta) {
        client_creds_side = ctx.p.cfg().forward_client_credentials_to_origin ? origin_side : target_side;
    } else if (oa) {
        client_creds_side = origin_side;
    } else if (ta) {
        client_creds_side = target_side;
    }
    ctx.sessions.insert(this);
}

client_session::~client_session() { ctx.sessions.erase(this); }

void client_session::start() {
    // Connect to both clusters before reading anything (R1.22), each to a node of the
    // instance's share of the local datacenter, round robin (R1.17); nodes marked down are
    // skipped and an unreachable node costs one short attempt, not the whole budget (W6).
    for (int side : {origin_side, target_side}) {
        auto v = ctx.p.view(side == origin_side ? cluster_role::origin : cluster_role::target);
        std::vector<size_t> owned, others;
        const size_t n = v->hosts.size();
        const size_t count = ctx.p.topology().addresses.size();
        const size_t index = ctx.p.topology().index;
        for (size_t j = 0; j < n; ++j) {
            bool mine = n >= count ? j % count == index : j == index % n;
            (v->hosts[j].up ? (mine ? owned : others) : others).push_back(j);
        }
        std::vector<size_t> order;
        if (!owned.empty()) {
            size_t start = static_cast<size_t>(++ctx.next_host[side]) % owned.size();
            for (size_t i = 0; i < owned.size(); ++i) order.push_back(owned[(start + i) % owned.size()]);
        }
        for (size_t j : others) order.push_back(j);
        ++connecting;
        connect_cluster(side, std::move(order));
    }
}

void client_session::connect_cluster(int side, std::vector<size_t> candidates) {
    auto v = ctx.p.view(side == origin_side ? cluster_role::origin : cluster_role::target);
    if (candidates.empty()) {
        on_link_connected(side, nullptr, -EHOSTUNREACH, {});
        return;
    }
    const auto& h = v->hosts[candidates.front()];
    candidates.erase(candidates.begin());
    auto addr = net::resolve_address(h.address, h.port);
    if (!addr) {
        on_link_connected(side, nullptr, -EINVAL, std::move(candidates));
        return;
    }
    link_endpoint[side] = h.endpoint();
    auto link = std::make_unique<cluster_link>(this, side, h.endpoint(), ids_per_link);
    attach_tls(*link, side, h.server_name);
    link->writer.set_flush_list(&ctx.flush_list);
    link->metrics = &ctx.node(side, h.endpoint());
    uint32_t timeout = static_cast<uint32_t>(std::min<int64_t>(
        ctx.p.options().connect_attempt_ms,
        side == origin_side ? ctx.p.cfg().origin.connection_timeout_ms : ctx.p.cfg().target.connection_timeout_ms));
    std::weak_ptr<bool> weak = alive;
    ctx.w.connect(addr->first, addr->second, timeout, std::move(link),
                  [this, weak, side, rest = std::move(candidates)](net::connection* c, int err) mutable {
                      if (weak.expired()) {
                          if (c) {
                              static_cast<cluster_link*>(c->handler())->session = nullptr;
                              c->abort();
                          }
                          return;
                      }
                      on_link_connected(side, c, err, std::move(rest));
                  });
}

void client_session::on_link_connected(int side, net::connection* c, int error, std::vector<size_t> remaining) {
    if (!c) {
        bump(ctx.node(side, link_endpoint[side]).failed_connections);
    } else if (auto* m = static_cast<cluster_link*>(c->handler())->metrics) {
        bump(m->connections);
    }
    if (side == async_side) {
        if (!c) {
            spdlog::warn("async connection to {} failed: {}; dual reads paused for this client connection", link_endpoint[async_side],
                         std::strerror(-error));
            async_retry_at_ms = ctx.w.now_ms() + 5000;
            return;
        }
        auto* l = static_cast<cluster_link*>(c->handler());
        l->conn = c;
        links[async_side] = l;
        l->astate = cluster_link::async_state::startup;
        start_tls(l);
        arm_heartbeat(l);
        envelope_header h;
        h.version = version;
        h.op = opcode::startup;
        int id = l->take_id(cluster_link::async_id, 0);
        h.stream = static_cast<int16_t>(id);
        l->send(h, startup_body);
        return;
    }
    if (!c) {
        spdlog::warn("client {}: cannot connect to {} node {}: {}", peer, side_name(side), link_endpoint[side],
                     std::strerror(-error));
        if (!remaining.empty() && !ctx.draining) {
            connect_cluster(side, std::move(remaining));
            return;
        }
        --connecting;
        if (fatal.empty()) {
            fatal = std::string("tandem cannot reach any ") + side_name(side) + " node (last tried " + link_endpoint[side] +
                    ": " + std::strerror(-error) + ")";
        }
        if (connecting == 0) drain_queue();
        return;
    }
    auto* l = static_cast<cluster_link*>(c->handler());
    l->conn = c;
    links[side] = l;
    start_tls(l);
    arm_heartbeat(l);
    if (--connecting == 0) {
        if (fatal.empty()) {
            ph = phase::handshake;
            spdlog::info("client {} connected: origin node {}, target node {}", peer, link_endpoint[origin_side],
                         link_endpoint[target_side]);
        }
        drain_queue();
    }
}

// Idle cluster connections get an OPTIONS every heartbeat_interval_ms (R4.10), checked on a
// timer so a fully idle client keeps its connections too (W11), the async one included (W9).
void client_session::arm_heartbeat(cluster_link* l) {
    l->last_send_ms = ctx.w.now_ms();
    uint64_t interval = static_cast<uint64_t>(std::max<int64_t>(ctx.p.cfg().heartbeat_interval_ms, 1000));
    l->heartbeat.set_callback([this, l, interval] {
        if (!l->usable()) return;
        uint64_t now = ctx.w.now_ms();
        bool ready = l->side == async_side ? l->astate == cluster_link::async_state::ready : ph == phase::ready;
        if (ready && now - l->last_send_ms >= interval) {
            int id = l->take_id(l->side == async_side ? cluster_link::async_heartbeat_id : cluster_link::heartbeat_id, 0);
            if (id >= 0) {
                envelope_header h;
                h.version = version;
                h.op = opcode::options;
                h.stream = static_cast<int16_t>(id);
                l->send(h, std::string_view{});
            }
        }
        ctx.w.timers().arm(l->heartbeat, interval);
    });
    ctx.w.timers().arm(l->heartbeat, interval);
}

void client_session::fail_session(const std::string& why) {
    spdlog::info("client {}: closing: {}", peer, why);
    writer.flush();  // frames still pending leave before the close
    client.close();
}

void client_session::on_link_closed(int side, int error) {
    auto* l = links[side];
    links[side] = nullptr;
    if (side == async_side) {
        spdlog::info("async connection to {} closed{}", link_endpoint[side], error ? std::string(": ") + std::strerror(-error) : "");
        async_retry_at_ms = ctx.w.now_ms() + 1000;
        return;
    }
    if (!l) return;
    // Every request still waiting for this cluster gets an error now (ZDM leaves them to time
    // out, W5), then the client connection closes (R11.3): drivers reconnect elsewhere.
    std::string why = std::string("tandem lost its connection to ") + side_name(side) + " node " + l->endpoint +
                      (error ? std::string(" (") + std::strerror(-error) + ")" : "") + " before it answered";
    for (auto& s : slots) {
        if (s->used && (s->expect & (1u << side)) && !(s->got & (1u << side))) {
            answer_error(s->client_stream, error_message::server(why));
            release(*s);
        }
    }
    if (!client.closing()) fail_session(std::string(side_name(side)) + " connection to " + l->endpoint + " lost");
}

void client_session::on_close(net::connection&, int error) {
    *alive = false;
    for (int s = 0; s < 3; ++s) {
        if (links[s]) {
            links[s]->heartbeat.cancel();
            links[s]->session = nullptr;
            links[s]->conn->abort();
            links[s] = nullptr;
        }
    }
    for (auto& s : slots) {
        if (s->used) release(*s);
    }
    ctx.p.client_connections().fetch_sub(1, std::memory_order_relaxed);
    spdlog::info("client {} disconnected{}", peer, error ? std::string(": ") + std::strerror(-error) : "");
}

void client_session::on_data(net::connection& c, net::rx_buffer data) {
    auto on_envelope = [&](inbound_envelope&& env) {
        if (ph != phase::ready || hs_busy || !queued.empty()) {
            if (queued.size() > 1024) {
                fail_session("more than 1024 requests sent before the handshake completed");
                return false;
            }
            queued.push_back({env.header, std::string(env.body)});
            return true;
        }
        process(std::move(env));
        return !c.closing();
    };
    std::string tls_error;
    auto out = reader.feed_from(c, tls.get(), std::move(data), on_envelope, tls_error);
    if (!tls_error.empty()) {
        spdlog::info("client {}: {}", peer, tls_error);
        c.close();
        return;
    }
    if (!out.ok) {
        // Framing is lost: answer what can be answered, then close (STYLE 12).
        if (out.problem == cql::envelope_problem::unknown_version) {
            protocol_version_error(out.raw_version);
        } else {
            envelope_header h = out.header;
            if (!cql::is_known_version(h.version)) h.version = ctx.p.lower_cluster_version();
            auto e = error_message::protocol(out.reason.empty() ? std::string("Invalid frame: ") + std::string(cql::to_string(out.problem))
                                                                : std::string(out.reason));
            std::string body;
            e.encode(body, cql::effective_version(h.version));
            h.response = true;
            h.op = opcode::error;
            h.flags = 0;
            writer.send(client, h, body);
        }
        writer.flush();
        client.close();
        return;
    }
    if ((ph != phase::connecting || !fatal.empty()) && !hs_busy) drain_queue();
}

void client_session::drain_queue() {
    while (!queued.empty() && !client.closing()) {
        if (ph == phase::connecting && fatal.empty()) return;
        if (hs_busy) return;
        auto q = std::move(queued.front());
        queued.pop_front();
        process(inbound_envelope{q.h, q.body, {}});
    }
}

uint32_t client_session::index_of(const pending& p) const { return p.index; }

// Client stream ids with a request in flight (R3.2), one bit each, grown to the highest id seen.
void client_session::mark_stream(int16_t stream, bool busy) {
    if (stream < 0) return;
    size_t word = static_cast<size_t>(stream) / 64;
    if (word >= busy_streams.size()) {
        if (!busy) return;
        busy_streams.resize(word + 1, 0);
    }
    uint64_t bit = uint64_t{1} << (static_cast<size_t>(stream) % 64);
    busy_streams[word] = busy ? busy_streams[word] | bit : busy_streams[word] & ~bit;
}

bool client_session::stream_busy(int16_t stream) const {
    size_t word = static_cast<size_t>(stream) / 64;
    return stream >= 0 && word < busy_streams.size() && (busy_streams[word] >> (static_cast<size_t>(stream) % 64) & 1);
}

pending* client_session::alloc(request_kind k, int16_t stream) {
    uint32_t i;
    if (!free_slots.empty()) {
        i = free_slots.back();
        free_slots.pop_back();
    } else {
        i = static_cast<uint32_t>(slots.size());
        slots.push_back(std::make_unique<pending>());
        slots.back()->index = i;
    }
    pending& p = *slots[i];
    p.used = true;
    mark_stream(stream, true);
    ++p.gen;
    p.kind = k;
    p.client_stream = stream;
    p.version = version;
    p.primary = ctx.p.primary();
    p.write = false;
    p.counted = false;
    p.started_ms = ctx.w.now_ms();
    p.started_ns = ctx.w.now_ns();
    bump(ctx.counters.inflight);
    return &p;
}

void client_session::release(pending& p) {
    for (int s = 0; s < 2; ++s) {
        if (p.proxy_stream[s] >= 0 && !(p.got & (1u << s)) && links[s]) links[s]->abandon(p.proxy_stream[s]);
    }
    mark_stream(p.client_stream, false);
    p.reset();
    p.used = false;
    free_slots.push_back(p.index);
    drop(ctx.counters.inflight);
}

void client_session::answer(int16_t stream, opcode op, std::string_view body) {
    envelope_header h;
    h.version = version ? version : ctx.p.lower_cluster_version();
    h.response = true;
    h.op = op;
    h.stream = stream;
    writer.send(client, h, body);
}

void client_session::answer_error(int16_t stream, const error_message& e) {
    std::string body;
    e.encode(body, cql::effective_version(version ? version : ctx.p.lower_cluster_version()));
    answer(stream, opcode::error, body);
}

void client_session::protocol_version_error(uint8_t raw_version) {
    // R2.2: stream 0, encoded with the lower of the clusters' versions, the text drivers parse.
    envelope_header h;
    h.version = ctx.p.lower_cluster_version();
    h.response = true;
    h.op = opcode::error;
    h.stream = 0;
    std::string body;
    error_message::protocol("Invalid or unsupported protocol version (" + std::to_string(raw_version & 0x7F) + ")")
        .encode(body, cql::effective_version(h.version));
    writer.send(client, h, body);
    version_error_sent = true;
}

void client_session::switch_client_framing() {
    if (cql::effective_version(version) == cql::protocol_version::v5 && !writer.framed()) {
        bool lz4 = compression == cql::compression::lz4;
        writer.start_framing(lz4);
        reader.start_framing(lz4);
    }
}

void client_session::arm_timeout(pending& p) {
    uint32_t idx = index_of(p);
    uint32_t gen = p.gen;
    p.timer.set_callback([this, idx, gen] {
        if (auto* q = slot(idx, gen)) on_timeout(*q);
    });
    ctx.w.timers().arm(p.timer, static_cast<uint64_t>(ctx.p.cfg().proxy_request_timeout_ms));
}

// The proxy gives up on a request: the client gets an error on its stream so the driver frees
// the id, and the cluster ids stay quarantined until their late replies (W5; ZDM answers
// nothing, R4.16).
void client_session::on_timeout(pending& p) {
    bump(ctx.counters.timeouts);
    std::string missing;
    for (int s = 0; s < 2; ++s) {
        if ((p.expect & (1u << s)) && !(p.got & (1u << s))) {
            missing += std::string(missing.empty() ? "" : " and ") + side_name(s);
            if (p.counted && links[s] && links[s]->metrics) bump(links[s]->metrics->failed[0]);
        }
    }
    std::string msg = "tandem: " + missing + " did not answer within " + std::to_string(ctx.p.cfg().proxy_request_timeout_ms) + " ms";
    error_message e;
    if (p.counted && p.write) {
        e = error_message::write_timeout(p.cl, 0, 1, "SIMPLE");
    } else if (p.counted) {
        e = error_message::read_timeout(p.cl, 0, 1, false);
    } else {
        e = error_message::server("");
    }
    e.message = msg;
    if (p.counted) record_duration(p, ctx.w.now_ns());
    spdlog::debug("client {}: {}", client.fd(), msg);
    if (p.kind != request_kind::plain && p.kind != request_kind::prepare) {
        // A handshake step that times out ends the connection (R4.18).
        release(p);
        hs_busy = false;
        answer_error(p.client_stream, error_message::server(msg));
        fail_session(msg);
        return;
    }
    answer_error(p.client_stream, e);
    release(p);
}

bool client_session::send_to(pending& p, int side, const envelope_header& h, const inbound_envelope& env,
                             std::string_view rewritten, bool use_rewritten) {
    auto* l = links[side];
    if (!l || !l->usable()) return false;
    int id = l->take_id(index_of(p), p.gen);
    if (id < 0) return false;
    p.proxy_stream[side] = static_cast<int16_t>(id);
    p.expect |= static_cast<uint8_t>(1u << side);
    envelope_header out = h;
    out.stream = static_cast<int16_t>(id);
    if (use_rewritten) {
        out.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
        l->send(out, rewritten);
    } else if (!env.owner.empty()) {
        l->send(out, env.owner.share());
    } else {
        l->send(out, env.body);
    }
    return true;
}

// Sends to one or both clusters; a cluster that cannot take the request (no free stream id, no
// connection) answers OVERLOADED at once (R4.3), without the write reaching only one side.
void client_session::forward(inbound_envelope&& env, pending* p, uint8_t sides, std::string_view target_body,
                             bool rewrite_target, std::string_view origin_body, bool rewrite_origin) {
    if (prefix_changed) {
        // Tracing changed the custom payload: sides that get the body as received get the new one.
        prefixed = req_prefix;
        prefixed.append(req_message);
        if (!rewrite_target) target_body = prefixed;
        if (!rewrite_origin) origin_body = prefixed;
        rewrite_target = rewrite_origin = true;
    }
    if (!request_id.empty()) p->request_id = request_id;
    for (int s = 0; s < 2; ++s) {
        if (!(sides & (1u << s))) continue;
        auto* l = links[s];
        if (!l || !l->usable() || !l->has_free_id()) {
            answer_error(p->client_stream, error_message::overloaded(shutting_down));
            release(*p);
            return;
        }
    }
    if (sides & 1) send_to(*p, origin_side, env.header, env, origin_body, rewrite_origin);
    if (sides & 2) send_to(*p, target_side, env.header, env, target_body, rewrite_target);
    arm_timeout(*p);
}

void client_session::process(inbound_envelope&& env) {
    const envelope_header& h = env.header;
    if (version_error_sent) {
        // R2.3: once a version error went out, every later frame gets it again.
        protocol_version_error(h.version);
        return;
    }
    // R2.1: accepted versions minus blocked ones.
    uint8_t v = h.version;
    bool accepted = v == 2 || v == 3 || v == 4 || v == 5 || v == cql::protocol_version::dse_v1 || v == cql::protocol_version::dse_v2;
    for (const auto& b : ctx.p.cfg().blocked_protocol_versions) {
        if (parse_version_name(b) == v) accepted = false;
    }
    if (!accepted || (version != 0 && v != version)) {
        protocol_version_error(v);
        return;
    }
    version = v;
    if (h.stream < 0) {
        answer_error(0, error_message::protocol("negative stream id: " + std::to_string(h.stream)));  // R3.3
        return;
    }
    if (stream_busy(h.stream)) {
        // R3.2: a stream id that is still in flight is a client bug; answering twice on it would
        // confuse the driver more. Dropped, as ZDM does.
        spdlog::warn("client {}: request on stream {} while an earlier one on that stream is in flight; dropped", peer, h.stream);
        return;
    }
    if (!fatal.empty()) {
        answer_error(h.stream, error_message::server(fatal));
        writer.flush();
        client.close();
        return;
    }
    if (ctx.draining) {
        answer_error(h.stream, error_message::overloaded(shutting_down));  // R11.1
        return;
    }
    auto plain = codec.plain(h, env.body, scratch);
    if (!plain) {
        answer_error(h.stream, error_message::protocol(std::string(plain.error())));
        return;
    }
    // A request's body may start with a custom payload (v4.spec §2.2): the message follows it.
    // The prefix travels with every body tandem rewrites, or tracing changes it (R3.14).
    auto parts = cql::split_body(h, *plain);
    if (!parts) {
        answer_error(h.stream, error_message::protocol(std::string(parts.error())));
        return;
    }
    req_message = parts->message;
    req_prefix.assign(plain->substr(0, plain->size() - req_message.size()));
    prefix_changed = false;
    request_id.clear();
    if (h.op == opcode::query || h.op == opcode::prepare || h.op == opcode::execute || h.op == opcode::batch) {
        apply_tracing(env.header, *parts);
    }
    route_request(std::move(env), req_message);
}

// R3.14 request-id tracing (v4+ clusters): with tracing_enabled, a request without the
// tracing_request_id_key in its custom payload gets a random 16-byte id (at most
// tracing_rate_limit per second; over it, a client's own id is removed); with tracing off, a
// client's id under that key is removed. The id is logged with the request and its reply.
void client_session::apply_tracing(envelope_header& h, const cql::body_parts& parts) {
    const auto& cfg = ctx.p.cfg();
    // Nothing to do (the common case) without reading anything shared.
    if (!cfg.tracing_enabled && !(h.flags & cql::envelope_flags::custom_payload)) return;
    if (version_rank(cluster_version_floor) < cql::protocol_version::v4) return;
    const std::string& key = cfg.tracing_request_id_key;
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> entries;
    if (h.flags & cql::envelope_flags::custom_payload) {
        cql::reader r(parts.custom_payload_raw);
        entries = r.read_bytes_map();
    }
    auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == key; });
    const bool has = it != entries.end();
    std::string fresh;
    if (!cfg.tracing_enabled) {
        if (!has) return;
        entries.erase(it);
    } else {
        bool allowed = ctx.take_tracing_token();
        if (has && !allowed) {
            entries.erase(it);
        } else if (has) {
            if (it->second) request_id = cql::to_hex(*it->second);
        } else if (allowed) {
            fresh = ctx.uuids.random_bytes(16);
            entries.emplace_back(key, std::string_view(fresh));
            request_id = cql::to_hex(fresh);
        } else {
            return;
        }
    }
    req_prefix.clear();
    cql::writer w(req_prefix);
    w.write_bytes_map(entries);
    prefix_changed = true;
    h.flags |= cql::envelope_flags::custom_payload;
    if (!request_id.empty()) {
        spdlog::info("Request id {} ({} on stream {} from {})", request_id, cql::to_string(h.op), h.stream, peer);
    }
}

std::string client_session::creds_token_for(int side, bool& ok) {
    const auto& cs = side == origin_side ? ctx.p.cfg().origin : ctx.p.cfg().target;
    ok = true;
    if (side == client_creds_side && !client_user.empty()) return cql::plain_sasl_token(client_user, client_password);
    if (cs.username.empty()) {
        ok = false;
        return {};
    }
    return cql::plain_sasl_token(cs.username, cs.password);
}

void client_session::route_request(inbound_envelope&& env, std::string_view plain) {
    const envelope_header h = env.header;
    const uint8_t ver = cql::effective_version(h.version);
    auto& cfg = ctx.p.cfg();
    switch (h.op) {
        case opcode::options: {
            // R2.6: to both clusters (a version either rejects is relayed, so the driver
            // downgrades); the answer is built in merge().
            pending* p = alloc(request_kind::options, h.stream);
            forward(std::move(env), p, 3, {}, false);
            return;
        }
        case opcode::startup: {
            if (!auth_error.empty()) {
                answer_error(h.stream, error_message::bad_credentials(auth_error));
                return;
            }
            auto m = cql::startup_message::decode(plain);
            if (!decoded(m, h.stream)) return;
            if (auto c = m->option("COMPRESSION")) {
                auto kind = cql::compression_from_name(*c);
                if (!kind) {
                    answer_error(h.stream, error_message::protocol("Unknown compression algorithm: " + std::string(*c)));
                    return;
                }
                compression = *kind;
                if (ver < cql::protocol_version::v5) codec.kind = *kind;
            }
            startup_body.assign(plain);
            pending* p = alloc(request_kind::startup, h.stream);
            hs_busy = true;
            forward(std::move(env), p, 3, {}, false);
            return;
        }
        case opcode::auth_response: {
            if (!auth_error.empty()) {
                answer_error(h.stream, error_message::bad_credentials(auth_error));
                return;
            }
            auto m = cql::auth_token_message::decode(plain);
            if (!decoded(m, h.stream)) return;
            std::string rewritten;
            bool rewrite = false;
            // R2.10: an empty token or "PLAIN" (DSE's first step) carries no credentials.
            if (m->token && !m->token->empty() && *m->token != "PLAIN") {
                if (auto creds = cql::parse_plain_sasl_token(*m->token)) {
                    client_user.assign(creds->user);
                    client_password.assign(creds->password);
                    if (client_creds_side >= 0 && client_creds_side != hs_primary) {
                        // Both clusters authenticate and the client's credentials are for the
                        // other one: the handshake cluster gets the configured ones (§2.4).
                        bool ok = false;
                        std::string token = creds_token_for(hs_primary, ok);
                        if (ok) {
                            cql::auth_token_message r{std::string_view(token)};
                            r.encode(rewritten);
                            rewritten = with_prefix(std::move(rewritten));
                            rewrite = true;
                        }
                    }
                }
            }
            pending* p = alloc(request_kind::auth_primary, h.stream);
            hs_busy = true;
            uint8_t bit = static_cast<uint8_t>(1u << hs_primary);
            if (hs_primary == origin_side) {
                forward(std::move(env), p, bit, {}, false, rewritten, rewrite);
            } else {
                forward(std::move(env), p, bit, rewritten, rewrite);
            }
            return;
        }
        case opcode::register_: {
            pending* p = alloc(request_kind::plain, h.stream);
            forward(std::move(env), p, 3, {}, false);  // R8.1
            return;
        }
        case opcode::query: {
            bump(ctx.counters.requests);
            auto m = cql::query_message::decode(plain, ver);
            if (!decoded(m, h.stream)) return;
            auto info = cql::classify(m->query);
            std::string_view ks = m->params.keyspace ? *m->params.keyspace : std::string_view(keyspace);
            const bool dual = ctx.p.mode() == read_mode::dual_async_on_secondary;
            auto d = decide(info, ks, dual);
            if (d.route == query_route::intercepted) {
                bump(ctx.counters.intercepted);
                auto v = ctx.p.view(cfg.system_queries_mode == "TARGET" ? cluster_role::target : cluster_role::origin);
                auto a = answer_system_select(d.table, m->query, info, *v, ctx.p.topology(), local_address, h.version);
                if (auto* e = std::get_if<error_message>(&a)) {
                    answer_error(h.stream, *e);
                } else {
                    answer(h.stream, opcode::result, std::get<system_answer>(a).result_body);
                }
                return;
            }
            if (d.route == query_route::local_void) {
                std::string body(4, '\0');
                cql::store_be32(body.data(), static_cast<uint32_t>(cql::result_kind::void_));
                answer(h.stream, opcode::result, body);
                return;
            }
            pending* p = alloc(request_kind::plain, h.stream);
            p->counted = true;
            p->cl = m->params.cl;
            p->write = d.write;
            if (d.unrecognized) bump(ctx.counters.unrecognized_statements);
            if (d.async) send_async(h, env.body);  // R4.12
            if (d.route == query_route::system) {
                forward(std::move(env), p, cfg.system_queries_mode == "TARGET" ? 2 : 1, {}, false);
                return;
            }
            if (d.route == query_route::primary) {
                forward(std::move(env), p, static_cast<uint8_t>(1u << side_of(p->primary)), {}, false);
                return;
            }
            if (cfg.replace_cql_functions) {
                // R7.3: one literal per volatile call, the same on both clusters.
                if (auto text = replace_functions_with_literals(m->query, info, function_values_now())) {
                    cql::query_message q = *m;
                    q.query = *text;
                    std::string body;
                    q.encode(body, ver);
                    body = with_prefix(std::move(body));
                    forward(std::move(env), p, 3, body, true, body, true);
                    return;
                }
            }
            forward(std::move(env), p, 3, {}, false);
            return;
        }
        case opcode::prepare: {
            auto m = cql::prepare_message::decode(plain, ver);
            if (!decoded(m, h.stream)) return;
            auto info = cql::classify(m->query);
            std::string_view ks = m->keyspace ? *m->keyspace : std::string_view(keyspace);
            if (auto t = intercepted_table(info, ks); t != system_table::none) {
                // R6.9: answered locally; the id is MD5(query + keyspace).
                auto v = ctx.p.view(cfg.system_queries_mode == "TARGET" ? cluster_role::target : cluster_role::origin);
                auto a = answer_system_select(t, m->query, info, *v, ctx.p.topology(), local_address, h.version);
                if (auto* e = std::get_if<error_message>(&a)) {
                    answer_error(h.stream, *e);
                    return;
                }
                auto entry = std::make_shared<prepared_entry>();
                entry->origin_id = intercepted_prepared_id(m->query, ks);
                entry->query.assign(m->query);
                entry->keyspace.assign(ks);
                entry->where = route::intercepted;
                entry->table = t;
                cql::result_message r;
                r.kind = cql::result_kind::prepared;
                r.prepared_id = entry->origin_id;
                r.result_metadata_id = entry->origin_id;
                r.result_metadata = std::get<system_answer>(a).metadata;
                std::string body;
                r.encode(body, ver);
                ctx.cache.put(std::move(entry));
                answer(h.stream, opcode::result, body);
                return;
            }
            pending* p = alloc(request_kind::prepare, h.stream);
            p->query.assign(m->query);
            p->keyspace.assign(ks);
            p->keyspace_flag = m->keyspace.has_value();
            auto d = decide(info, ks, ctx.p.mode() == read_mode::dual_async_on_secondary);
            p->prep_route = d.route == query_route::system ? route::system : d.route == query_route::primary ? route::primary : route::both;
            p->prep_write = cql::is_write(info.kind);
            if (d.async && d.route == query_route::primary) send_async(h, env.body);
            if (cfg.replace_cql_functions) {
                // R7.4: each volatile call becomes a bind marker; EXECUTE fills in the values.
                if (auto r = replace_functions_with_markers(m->query, info)) {
                    p->generated = std::move(r->generated);
                    p->generated_named = r->named;
                    p->cluster_query = std::move(r->text);
                    cql::prepare_message pm = *m;
                    pm.query = p->cluster_query;
                    std::string body;
                    pm.encode(body, ver);
                    body = with_prefix(std::move(body));
                    forward(std::move(env), p, 3, body, true, body, true);
                    return;
                }
            }
            forward(std::move(env), p, 3, {}, false);  // R5.1
            return;
        }
        case opcode::execute: {
            bump(ctx.counters.requests);
            auto m = cql::execute_message::decode(plain, ver);
            if (!decoded(m, h.stream)) return;
            const prepared_entry* e = ctx.cache.find(m->id);
            if (!e) {
                bump(ctx.counters.pscache_misses);
                answer_error(h.stream, error_message::unprepared(m->id, unprepared_text(m->id)));  // R5.3
                return;
            }
            if (e->where == route::intercepted) {
                auto info = cql::classify(e->query);
                auto v = ctx.p.view(cfg.system_queries_mode == "TARGET" ? cluster_role::target : cluster_role::origin);
                auto a = answer_system_select(e->table, e->query, info, *v, ctx.p.topology(), local_address, h.version);
                if (auto* err = std::get_if<error_message>(&a)) {
                    answer_error(h.stream, *err);
                } else {
                    answer(h.stream, opcode::result, std::get<system_answer>(a).result_body);
                }
                return;
            }
            pending* p = alloc(request_kind::plain, h.stream);
            p->counted = true;
            p->cl = m->params.cl;
            p->write = e->where == route::both;
            // The target copy carries the target's id (R5.3): [short bytes] id, then the rest.
            bool rewrite = !e->target_id.empty() && e->target_id != e->origin_id;
            // Built in the slot's own string (its capacity stays with the slot: no allocation).
            std::string target_body = std::move(p->side_body[1]);
            target_body.clear();
            if (rewrite) {
                size_t id_len = 2 + m->id.size();
                target_body.append(req_prefix);
                cql::writer w(target_body);
                w.write_short_bytes(e->target_id);
                target_body.append(plain.substr(id_len));
            }
            if (!e->generated.empty()) {
                // R7.5: fresh values per request, the same for both clusters.
                auto fv = function_values_now();
                const bool named = m->params.values.present && m->params.values.named;
                auto vals = with_generated_values(m->params.values, e->generated, fv);
                std::string storage, origin_body, tbody;
                cql::execute_message out = *m;
                out.params.values = cql::value_list::build(vals, named, storage);
                out.encode(origin_body, ver);
                if (!e->target_id.empty()) out.id = e->target_id;
                out.encode(tbody, ver);
                origin_body = with_prefix(std::move(origin_body));
                tbody = with_prefix(std::move(tbody));
                keep_request(*p, env, std::move(origin_body), true, std::move(tbody), true);
                forward(std::move(env), p, 3, p->side_body[1], true, p->side_body[0], true);
                return;
            }
            uint8_t sides = 3;
            if (e->where == route::primary) {
                sides = static_cast<uint8_t>(1u << side_of(p->primary));
                if (ctx.p.mode() == read_mode::dual_async_on_secondary) {
                    bool secondary_is_target = p->primary == cluster_role::origin;
                    send_async(h, secondary_is_target && rewrite ? std::string_view(target_body) : plain);
                }
            } else if (e->where == route::system) {
                sides = cfg.system_queries_mode == "TARGET" ? 2 : 1;
            }
            keep_request(*p, env, {}, false, std::move(target_body), rewrite);
            forward(std::move(env), p, sides, p->side_body[1], rewrite);
            return;
        }
        case opcode::batch: {
            bump(ctx.counters.requests);
            auto m = cql::batch_message::decode(plain, ver);
            if (!decoded(m, h.stream)) return;
            // R5.4: every prepared child must be known; the target copy gets target ids.
            bool rewrite = false;
            bool values_changed = false;
            std::vector<cql::batch_child> children;
            std::vector<std::string> ids;
            ids.reserve(m->children.count);
            std::vector<std::string> storages;
            storages.reserve(m->children.count);  // value lists point into these: no reallocation
            std::optional<function_values> fv;  // the values replacing volatile calls (R7.3, R7.5)
            std::deque<std::string> texts;       // rewritten child statements
            for (const auto& c : m->children) {
                if (c.prepared) {
                    const prepared_entry* e = ctx.cache.find(c.query_or_id);
                    if (!e) {
                        bump(ctx.counters.pscache_misses);
                        answer_error(h.stream, error_message::unprepared(c.query_or_id, unprepared_text(c.query_or_id)));
                        return;
                    }
                    if (!e->target_id.empty() && e->target_id != e->origin_id) rewrite = true;
                    ids.push_back(e->target_id.empty() ? e->origin_id : e->target_id);
                    if (!e->generated.empty() && !c.values.named) {
                        // R5.4/R7.5: the child's generated values, the same on both clusters.
                        if (!fv) fv.emplace(function_values_now());
                        auto vals = with_generated_values(c.values, e->generated, *fv);
                        cql::batch_child changed = c;
                        changed.values = cql::value_list::build(vals, false, storages.emplace_back());
                        children.push_back(changed);
                        values_changed = true;
                        continue;
                    }
                } else {
                    ids.emplace_back();
                    if (cfg.replace_cql_functions) {
                        // R7.3: a simple child gets literals, as a QUERY does.
                        auto cinfo = cql::classify(c.query_or_id);
                        if (cinfo.call_count > 0) {
                            if (!fv) fv.emplace(function_values_now());
                            if (auto text = replace_functions_with_literals(c.query_or_id, cinfo, *fv)) {
                                cql::batch_child changed = c;
                                changed.query_or_id = texts.emplace_back(std::move(*text));
                                children.push_back(changed);
                                values_changed = true;
                                continue;
                            }
                        }
                    }
                }
                children.push_back(c);
            }
            std::string target_body, origin_body;
            if (values_changed) {
                std::string storage;
                cql::batch_message o = *m;
                o.children = cql::batch_children::build(children, storage);
                o.encode(origin_body, ver);
                origin_body = with_prefix(std::move(origin_body));
            }
            if (rewrite || values_changed) {
                for (size_t i = 0; i < children.size(); ++i) {
                    if (children[i].prepared) children[i].query_or_id = ids[i];
                }
                std::string storage;
                cql::batch_message t = *m;
                t.children = cql::batch_children::build(children, storage);
                t.encode(target_body, ver);
                target_body = with_prefix(std::move(target_body));
            }
            pending* p = alloc(request_kind::plain, h.stream);
            p->counted = true;
            p->write = true;
            p->cl = m->cl;
            keep_request(*p, env, std::move(origin_body), values_changed, std::move(target_body), rewrite || values_changed);
            forward(std::move(env), p, 3, p->side_body[1], rewrite || values_changed, p->side_body[0], values_changed);
            return;
        }
        default: {
            pending* p = alloc(request_kind::plain, h.stream);
            forward(std::move(env), p, 3, {}, false);
            return;
        }
    }
}

void client_session::on_reply(int side, uint32_t idx, uint32_t gen, inbound_envelope&& env) {
    pending* p = slot(idx, gen);
    if (!p) return;
    uint8_t bit = static_cast<uint8_t>(1u << side);
    if (!(p->expect & bit) || (p->got & bit)) return;
    p->got |= bit;
    switch (p->kind) {
        case request_kind::startup:
            handle_startup_replies(*p, side, std::move(env));
            return;
        case request_kind::auth_primary: {
            const auto op = env.header.op;
            if (op == opcode::auth_success || op == opcode::ready) {
                start_secondary_auth(*p, env.header, std::string(env.body));
                return;
            }
            hs_busy = false;
            deliver(*p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
            return;
        }
        case request_kind::auth_secondary: {
            const auto op = env.header.op;
            if (op == opcode::auth_success || op == opcode::ready) {
                envelope_header hh = p->first_h;
                std::string body(p->first_body);
                handshake_done(*p, hh, body);
                return;
            }
            if (op == opcode::auth_challenge && p->auth_steps < 5) {
                p->got &= static_cast<uint8_t>(~bit);
                p->expect &= static_cast<uint8_t>(~bit);
                send_secondary_token(*p, false);
                return;
            }
            std::string msg = std::string(side_name(side)) + " rejected the handshake";
            if (op == opcode::error) {
                std::string tmp;
                auto pl = codec.plain(env.header, env.body, tmp);
                if (pl) {
                    if (auto e = error_message::decode(*pl, cql::effective_version(env.header.version))) msg = e->message;
                }
                // R2.15: the secondary's message; later handshake requests get it again.
                auth_error = msg;
                int16_t stream = p->client_stream;
                hs_busy = false;
                release(*p);
                answer_error(stream, error_message::bad_credentials(msg));
                drain_queue();
                return;
            }
            hs_busy = false;
            release(*p);
            fail_session("secondary handshake with " + std::string(side_name(side)) + " failed: unexpected " +
                         std::string(cql::to_string(op)));
            return;
        }
        default:
            break;
    }
    if (p->healing == side) {
        heal_reply(*p, side, std::move(env));
        return;
    }
    if (p->counted && links[side] && links[side]->metrics) record_node(*links[side]->metrics, *p, env, ctx.w.now_ns());
    if (env.header.op == opcode::error && !p->healed && !p->req_body.empty() && try_heal(*p, side, env)) return;
    if (p->expect == bit) {
        if (env.header.op == opcode::error && p->counted && !p->write) {
            bump(side == origin_side ? ctx.counters.reads_failed_origin : ctx.counters.reads_failed_target);
        }
        deliver(*p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
        return;
    }
    if (p->got != p->expect) {
        p->hold(side, env, plentiful());
        return;
    }
    merge(*p, side, std::move(env));
}

// §4.3: both succeed → the primary's reply (PREPARE: origin's); one fails → that failure;
// both fail → origin's.
void client_session::merge(pending& p, int side, inbound_envelope&& env) {
    if (p.kind == request_kind::options && env.header.op == opcode::supported && p.first_h.op == opcode::supported) {
        answer_supported(p);
        return;
    }
    const bool second_err = env.header.op == opcode::error;
    const bool first_err = p.first_h.op == opcode::error;
    const bool origin_err = side == origin_side ? second_err : first_err;
    const bool target_err = side == target_side ? second_err : first_err;
    const auto m = core::merge(origin_err, target_err, p.kind == request_kind::prepare, p.primary);
    const int chosen = m.origin_reply ? origin_side : target_side;
    if (p.counted && m.failed != failed_on::none) {
        auto& c = ctx.counters;
        bump(m.failed == failed_on::both ? c.writes_failed_both : m.failed == failed_on::origin ? c.writes_failed_origin : c.writes_failed_target);
    }
    if (p.kind == request_kind::prepare && !origin_err && !target_err) {
        // R5.2: remember origin id → target id and how to route the statement.
        std::string t1, t2;
        auto o_plain = side == origin_side ? codec.plain(env.header, env.body, t1) : codec.plain(p.first_h, p.first_body, t1);
        auto t_plain = side == target_side ? codec.plain(env.header, env.body, t2) : codec.plain(p.first_h, p.first_body, t2);
        if (o_plain && t_plain) {
            auto read_id = [](std::string_view b) -> std::optional<std::string> {
                cql::reader r(b);
                if (r.read_int() != static_cast<int32_t>(cql::result_kind::prepared)) return std::nullopt;
                auto id = r.read_short_bytes();
                if (!r.ok()) return std::nullopt;
                return std::string(id);
            };
            auto oid = read_id(*o_plain);
            auto tid = read_id(*t_plain);
            if (oid && tid) {
                auto e = std::make_shared<prepared_entry>();
                e->origin_id = *oid;
                e->target_id = *tid;
                e->query = p.query;
                e->keyspace = p.keyspace;
                e->where = p.prep_route;
                e->write = p.prep_write;
                e->generated = p.generated;
                e->generated_named = p.generated_named;
                e->cluster_query = p.cluster_query.empty() ? p.query : p.cluster_query;
                e->keyspace_flag = p.keyspace_flag;
                ctx.cache.put(std::move(e));
            }
            if (!p.generated.empty()) {
                // The client sees the variables it wrote: tandem's markers are removed from
                // origin's PREPARED metadata, partition key indexes shifted (R7.4, without the
                // last-position quirk).
                auto r = cql::result_message::decode(*o_plain, cql::effective_version(p.version));
                if (r && r->kind == cql::result_kind::prepared) {
                    strip_generated(r->prepared, p.generated);
                    std::string body;
                    r->encode(body, cql::effective_version(p.version));
                    envelope_header oh = side == origin_side ? env.header : p.first_h;
                    oh.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
                    deliver(p, origin_side, oh, body, nullptr);
                    return;
                }
            }
        }
    }
    if (chosen == side) {
        deliver(p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
    } else {
        envelope_header hh = p.first_h;
        deliver(p, chosen, hh, p.first_body, p.first_owner.empty() ? nullptr : &p.first_owner);
    }
}

void client_session::keep_request(pending& p, const inbound_envelope& env, std::string origin_body, bool origin_rewritten,
                                  std::string target_body, bool target_rewritten) {
    p.req_h = env.header;
    // A copy into the slot's own string (its capacity stays with the slot: no allocation in the
    // steady state), not a reference to the receive buffer: requests waiting for slow clusters
    // must not pin the buffers their replies need.
    p.req_copy.assign(env.body);
    p.req_body = p.req_copy;
    p.side_body[0] = std::move(origin_body);
    p.side_body[1] = std::move(target_body);
    p.side_rewritten[0] = origin_rewritten;
    p.side_rewritten[1] = target_rewritten;
    for (int s = 0; s < 2; ++s) {
        if (prefix_changed && !p.side_rewritten[s]) {
            p.side_body[s] = req_prefix;
            p.side_body[s].append(req_message);
            p.side_rewritten[s] = true;
        }
    }
}

// A cluster answered UNPREPARED for a statement tandem knows (it restarted, or evicted it):
// prepare it there again and re-send, once, without the client noticing. ZDM Proxy returns the
// UNPREPARED, and the driver's retry applies the write a second time on the other cluster (R5.5).
bool client_session::try_heal(pending& p, int side, const inbound_envelope& env) {
    std::string tmp;
    auto plain = codec.plain(env.header, env.body, tmp);
    if (!plain) return false;
    auto e = error_message::decode(*plain, cql::effective_version(env.header.version));
    if (!e || e->code != error_code::unprepared) return false;
    std::string origin_id = e->unprepared_id;
    if (side == target_side) {
        auto o = ctx.cache.store().origin_for_target(e->unprepared_id);
        if (!o) return false;
        origin_id = *o;
    }
    const prepared_entry* entry = ctx.cache.find(origin_id);
    auto* l = links[side];
    if (!entry || !l || !l->usable()) return false;
    int id = l->take_id(index_of(p), p.gen);
    if (id < 0) return false;
    p.healed = true;
    p.healing = side;
    p.got &= static_cast<uint8_t>(~(1u << side));
    p.proxy_stream[side] = static_cast<int16_t>(id);
    cql::prepare_message pm;
    pm.query = entry->cluster_query.empty() ? entry->query : entry->cluster_query;
    if (entry->keyspace_flag) pm.keyspace = entry->keyspace;
    std::string body;
    pm.encode(body, cql::effective_version(version));
    envelope_header h;
    h.version = version;
    h.op = opcode::prepare;
    h.stream = static_cast<int16_t>(id);
    l->send(h, body);
    spdlog::debug("client {}: {} lost prepared statement {}; preparing it again", client.fd(), side_name(side), cql::to_hex(origin_id));
    return true;
}

void client_session::heal_reply(pending& p, int side, inbound_envelope&& env) {
    p.healing = -1;
    auto* l = links[side];
    std::string tmp;
    auto plain = codec.plain(env.header, env.body, tmp);
    bool prepared = env.header.op == opcode::result && plain &&
                    result_kind_of(*plain) == static_cast<int32_t>(cql::result_kind::prepared);
    int id = prepared && l && l->usable() ? l->take_id(index_of(p), p.gen) : -1;
    if (id < 0) {
        // Preparing again failed: the client gets the UNPREPARED so its driver re-prepares.
        const std::string origin_id = [&] {
            cql::reader r(p.req_body);
            if (p.req_h.op == opcode::execute) return std::string(r.read_short_bytes());
            return std::string();
        }();
        std::string body;
        error_message::unprepared(origin_id, unprepared_text(origin_id)).encode(body, cql::effective_version(version));
        envelope_header eh = env.header;
        eh.op = opcode::error;
        eh.flags = 0;
        deliver(p, side, eh, body, nullptr);
        return;
    }
    p.got &= static_cast<uint8_t>(~(1u << side));
    p.proxy_stream[side] = static_cast<int16_t>(id);
    envelope_header h = p.req_h;
    h.stream = static_cast<int16_t>(id);
    if (p.side_rewritten[side]) {
        h.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
        l->send(h, p.side_body[side]);
    } else {
        l->send(h, p.req_body);
    }
    bump(ctx.counters.unprepared_healed);
}

// zdm_<cluster>_request_duration_seconds and _requests_failed_total of the node that answered
// (R4.19: counted requests only).
void client_session::record_node(node_metrics& m, const pending& p, const inbound_envelope& env, uint64_t now_ns) {
    uint64_t ns = now_ns - p.started_ns;
    (p.write ? m.writes : m.reads).record(ns);
    if (env.header.op != opcode::error) return;
    std::string tmp;
    auto plain = codec.plain(env.header, env.body, tmp);
    int32_t code = plain && plain->size() >= 4 ? static_cast<int32_t>(cql::load_be32(plain->data())) : 0;
    bump(m.failed[node_error_kind(code)]);
}

// zdm_proxy_request_duration_seconds{type=writes|reads_origin|reads_target}, timed-out requests
// included (R4.16).
void client_session::record_duration(const pending& p, uint64_t now_ns) {
    uint64_t ns = now_ns - p.started_ns;
    if (p.write) {
        ctx.counters.writes.record(ns);
    } else if (p.expect & (1u << target_side)) {
        ctx.counters.reads_target.record(ns);
    } else {
        ctx.counters.reads_origin.record(ns);
    }
}

// R2.6: target's options (from its control connection), COMPRESSION intersected with origin's.
void client_session::answer_supported(pending& p) {
    auto ov = ctx.p.view(cluster_role::origin);
    auto tv = ctx.p.view(cluster_role::target);
    cql::supported_message s;
    std::vector<std::string_view> comp;
    for (const auto& [k, vals] : tv->supported) {
        if (k == "COMPRESSION") {
            auto* oc = ov->option("COMPRESSION");
            if (!oc) continue;
            for (const auto& c : vals) {
                if (std::find(oc->begin(), oc->end(), c) != oc->end()) comp.push_back(c);
            }
            s.options.emplace_back(k, comp);
            continue;
        }
        s.options.emplace_back(k, std::vector<std::string_view>(vals.begin(), vals.end()));
    }
    std::string body;
    s.encode(body);
    int16_t stream = p.client_stream;
    release(p);
    answer(stream, opcode::supported, body);
}

// Sends the chosen reply to the client under the client's stream id, byte for byte except for
// the rewrites of R4.8: SET_KEYSPACE is remembered, a target UNPREPARED carries origin's id.
void client_session::deliver(pending& p, int side, const envelope_header& h_in, std::string_view body,
                             const net::rx_buffer* owner) {
    envelope_header h = h_in;
    h.stream = p.client_stream;
    std::string rewritten;
    bool use_rewritten = false;
    if (h.op == opcode::result || h.op == opcode::error) {
        auto plain = codec.plain(h, body, scratch2);
        if (plain) {
            if (h.op == opcode::result && result_kind_of(*plain) == static_cast<int32_t>(cql::result_kind::set_keyspace)) {
                cql::reader r(plain->substr(4));
                auto ks = r.read_string();
                if (r.ok()) keyspace.assign(ks);  // R3.13
            } else if (h.op == opcode::error) {
                auto e = error_message::decode(*plain, cql::effective_version(h.version));
                if (e && e->code == error_code::unprepared && side == target_side) {
                    auto origin_id = ctx.cache.store().origin_for_target(e->unprepared_id);
                    std::string id = origin_id ? *origin_id : e->unprepared_id;
                    error_message::unprepared(id, unprepared_text(id)).encode(rewritten, cql::effective_version(h.version));
                    use_rewritten = true;
                    h.flags = 0;
                }
                // R2.20 rewrites a cluster's PROTOCOL_ERROR to stream 0; tandem keeps the
                // request's stream: drivers match the reply to their request (the Python
                // driver only downgrades on an error it can match), and nothing is left open.
            }
        }
    }
    if (p.counted) record_duration(p, ctx.w.now_ns());
    if (!p.request_id.empty()) {
        spdlog::info("Received response from {} ({}) for request id {}", side == origin_side ? "ORIGIN" : "TARGET",
                     cql::to_string(h.op), p.request_id);
    }
    // Send before release(): `body` may point into the slot's held reply.
    if (use_rewritten) {
        writer.send(client, h, rewritten);
    } else if (owner && !writer.framed()) {
        writer.send(client, h, owner->share(static_cast<size_t>(body.data() - owner->view().data()), body.size()));
    } else {
        writer.send(client, h, body);
    }
    release(p);
}

void client_session::handle_startup_replies(pending& p, int side, inbound_envelope&& env) {
    if (p.got != p.expect) {
        p.hold(side, env, plentiful());
        return;
    }
    // Both STARTUP replies are in.
    envelope_header sh = env.header;
    std::string sbody(env.body);
    envelope_header fh = p.first_h;
    std::string fbody(p.first_body);
    const envelope_header& oh = side == origin_side ? sh : fh;
    const std::string& ob = side == origin_side ? sbody : fbody;
    const envelope_header& th = side == target_side ? sh : fh;
    const std::string& tb = side == target_side ? sbody : fbody;
    const envelope_header& ph_h = hs_primary == origin_side ? oh : th;
    const std::string& ph_b = hs_primary == origin_side ? ob : tb;
    const envelope_header& sec_h = hs_primary == origin_side ? th : oh;
    const std::string& sec_b = hs_primary == origin_side ? tb : ob;
    if (oh.op == opcode::error || th.op == opcode::error) {
        // A cluster refused: its error (origin's when both) goes to the client, so a version
        // one cluster rejects makes the driver downgrade (R2.20, R2.23).
        int chosen = oh.op == opcode::error ? origin_side : target_side;
        hs_busy = false;
        deliver(p, chosen, chosen == origin_side ? oh : th, chosen == origin_side ? ob : tb, nullptr);
        drain_queue();
        return;
    }
    secondary_startup_op = sec_h.op;
    if (sec_h.op == opcode::authenticate) {
        if (auto a = cql::authenticate_message::decode(sec_b)) secondary_authenticator.assign(a->authenticator);
    } else if (sec_h.op != opcode::ready) {
        release(p);
        hs_busy = false;
        fail_session(std::string("unexpected STARTUP reply from the secondary handshake cluster: ") + std::string(cql::to_string(sec_h.op)));
        return;
    }
    if (ph_h.op == opcode::ready) {
        start_secondary_auth(p, ph_h, ph_b);
        return;
    }
    if (ph_h.op == opcode::authenticate) {
        // The client authenticates against the handshake cluster (R2.9).
        hs_busy = false;
        deliver(p, hs_primary, ph_h, ph_b, nullptr);
        switch_client_framing();
        drain_queue();
        return;
    }
    release(p);
    hs_busy = false;
    fail_session("unexpected STARTUP reply " + std::string(cql::to_string(ph_h.op)));
}

// R2.13/R2.14: the primary handshake succeeded; finish the secondary one with the right
// credentials before the client hears READY / AUTH_SUCCESS.
void client_session::start_secondary_auth(pending& p, const envelope_header& primary_h, std::string primary_body) {
    if (secondary_startup_op != opcode::authenticate) {
        handshake_done(p, primary_h, primary_body);
        return;
    }
    p.kind = request_kind::auth_secondary;
    p.first_h = primary_h;
    p.first_owner.release();
    p.first_copy = std::move(primary_body);
    p.first_body = p.first_copy;
    bool dse = secondary_authenticator == "com.datastax.bdp.cassandra.auth.DseAuthenticator";
    send_secondary_token(p, dse);
}

void client_session::send_secondary_token(pending& p, bool plain_first) {
    int sec = hs_primary == origin_side ? target_side : origin_side;
    ++p.auth_steps;
    std::string token;
    if (plain_first) {
        token = "PLAIN";
    } else {
        bool ok = false;
        token = creds_token_for(sec, ok);
        if (!ok) {
            std::string msg = std::string("tandem: ") + side_name(sec) + " requires authentication but no credentials are known for it (set " +
                              side_name(sec) + "_username and " + side_name(sec) + "_password)";
            auth_error = msg;
            int16_t stream = p.client_stream;
            hs_busy = false;
            release(p);
            answer_error(stream, error_message::bad_credentials(msg));
            return;
        }
    }
    cql::auth_token_message m{std::string_view(token)};
    std::string body;
    m.encode(body);
    auto* l = links[sec];
    int id = l && l->usable() ? l->take_id(index_of(p), p.gen) : -1;
    if (id < 0) {
        hs_busy = false;
        release(p);
        fail_session(std::string("secondary handshake: no connection to ") + side_name(sec));
        return;
    }
    p.proxy_stream[sec] = static_cast<int16_t>(id);
    p.expect |= static_cast<uint8_t>(1u << sec);
    p.got &= static_cast<uint8_t>(~(1u << sec));
    envelope_header h;
    h.version = version;
    h.op = opcode::auth_response;
    h.stream = static_cast<int16_t>(id);
    l->send(h, body);
    if (!p.timer.armed()) arm_timeout(p);
}

void client_session::handshake_done(pending& p, const envelope_header& h, std::string_view body) {
    hs_busy = false;
    ph = phase::ready;
    envelope_header out = h;
    deliver(p, hs_primary, out, body, nullptr);
    switch_client_framing();
    spdlog::debug("client {}: handshake done (protocol {}, compression {})", client.fd(), static_cast<int>(version),
                  cql::to_string(compression));
    drain_queue();
}

void client_session::on_event(int side, inbound_envelope&& env) {
    // R8.2: SCHEMA_CHANGE from origin only; topology and status events stay hidden.
    if (side != origin_side) return;
    std::string tmp;
    auto plain = codec.plain(env.header, env.body, tmp);
    if (!plain) return;
    cql::reader r(*plain);
    auto type = r.read_string();
    if (!r.ok() || type != "SCHEMA_CHANGE") return;
    envelope_header h = env.header;
    h.stream = -1;
    writer.send(client, h, env.body);
}

// Dual reads (§4.5): fire and forget on a third connection to the secondary. Skipped, never
// blocking, when that connection is not ready; re-opened after a failure (W9).
void client_session::send_async(const envelope_header& h, std::string_view body) {
    auto* l = links[async_side];
    if (!l) {
        if (ph == phase::ready && ctx.w.now_ms() >= async_retry_at_ms) connect_async();
        bump(ctx.counters.async_skipped);
        return;
    }
    if (l->astate != cluster_link::async_state::ready || !l->usable()) {
        bump(ctx.counters.async_skipped);
        return;
    }
    int id = l->take_id(cluster_link::async_id, 0);
    if (id < 0) {
        bump(ctx.counters.async_skipped);
        return;
    }
    envelope_header out = h;
    out.stream = static_cast<int16_t>(id);
    out.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    std::string tmp;
    auto plain = codec.plain(h, body, tmp);
    if (!plain) return;
    l->send(out, *plain);
    bump(ctx.counters.async_sent);
}

void client_session::connect_async() {
    int sec = ctx.p.primary() == cluster_role::origin ? target_side : origin_side;
    async_retry_at_ms = ctx.w.now_ms() + 5000;
    auto v = ctx.p.view(sec == origin_side ? cluster_role::origin : cluster_role::target);
    // Same node as the request connection of that cluster (R1.19), found in the current view.
    const std::string& ep = link_endpoint[sec];
    const host_info* node = nullptr;
    for (const auto& h : v->hosts) {
        if (h.endpoint() == ep) node = &h;
    }
    if (!node) return;
    auto addr = net::resolve_address(node->address, node->port);
    if (!addr) return;
    link_endpoint[async_side] = ep;
    auto link = std::make_unique<cluster_link>(this, async_side, ep, ids_per_link);
    attach_tls(*link, sec, node->server_name);
    link->writer.set_flush_list(&ctx.flush_list);
    link->metrics = &ctx.node(async_side, ep);
    std::weak_ptr<bool> weak = alive;
    links[async_side] = nullptr;
    ctx.w.connect(addr->first, addr->second, ctx.p.options().connect_attempt_ms, std::move(link),
                  [this, weak](net::connection* c, int err) {
                      if (weak.expired()) {
                          if (c) {
                              static_cast<cluster_link*>(c->handler())->session = nullptr;
                              c->abort();
                          }
                          return;
                      }
                      on_link_connected(async_side, c, err, {});
                  });
}

void client_session::on_async_reply(inbound_envelope&& env) {
    auto* l = links[async_side];
    if (!l) return;
    const auto op = env.header.op;
    if (l->astate == cluster_link::async_state::ready) {
        if (op == opcode::error) {
            bump(ctx.counters.async_failed);
            if (l->metrics) {
                std::string t2;
                auto pl = codec.plain(env.header, env.body, t2);
                int32_t code = pl && pl->size() >= 4 ? static_cast<int32_t>(cql::load_be32(pl->data())) : 0;
                bump(l->metrics->failed[node_error_kind(code)]);
            }
            // R4.14: an UNPREPARED makes the proxy prepare the statement there (fire and forget).
            std::string tmp;
            auto plain = codec.plain(env.header, env.body, tmp);
            if (plain) {
                auto e = error_message::decode(*plain, cql::effective_version(env.header.version));
                int sec = ctx.p.primary() == cluster_role::origin ? target_side : origin_side;
                if (e && e->code == error_code::unprepared) {
                    std::string origin_id = e->unprepared_id;
                    if (sec == target_side) {
                        if (auto o = ctx.cache.store().origin_for_target(e->unprepared_id)) origin_id = *o;
                    }
                    if (auto* entry = ctx.cache.find(origin_id)) {
                        cql::prepare_message pm;
                        pm.query = entry->query;
                        std::string body;
                        pm.encode(body, cql::effective_version(version));
                        int id = l->take_id(cluster_link::async_id, 0);
                        if (id >= 0) {
                            envelope_header h;
                            h.version = version;
                            h.op = opcode::prepare;
                            h.stream = static_cast<int16_t>(id);
                            l->send(h, body);
                        }
                    }
                }
            }
        } else {
            bump(ctx.counters.async_ok);
        }
        return;
    }
    // The async connection's own handshake (R2.14), with R2.11's credentials.
    int sec = ctx.p.primary() == cluster_role::origin ? target_side : origin_side;
    if (op == opcode::ready || op == opcode::auth_success) {
        l->astate = cluster_link::async_state::ready;
        if (!keyspace.empty()) {
            cql::query_message q;
            std::string text = "USE \"" + keyspace + "\"";
            q.query = text;
            std::string body;
            q.encode(body, cql::effective_version(version));
            int id = l->take_id(cluster_link::async_id, 0);
            envelope_header h;
            h.version = version;
            h.op = opcode::query;
            h.stream = static_cast<int16_t>(id);
            if (id >= 0) l->send(h, body);
        }
        spdlog::debug("client {}: async connection to {} ready", client.fd(), l->endpoint);
        return;
    }
    if ((op == opcode::authenticate || op == opcode::auth_challenge) && l->astate != cluster_link::async_state::ready) {
        bool ok = false;
        std::string token = creds_token_for(sec, ok);
        if (!ok) {
            spdlog::warn("async connection to {}: no credentials for {}", l->endpoint, side_name(sec));
            l->conn->abort();
            return;
        }
        l->astate = cluster_link::async_state::auth;
        cql::auth_token_message m{std::string_view(token)};
        std::string body;
        m.encode(body);
        int id = l->take_id(cluster_link::async_id, 0);
        envelope_header h;
        h.version = version;
        h.op = opcode::auth_response;
        h.stream = static_cast<int16_t>(id);
        if (id >= 0) l->send(h, body);
        return;
    }
    spdlog::warn("async connection to {}: handshake failed ({})", l->endpoint, cql::to_string(op));
    l->conn->abort();  // R2.15: only the async connection
}

// ---------------------------------------------------------------------------------------------
// worker_ctx, proxy

void worker_ctx::begin_drain() {
    draining = true;
    w.stop_listening();
}

proxy::proxy(config cfg, proxy_options opts)
    : _cfg(std::move(cfg)),
      _opts(opts),
      _prepared(opts.prepared_capacity),
      _primary(static_cast<uint8_t>(_cfg.primary_cluster)),
      _read_mode(static_cast<uint8_t>(_cfg.read)) {
    auto t = make_proxy_topology(_cfg.proxy_topology_addresses, _cfg.proxy_topology_index, _cfg.proxy_topology_num_tokens,
                                 _cfg.proxy_listen_address, static_cast<uint16_t>(_cfg.proxy_listen_port));
    if (auto* err = std::get_if<std::string>(&t)) throw std::runtime_error(*err);
    _topology = std::get<proxy_topology>(t);
    // R1.27: client-facing TLS when the CA, certificate and key are all set (validate() refuses
    // a partial set). R1.26: cluster TLS when the cluster's CA is set.
    if (!_cfg.proxy_tls_cert_path.empty()) {
        auto c = net::tls_context::make_server(_cfg.proxy_tls_cert_path, _cfg.proxy_tls_key_path, _cfg.proxy_tls_ca_path,
                                          _cfg.proxy_tls_require_client_auth);
        if (auto* err = std::get_if<std::string>(&c)) throw std::runtime_error("proxy TLS: " + *err);
        _client_tls = std::get<std::shared_ptr<net::tls_context>>(c);
    }
    for (int i = 0; i < 2; ++i) {
        const auto& cs = i == 0 ? _cfg.origin : _cfg.target;
        if (!cs.secure_connect_bundle_path.empty()) {
            // R1.25: the bundle holds the TLS material; the metadata service is asked in start().
            auto b = read_secure_bundle(cs.secure_connect_bundle_path);
            if (auto* err = std::get_if<std::string>(&b)) throw std::runtime_error(*err);
            _bundle[i] = std::get<secure_bundle>(std::move(b));
            auto c = net::tls_context::make_client_pem(_bundle[i]->ca_pem, _bundle[i]->cert_pem, _bundle[i]->key_pem);
            if (auto* err = std::get_if<std::string>(&c)) {
                throw std::runtime_error("secure connect bundle " + cs.secure_connect_bundle_path + ": " + *err);
            }
            _cluster_tls[i] = std::get<std::shared_ptr<net::tls_context>>(c);
            continue;
        }
        if (cs.tls_server_ca_path.empty()) continue;
        auto c = net::tls_context::make_client(cs.tls_server_ca_path, cs.tls_client_cert_path, cs.tls_client_key_path);
        if (auto* err = std::get_if<std::string>(&c)) throw std::runtime_error(std::string(i == 0 ? "origin" : "target") + " TLS: " + *err);
        _cluster_tls[i] = std::get<std::shared_ptr<net::tls_context>>(c);
    }
}

proxy::~proxy() { shutdown(0); }

std::shared_ptr<const cluster_view> proxy::view(cluster_role r) const {
    int i = r == cluster_role::origin ? 0 : 1;
    if (_fixed_view[i]) return _fixed_view[i];
    return _cc[i] ? _cc[i]->view() : nullptr;
}

uint8_t proxy::lower_cluster_version() const {
    uint8_t v = 0;
    for (auto r : {cluster_role::origin, cluster_role::target}) {
        auto view = this->view(r);
        if (!view) continue;
        uint8_t cv = view->version;
        if (v == 0 || version_rank(cv) < version_rank(v)) v = cv;
    }
    return v ? v : 4;
}

std::map<std::string, int64_t> proxy::totals() const {
    std::map<std::string, int64_t> t;
    auto add = [&](const char* name, const std::atomic<uint64_t>& a) { t[name] += static_cast<int64_t>(a.load(std::memory_order_relaxed)); };
    for (const auto& c : _ctx) {
        const auto& k = c->counters;
        add("requests", k.requests);
        add("failed_writes_origin", k.writes_failed_origin);
        add("failed_writes_target", k.writes_failed_target);
        add("failed_writes_both", k.writes_failed_both);
        add("failed_reads_origin", k.reads_failed_origin);
        add("failed_reads_target", k.reads_failed_target);
        add("timeouts", k.timeouts);
        add("async_sent", k.async_sent);
        add("async_ok", k.async_ok);
        add("async_failed", k.async_failed);
        add("async_skipped", k.async_skipped);
        add("pscache_misses", k.pscache_misses);
        add("intercepted", k.intercepted);
        add("unrecognized_statements", k.unrecognized_statements);
        t["inflight"] += k.inflight.load(std::memory_order_relaxed);
    }
    t["client_connections"] = _clients.load();
    t["pscache_entries"] = static_cast<int64_t>(const_cast<prepared_store&>(_prepared).size());
    return t;
}

const char* node_error_name(size_t kind) {
    static const char* names[node_metrics::error_kinds] = {"client_timeout", "read_timeout",  "read_failure",
                                                           "write_timeout",  "write_failure", "overloaded",
                                                           "unavailable",    "unprepared",    "other"};
    return kind < node_metrics::error_kinds ? names[kind] : "other";
}

size_t node_error_kind(int32_t code) {
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

void latency_histogram::init(const std::vector<double>& bounds_ms) {
    bounds_s.clear();
    for (double b : bounds_ms) bounds_s.push_back(b / 1000.0);
    std::sort(bounds_s.begin(), bounds_s.end());
    counts = std::make_unique<std::atomic<uint64_t>[]>(bounds_s.size() + 1);
}

std::string proxy::metrics_text() const {
    const std::string& p = _cfg.metrics_prefix;
    std::string out;
    auto sum = [&](auto field) {
        uint64_t v = 0;
        for (const auto& c : _ctx) v += field(c->counters).load(std::memory_order_relaxed);
        return v;
    };
    auto metric = [&](const std::string& name, const char* type, const char* help) {
        out += "# HELP " + p + "_" + name + " " + help + "\n# TYPE " + p + "_" + name + " " + type + "\n";
    };
    auto line = [&](const std::string& name, const std::string& labels, double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        out += p + "_" + name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
    };
    metric("proxy_failed_writes_total", "counter", "Writes that failed on origin, target or both");
    line("proxy_failed_writes_total", "failed_on=\"origin\"", static_cast<double>(sum([](auto& c) -> auto& { return c.writes_failed_origin; })));
    line("proxy_failed_writes_total", "failed_on=\"target\"", static_cast<double>(sum([](auto& c) -> auto& { return c.writes_failed_target; })));
    line("proxy_failed_writes_total", "failed_on=\"both\"", static_cast<double>(sum([](auto& c) -> auto& { return c.writes_failed_both; })));
    metric("proxy_failed_reads_total", "counter", "Reads that failed, by the cluster that served them");
    line("proxy_failed_reads_total", "cluster=\"origin\"", static_cast<double>(sum([](auto& c) -> auto& { return c.reads_failed_origin; })));
    line("proxy_failed_reads_total", "cluster=\"target\"", static_cast<double>(sum([](auto& c) -> auto& { return c.reads_failed_target; })));
    metric("proxy_request_duration_seconds", "histogram", "Time from receiving a request to answering it");
    auto histogram = [&](const char* type, latency_histogram proxy_counters::*h) {
        if (_ctx.empty()) return;
        const auto& bounds = (_ctx.front()->counters.*h).bounds_s;
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= bounds.size(); ++i) {
            for (const auto& c : _ctx) cumulative += (c->counters.*h).counts[i].load(std::memory_order_relaxed);
            char le[32];
            if (i < bounds.size()) {
                std::snprintf(le, sizeof le, "%g", bounds[i]);
            } else {
                std::snprintf(le, sizeof le, "+Inf");
            }
            line("proxy_request_duration_seconds_bucket", std::string("type=\"") + type + "\",le=\"" + le + "\"",
                 static_cast<double>(cumulative));
        }
        uint64_t ns = 0, n = 0;
        for (const auto& c : _ctx) {
            ns += (c->counters.*h).sum_ns.load(std::memory_order_relaxed);
            n += (c->counters.*h).count.load(std::memory_order_relaxed);
        }
        line("proxy_request_duration_seconds_sum", std::string("type=\"") + type + "\"", static_cast<double>(ns) / 1e9);
        line("proxy_request_duration_seconds_count", std::string("type=\"") + type + "\"", static_cast<double>(n));
    };
    histogram("writes", &proxy_counters::writes);
    histogram("reads_origin", &proxy_counters::reads_origin);
    histogram("reads_target", &proxy_counters::reads_target);
    int64_t inflight = 0;
    for (const auto& c : _ctx) inflight += c->counters.inflight.load(std::memory_order_relaxed);
    metric("proxy_inflight_requests_total", "gauge", "Requests waiting for a cluster");
    line("proxy_inflight_requests_total", "", static_cast<double>(inflight));
    metric("client_connections_total", "gauge", "Open client connections");
    line("client_connections_total", "", static_cast<double>(_clients.load()));
    metric("pscache_entries_total", "gauge", "Prepared statements tandem knows");
    line("pscache_entries_total", "", static_cast<double>(const_cast<prepared_store&>(_prepared).size()));
    metric("pscache_miss_total", "counter", "EXECUTE or BATCH with a prepared id tandem does not know");
    line("pscache_miss_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.pscache_misses; })));
    // Per node (R10.1): summed over workers, by cluster and endpoint.
    for (int side = 0; side < 3; ++side) {
        const std::string c = side == 0 ? "origin" : side == 1 ? "target" : "async";
        struct totals_t {
            uint64_t failed[node_metrics::error_kinds] = {};
            int64_t connections = 0, used = 0;
            uint64_t failed_connections = 0;
            std::vector<const node_metrics*> parts;
        };
        std::map<std::string, totals_t> by_node;
        for (const auto& w : _ctx) {
            std::lock_guard g(w->nodes_lock);
            for (const auto& [key, m] : w->nodes) {
                if (key.first != side) continue;
                auto& t = by_node[key.second];
                for (size_t k = 0; k < node_metrics::error_kinds; ++k) t.failed[k] += m->failed[k].load(std::memory_order_relaxed);
                t.connections += m->connections.load(std::memory_order_relaxed);
                t.used += m->used_stream_ids.load(std::memory_order_relaxed);
                t.failed_connections += m->failed_connections.load(std::memory_order_relaxed);
                t.parts.push_back(m.get());
            }
        }
        if (by_node.empty()) continue;
        metric(c + "_requests_failed_total", "counter", "Requests that failed on this node, by error");
        for (const auto& [node, t] : by_node) {
            for (size_t k = 0; k < node_metrics::error_kinds; ++k) {
                line(c + "_requests_failed_total", "node=\"" + node + "\",error=\"" + node_error_name(k) + "\"", static_cast<double>(t.failed[k]));
            }
        }
        metric(c + "_request_duration_seconds", "histogram", "Time until this node answered");
        for (const auto& [node, t] : by_node) {
            for (const char* type : {"reads", "writes"}) {
                const bool reads = std::string(type) == "reads";
                const auto& bounds = (reads ? t.parts.front()->reads : t.parts.front()->writes).bounds_s;
                uint64_t cumulative = 0, ns = 0, n = 0;
                for (size_t i = 0; i <= bounds.size(); ++i) {
                    for (const auto* m : t.parts) cumulative += (reads ? m->reads : m->writes).counts[i].load(std::memory_order_relaxed);
                    char le[32];
                    if (i < bounds.size()) {
                        std::snprintf(le, sizeof le, "%g", bounds[i]);
                    } else {
                        std::snprintf(le, sizeof le, "+Inf");
                    }
                    line(c + "_request_duration_seconds_bucket", "node=\"" + node + "\",type=\"" + type + "\",le=\"" + le + "\"",
                         static_cast<double>(cumulative));
                }
                for (const auto* m : t.parts) {
                    ns += (reads ? m->reads : m->writes).sum_ns.load(std::memory_order_relaxed);
                    n += (reads ? m->reads : m->writes).count.load(std::memory_order_relaxed);
                }
                line(c + "_request_duration_seconds_sum", "node=\"" + node + "\",type=\"" + type + "\"", static_cast<double>(ns) / 1e9);
                line(c + "_request_duration_seconds_count", "node=\"" + node + "\",type=\"" + type + "\"", static_cast<double>(n));
            }
        }
        metric(c + "_connections_total", "gauge", "Open connections to this node");
        for (const auto& [node, t] : by_node) line(c + "_connections_total", "node=\"" + node + "\"", static_cast<double>(t.connections));
        metric(c + "_failed_connections_total", "counter", "Connections to this node that could not be opened");
        for (const auto& [node, t] : by_node) line(c + "_failed_connections_total", "node=\"" + node + "\"", static_cast<double>(t.failed_connections));
        metric(c + "_used_stream_ids_total", "gauge", "Stream ids in use on connections to this node");
        for (const auto& [node, t] : by_node) line(c + "_used_stream_ids_total", "node=\"" + node + "\"", static_cast<double>(t.used));
    }
    // tandem's own series.
    metric("tandem_requests_total", "counter", "QUERY, EXECUTE and BATCH requests");
    line("tandem_requests_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.requests; })));
    metric("tandem_request_timeouts_total", "counter", "Requests answered with a timeout error because a cluster did not answer in proxy_request_timeout_ms");
    line("tandem_request_timeouts_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.timeouts; })));
    metric("tandem_unrecognized_statements_total", "counter", "Statements the classifier did not recognise, sent to both clusters as writes");
    line("tandem_unrecognized_statements_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.unrecognized_statements; })));
    metric("tandem_unprepared_healed_total", "counter", "UNPREPARED replies healed by preparing again on that cluster and re-sending");
    line("tandem_unprepared_healed_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.unprepared_healed; })));
    metric("tandem_intercepted_requests_total", "counter", "system.local / system.peers reads answered by tandem");
    line("tandem_intercepted_requests_total", "", static_cast<double>(sum([](auto& c) -> auto& { return c.intercepted; })));
    metric("tandem_async_reads_total", "counter", "Reads mirrored to the secondary (read_mode DUAL_ASYNC_ON_SECONDARY), by outcome");
    line("tandem_async_reads_total", "outcome=\"sent\"", static_cast<double>(sum([](auto& c) -> auto& { return c.async_sent; })));
    line("tandem_async_reads_total", "outcome=\"ok\"", static_cast<double>(sum([](auto& c) -> auto& { return c.async_ok; })));
    line("tandem_async_reads_total", "outcome=\"failed\"", static_cast<double>(sum([](auto& c) -> auto& { return c.async_failed; })));
    line("tandem_async_reads_total", "outcome=\"skipped\"", static_cast<double>(sum([](auto& c) -> auto& { return c.async_skipped; })));
    return out;
}

// R10.3: Go-style field names, UP only when both control connections are.
std::pair<int, std::string> proxy::readiness() const {
    if (!_started.load()) return {503, "{\"OriginStatus\":null,\"TargetStatus\":null,\"Status\":\"STARTUP\"}"};
    bool up = true;
    auto status = [&](int i) {
        auto v = _cc[i]->view();
        int64_t failures = _cc[i]->failures();
        bool ok = failures < _cfg.heartbeat_failure_threshold;
        up = up && ok;
        std::string addr = v && failures == 0 ? v->connected : "NOT_CONNECTED";
        return "{\"Addr\":\"" + addr + "\",\"CurrentFailureCount\":" + std::to_string(failures) +
               ",\"FailureCountThreshold\":" + std::to_string(_cfg.heartbeat_failure_threshold) + ",\"Status\":\"" +
               (ok ? "UP" : "DOWN") + "\"}";
    };
    std::string o = status(0), t = status(1);
    return {up ? 200 : 503, "{\"OriginStatus\":" + o + ",\"TargetStatus\":" + t + ",\"Status\":\"" + (up ? "UP" : "DOWN") + "\"}"};
}

void proxy::start() {
    auto log = [](int level, const std::string& line) {
        switch (level) {
            case 0: spdlog::debug("{}", line); break;
            case 1: spdlog::info("{}", line); break;
            case 2: spdlog::warn("{}", line); break;
            default: spdlog::error("{}", line); break;
        }
    };
    uint8_t max_version = parse_version_name(_cfg.control_conn_max_protocol_version);
    for (int i = 0; i < 2; ++i) {
        control_settings s;
        s.name = i == 0 ? "origin" : "target";
        s.cluster = i == 0 ? _cfg.origin : _cfg.target;
        if (_bundle[i]) {
            // R1.25: the metadata service names the SNI proxy, the local datacenter (taken once,
            // as ZDM) and the contact points' host ids.
            auto m = fetch_astra_metadata(*_bundle[i], 30000);
            if (auto* err = std::get_if<std::string>(&m)) throw std::runtime_error(s.name + " cluster: " + *err);
            auto& md = std::get<astra_metadata>(m);
            addrinfo hints{};
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* res = nullptr;
            if (int rc = getaddrinfo(md.sni_host.c_str(), nullptr, &hints, &res); rc != 0 || !res) {
                throw std::runtime_error(s.name + " cluster: cannot resolve the SNI proxy " + md.sni_host + ": " + gai_strerror(rc));
            }
            char ip[INET6_ADDRSTRLEN] = "";
            getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST);
            freeaddrinfo(res);
            s.sni = control_settings::sni_proxy{ip, md.sni_port, md.host_ids};
            s.cluster.local_datacenter = md.local_dc;
            spdlog::info("{} cluster (Astra bundle {}): SNI proxy {}:{} ({}), local datacenter {}, {} contact points", s.name,
                         _bundle[i]->path, md.sni_host, md.sni_port, ip, md.local_dc, md.host_ids.size());
            _bundle[i].reset();  // the TLS context holds the key now; no copy stays in memory
        }
        s.max_version = max_version ? max_version : cql::protocol_version::dse_v2;
        s.heartbeat_interval_ms = _cfg.heartbeat_interval_ms;
        s.retry_min_ms = _cfg.heartbeat_retry_interval_min_ms;
        s.retry_max_ms = _cfg.heartbeat_retry_interval_max_ms;
        s.retry_factor = _cfg.heartbeat_retry_backoff_factor;
        s.tls = _cluster_tls[i];
        _cc[i] = std::make_unique<control_connection>(s, log);
        _cc[i]->start();
    }
    // R1.4: wait for both clusters (forever, as ZDM), logging while waiting.
    for (int i = 0; i < 2; ++i) {
        while (!_cc[i]->wait_ready(5000)) {
            if (_stopping.load()) throw std::runtime_error("stopped before the clusters answered");
            spdlog::warn("waiting for the {} cluster: {}", i == 0 ? "origin" : "target", _cc[i]->last_error());
        }
    }
    // Workers: the first binds (port 0 picks one), the others share its port (SO_REUSEPORT).
    for (size_t i = 0; i < std::max<size_t>(_opts.workers, 1); ++i) {
        auto w = std::make_unique<net::worker>();
        auto* wp = w.get();
        _workers.push_back(std::move(w));
        _ctx.push_back(std::make_unique<worker_ctx>(*this, *wp));
        auto* ctx = _ctx.back().get();
        auto bound = std::make_shared<std::promise<std::string>>();
        auto fut = bound->get_future();
        _threads.emplace_back([this, wp, ctx, bound] {
            try {
                wp->run([&, ctx](net::worker& self) {
                    // v5 frames queued during the turn leave once, at its end.
                    self.set_turn_hook([ctx]() -> uint64_t {
                        ctx->flush_writers();
                        return UINT64_MAX;
                    });
                    uint16_t port = self.listen(_cfg.proxy_listen_address, _port ? _port : static_cast<uint16_t>(_cfg.proxy_listen_port),
                                                [this, ctx](net::connection& c) -> std::unique_ptr<net::connection_handler> {
                                                    // R1.21: over the limit, close without a reply.
                                                    if (_clients.fetch_add(1) >= _cfg.proxy_max_client_connections) {
                                                        _clients.fetch_sub(1);
                                                        spdlog::warn("refusing a client connection: proxy_max_client_connections ({}) reached",
                                                                     _cfg.proxy_max_client_connections);
                                                        return nullptr;
                                                    }
                                                    return new_session(*ctx, c);
                                                });
                    if (_port == 0) _port = port;
                    bound->set_value({});
                });
            } catch (const std::exception& e) {
                try {
                    bound->set_value(e.what());
                } catch (...) {
                }
            }
        });
        std::string err = fut.get();
        if (!err.empty()) throw std::runtime_error(err);
    }
    _started.store(true);
    spdlog::info("tandem listening on {}:{} with {} worker(s); primary cluster {}, read mode {}", _cfg.proxy_listen_address, _port,
                 _workers.size(), primary() == cluster_role::origin ? "ORIGIN" : "TARGET",
                 mode() == read_mode::primary_only ? "PRIMARY_ONLY" : "DUAL_ASYNC_ON_SECONDARY");
}

std::unique_ptr<net::connection_handler> proxy::new_session(worker_ctx& ctx, net::connection& c) {
    auto s = std::make_unique<client_session>(ctx, c);
    auto* raw = s.get();
    ctx.w.post([raw, alive = std::weak_ptr<bool>(raw->alive)] {
        if (!alive.expired()) raw->start();
    });
    return s;
}

void proxy::start_memory(net::worker& w, std::shared_ptr<const cluster_view> origin, std::shared_ptr<const cluster_view> target) {
    _fixed_view[0] = std::move(origin);
    _fixed_view[1] = std::move(target);
    _ctx.push_back(std::make_unique<worker_ctx>(*this, w));
    auto* ctx = _ctx.back().get();
    w.set_turn_hook([ctx]() -> uint64_t {
        ctx->flush_writers();
        return UINT64_MAX;
    });
    _started.store(true);
}

net::connection& proxy::open_memory_client() {
    auto& ctx = *_ctx.back();
    auto& c = ctx.w.open_memory(nullptr);
    _clients.fetch_add(1);
    c.set_handler(new_session(ctx, c));
    return c;
}

void proxy::request_stop() {
    if (_stopping.exchange(true)) return;
    if (_threads.empty()) {
        // Still waiting for the clusters: stop the control connections so start() returns.
        for (auto& cc : _cc) {
            if (cc) cc->stop();
        }
    }
}

void proxy::shutdown(uint32_t deadline_ms) {
    _stopping.store(true);
    if (_threads.empty()) {
        for (auto& cc : _cc) {
            if (cc) cc->stop();
        }
        return;
    }
    _started.store(false);
    // R11.1: stop accepting, answer new requests OVERLOADED, let in-flight ones finish.
    for (size_t i = 0; i < _workers.size(); ++i) {
        auto* ctx = _ctx[i].get();
        _workers[i]->post([ctx] { ctx->begin_drain(); });
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
    while (std::chrono::steady_clock::now() < until) {
        int64_t inflight = 0;
        for (auto& c : _ctx) inflight += c->counters.inflight.load();
        if (inflight == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& w : _workers) w->stop(500);
    for (auto& t : _threads) t.join();
    _threads.clear();
    for (auto& cc : _cc) {
        if (cc) cc->stop();
    }
}

std::string proxy::apply_live(const config& c) {
    std::string changed;
    if (c.primary_cluster != primary()) {
        _primary.store(static_cast<uint8_t>(c.primary_cluster));
        changed += std::string("primary_cluster=") + (c.primary_cluster == cluster_role::origin ? "ORIGIN" : "TARGET") + " ";
    }
    if (c.read != mode()) {
        _read_mode.store(static_cast<uint8_t>(c.read));
        changed += std::string("read_mode=") + (c.read == read_mode::primary_only ? "PRIMARY_ONLY" : "DUAL_ASYNC_ON_SECONDARY") + " ";
    }
    if (c.log_level != _cfg.log_level) {
        changed += "log_level=" + c.log_level + " ";
    }
    return changed;
}

}  // namespace tandem::core
