#include "cql/envelope.hh"

#include <gtest/gtest.h>

namespace tandem::cql {
namespace {

envelope_header request(uint8_t version, opcode op, int16_t stream, uint32_t length) {
    envelope_header h;
    h.version = version;
    h.op = op;
    h.stream = stream;
    h.length = length;
    return h;
}

TEST(envelope, v4_header_round_trip) {
    auto h = request(protocol_version::v4, opcode::query, -2, 77);
    h.flags = envelope_flags::tracing | envelope_flags::custom_payload;
    char buf[9];
    ASSERT_EQ(write_header(h, buf), 9u);
    EXPECT_EQ(static_cast<uint8_t>(buf[0]), 0x04);
    auto p = parse_header(std::string_view(buf, 9));
    ASSERT_EQ(p.status, parse_status::ok);
    EXPECT_EQ(p.header, h);
}

TEST(envelope, response_bit_and_v2_eight_byte_header) {
    envelope_header h;
    h.version = protocol_version::v2;
    h.response = true;
    h.op = opcode::ready;
    h.stream = -1;
    char buf[9];
    ASSERT_EQ(write_header(h, buf), 8u);
    EXPECT_EQ(static_cast<uint8_t>(buf[0]), 0x82);
    auto p = parse_header(std::string_view(buf, 8));
    ASSERT_EQ(p.status, parse_status::ok);
    EXPECT_EQ(p.header.stream, -1);
    EXPECT_TRUE(p.header.response);
    EXPECT_EQ(p.header.size(), 8u);
}

TEST(envelope, dse_versions_recognised) {
    for (uint8_t v : {protocol_version::dse_v1, protocol_version::dse_v2}) {
        auto h = request(v, opcode::options, 1, 0);
        auto bytes = make_envelope(h, "");
        auto p = parse_header(bytes);
        ASSERT_EQ(p.status, parse_status::ok);
        EXPECT_EQ(p.header.version, v);
        EXPECT_EQ(effective_version(v), protocol_version::v4);
    }
}

TEST(envelope, unknown_version_is_reported_with_the_raw_byte) {
    std::string bytes = make_envelope(request(protocol_version::v4, opcode::options, 0, 0), "");
    bytes[0] = 0x07;
    auto p = parse_header(bytes);
    EXPECT_EQ(p.status, parse_status::malformed);
    EXPECT_EQ(p.problem, envelope_problem::unknown_version);
    EXPECT_EQ(p.raw_version, 0x07);
    // Decided on one byte: a client speaking a future version gets its answer immediately.
    EXPECT_EQ(parse_header(bytes.substr(0, 1)).problem, envelope_problem::unknown_version);
}

TEST(envelope, each_malformed_header) {
    auto bytes = make_envelope(request(protocol_version::v4, opcode::query, 0, 0), "");
    header_limits requests_only;
    requests_only.expect = header_limits::direction::requests;
    header_limits responses_only;
    responses_only.expect = header_limits::direction::responses;
    EXPECT_EQ(parse_header(bytes, responses_only).problem, envelope_problem::wrong_direction);
    EXPECT_EQ(parse_header(bytes, requests_only).status, parse_status::ok);

    auto unknown = bytes;
    unknown[4] = 0x04;  // opcode 4 was never assigned
    EXPECT_EQ(parse_header(unknown).problem, envelope_problem::unknown_opcode);
    unknown[4] = 0x42;
    EXPECT_EQ(parse_header(unknown).problem, envelope_problem::unknown_opcode);

    auto wrong = bytes;
    wrong[4] = static_cast<char>(opcode::result);  // a RESULT without the response bit
    EXPECT_EQ(parse_header(wrong).problem, envelope_problem::opcode_wrong_direction);

    header_limits small;
    small.max_body_bytes = 100;
    auto big = make_envelope(request(protocol_version::v4, opcode::query, 0, 0), std::string(101, 'x'));
    EXPECT_EQ(parse_header(big, small).problem, envelope_problem::body_too_large);
    EXPECT_EQ(parse_header(big, small).header.length, 101u);
    // The default limit is 256 MiB.
    auto huge = bytes;
    store_be32(huge.data() + 5, default_max_body_bytes + 1);
    EXPECT_EQ(parse_header(huge).problem, envelope_problem::body_too_large);
}

TEST(envelope, split_at_every_byte) {
    std::string stream;
    stream += make_envelope(request(protocol_version::v4, opcode::query, 1, 0), "first body");
    stream += make_envelope(request(protocol_version::v4, opcode::options, 2, 0), "");
    stream += make_envelope(request(protocol_version::v4, opcode::execute, 3, 0), std::string(300, 'z'));
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        // Deliver the stream in two pieces; the splitter must never emit a partial envelope.
        std::string buffer;
        std::vector<envelope_header> got;
        auto drain = [&] {
            for (;;) {
                auto s = split_envelope(buffer);
                ASSERT_NE(s.status, parse_status::malformed);
                if (s.status == parse_status::need_more) return;
                got.push_back(s.envelope.header);
                buffer.erase(0, s.consumed);
            }
        };
        buffer.append(stream.substr(0, cut));
        drain();
        buffer.append(stream.substr(cut));
        drain();
        ASSERT_EQ(got.size(), 3u) << cut;
        EXPECT_EQ(got[0].stream, 1);
        EXPECT_EQ(got[2].length, 300u);
        EXPECT_TRUE(buffer.empty());
    }
}

TEST(envelope, every_prefix_needs_more) {
    auto bytes = make_envelope(request(protocol_version::v5, opcode::query, 9, 0), "abcdef");
    for (size_t n = 0; n < bytes.size(); ++n) {
        EXPECT_EQ(split_envelope(std::string_view(bytes).substr(0, n)).status, parse_status::need_more) << n;
    }
    EXPECT_EQ(split_envelope(bytes).status, parse_status::ok);
}

}  // namespace
}  // namespace tandem::cql
