#include "cql/primitives.hh"

#include <gtest/gtest.h>

namespace tandem::cql {
namespace {

TEST(primitives, round_trip_every_notation) {
    std::string buf;
    writer w(buf);
    w.write_byte(0xAB);
    w.write_short(0xBEEF);
    w.write_int(-5);
    w.write_long(INT64_MIN);
    w.write_string("héllo");
    w.write_long_string("long");
    w.write_bytes(std::nullopt);
    w.write_bytes(std::string_view("\0\1", 2));
    w.write_short_bytes("id");
    w.write_value(value_ref::unset());
    w.write_value(value_ref::null());
    w.write_value(value_ref::of("v"));
    uuid_bytes u{};
    for (int i = 0; i < 16; ++i) u[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
    w.write_uuid(u);
    w.write_inet(inet_endpoint{*inet_address::parse("::1"), 9042});
    w.write_consistency(consistency::local_quorum);
    w.write_string_list({"a", "bc"});
    w.write_string_map({{"k", "v"}});
    w.write_string_multimap({{"COMPRESSION", {"lz4", "snappy"}}});

    reader r(buf);
    EXPECT_EQ(r.read_byte(), 0xAB);
    EXPECT_EQ(r.read_short(), 0xBEEF);
    EXPECT_EQ(r.read_int(), -5);
    EXPECT_EQ(r.read_long(), INT64_MIN);
    EXPECT_EQ(r.read_string(), "héllo");
    EXPECT_EQ(r.read_long_string(), "long");
    EXPECT_EQ(r.read_bytes(), std::nullopt);
    EXPECT_EQ(r.read_bytes(), std::string_view("\0\1", 2));
    EXPECT_EQ(r.read_short_bytes(), "id");
    EXPECT_TRUE(r.read_value().is_unset());
    EXPECT_TRUE(r.read_value().is_null());
    EXPECT_EQ(r.read_value().bytes, "v");
    EXPECT_EQ(r.read_uuid(), u);
    auto e = r.read_inet();
    EXPECT_EQ(e.addr.to_string(), "::1");
    EXPECT_EQ(e.port, 9042);
    EXPECT_EQ(r.read_consistency(), consistency::local_quorum);
    EXPECT_EQ(r.read_string_list(), (std::vector<std::string_view>{"a", "bc"}));
    EXPECT_EQ(r.read_string_map().at(0).second, "v");
    EXPECT_EQ(r.read_string_multimap().at(0).second.at(1), "snappy");
    EXPECT_TRUE(r.at_end());
}

TEST(primitives, every_prefix_is_truncated_not_a_crash) {
    std::string buf;
    writer w(buf);
    w.write_string_multimap({{"CQL_VERSION", {"3.0.0"}}, {"COMPRESSION", {"lz4"}}});
    for (size_t n = 0; n < buf.size(); ++n) {
        reader r(std::string_view(buf).substr(0, n));
        (void)r.read_string_multimap();
        EXPECT_FALSE(r.ok()) << n;
    }
}

TEST(primitives, lying_lengths_fail) {
    std::string buf;
    writer w(buf);
    w.write_int(1000);  // [bytes] announcing 1000 bytes with none following
    reader r(buf);
    (void)r.read_bytes();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error(), "length exceeds the remaining bytes");

    std::string neg;
    writer(neg).write_int(-3);
    reader rv(neg);
    (void)rv.read_value();
    EXPECT_FALSE(rv.ok());

    std::string big_count;
    writer(big_count).write_short(60000);  // a string list of 60000 entries in 2 bytes
    reader rl(big_count);
    (void)rl.read_string_list();
    EXPECT_FALSE(rl.ok());
}

TEST(primitives, bad_consistency_and_inet_size) {
    std::string c;
    writer(c).write_short(0x00FF);
    reader rc(c);
    (void)rc.read_consistency();
    EXPECT_FALSE(rc.ok());

    std::string i = "\x05\x01\x02\x03\x04\x05";
    reader ri(i);
    (void)ri.read_inet_address();
    EXPECT_FALSE(ri.ok());
}

TEST(primitives, errors_are_sticky) {
    reader r(std::string_view("\x01", 1));
    (void)r.read_int();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.read_byte(), 0);
    EXPECT_EQ(r.error(), "truncated [int]");
}

TEST(primitives, vint_matches_cassandra_sizes) {
    // Cassandra's VIntCoding: 1 byte below 2^7, 2 below 2^14, ..., 9 bytes for the top bit.
    struct c {
        uint64_t v;
        size_t size;
    } cases[] = {{0, 1}, {127, 1}, {128, 2}, {16383, 2}, {16384, 3}, {(1ULL << 56) - 1, 8}, {1ULL << 56, 9}, {~0ULL, 9}};
    for (auto [v, size] : cases) {
        std::string buf;
        writer(buf).write_unsigned_vint(v);
        EXPECT_EQ(buf.size(), size) << v;
        reader r(buf);
        EXPECT_EQ(r.read_unsigned_vint(), v);
        EXPECT_TRUE(r.at_end());
    }
    for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-64}, int64_t{63}, INT64_MIN, INT64_MAX}) {
        std::string buf;
        writer(buf).write_vint(v);
        reader r(buf);
        EXPECT_EQ(r.read_vint(), v);
    }
    std::string one;
    writer(one).write_vint(-1);
    EXPECT_EQ(to_hex(one), "01");  // zig-zag: -1 → 1
}

TEST(primitives, hex) {
    EXPECT_EQ(to_hex("\x01\xab"), "01ab");
    EXPECT_EQ(from_hex("01AB"), std::string("\x01\xab"));
    EXPECT_EQ(from_hex("0"), std::nullopt);
    EXPECT_EQ(from_hex("zz"), std::nullopt);
}

TEST(primitives, uuid_and_inet_text_from_bytes) {
    EXPECT_EQ(uuid_text(std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16)),
              "00112233-4455-6677-8899-aabbccddeeff");
    EXPECT_EQ(uuid_text("short"), "");
    EXPECT_EQ(inet_address::from_bytes(std::string("\x7f\x00\x00\x01", 4))->to_string(), "127.0.0.1");
    EXPECT_EQ(inet_address::from_bytes(std::string(15, '\0') + "\x01")->to_string(), "::1");
    EXPECT_FALSE(inet_address::from_bytes("abc"));
}

}  // namespace
}  // namespace tandem::cql
