#pragma once
// The Murmur3Partitioner token: Cassandra's variant of MurmurHash3_x64_128 (seed 0), taking the
// first 64 bits. Cassandra reads the tail bytes as signed Java bytes, so bytes >= 0x80 are sign
// extended before they are shifted in; this differs from the reference MurmurHash3 and must be
// copied to place keys where Cassandra and the drivers place them.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tandem::cql {

int64_t murmur3_token(std::string_view key);

// A composite partition key is hashed as, per component: [short] length, bytes, one 0 byte.
std::string composite_partition_key(std::span<const std::string_view> components);

}  // namespace tandem::cql
