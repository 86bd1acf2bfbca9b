#pragma once
// The envelope header (v5.spec §2; "frame header" in v3/v4.spec §2): version with the direction
// bit, flags, stream id, opcode and body length. 9 bytes from v3, 8 bytes (one-byte stream id)
// for v1/v2. DSE_V1 (0x41) and DSE_V2 (0x42) use the v4 layout.

#include <cstdint>
#include <string>
#include <string_view>

#include "cql/primitives.hh"

namespace tandem::cql {

enum class opcode : uint8_t {
    error = 0x00,
    startup = 0x01,
    ready = 0x02,
    authenticate = 0x03,
    options = 0x05,
    supported = 0x06,
    query = 0x07,
    result = 0x08,
    prepare = 0x09,
    execute = 0x0A,
    register_ = 0x0B,
    event = 0x0C,
    batch = 0x0D,
    auth_challenge = 0x0E,
    auth_response = 0x0F,
    auth_success = 0x10,
};
std::string_view to_string(opcode op);
bool is_known(opcode op);
bool is_request(opcode op);   // sent by clients
bool is_response(opcode op);  // sent by servers

// Protocol version bytes, without the direction bit.
namespace protocol_version {
inline constexpr uint8_t v1 = 1;
inline constexpr uint8_t v2 = 2;
inline constexpr uint8_t v3 = 3;
inline constexpr uint8_t v4 = 4;
inline constexpr uint8_t v5 = 5;
inline constexpr uint8_t v6 = 6;  // beta in Cassandra; recognised, never negotiated
inline constexpr uint8_t dse_v1 = 0x41;
inline constexpr uint8_t dse_v2 = 0x42;
}  // namespace protocol_version
bool is_known_version(uint8_t version);
// The Apache protocol level whose encoding a version uses (DSE_V1 → 4, DSE_V2 → 4 with DSE
// extensions we forward opaquely).
uint8_t effective_version(uint8_t version);

namespace envelope_flags {
inline constexpr uint8_t compression = 0x01;
inline constexpr uint8_t tracing = 0x02;
inline constexpr uint8_t custom_payload = 0x04;
inline constexpr uint8_t warning = 0x08;
inline constexpr uint8_t use_beta = 0x10;
}  // namespace envelope_flags

inline constexpr uint8_t direction_response = 0x80;
inline constexpr uint32_t default_max_body_bytes = 256u * 1024 * 1024;  // v4.spec §2.5

struct envelope_header {
    uint8_t version = protocol_version::v4;  // without the direction bit
    bool response = false;
    uint8_t flags = 0;
    int16_t stream = 0;
    opcode op = opcode::options;
    uint32_t length = 0;  // body bytes

    size_t size() const { return header_size(version); }
    static size_t header_size(uint8_t version) { return version <= protocol_version::v2 ? 8 : 9; }
    bool operator==(const envelope_header&) const = default;
};

// What went wrong with a header; the proxy answers some of these on the wire (an unsupported
// version gets the PROTOCOL_ERROR drivers parse to downgrade), so the kind is typed.
enum class envelope_problem : uint8_t {
    none,
    unknown_version,
    wrong_direction,
    unknown_opcode,
    opcode_wrong_direction,
    body_too_large,
};
std::string_view to_string(envelope_problem p);

enum class parse_status : uint8_t { ok, need_more, malformed };

struct header_limits {
    uint32_t max_body_bytes = default_max_body_bytes;
    // Which direction the bytes must travel; a request stream carries no response bit.
    enum class direction : uint8_t { any, requests, responses } expect = direction::any;
};

struct header_parse {
    parse_status status = parse_status::need_more;
    envelope_problem problem = envelope_problem::none;
    envelope_header header;  // filled as far as it could be read, also when malformed
    uint8_t raw_version = 0;  // the version byte as received, for error replies
};

// Parses the header at the start of `in` (v3.spec §2). Never throws; `need_more` when fewer
// bytes than a header are present. A v1/v2 header is recognised from its version byte.
header_parse parse_header(std::string_view in, const header_limits& limits = {});

// Writes a header; 8 or 9 bytes depending on the version. Returns the bytes written.
size_t write_header(const envelope_header& h, char* out);
void append_header(const envelope_header& h, std::string& out);

// One envelope: header and a view of its body.
struct envelope_view {
    envelope_header header;
    std::string_view body;
};

// The frame splitter: finds the first whole envelope at the start of `in`.
struct split_result {
    parse_status status = parse_status::need_more;
    envelope_problem problem = envelope_problem::none;
    envelope_view envelope;
    size_t consumed = 0;  // header + body bytes when ok
    uint8_t raw_version = 0;
};
split_result split_envelope(std::string_view in, const header_limits& limits = {});

// What precedes the message in a body (v4.spec §2.2): in responses a tracing id (tracing flag),
// then warnings (warning flag); in both directions a custom payload (custom payload flag).
// Views into the body; warnings and payload stay raw until someone needs them.
struct body_parts {
    std::optional<std::string_view> tracing_id;  // 16 bytes
    std::string_view warnings_raw;               // a [string list], when flagged
    std::string_view custom_payload_raw;         // a [bytes map], when flagged
    std::string_view message;                    // the message itself
};
[[nodiscard]] result<body_parts> split_body(const envelope_header& h, std::string_view body);

// A whole envelope (header + body) as bytes.
std::string make_envelope(envelope_header h, std::string_view body);

}  // namespace tandem::cql
