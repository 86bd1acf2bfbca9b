#include "cql/murmur3.hh"

#include <gtest/gtest.h>

#include <algorithm>

namespace tandem::cql {
namespace {

// Reference tokens computed with Cassandra's Murmur3Partitioner (the same values the DataStax
// drivers compute; the driver cross-check recomputes a larger set with cassandra.murmur3).
TEST(murmur3, known_tokens) {
    EXPECT_EQ(murmur3_token(""), 0);
    EXPECT_EQ(murmur3_token("a"), -8839064797231613815LL);
    EXPECT_EQ(murmur3_token("hello"), -3758069500696749310LL);
    EXPECT_EQ(murmur3_token("\x80"), -5284281814142962636LL);
    EXPECT_EQ(murmur3_token(std::string(17, '\xff')), -4128212798341382003LL);
    EXPECT_EQ(murmur3_token("0123456789abcdef"), 5467490433528156583LL);
    EXPECT_EQ(murmur3_token("key-1234567890123456789"), -4031688797931294253LL);
    // The sign-extension quirk: tails with bytes >= 0x80 differ from reference MurmurHash3.
    EXPECT_NE(murmur3_token("\x80"), murmur3_token("\x7f"));
}

TEST(murmur3, composite_key_layout) {
    std::string_view parts[] = {"ab", "c"};
    auto key = composite_partition_key(parts);
    EXPECT_EQ(key, std::string("\x00\x02" "ab" "\x00" "\x00\x01" "c" "\x00", 9));
}

TEST(murmur3, stable_across_block_boundaries) {
    // Every length from 0 to 40 exercises every tail case and the block loop.
    std::string s;
    std::vector<int64_t> seen;
    for (int i = 0; i < 40; ++i) {
        seen.push_back(murmur3_token(s));
        s.push_back(static_cast<char>(0x70 + i));
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

}  // namespace
}  // namespace tandem::cql
