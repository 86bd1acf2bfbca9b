#pragma once
// One side of a CQL byte stream as the proxy sees it: incoming bytes become whole envelopes,
// outgoing envelopes become bytes, with v5 framing once the handshake has switched it on
// (v5.spec §2.3.1: after READY or AUTHENTICATE) and the body compression negotiated in STARTUP.
//
// Zero copy where it is possible: an unframed envelope that lies inside one received buffer is
// handed out as a shared reference to that buffer (it can be forwarded to two clusters and
// returns to the ring after the last send); only an envelope that spans buffers is copied, into
// `_pending`, and only the bytes it lacks are taken from the next buffer: the envelopes after it
// are handed out in place again (a burst that fills every buffer does not put the connection on
// the copying path for good, nor leave a buffer-sized `_pending` behind). Framed envelopes come
// out of the frame decoder's scratch and are valid only during the callback. Worker thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cql/compression.hh"
#include "cql/envelope.hh"
#include "cql/framing.hh"
#include "net/tls.hh"
#include "net/worker.hh"

namespace tandem::core {

// Header limits for what a side reads: a proxy or server reads requests, a client responses.
inline cql::header_limits request_limits() {
    cql::header_limits l;
    l.expect = cql::header_limits::direction::requests;
    return l;
}
inline cql::header_limits response_limits() {
    cql::header_limits l;
    l.expect = cql::header_limits::direction::responses;
    return l;
}

struct inbound_envelope {
    cql::envelope_header header;
    std::string_view body;  // as received (still compressed when the flag says so)
    net::rx_buffer owner;   // holds `body` when it lies in one received buffer; else empty
};

class envelope_reader {
    std::string _pending;  // bytes of an envelope (or frame) that spans received buffers
    std::unique_ptr<cql::frame_decoder> _frames;
    cql::header_limits _limits;

public:
    explicit envelope_reader(cql::header_limits limits) : _limits(limits) {}
    void start_framing(bool lz4) {
        if (!_frames) _frames = std::make_unique<cql::frame_decoder>(lz4, _limits);
    }
    bool framed() const { return _frames != nullptr; }
    void set_max_body(uint32_t bytes) { _limits.max_body_bytes = bytes; }
    // What the reader holds for an envelope that spans buffers (tests).
    size_t pending_bytes() const { return _pending.size(); }
    size_t pending_capacity() const { return _pending.capacity(); }
    // A `_pending` larger than this is given back once it empties (a large envelope's copy).
    static constexpr size_t kept_capacity = 64 * 1024;

    struct outcome {
        bool ok = true;
        cql::envelope_problem problem = cql::envelope_problem::none;
        std::string_view reason;  // framing errors
        cql::envelope_header header;  // the offending header, as far as it was read
        uint8_t raw_version = 0;
    };

    // Calls on_envelope(inbound_envelope&&) for each whole envelope; stops at the first
    // malformed one (the connection is then beyond repair: its framing is lost). The callback
    // returns false to stop early (the connection is closing).
    template <typename Fn>
    outcome feed(net::rx_buffer data, Fn&& on_envelope);
    // Bytes that are not in a receive buffer (decrypted TLS): always the copying path.
    template <typename Fn>
    outcome feed_bytes(std::string_view data, Fn&& on_envelope) {
        _pending.append(data);
        return drain(std::forward<Fn>(on_envelope));
    }
    // What a connection received, through its TLS session when it has one (handshake and alert
    // bytes TLS produces go back on `c`). `tls_error` is set when the TLS session failed; the
    // caller then ends the connection.
    template <typename Fn>
    outcome feed_from(net::connection& c, net::tls_stream* tls, net::rx_buffer data, Fn&& on_envelope, std::string& tls_error) {
        if (!tls) return feed(std::move(data), std::forward<Fn>(on_envelope));
        std::string plain, wire;
        tls_error = tls->receive(data.view(), plain, wire);
        data.release();
        if (!wire.empty()) c.send(std::move(wire));
        if (!tls_error.empty() || plain.empty()) return {};
        return feed_bytes(plain, std::forward<Fn>(on_envelope));
    }

private:
    template <typename Fn>
    outcome drain(Fn&& on_envelope);
    // Unframed, `_pending` holds the start of an envelope: appends the bytes of `in` it still
    // lacks (its header first, then its body), no more. Returns the bytes of `in` taken.
    size_t complete_pending(std::string_view in);
    void clear_pending() {
        _pending.clear();
        if (_pending.capacity() > kept_capacity) std::string().swap(_pending);
    }
    static outcome malformed(const cql::split_result& sp) {
        outcome out;
        out.ok = false;
        out.problem = sp.problem;
        out.header = sp.envelope.header;
        out.raw_version = sp.raw_version;
        return out;
    }
};

// Writes envelopes to one connection, framed and compressed as negotiated.
//
// v5: envelopes queued for a connection are packed into frames (self-contained, up to 128 KiB
// each) that leave once per loop turn, when the worker calls flush() on every writer on its
// flush list: one frame and one buffer per connection per turn, not per envelope, and plain
// frames are built in place (the payload is copied once, into the frame). A writer removes
// itself from the list when it is destroyed. Unframed envelopes are sent at once.
class envelope_writer {
    bool _framed = false;
    bool _lz4_frames = false;
    net::tls_stream* _tls = nullptr;
    net::connection* _conn = nullptr;             // where pending frames go
    std::vector<envelope_writer*>* _flush_list = nullptr;
    bool _listed = false;
    std::string _out;       // finished frames (and, uncompressed, the open one) waiting for flush()
    size_t _open_at = SIZE_MAX;  // where the open uncompressed frame starts in _out
    std::string _payload;   // lz4: the open frame's payload, compressed at the frame's end

    void emit(net::connection& c, std::string bytes) {
        if (_tls) bytes = _tls->send(bytes);
        if (!bytes.empty()) c.send(std::move(bytes));
    }
    void queue_framed(net::connection& c, const cql::envelope_header& h, std::string_view body);
    void close_frame();

public:
    envelope_writer() = default;
    envelope_writer(const envelope_writer&) = delete;
    envelope_writer& operator=(const envelope_writer&) = delete;
    ~envelope_writer();

    // Every byte written from now on is encrypted by `tls` (owned by the connection's handler).
    void set_tls(net::tls_stream* tls) { _tls = tls; }
    // The worker's list of writers with frames to flush at the end of the loop turn.
    void set_flush_list(std::vector<envelope_writer*>* list) { _flush_list = list; }
    void start_framing(bool lz4) {
        _framed = true;
        _lz4_frames = lz4;
    }
    bool framed() const { return _framed; }

    // Header (stream id, flags as given) and body as they are: the body is not re-compressed.
    void send(net::connection& c, const cql::envelope_header& h, std::string_view body);
    // Zero-copy forward of a body that lives in a received buffer (unframed streams only;
    // framed ones copy into a frame).
    void send(net::connection& c, const cql::envelope_header& h, net::rx_buffer body);
    // Sends the pending frames (called by the worker once per turn, and before a close).
    void flush();
};

// Body compression of one stream (v3/v4: the COMPRESSION option of STARTUP; v5 compresses
// frames instead, never bodies).
struct body_codec {
    cql::compression kind = cql::compression::none;

    // The plain body of an envelope; `scratch` holds it when it had to be decompressed.
    [[nodiscard]] cql::result<std::string_view> plain(const cql::envelope_header& h, std::string_view body,
                                                      std::string& scratch) const;
    // Compresses `body` for sending when this stream compresses bodies; sets the flag.
    void pack(cql::envelope_header& h, std::string& body) const;
};

template <typename Fn>
envelope_reader::outcome envelope_reader::feed(net::rx_buffer data, Fn&& on_envelope) {
    outcome out;
    if (_frames) {
        _pending.append(data.view());
        data.release();
        return drain(std::forward<Fn>(on_envelope));
    }
    const std::string_view in = data.view();
    size_t at = 0;
    if (!_pending.empty()) {
        // The envelope that began in an earlier buffer: completed with the bytes it lacks only.
        at = complete_pending(in);
        auto sp = cql::split_envelope(_pending, _limits);
        if (sp.status == cql::parse_status::malformed) return malformed(sp);
        if (sp.status == cql::parse_status::need_more) return out;  // all of `in` went into it
        // The view is valid during the callback only (the copy is cleared after it).
        const bool go_on = on_envelope(inbound_envelope{sp.envelope.header, sp.envelope.body, {}});
        clear_pending();
        if (!go_on) return out;
    }
    // Envelopes that lie inside this buffer are handed out in place (until framing starts).
    while (at < in.size() && !_frames) {
        auto sp = cql::split_envelope(in.substr(at), _limits);
        if (sp.status == cql::parse_status::need_more) break;
        if (sp.status == cql::parse_status::malformed) return malformed(sp);
        size_t body_at = at + sp.envelope.header.size();
        inbound_envelope env{sp.envelope.header, sp.envelope.body, data.share(body_at, sp.envelope.body.size())};
        at += sp.consumed;
        if (!on_envelope(std::move(env))) return out;
    }
    if (at == in.size()) return out;
    _pending.assign(in.substr(at));
    data.release();
    if (!_frames) return out;
    // Framing started after an envelope of this buffer (READY, AUTH_SUCCESS): the rest are frames.
    return drain(std::forward<Fn>(on_envelope));
}

template <typename Fn>
envelope_reader::outcome envelope_reader::drain(Fn&& on_envelope) {
    outcome out;
    size_t used = 0;
    while (used < _pending.size()) {
        std::string_view rest = std::string_view(_pending).substr(used);
        if (_frames) {
            auto step = _frames->decode(rest);
            if (step.status == cql::parse_status::need_more) break;
            if (step.status == cql::parse_status::malformed) {
                out.ok = false;
                out.reason = step.problem;
                return out;
            }
            used += step.consumed;
            for (const auto& e : _frames->envelopes()) {
                if (!on_envelope(inbound_envelope{e.header, e.body, {}})) return out;
            }
            continue;
        }
        auto sp = cql::split_envelope(rest, _limits);
        if (sp.status == cql::parse_status::need_more) break;
        if (sp.status == cql::parse_status::malformed) return malformed(sp);
        used += sp.consumed;
        // The view is valid during the callback only (the erase below moves the bytes).
        if (!on_envelope(inbound_envelope{sp.envelope.header, sp.envelope.body, {}})) return out;
    }
    _pending.erase(0, used);
    if (_pending.empty()) clear_pending();
    return out;
}

}  // namespace tandem::core
