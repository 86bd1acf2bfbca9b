#include "core/cluster_link.hh"

#include <spdlog/spdlog.h>

#include "core/client_session.hh"
#include "core/sides.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::opcode;

cluster_link::cluster_link(client_session* s, int sd, std::string ep, size_t max_ids)
    : session(s), side(sd), endpoint(std::move(ep)), _ids(max_ids), _reader(response_limits()) {}

int cluster_link::take_id(stream_ids::owner o) {
    int id = _ids.take(o);
    if (id >= 0 && metrics) bump(metrics->used_stream_ids);
    return id;
}

void cluster_link::use_tls(const net::tls_context& ctx, const std::string& server_name) {
    _tls = std::make_unique<net::tls_stream>(ctx, server_name);
    _writer.set_tls(_tls.get());
}

void cluster_link::start_tls() {
    if (!_tls) return;
    std::string hello = _tls->start();
    if (!hello.empty()) conn->send(std::move(hello));
}

void cluster_link::send(const envelope_header& h, std::string_view body) {
    _writer.send(*conn, h, body);
    _last_send_ms = conn->owner().now_ms();
}

void cluster_link::send(const envelope_header& h, net::rx_buffer body) {
    _writer.send(*conn, h, std::move(body));
    _last_send_ms = conn->owner().now_ms();
}

bool cluster_link::request(stream_ids::owner o, envelope_header h, std::string_view body) {
    if (!usable()) return false;
    int id = take_id(o);
    if (id < 0) return false;
    h.stream = static_cast<int16_t>(id);
    send(h, body);
    return true;
}

void cluster_link::start_heartbeats(uint64_t interval_ms) {
    _last_send_ms = conn->owner().now_ms();
    heartbeat.set_callback([this, interval_ms] {
        if (!usable() || !session) return;
        auto& w = conn->owner();
        if (session->link_ready(*this) && w.now_ms() - _last_send_ms >= interval_ms) {
            envelope_header h;
            h.version = session->protocol_version();
            h.op = opcode::options;
            request({side == async_side ? stream_ids::async_heartbeat : stream_ids::heartbeat, 0}, h, {});
        }
        w.timers().arm(heartbeat, interval_ms);
    });
    conn->owner().timers().arm(heartbeat, interval_ms);
}

// One reply or event from the node; false stops reading (the session is gone).
bool cluster_link::on_envelope(inbound_envelope&& env) {
    if (!session) return false;
    const auto op = env.header.op;
    // v5: this connection switches to framing once it reads READY or AUTHENTICATE (R2.18).
    if ((op == opcode::ready || op == opcode::authenticate) && cql::effective_version(env.header.version) == cql::protocol_version::v5 &&
        !_reader.framed()) {
        bool lz4 = session->compression() == cql::compression::lz4;
        _reader.start_framing(lz4);
        _writer.start_framing(lz4);
    }
    const int16_t id = env.header.stream;
    if (id < 0) {
        if (op == opcode::event) session->on_event(side, std::move(env));
        return true;
    }
    auto o = _ids.finish(id);
    if (!o) {
        spdlog::warn("{} {}: reply for stream id {} that has no request", side_name(side), endpoint, id);
        return true;
    }
    if (metrics) drop(metrics->used_stream_ids);
    switch (o->slot) {
        case stream_ids::heartbeat:
        case stream_ids::async_heartbeat: return true;
        case stream_ids::abandoned:
            spdlog::debug("{} {}: late reply on stream {} dropped (the request had timed out)", side_name(side), endpoint, id);
            return true;
        case stream_ids::async: session->on_async_reply(side, o->gen, std::move(env)); return true;
        default: session->on_reply(side, o->slot, o->gen, std::move(env)); return session != nullptr;
    }
}

void cluster_link::on_data(net::connection& c, net::rx_buffer data) {
    std::string tls_error;
    auto out = _reader.feed_from(c, _tls.get(), std::move(data), [this](inbound_envelope&& env) { return on_envelope(std::move(env)); },
                                 tls_error);
    if (!tls_error.empty()) {
        spdlog::error("{} {}: {}", side_name(side), endpoint, tls_error);
        c.abort(-EPROTO);
        return;
    }
    if (!out.ok) {
        spdlog::error("{} {}: undecodable reply ({}); closing", side_name(side), endpoint,
                      out.reason.empty() ? cql::to_string(out.problem) : out.reason);
        c.abort(-EPROTO);
        return;
    }
    // Back-pressure: the client does not read its replies as fast as they come; the rest wait in
    // the kernel and at the node until it does (client_session::on_drained reads again).
    if (session && session->holding_replies(this) && !c.closing() && !c.reading_paused()) {
        c.pause_reading();
        session->count_paused();
    }
}

void cluster_link::on_close(net::connection&, int error) {
    heartbeat.cancel();
    if (metrics) {
        drop(metrics->connections);
        // Ids still taken die with the connection.
        drop(metrics->used_stream_ids, static_cast<int64_t>(_ids.in_use()));
    }
    if (auto* s = session) {
        s->on_link_closed(side, error);
        s->relieve();  // a congested link that closed no longer holds the client back
    }
}

void cluster_link::on_drained(net::connection&) {
    if (session) session->relieve();
}

}  // namespace tandem::core
