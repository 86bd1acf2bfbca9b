#pragma once
// One CQL client connection to one node, on a net::worker (its thread only): connect, TLS, the
// handshake (STARTUP with compression, PasswordAuthenticator and DSE's PLAIN step, protocol
// version negotiation from `max_version` down: a version the node refuses, with PROTOCOL_ERROR
// or by closing, is retried one lower on a new connection), optional REGISTER, then requests
// with many in flight (stream ids from core/stream_ids.hh). v5 frames after READY, LZ4/Snappy
// bodies before v5, as negotiated.
//
// Every request gets exactly one reply: the node's, or, when the connection closes first, a
// SERVER_ERROR made here that names the node. Replies arrive either at a callback given with
// the request (set-up, tools) or, without an allocation per request, at the connection's
// `reply_sink` with a tag the caller chose (load generators, the migrator's hot loop).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/stream_ids.hh"
#include "core/wire.hh"
#include "cql/compression.hh"
#include "cql/envelope.hh"
#include "net/tls.hh"
#include "net/worker.hh"

namespace tandem::core::client {

struct connect_options {
    std::string username, password;          // for PasswordAuthenticator (and DSE's)
    std::shared_ptr<net::tls_context> tls;   // or none
    std::string server_name;                 // TLS SNI (an Astra node's host id), or empty
    uint8_t max_version = 5;                 // negotiation starts here (v5 or DSE_V2 at most)
    uint8_t min_version = 3;                 // and gives up below this
    cql::compression compression = cql::compression::none;  // v5: lz4 frames only
    uint32_t connect_timeout_ms = 5000;
    uint16_t max_stream_ids = 32768;  // v3 and later (v2 has 128)
    std::vector<std::string> events;  // REGISTER for these after READY (TOPOLOGY_CHANGE, ...)
    std::vector<envelope_writer*>* flush_list = nullptr;  // v5: frames leave once per turn when set
    // How the operator names the username in errors ("origin_username"), or empty: "a username".
    std::string username_setting;
};

// A reply: the header as received and the plain (decompressed) body, valid during the call.
struct reply {
    cql::envelope_header header;
    std::string_view body;
    bool is_error() const { return header.op == cql::opcode::error; }
    // The error's "CODE: message", or "unexpected <OPCODE>" for a reply that is not `want`.
    std::string describe() const;
};
using reply_fn = std::function<void(const reply&)>;

class connection;

// Receives tagged replies (one per request sent with a tag).
class reply_sink {
public:
    virtual ~reply_sink() = default;
    virtual void on_reply(connection& c, uint64_t tag, const reply& r) = 0;
};

class connection : public net::connection_handler {
public:
    // `done` gets the ready connection, or null and why not (naming the node). `host` is an
    // address, or a name resolved with getaddrinfo (blocking: start-up and tools only).
    using opened_fn = std::function<void(connection*, const std::string& error)>;
    static void open(net::worker& w, const std::string& host, uint16_t port, connect_options opts, opened_fn done);

    connection(net::worker& w, std::string endpoint, const connect_options& opts, uint8_t version);
    ~connection() override;

    // false (nothing sent) when no stream id is free or the connection is closing.
    bool request(cql::opcode op, std::string_view body, reply_fn fn);
    bool request(cql::opcode op, std::string_view body, uint64_t tag);
    // The same with header flags (tracing, custom payload, beta) of a request relayed as it came:
    // `body` then carries what those flags announce. Compression is this connection's own.
    bool request(cql::opcode op, std::string_view body, uint64_t tag, uint8_t flags);

    void set_sink(reply_sink* s) { _sink = s; }
    void on_event(std::function<void(const reply&)> fn) { _event_fn = std::move(fn); }
    // After the connection closed (every request answered first); `error` is 0 or -errno.
    void on_closed(std::function<void(int error)> fn) { _closed_fn = std::move(fn); }
    // More than the worker's send queue limit waits to leave (the node reads slower than it is
    // fed), or three quarters of the stream ids wait for replies (a node that stalls while
    // requests keep coming: the rest would soon be refused for want of an id): a caller that
    // can should stop feeding it until `on_room` is called (the queue drained, or half the ids
    // free again).
    bool congested() const { return (_conn && _conn->over_limit()) || _ids_scarce; }
    void on_room(std::function<void()> fn) { _room_fn = std::move(fn); }

    bool has_room() const { return usable() && _ids.has_free(); }
    bool usable() const { return _conn && !_conn->closing() && !_closed; }
    // True while the connection answers its requests with its own SERVER_ERROR (it is lost).
    bool failing() const { return _failing; }
    size_t inflight() const { return _ids.in_use(); }
    uint8_t version() const { return _version; }
    const std::string& endpoint() const { return _endpoint; }
    // Whether the node asked for a login (AUTHENTICATE), and with which authenticator.
    bool authenticates() const { return _authenticates; }
    const std::string& authenticator() const { return _authenticator; }
    void close();

    void on_data(net::connection& c, net::rx_buffer data) override;
    void on_close(net::connection& c, int error) override;
    void on_drained(net::connection& c) override;

private:
    struct attempt;
    static void try_version(const std::shared_ptr<attempt>& a, uint8_t version);
    void handshake(const std::shared_ptr<attempt>& a);
    void login(const std::shared_ptr<attempt>& a, bool dse_plain_first);
    void registered(const std::shared_ptr<attempt>& a);
    int send(cql::opcode op, std::string_view body, uint32_t kind, uint64_t tag, uint8_t flags = 0);
    void dispatch(const cql::envelope_header& h, std::string_view plain);
    void fail_all(const std::string& why);

    static constexpr uint32_t by_callback = 0, by_tag = 1;
    net::worker& _w;
    net::connection* _conn = nullptr;
    std::string _endpoint;
    connect_options _opts;
    uint8_t _version;
    stream_ids _ids;
    std::vector<reply_fn> _fns;   // by stream id
    std::vector<uint64_t> _tags;  // by stream id
    reply_sink* _sink = nullptr;
    std::function<void(const reply&)> _event_fn;
    std::function<void(int)> _closed_fn;
    std::function<void()> _room_fn;
    envelope_reader _reader;
    envelope_writer _writer;
    body_codec _codec;
    std::unique_ptr<net::tls_stream> _tls;
    std::string _body, _scratch;
    std::string _authenticator;
    bool _authenticates = false;
    std::shared_ptr<attempt> _opening;  // set while the handshake runs
    bool _closed = false;
    bool _failing = false;
    bool _ids_scarce = false;  // see congested()
};

}  // namespace tandem::core::client
