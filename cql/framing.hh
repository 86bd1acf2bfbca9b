#pragma once
// Protocol v5 framing (v5.spec §2): after the handshake, envelopes travel inside frames.
//
//   uncompressed frame: 3-byte header  (17 bits payload length, 1 bit self-contained)
//   compressed frame:   5-byte header  (17 bits compressed length, 17 bits uncompressed length,
//                                       1 bit self-contained); uncompressed length 0 means the
//                                       payload was sent uncompressed (it did not shrink)
//   then a CRC24 of the header (3 bytes), the payload, and a CRC32 of the payload (4 bytes),
//   all little-endian.
//
// A self-contained frame holds one or more whole envelopes; an envelope larger than the maximum
// payload (128 KiB - 1) is split over several frames that are not self-contained.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cql/envelope.hh"

namespace tandem::cql {

inline constexpr size_t max_frame_payload = 128 * 1024 - 1;

struct frame_header {
    uint32_t payload_length = 0;       // bytes on the wire
    uint32_t uncompressed_length = 0;  // compressed frames only; 0 = not compressed
    bool self_contained = true;
};

// Cassandra's CRC24 (polynomial 0x1974F0B, initial 0x875060) over `len` little-endian bytes.
uint32_t crc24(uint64_t value, int len);
// CRC32 (zlib's) seeded with the bytes FA 2D 55 CA, as Cassandra's frame payload checksum.
uint32_t frame_crc32(std::string_view payload);

struct frame_parse {
    parse_status status = parse_status::need_more;
    std::string_view problem;
    frame_header header;
    std::string_view payload;  // as on the wire (still compressed when compressed)
    size_t consumed = 0;
};
// Parses and checks one frame at the start of `in`.
frame_parse parse_frame(std::string_view in, bool compressed);

// Appends one frame holding `payload` (at most max_frame_payload bytes).
void encode_frame(std::string_view payload, bool self_contained, bool compressed, std::string& out);

// An uncompressed frame built in place, without copying its payload: begin_frame() appends room
// for the header and returns where it starts; append the payload (at most max_frame_payload
// bytes); finish_frame() fills the header and appends the payload's CRC32.
inline constexpr size_t uncompressed_frame_header_bytes = 6;  // 3-byte header + CRC24
size_t begin_frame(std::string& out);
void finish_frame(std::string& out, size_t at, bool self_contained);

// Packs envelopes into frames: whole envelopes share self-contained frames up to the maximum
// payload; a larger envelope is split over non-self-contained frames.
class frame_encoder {
    bool _compressed;
    std::string _pending;

public:
    explicit frame_encoder(bool compressed) : _compressed(compressed) {}
    void add_envelope(std::string_view envelope, std::string& out);
    void flush(std::string& out);  // emits what is pending as one self-contained frame
};

// Turns a stream of frames back into envelopes.
class frame_decoder {
    bool _compressed;
    header_limits _limits;
    std::string _scratch;  // decompressed payload of the current frame
    std::string _large;    // parts of an envelope spread over several frames
    std::vector<envelope_view> _envelopes;

public:
    explicit frame_decoder(bool compressed, header_limits limits = {})
        : _compressed(compressed), _limits(limits) {}

    struct step {
        parse_status status = parse_status::need_more;
        std::string_view problem;
        size_t consumed = 0;
    };
    // Decodes the first frame of `in`. When ok, envelopes() lists the envelopes this frame
    // completed (possibly none); they stay valid until the next call and while `in` lives.
    step decode(std::string_view in);
    const std::vector<envelope_view>& envelopes() const { return _envelopes; }
    bool mid_envelope() const { return !_large.empty(); }
};

}  // namespace tandem::cql
