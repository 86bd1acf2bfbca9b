#include "cql/envelope.hh"

namespace tandem::cql {

std::string_view to_string(opcode op) {
    switch (op) {
        case opcode::error: return "ERROR";
        case opcode::startup: return "STARTUP";
        case opcode::ready: return "READY";
        case opcode::authenticate: return "AUTHENTICATE";
        case opcode::options: return "OPTIONS";
        case opcode::supported: return "SUPPORTED";
        case opcode::query: return "QUERY";
        case opcode::result: return "RESULT";
        case opcode::prepare: return "PREPARE";
        case opcode::execute: return "EXECUTE";
        case opcode::register_: return "REGISTER";
        case opcode::event: return "EVENT";
        case opcode::batch: return "BATCH";
        case opcode::auth_challenge: return "AUTH_CHALLENGE";
        case opcode::auth_response: return "AUTH_RESPONSE";
        case opcode::auth_success: return "AUTH_SUCCESS";
    }
    return "UNKNOWN";
}

bool is_request(opcode op) {
    switch (op) {
        case opcode::startup:
        case opcode::options:
        case opcode::query:
        case opcode::prepare:
        case opcode::execute:
        case opcode::register_:
        case opcode::batch:
        case opcode::auth_response:
            return true;
        default:
            return false;
    }
}

bool is_response(opcode op) {
    switch (op) {
        case opcode::error:
        case opcode::ready:
        case opcode::authenticate:
        case opcode::supported:
        case opcode::result:
        case opcode::event:
        case opcode::auth_challenge:
        case opcode::auth_success:
            return true;
        default:
            return false;
    }
}

bool is_known(opcode op) { return is_request(op) || is_response(op); }

bool is_known_version(uint8_t v) {
    return (v >= protocol_version::v1 && v <= protocol_version::v6) || v == protocol_version::dse_v1 ||
           v == protocol_version::dse_v2;
}

uint8_t effective_version(uint8_t v) {
    if (v == protocol_version::dse_v1 || v == protocol_version::dse_v2) {
        return protocol_version::v4;
    }
    return v;
}

std::string_view to_string(envelope_problem p) {
    switch (p) {
        case envelope_problem::none: return "none";
        case envelope_problem::unknown_version: return "unknown protocol version";
        case envelope_problem::wrong_direction: return "direction bit does not match the stream";
        case envelope_problem::unknown_opcode: return "unknown opcode";
        case envelope_problem::opcode_wrong_direction: return "opcode not valid in this direction";
        case envelope_problem::body_too_large: return "body length exceeds the maximum";
    }
    return "unknown problem";
}

header_parse parse_header(std::string_view in, const header_limits& limits) {
    header_parse r;
    if (in.empty()) {
        return r;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    r.raw_version = p[0];
    uint8_t version = p[0] & 0x7F;
    bool response = (p[0] & direction_response) != 0;
    r.header.version = version;
    r.header.response = response;
    if (!is_known_version(version)) {
        // Decided on the first byte alone: the rest of the header may follow other rules.
        r.status = parse_status::malformed;
        r.problem = envelope_problem::unknown_version;
        return r;
    }
    size_t hsize = envelope_header::header_size(version);
    if (in.size() < hsize) {
        return r;
    }
    r.header.flags = p[1];
    size_t at;
    if (hsize == 8) {
        r.header.stream = static_cast<int8_t>(p[2]);
        at = 3;
    } else {
        r.header.stream = static_cast<int16_t>(load_be16(in.data() + 2));
        at = 4;
    }
    r.header.op = static_cast<opcode>(p[at]);
    r.header.length = load_be32(in.data() + at + 1);
    r.status = parse_status::malformed;
    if ((limits.expect == header_limits::direction::requests && response) ||
        (limits.expect == header_limits::direction::responses && !response)) {
        r.problem = envelope_problem::wrong_direction;
        return r;
    }
    if (!is_known(r.header.op)) {
        r.problem = envelope_problem::unknown_opcode;
        return r;
    }
    if (response ? !is_response(r.header.op) : !is_request(r.header.op)) {
        r.problem = envelope_problem::opcode_wrong_direction;
        return r;
    }
    if (r.header.length > limits.max_body_bytes) {
        r.problem = envelope_problem::body_too_large;
        return r;
    }
    r.status = parse_status::ok;
    return r;
}

size_t write_header(const envelope_header& h, char* out) {
    out[0] = static_cast<char>(h.version | (h.response ? direction_response : 0));
    out[1] = static_cast<char>(h.flags);
    size_t at;
    if (envelope_header::header_size(h.version) == 8) {
        out[2] = static_cast<char>(static_cast<int8_t>(h.stream));
        at = 3;
    } else {
        store_be16(out + 2, static_cast<uint16_t>(h.stream));
        at = 4;
    }
    out[at] = static_cast<char>(h.op);
    store_be32(out + at + 1, h.length);
    return at + 5;
}

void append_header(const envelope_header& h, std::string& out) {
    char buf[9];
    size_t n = write_header(h, buf);
    out.append(buf, n);
}

split_result split_envelope(std::string_view in, const header_limits& limits) {
    split_result s;
    auto h = parse_header(in, limits);
    s.raw_version = h.raw_version;
    s.envelope.header = h.header;
    s.status = h.status;
    s.problem = h.problem;
    if (h.status != parse_status::ok) {
        return s;
    }
    size_t hsize = h.header.size();
    if (in.size() - hsize < h.header.length) {
        s.status = parse_status::need_more;
        return s;
    }
    s.envelope.body = in.substr(hsize, h.header.length);
    s.consumed = hsize + h.header.length;
    return s;
}

result<body_parts> split_body(const envelope_header& h, std::string_view body) {
    body_parts parts;
    reader r(body);
    if (h.response && (h.flags & envelope_flags::tracing)) {
        auto id = r.read_raw(16);
        if (!r.ok()) return decode_error{"tracing flag set but the body has no tracing id"};
        parts.tracing_id = id;
    }
    if (h.flags & envelope_flags::warning) {
        const char* start = r.position();
        (void)r.read_string_list();
        if (!r.ok()) return decode_error{"warning flag set but the warnings are malformed"};
        parts.warnings_raw = std::string_view(start, static_cast<size_t>(r.position() - start));
    }
    if (h.flags & envelope_flags::custom_payload) {
        const char* start = r.position();
        (void)r.read_bytes_map();
        if (!r.ok()) return decode_error{"custom payload flag set but the payload is malformed"};
        parts.custom_payload_raw = std::string_view(start, static_cast<size_t>(r.position() - start));
    }
    parts.message = body.substr(body.size() - r.remaining());
    return parts;
}

std::string make_envelope(envelope_header h, std::string_view body) {
    std::string out;
    h.length = static_cast<uint32_t>(body.size());
    out.reserve(9 + body.size());
    append_header(h, out);
    out.append(body);
    return out;
}

}  // namespace tandem::cql
