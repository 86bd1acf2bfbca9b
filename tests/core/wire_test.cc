// envelope_reader: envelopes that span received buffers come out whole and in order, and only
// they are copied (the ones after them are handed out in place again).

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/wire.hh"
#include "cql/envelope.hh"
#include "net/buffer_ring.hh"

namespace tandem::core {
namespace {

constexpr uint32_t buffer_size = 4096;

// A received buffer holding `bytes` (a memory-only ring, as the in-memory transport uses).
net::rx_buffer received(net::buffer_ring& ring, std::string_view bytes) {
    const int bid = ring.take();
    EXPECT_GE(bid, 0);
    EXPECT_LE(bytes.size(), buffer_size);
    std::memcpy(const_cast<char*>(ring.data(static_cast<uint16_t>(bid))), bytes.data(), bytes.size());
    return net::rx_buffer(ring, static_cast<uint16_t>(bid), static_cast<uint32_t>(bytes.size()));
}

std::string envelope(int16_t stream, std::string_view body, uint8_t version = 4) {
    cql::envelope_header h;
    h.version = version;
    h.stream = stream;
    h.op = cql::opcode::query;
    h.length = static_cast<uint32_t>(body.size());
    std::string out;
    cql::append_header(h, out);
    out.append(body);
    return out;
}

struct seen {
    int16_t stream;
    std::string body;
    bool in_place;  // handed out as a reference to the received buffer
};

// Feeds `chunks` in order; what came out.
std::vector<seen> feed_all(envelope_reader& r, net::buffer_ring& ring, const std::vector<std::string>& chunks,
                           bool* ok = nullptr) {
    std::vector<seen> out;
    for (const auto& c : chunks) {
        auto res = r.feed(received(ring, c), [&](inbound_envelope&& e) {
            out.push_back({e.header.stream, std::string(e.body), !e.owner.empty()});
            return true;
        });
        if (ok) *ok = res.ok;
        if (!res.ok) break;
    }
    return out;
}

TEST(envelope_reader, an_envelope_that_spans_buffers_is_copied_and_those_after_it_are_handed_out_in_place) {
    net::buffer_ring ring(buffer_size, 16);
    envelope_reader r(request_limits());
    const std::string a = envelope(1, std::string(100, 'a')), b = envelope(2, "bb"), c = envelope(3, "ccc");
    // `a` ends 40 bytes into the second buffer, which also holds `b` and `c` whole.
    const std::string first = a.substr(0, a.size() - 40), second = a.substr(a.size() - 40) + b + c;
    auto got = feed_all(r, ring, {first, second});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].stream, 1);
    EXPECT_EQ(got[0].body, std::string(100, 'a'));
    EXPECT_FALSE(got[0].in_place);
    EXPECT_EQ(got[1].stream, 2);
    EXPECT_EQ(got[1].body, "bb");
    EXPECT_TRUE(got[1].in_place);
    EXPECT_EQ(got[2].body, "ccc");
    EXPECT_TRUE(got[2].in_place);
    EXPECT_EQ(r.pending_bytes(), 0u);
    // The copy held the spanning envelope, not the second buffer.
    EXPECT_LT(r.pending_capacity(), a.size() + 64);
}

TEST(envelope_reader, a_header_split_over_three_buffers_is_put_together) {
    net::buffer_ring ring(buffer_size, 16);
    envelope_reader r(request_limits());
    const std::string a = envelope(7, "hello"), b = envelope(8, "world");
    auto got = feed_all(r, ring, {a.substr(0, 3), a.substr(3, 4), a.substr(7) + b});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].stream, 7);
    EXPECT_EQ(got[0].body, "hello");
    EXPECT_EQ(got[1].stream, 8);
    EXPECT_TRUE(got[1].in_place);
}

TEST(envelope_reader, any_split_of_a_stream_gives_the_same_envelopes_in_order) {
    std::mt19937 rng(42);
    std::string stream;
    std::vector<std::string> bodies;
    for (int i = 0; i < 300; ++i) {
        bodies.push_back(std::string(rng() % 700, static_cast<char>('a' + i % 26)));
        stream += envelope(static_cast<int16_t>(i), bodies.back(), i % 50 == 0 ? 3 : 4);
    }
    for (int round = 0; round < 50; ++round) {
        net::buffer_ring ring(buffer_size, 64);
        envelope_reader r(request_limits());
        std::vector<std::string> chunks;
        for (size_t at = 0; at < stream.size();) {
            const size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % (round % 2 ? 20 : buffer_size));
            chunks.push_back(stream.substr(at, n));
            at += n;
        }
        auto got = feed_all(r, ring, chunks);
        ASSERT_EQ(got.size(), bodies.size()) << "round " << round;
        for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i].stream, static_cast<int16_t>(i));
            ASSERT_EQ(got[i].body, bodies[i]);
        }
        EXPECT_EQ(r.pending_bytes(), 0u);
    }
}

TEST(envelope_reader, a_malformed_header_that_spans_buffers_is_reported) {
    net::buffer_ring ring(buffer_size, 16);
    envelope_reader r(request_limits());
    std::string bad = envelope(1, "x");
    bad[4] = static_cast<char>(0x7E);  // no such opcode
    bool ok = true;
    auto got = feed_all(r, ring, {envelope(0, "fine") + bad.substr(0, 2), bad.substr(2)}, &ok);
    EXPECT_FALSE(ok);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].body, "fine");
}

TEST(envelope_reader, a_large_envelope_s_copy_is_given_back_once_delivered) {
    net::buffer_ring ring(buffer_size, 64);
    envelope_reader r(request_limits());
    const std::string big = envelope(1, std::string(200 * 1024, 'z')) + envelope(2, "after");
    std::vector<std::string> chunks;
    for (size_t at = 0; at < big.size(); at += buffer_size) chunks.push_back(big.substr(at, buffer_size));
    auto got = feed_all(r, ring, chunks);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].body.size(), 200u * 1024);
    EXPECT_EQ(got[1].body, "after");
    EXPECT_LE(r.pending_capacity(), envelope_reader::kept_capacity);
}

}  // namespace
}  // namespace tandem::core
