#include "cql/murmur3.hh"

#include <cstring>
#include <limits>

namespace tandem::cql {

namespace {

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t fmix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

// A tail byte as Java reads it: signed, then widened to 64 bits.
inline uint64_t tail(const char* p, int i) { return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(p[i]))); }

}  // namespace

int64_t murmur3_token(std::string_view key) {
    constexpr uint64_t c1 = 0x87c37b91114253d5ULL;
    constexpr uint64_t c2 = 0x4cf5ad432745937fULL;
    const char* data = key.data();
    const size_t len = key.size();
    const size_t nblocks = len / 16;
    uint64_t h1 = 0;
    uint64_t h2 = 0;
    for (size_t i = 0; i < nblocks; ++i) {
        uint64_t k1, k2;
        std::memcpy(&k1, data + i * 16, 8);  // little-endian machine, as getblock reads
        std::memcpy(&k2, data + i * 16 + 8, 8);
        k1 *= c1;
        k1 = rotl(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const char* t = data + nblocks * 16;
    uint64_t k1 = 0;
    uint64_t k2 = 0;
    switch (len & 15) {
        case 15: k2 ^= tail(t, 14) << 48; [[fallthrough]];
        case 14: k2 ^= tail(t, 13) << 40; [[fallthrough]];
        case 13: k2 ^= tail(t, 12) << 32; [[fallthrough]];
        case 12: k2 ^= tail(t, 11) << 24; [[fallthrough]];
        case 11: k2 ^= tail(t, 10) << 16; [[fallthrough]];
        case 10: k2 ^= tail(t, 9) << 8; [[fallthrough]];
        case 9:
            k2 ^= tail(t, 8);
            k2 *= c2;
            k2 = rotl(k2, 33);
            k2 *= c1;
            h2 ^= k2;
            [[fallthrough]];
        case 8: k1 ^= tail(t, 7) << 56; [[fallthrough]];
        case 7: k1 ^= tail(t, 6) << 48; [[fallthrough]];
        case 6: k1 ^= tail(t, 5) << 40; [[fallthrough]];
        case 5: k1 ^= tail(t, 4) << 32; [[fallthrough]];
        case 4: k1 ^= tail(t, 3) << 24; [[fallthrough]];
        case 3: k1 ^= tail(t, 2) << 16; [[fallthrough]];
        case 2: k1 ^= tail(t, 1) << 8; [[fallthrough]];
        case 1:
            k1 ^= tail(t, 0);
            k1 *= c1;
            k1 = rotl(k1, 31);
            k1 *= c2;
            h1 ^= k1;
            break;
        default:
            break;
    }
    h1 ^= len;
    h2 ^= len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;
    auto token = static_cast<int64_t>(h1);
    // Long.MIN_VALUE is the partitioner's minimum token, never a key's token.
    return token == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : token;
}

std::string composite_partition_key(std::span<const std::string_view> components) {
    std::string out;
    for (auto c : components) {
        out.push_back(static_cast<char>((c.size() >> 8) & 0xFF));
        out.push_back(static_cast<char>(c.size() & 0xFF));
        out.append(c);
        out.push_back('\0');
    }
    return out;
}

}  // namespace tandem::cql
