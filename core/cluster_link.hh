#pragma once
// One connection from the proxy to one node of one cluster, on behalf of one client session
// (DESIGN.md data path, steps 5-6): its stream ids and who waits for each (stream_ids.hh), its
// envelope reader and writer (v5 framing, TLS), its OPTIONS heartbeats, and the node's metrics.
// Replies go to the session by owner: a pending slot, the async (dual-read) path, or nowhere
// (heartbeats, abandoned requests). Worker thread only; owned by its net::connection.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/metrics.hh"
#include "core/stream_ids.hh"
#include "core/wire.hh"
#include "net/timer_wheel.hh"
#include "net/tls.hh"
#include "net/worker.hh"

namespace tandem::core {

class client_session;

class cluster_link : public net::connection_handler {
public:
    // The async connection's own handshake (R2.14); the request connections' is the client's.
    enum class async_state : uint8_t { none, startup, auth, ready };

    cluster_link(client_session* s, int side, std::string endpoint, size_t max_ids);

    client_session* session;  // null once the session is gone (the connection is closing)
    const int side;
    const std::string endpoint;
    net::connection* conn = nullptr;
    node_metrics* metrics = nullptr;  // this node's series (owned by the worker)
    async_state astate = async_state::none;
    net::timer heartbeat;

    bool usable() const { return conn && !conn->closing(); }
    bool has_free_id() const { return _ids.has_free(); }
    // A stream id for a request owned by `o` (a pending slot, or a reserved owner), or -1.
    int take_id(stream_ids::owner o);
    void abandon(int16_t id) { _ids.abandon(id); }

    // TLS to the node (cluster TLS, or an Astra SNI proxy with `server_name`); call before the
    // connection is up, then start_tls() once it is.
    void use_tls(const net::tls_context& ctx, const std::string& server_name);
    void start_tls();
    // The writer's frames leave at the end of the worker's loop turn.
    void set_flush_list(std::vector<envelope_writer*>* list) { _writer.set_flush_list(list); }

    void send(const cql::envelope_header& h, std::string_view body);
    void send(const cql::envelope_header& h, net::rx_buffer body);
    // A new request on this link: an id owned by `o`, the header's stream set to it; false
    // (nothing sent) when no id is free or the link is not usable.
    bool request(stream_ids::owner o, cql::envelope_header h, std::string_view body);

    // OPTIONS every `interval_ms` when nothing else was sent (R4.10), checked on a timer so a
    // fully idle client keeps its connections too (W11).
    void start_heartbeats(uint64_t interval_ms);

    void on_data(net::connection& c, net::rx_buffer data) override;
    void on_close(net::connection& c, int error) override;
    void on_drained(net::connection& c) override;

private:
    bool on_envelope(inbound_envelope&& env);
    stream_ids _ids;
    envelope_reader _reader;
    envelope_writer _writer;
    std::unique_ptr<net::tls_stream> _tls;  // cluster TLS, or none
    uint64_t _last_send_ms = 0;
};

}  // namespace tandem::core
