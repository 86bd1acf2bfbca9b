#include "cql/compression.hh"

#include <gtest/gtest.h>

namespace tandem::cql {
namespace {

TEST(compression, round_trip_both_algorithms) {
    std::string body;
    for (int i = 0; i < 5000; ++i) body += "row " + std::to_string(i % 17) + ";";
    for (auto c : {compression::lz4, compression::snappy}) {
        std::string packed;
        compress_body(c, body, packed);
        EXPECT_LT(packed.size(), body.size()) << to_string(c);
        std::string out;
        auto r = decompress_body(c, packed, out, 1 << 20);
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(out, body);
    }
}

TEST(compression, lz4_prefix_is_big_endian_length) {
    std::string packed;
    compress_body(compression::lz4, std::string(1000, 'a'), packed);
    EXPECT_EQ(load_be32(packed.data()), 1000u);
}

TEST(compression, corrupt_and_lying_bodies_fail) {
    std::string packed;
    compress_body(compression::lz4, std::string(1000, 'a'), packed);
    std::string out;
    EXPECT_FALSE(decompress_body(compression::lz4, packed.substr(0, 3), out, 1 << 20));
    std::string lying = packed;
    store_be32(lying.data(), 2000);
    EXPECT_FALSE(decompress_body(compression::lz4, lying, out, 1 << 20));
    EXPECT_FALSE(decompress_body(compression::lz4, packed, out, 999));  // over the limit
    std::string snappy_packed;
    compress_body(compression::snappy, std::string(1000, 'a'), snappy_packed);
    EXPECT_FALSE(decompress_body(compression::snappy, snappy_packed.substr(0, snappy_packed.size() - 2), out, 1 << 20));
    EXPECT_FALSE(decompress_body(compression::snappy, snappy_packed, out, 10));
    EXPECT_TRUE(out.empty());
}

TEST(compression, names) {
    EXPECT_EQ(compression_from_name("LZ4"), compression::lz4);
    EXPECT_EQ(compression_from_name("snappy"), compression::snappy);
    EXPECT_EQ(compression_from_name("zstd"), std::nullopt);
}

}  // namespace
}  // namespace tandem::cql
