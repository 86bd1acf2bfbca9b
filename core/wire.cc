#include "core/wire.hh"

namespace tandem::core {

void envelope_writer::send(net::connection& c, const cql::envelope_header& h, std::string_view body) {
    cql::envelope_header out = h;
    out.length = static_cast<uint32_t>(body.size());
    std::string env;
    env.reserve(out.size() + body.size());
    cql::append_header(out, env);
    env.append(body);
    if (!_framed) {
        emit(c, std::move(env));
        return;
    }
    std::string wire;
    cql::frame_encoder enc(_lz4_frames);
    enc.add_envelope(env, wire);
    enc.flush(wire);
    emit(c, std::move(wire));
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
