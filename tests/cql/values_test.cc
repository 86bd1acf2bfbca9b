#include "cql/values.hh"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem::cql {
namespace {

using T = cql_type;

std::string enc(const cql_type& t, const cql_value& v) {
    std::string out;
    auto r = encode_value(t, v, out);
    EXPECT_TRUE(r) << r.error();
    return out;
}

void round_trip(const cql_type& t, const cql_value& v, std::string_view hex) {
    auto bytes = enc(t, v);
    EXPECT_EQ(to_hex(bytes), hex) << to_cql_string(t);
    auto back = decode_value(t, bytes);
    ASSERT_TRUE(back) << back.error();
    EXPECT_TRUE(*back == v) << to_cql_string(t);
}

TEST(values, scalars_round_trip_with_exact_bytes) {
    round_trip(T::simple(type_id::boolean), true, "01");
    round_trip(T::simple(type_id::tinyint), -1, "ff");
    round_trip(T::simple(type_id::smallint), 258, "0102");
    round_trip(T::simple(type_id::int_), -2, "fffffffe");
    round_trip(T::simple(type_id::bigint), int64_t{1} << 40, "0000010000000000");
    round_trip(T::simple(type_id::counter), 5, "0000000000000005");
    round_trip(T::simple(type_id::timestamp), int64_t{1700000000000}, "0000018bcfe56800");
    round_trip(T::simple(type_id::time), int64_t{1}, "0000000000000001");
    round_trip(T::simple(type_id::date), 0, "80000000");
    round_trip(T::simple(type_id::date), -1, "7fffffff");
    round_trip(T::simple(type_id::float_), 1.5f, "3fc00000");
    round_trip(T::simple(type_id::double_), -2.0, "c000000000000000");
    round_trip(T::simple(type_id::ascii), "abc", "616263");
    round_trip(T::simple(type_id::varchar), "é", "c3a9");
    round_trip(T::simple(type_id::blob), std::string("\0\1", 2), "0001");
    uuid_bytes u{};
    u[6] = 0x10;  // version 1 for timeuuid
    round_trip(T::simple(type_id::timeuuid), u, "00000000000010000000000000000000");
    round_trip(T::simple(type_id::inet), *inet_address::parse("10.0.0.1"), "0a000001");
    round_trip(T::simple(type_id::varint), varint::from_int64(128), "0080");
    round_trip(T::simple(type_id::varint), varint::from_int64(-129), "ff7f");
    round_trip(T::simple(type_id::decimal), decimal{2, varint::from_int64(12345)}, "000000023039");
    round_trip(T::simple(type_id::duration), duration{1, 2, 3}, "020406");
    round_trip(T::simple(type_id::duration), duration{-1, -1, -1000}, "010187cf");
    round_trip(T::custom_of("org.example.Custom"), "raw", "726177");
}

TEST(values, collections_tuples_udts) {
    round_trip(T::list_of(T::simple(type_id::int_)), cql_list{1, 2}, "00000002000000040000000100000004" "00000002");
    round_trip(T::set_of(T::simple(type_id::varchar)), cql_list{"a"}, "000000010000000161");
    round_trip(T::map_of(T::simple(type_id::varchar), T::simple(type_id::bigint)),
               cql_map{{cql_value("k"), cql_value(int64_t{1})}}, "00000001000000016b000000080000000000000001");
    round_trip(T::tuple_of({T::simple(type_id::int_), T::simple(type_id::varchar)}), cql_list{7, null_value{}},
               "0000000400000007ffffffff");
    auto udt = T::udt_of("ks", "addr", {{"street", T::simple(type_id::varchar)}, {"no", T::simple(type_id::int_)}});
    round_trip(udt, cql_list{"x", 3}, "00000001780000000400000003");
    // A UDT sent with its trailing field missing reads as null there.
    auto short_udt = decode_value(udt, *from_hex("0000000178"));
    ASSERT_TRUE(short_udt);
    EXPECT_TRUE(std::get<cql_list>(short_udt->v)[1].is_null());
}

TEST(values, varint_to_string_any_size) {
    EXPECT_EQ(varint::from_int64(0).to_string(), "0");
    EXPECT_EQ(varint::from_int64(-129).to_string(), "-129");
    EXPECT_EQ(varint::from_int64(INT64_MIN).to_string(), "-9223372036854775808");
    varint big{*from_hex("010000000000000000")};  // 2^64
    EXPECT_EQ(big.to_string(), "18446744073709551616");
    EXPECT_EQ(big.to_int64(), std::nullopt);
    EXPECT_EQ(varint::from_int64(-129).to_int64(), -129);
}

TEST(values, empty_fixed_size_value_reads_as_null) {
    auto v = decode_value(T::simple(type_id::int_), "");
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->is_null());
}

TEST(values, each_malformed_value) {
    EXPECT_FALSE(decode_value(T::simple(type_id::int_), "abc"));
    EXPECT_FALSE(decode_value(T::simple(type_id::bigint), "abc"));
    EXPECT_FALSE(decode_value(T::simple(type_id::boolean), "ab"));
    EXPECT_FALSE(decode_value(T::simple(type_id::ascii), "\x80"));
    EXPECT_FALSE(decode_value(T::simple(type_id::varchar), "\xc3"));
    EXPECT_FALSE(decode_value(T::simple(type_id::varchar), "\xed\xa0\x80"));  // surrogate
    EXPECT_FALSE(decode_value(T::simple(type_id::varchar), "\xc0\x80"));      // overlong
    EXPECT_FALSE(decode_value(T::simple(type_id::uuid), "short"));
    EXPECT_FALSE(decode_value(T::simple(type_id::timeuuid), std::string(16, '\0')));  // version 0
    EXPECT_FALSE(decode_value(T::simple(type_id::inet), "12345"));
    EXPECT_FALSE(decode_value(T::simple(type_id::time), *from_hex("ffffffffffffffff")));
    EXPECT_FALSE(decode_value(T::simple(type_id::decimal), std::string_view("\0\0\0", 3)));
    EXPECT_FALSE(decode_value(T::simple(type_id::duration), *from_hex("02")));
    EXPECT_FALSE(decode_value(T::simple(type_id::duration), *from_hex("020103")));  // mixed signs
    auto list = T::list_of(T::simple(type_id::int_));
    EXPECT_FALSE(decode_value(list, *from_hex("00000002" "00000004" "00000001")));  // count lies
    EXPECT_FALSE(decode_value(list, *from_hex("00000001" "ffffffff")));             // null element
    EXPECT_FALSE(decode_value(list, *from_hex("00000001" "00000004" "00000001" "00")));  // trailing
    EXPECT_FALSE(decode_value(list, *from_hex("7fffffff")));
    // Found by values_fuzz: an empty int inside a list read as a null element.
    EXPECT_FALSE(decode_value(list, *from_hex("00000001" "00000000")));
    auto map = T::map_of(T::simple(type_id::int_), T::simple(type_id::int_));
    EXPECT_FALSE(decode_value(map, *from_hex("00000001" "00000000" "00000004" "00000001")));
    EXPECT_FALSE(decode_value(map, *from_hex("00000001" "00000004" "00000001")));
}

TEST(values, encode_refuses_values_that_do_not_fit) {
    std::string out;
    EXPECT_FALSE(encode_value(T::simple(type_id::tinyint), 200, out));
    EXPECT_FALSE(encode_value(T::simple(type_id::int_), "text", out));
    EXPECT_FALSE(encode_value(T::simple(type_id::ascii), "é", out));
    EXPECT_FALSE(encode_value(T::simple(type_id::duration), duration{1, -1, 0}, out));
    EXPECT_FALSE(encode_value(T::list_of(T::simple(type_id::int_)), cql_list{null_value{}}, out));
    EXPECT_TRUE(out.empty());
}

TEST(values, type_names_parse_and_print) {
    auto t = parse_cql_type("map<text, frozen<list<int>>>");
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, T::map_of(T::simple(type_id::varchar), T::list_of(T::simple(type_id::int_))));
    EXPECT_EQ(to_cql_string(*t), "map<text, list<int>>");
    EXPECT_EQ(parse_cql_type("tuple<int, text>")->params.size(), 2u);
    EXPECT_EQ(parse_cql_type("ks.addr")->keyspace, "ks");
    EXPECT_FALSE(parse_cql_type("map<int>"));
    EXPECT_FALSE(parse_cql_type("list<int"));
    EXPECT_FALSE(parse_cql_type(""));
}

TEST(values, type_option_round_trip_and_depth_limit) {
    auto udt = T::udt_of("ks", "u", {{"a", T::set_of(T::simple(type_id::uuid))}});
    auto t = T::map_of(T::tuple_of({T::simple(type_id::inet), udt}), T::custom_of("x.Y"));
    std::string buf;
    writer w(buf);
    write_type(w, t);
    reader r(buf);
    EXPECT_EQ(read_type(r), t);
    EXPECT_TRUE(r.at_end());
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += std::string("\x00\x20", 2);
    deep += std::string("\x00\x09", 2);
    reader rd(deep);
    (void)read_type(rd);
    EXPECT_FALSE(rd.ok());
    reader unknown(std::string_view("\x00\x44", 2));
    (void)read_type(unknown);
    EXPECT_FALSE(unknown.ok());
}

}  // namespace
}  // namespace tandem::cql
