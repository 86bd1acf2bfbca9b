#include "core/wire.hh"

#include <algorithm>

namespace tandem::core {

size_t envelope_reader::complete_pending(std::string_view in) {
    const uint8_t version = static_cast<uint8_t>(_pending[0]) & 0x7F;
    const size_t header = cql::envelope_header::header_size(version);
    size_t used = 0;
    if (_pending.size() < header) {
        used = std::min(header - _pending.size(), in.size());
        _pending.append(in.substr(0, used));
        if (_pending.size() < header) return used;
    }
    const auto h = cql::parse_header(_pending, _limits);
    if (h.status != cql::parse_status::ok) return used;  // split_envelope says what is wrong
    const size_t whole = header + h.header.length;
    if (_pending.size() < whole) {
        const size_t more = std::min(whole - _pending.size(), in.size() - used);
        _pending.append(in.substr(used, more));
        used += more;
    }
    return used;
}

envelope_writer::~envelope_writer() {
    if (_listed && _flush_list) {
        auto it = std::find(_flush_list->begin(), _flush_list->end(), this);
        if (it != _flush_list->end()) _flush_list->erase(it);
    }
}

void envelope_writer::send(net::connection& c, const cql::envelope_header& h, std::string_view body) {
    if (_framed) {
        queue_framed(c, h, body);
        return;
    }
    cql::envelope_header out = h;
    out.length = static_cast<uint32_t>(body.size());
    std::string env = c.owner().take_string();
    env.reserve(out.size() + body.size());
    cql::append_header(out, env);
    env.append(body);
    emit(c, std::move(env));
}

void envelope_writer::send(net::connection& c, const cql::envelope_header& h, net::rx_buffer body) {
    if (_framed || _tls) {
        send(c, h, body.view());
        return;
    }
    cql::envelope_header out = h;
    out.length = static_cast<uint32_t>(body.size());
    std::string header;
    cql::append_header(out, header);
    c.send(std::move(header));
    if (!body.empty()) c.send(std::move(body));
}

// v5.spec §2.3: envelopes go in self-contained frames of at most max_frame_payload bytes; a
// larger envelope is split over frames that are not self-contained.
void envelope_writer::queue_framed(net::connection& c, const cql::envelope_header& h, std::string_view body) {
    cql::envelope_header out = h;
    out.length = static_cast<uint32_t>(body.size());
    const size_t size = out.size() + body.size();
    _conn = &c;
    if (size > cql::max_frame_payload) {
        close_frame();
        std::string env;
        cql::append_header(out, env);
        env.append(body);
        cql::frame_encoder enc(_lz4_frames);
        enc.add_envelope(env, _out);
        enc.flush(_out);
    } else if (_lz4_frames) {
        if (_payload.size() + size > cql::max_frame_payload) close_frame();
        cql::append_header(out, _payload);
        _payload.append(body);
    } else {
        if (_open_at != SIZE_MAX && _out.size() - _open_at - cql::uncompressed_frame_header_bytes + size > cql::max_frame_payload) {
            close_frame();
        }
        if (_open_at == SIZE_MAX) _open_at = cql::begin_frame(_out);
        cql::append_header(out, _out);
        _out.append(body);
    }
    if (!_listed) {
        if (!_flush_list) {
            flush();  // no worker list (tests, tools): one frame per envelope
            return;
        }
        _flush_list->push_back(this);
        _listed = true;
    }
}

void envelope_writer::close_frame() {
    if (_lz4_frames) {
        if (!_payload.empty()) {
            cql::encode_frame(_payload, true, true, _out);
            _payload.clear();
        }
    } else if (_open_at != SIZE_MAX) {
        cql::finish_frame(_out, _open_at, true);
        _open_at = SIZE_MAX;
    }
}

void envelope_writer::flush() {
    _listed = false;
    close_frame();
    if (_out.empty() || !_conn) return;
    emit(*_conn, std::move(_out));
    _out = _conn->owner().take_string();  // a sent frame's buffer, when one is spare
}

cql::result<std::string_view> body_codec::plain(const cql::envelope_header& h, std::string_view body,
                                                std::string& scratch) const {
    if (!(h.flags & cql::envelope_flags::compression)) return body;
    // v5 bodies are never compressed (frames are); drivers that set the flag anyway are
    // tolerated, as ZDM Proxy does (CASSGO-98).
    if (cql::effective_version(h.version) >= cql::protocol_version::v5) return body;
    if (kind == cql::compression::none) return cql::decode_error{"compressed body but no compression was negotiated"};
    scratch.clear();
    auto r = cql::decompress_body(kind, body, scratch, cql::default_max_body_bytes);
    if (!r) return cql::decode_error{r.error()};
    return std::string_view(scratch);
}

void body_codec::pack(cql::envelope_header& h, std::string& body) const {
    h.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    if (kind == cql::compression::none || body.empty() ||
        cql::effective_version(h.version) >= cql::protocol_version::v5) {
        return;
    }
    std::string packed;
    cql::compress_body(kind, body, packed);
    body = std::move(packed);
    h.flags |= cql::envelope_flags::compression;
}

}  // namespace tandem::core
