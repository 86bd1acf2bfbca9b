#include "cql/framing.hh"

#include <gtest/gtest.h>

namespace tandem::cql {
namespace {

std::string envelope_of(int16_t stream, size_t body_size) {
    envelope_header h;
    h.version = protocol_version::v5;
    h.op = opcode::query;
    h.stream = stream;
    std::string body(body_size, '\0');
    for (size_t i = 0; i < body_size; ++i) body[i] = static_cast<char>((i * 131 + static_cast<size_t>(stream)) & 0xFF);
    return make_envelope(h, body);
}

std::vector<std::string> decode_all(std::string_view stream, bool compressed) {
    frame_decoder d(compressed);
    std::vector<std::string> out;
    while (!stream.empty()) {
        auto s = d.decode(stream);
        EXPECT_EQ(s.status, parse_status::ok) << s.problem;
        if (s.status != parse_status::ok) break;
        for (auto& e : d.envelopes()) out.push_back(make_envelope(e.header, e.body));
        stream.remove_prefix(s.consumed);
    }
    return out;
}

TEST(framing, crc24_known_values) {
    // Values computed with the DataStax Python driver's compute_crc24 (cassandra/segment.py).
    // 0x020000 is the header of an empty, uncompressed, self-contained frame.
    EXPECT_EQ(crc24(0, 3), 0x7de777u);
    EXPECT_EQ(crc24(0x020000, 3), 0xc4366au);
    EXPECT_EQ(crc24(0x020001, 3), 0xac5672u);
    EXPECT_EQ(crc24(0xFFFFFFFFFFull, 5), 0x8e4e78u);
    EXPECT_EQ(crc24(0x1234567890ull, 5), 0x5649a6u);
}

TEST(framing, several_envelopes_in_one_self_contained_frame) {
    for (bool compressed : {false, true}) {
        std::string wire;
        frame_encoder enc(compressed);
        std::vector<std::string> sent;
        for (int16_t i = 0; i < 5; ++i) {
            sent.push_back(envelope_of(i, 100 * static_cast<size_t>(i)));
            enc.add_envelope(sent.back(), wire);
        }
        enc.flush(wire);
        auto f = parse_frame(wire, compressed);
        ASSERT_EQ(f.status, parse_status::ok);
        EXPECT_TRUE(f.header.self_contained);
        EXPECT_EQ(f.consumed, wire.size());  // one frame
        EXPECT_EQ(decode_all(wire, compressed), sent);
    }
}

TEST(framing, large_envelope_split_across_frames) {
    for (bool compressed : {false, true}) {
        std::string wire;
        frame_encoder enc(compressed);
        auto small = envelope_of(1, 10);
        auto large = envelope_of(2, 300'000);
        enc.add_envelope(small, wire);
        enc.add_envelope(large, wire);
        enc.add_envelope(small, wire);
        enc.flush(wire);
        size_t frames = 0;
        for (std::string_view rest = wire; !rest.empty(); ++frames) {
            auto f = parse_frame(rest, compressed);
            ASSERT_EQ(f.status, parse_status::ok);
            EXPECT_LE(f.header.payload_length, max_frame_payload);
            rest.remove_prefix(f.consumed);
        }
        EXPECT_EQ(frames, 1u + 3u + 1u);  // small, large in three parts, small
        EXPECT_EQ(decode_all(wire, compressed), (std::vector<std::string>{small, large, small}));
    }
}

TEST(framing, compressed_frame_that_does_not_shrink_is_sent_raw) {
    std::string payload = envelope_of(3, 64);  // pseudo-random bytes barely compress
    std::string wire;
    encode_frame(payload.substr(0, 9), true, true, wire);
    auto f = parse_frame(wire, true);
    ASSERT_EQ(f.status, parse_status::ok);
    EXPECT_EQ(f.header.uncompressed_length, 0u);
    EXPECT_EQ(f.payload, payload.substr(0, 9));
}

TEST(framing, split_at_every_byte_and_truncation) {
    std::string wire;
    frame_encoder enc(false);
    enc.add_envelope(envelope_of(7, 40), wire);
    enc.flush(wire);
    for (size_t n = 0; n < wire.size(); ++n) {
        EXPECT_EQ(parse_frame(std::string_view(wire).substr(0, n), false).status, parse_status::need_more) << n;
    }
}

TEST(framing, every_corrupted_byte_is_caught) {
    std::string wire;
    frame_encoder enc(false);
    enc.add_envelope(envelope_of(7, 40), wire);
    enc.flush(wire);
    for (size_t i = 0; i < wire.size(); ++i) {
        std::string bad = wire;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        auto f = parse_frame(bad, false);
        // A flipped length bit may also make the frame look longer: never ok.
        EXPECT_NE(f.status, parse_status::ok) << i;
        if (f.status == parse_status::malformed) {
            EXPECT_TRUE(f.problem == "frame header CRC24 mismatch" || f.problem == "frame payload CRC32 mismatch");
        }
    }
}

TEST(framing, self_contained_frame_with_a_partial_envelope_is_malformed) {
    auto env = envelope_of(1, 50);
    std::string wire;
    encode_frame(std::string_view(env).substr(0, 20), true, false, wire);
    frame_decoder d(false);
    auto s = d.decode(wire);
    EXPECT_EQ(s.status, parse_status::malformed);
    EXPECT_EQ(s.problem, "self-contained frame ends inside an envelope");
}

TEST(framing, split_envelope_with_trailing_bytes_is_malformed) {
    auto env = envelope_of(1, 200'000);
    env += "xx";
    std::string wire;
    encode_frame(std::string_view(env).substr(0, max_frame_payload), false, false, wire);
    encode_frame(std::string_view(env).substr(max_frame_payload), false, false, wire);
    frame_decoder d(false);
    auto s1 = d.decode(wire);
    ASSERT_EQ(s1.status, parse_status::ok);
    EXPECT_TRUE(d.envelopes().empty());
    EXPECT_TRUE(d.mid_envelope());
    auto s2 = d.decode(std::string_view(wire).substr(s1.consumed));
    EXPECT_EQ(s2.status, parse_status::malformed);
}

TEST(framing, frames_built_in_place_match_encode_frame) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{100}, max_frame_payload}) {
        std::string payload(n, 'x');
        for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 31);
        for (bool self_contained : {true, false}) {
            std::string expected;
            encode_frame(payload, self_contained, false, expected);
            std::string out = "prefix";
            size_t at = begin_frame(out);
            out.append(payload);
            finish_frame(out, at, self_contained);
            EXPECT_EQ(out.substr(6), expected) << n;
            auto f = parse_frame(std::string_view(out).substr(6), false);
            ASSERT_EQ(f.status, parse_status::ok);
            EXPECT_EQ(f.payload, payload);
            EXPECT_EQ(f.header.self_contained, self_contained);
        }
    }
}

}  // namespace
}  // namespace tandem::cql
