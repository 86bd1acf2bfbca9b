#include "cql/framing.hh"

#include <zlib.h>

#include "cql/compression.hh"

namespace tandem::cql {

namespace {

constexpr uint32_t crc24_init = 0x875060;
constexpr uint32_t crc24_poly = 0x1974F0B;
constexpr int header_bytes_uncompressed = 3;
constexpr int header_bytes_compressed = 5;
constexpr size_t crc24_bytes = 3;
constexpr size_t crc32_bytes = 4;

uint64_t load_le(const char* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) {
        v = (v << 8) | static_cast<uint8_t>(p[i]);
    }
    return v;
}

void append_le(std::string& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
        out.push_back(static_cast<char>(v & 0xFF));
        v >>= 8;
    }
}

uint32_t crc32_seed() {
    static const uint32_t seed = [] {
        static constexpr unsigned char init[4] = {0xFA, 0x2D, 0x55, 0xCA};
        return static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), init, 4));
    }();
    return seed;
}

}  // namespace

uint32_t crc24(uint64_t value, int len) {
    uint32_t crc = crc24_init;
    while (len-- > 0) {
        crc ^= static_cast<uint32_t>(value & 0xFF) << 16;
        value >>= 8;
        for (int i = 0; i < 8; ++i) {
            crc <<= 1;
            if (crc & 0x1000000) {
                crc ^= crc24_poly;
            }
        }
    }
    return crc & 0xFFFFFF;
}

uint32_t frame_crc32(std::string_view payload) {
    return static_cast<uint32_t>(crc32(crc32_seed(), reinterpret_cast<const Bytef*>(payload.data()),
                                       static_cast<uInt>(payload.size())));
}

frame_parse parse_frame(std::string_view in, bool compressed) {
    frame_parse r;
    int hbytes = compressed ? header_bytes_compressed : header_bytes_uncompressed;
    if (in.size() < static_cast<size_t>(hbytes) + crc24_bytes) {
        return r;
    }
    uint64_t h = load_le(in.data(), hbytes);
    auto expected = static_cast<uint32_t>(load_le(in.data() + hbytes, 3));
    if (crc24(h, hbytes) != expected) {
        r.status = parse_status::malformed;
        r.problem = "frame header CRC24 mismatch";
        return r;
    }
    r.header.payload_length = static_cast<uint32_t>(h & max_frame_payload);
    h >>= 17;
    if (compressed) {
        r.header.uncompressed_length = static_cast<uint32_t>(h & max_frame_payload);
        h >>= 17;
    }
    r.header.self_contained = (h & 1) != 0;
    size_t total = static_cast<size_t>(hbytes) + crc24_bytes + r.header.payload_length + crc32_bytes;
    if (in.size() < total) {
        return r;
    }
    r.payload = in.substr(static_cast<size_t>(hbytes) + crc24_bytes, r.header.payload_length);
    auto want = static_cast<uint32_t>(load_le(r.payload.data() + r.payload.size(), 4));
    if (frame_crc32(r.payload) != want) {
        r.status = parse_status::malformed;
        r.problem = "frame payload CRC32 mismatch";
        return r;
    }
    r.status = parse_status::ok;
    r.consumed = total;
    return r;
}

void encode_frame(std::string_view payload, bool self_contained, bool compressed, std::string& out) {
    std::string packed;
    std::string_view body = payload;
    uint64_t uncompressed_length = 0;
    if (compressed && !payload.empty()) {
        lz4_compress_block(payload, packed);
        if (packed.size() < payload.size()) {
            body = packed;
            uncompressed_length = payload.size();
        }
    }
    uint64_t h = body.size();
    int shift = 17;
    int hbytes = header_bytes_uncompressed;
    if (compressed) {
        h |= uncompressed_length << 17;
        shift += 17;
        hbytes = header_bytes_compressed;
    }
    if (self_contained) {
        h |= uint64_t{1} << shift;
    }
    append_le(out, h, hbytes);
    append_le(out, crc24(h, hbytes), 3);
    out.append(body);
    append_le(out, frame_crc32(body), 4);
}

size_t begin_frame(std::string& out) {
    size_t at = out.size();
    out.append(uncompressed_frame_header_bytes, '\0');
    return at;
}

void finish_frame(std::string& out, size_t at, bool self_contained) {
    const size_t payload_at = at + uncompressed_frame_header_bytes;
    std::string_view payload(out.data() + payload_at, out.size() - payload_at);
    uint64_t h = payload.size();
    if (self_contained) h |= uint64_t{1} << 17;
    uint32_t crc = frame_crc32(payload);
    for (int i = 0; i < header_bytes_uncompressed; ++i) out[at + static_cast<size_t>(i)] = static_cast<char>(h >> (8 * i));
    uint32_t c24 = crc24(h, header_bytes_uncompressed);
    for (int i = 0; i < 3; ++i) out[at + 3 + static_cast<size_t>(i)] = static_cast<char>(c24 >> (8 * i));
    append_le(out, crc, 4);
}

void frame_encoder::add_envelope(std::string_view envelope, std::string& out) {
    if (_pending.size() + envelope.size() <= max_frame_payload) {
        _pending.append(envelope);
        return;
    }
    flush(out);
    if (envelope.size() <= max_frame_payload) {
        _pending.append(envelope);
        return;
    }
    for (size_t at = 0; at < envelope.size(); at += max_frame_payload) {
        encode_frame(envelope.substr(at, max_frame_payload), false, _compressed, out);
    }
}

void frame_encoder::flush(std::string& out) {
    if (_pending.empty()) {
        return;
    }
    encode_frame(_pending, true, _compressed, out);
    _pending.clear();
}

frame_decoder::step frame_decoder::decode(std::string_view in) {
    step s;
    _envelopes.clear();
    auto f = parse_frame(in, _compressed);
    s.status = f.status;
    s.problem = f.problem;
    if (f.status != parse_status::ok) {
        return s;
    }
    s.consumed = f.consumed;
    std::string_view payload = f.payload;
    if (_compressed && f.header.uncompressed_length > 0) {
        _scratch.clear();
        auto d = lz4_decompress_block(payload, f.header.uncompressed_length, _scratch);
        if (!d) {
            s.status = parse_status::malformed;
            s.problem = d.error();
            return s;
        }
        payload = _scratch;
    }
    if (f.header.self_contained) {
        if (!_large.empty()) {
            s.status = parse_status::malformed;
            s.problem = "self-contained frame inside a split envelope";
            return s;
        }
        while (!payload.empty()) {
            auto sp = split_envelope(payload, _limits);
            if (sp.status != parse_status::ok) {
                s.status = parse_status::malformed;
                s.problem = sp.status == parse_status::need_more
                                ? "self-contained frame ends inside an envelope"
                                : to_string(sp.problem);
                _envelopes.clear();
                return s;
            }
            _envelopes.push_back(sp.envelope);
            payload.remove_prefix(sp.consumed);
        }
        if (_envelopes.empty()) {
            s.status = parse_status::malformed;
            s.problem = "empty self-contained frame";
        }
        return s;
    }
    if (payload.empty()) {
        s.status = parse_status::malformed;
        s.problem = "empty frame inside a split envelope";
        return s;
    }
    _large.append(payload);
    auto sp = split_envelope(_large, _limits);
    if (sp.status == parse_status::malformed) {
        s.status = parse_status::malformed;
        s.problem = to_string(sp.problem);
        _large.clear();
        return s;
    }
    if (sp.status == parse_status::ok) {
        if (sp.consumed != _large.size()) {
            s.status = parse_status::malformed;
            s.problem = "split envelope followed by extra bytes";
            _large.clear();
            return s;
        }
        // Hand out a view of the completed envelope; `_large` is cleared on the next call.
        _scratch.swap(_large);
        _large.clear();
        auto again = split_envelope(_scratch, _limits);
        _envelopes.push_back(again.envelope);
    }
    return s;
}

}  // namespace tandem::cql
