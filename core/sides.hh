#pragma once
// The clusters a client session talks to, by index into its links: origin, target, and the
// async (dual-read) connection to the secondary. `destinations` names the clusters a request
// goes to, so a call reads `destinations::both()`, not `3`.

#include <cstdint>

#include "core/config.hh"

namespace tandem::core {

constexpr int origin_side = 0;
constexpr int target_side = 1;
constexpr int async_side = 2;

constexpr const char* side_name(int s) { return s == origin_side ? "origin" : s == target_side ? "target" : "async"; }
constexpr int side_of(cluster_role r) { return r == cluster_role::origin ? origin_side : target_side; }
constexpr cluster_role role_of(int side) { return side == origin_side ? cluster_role::origin : cluster_role::target; }
constexpr int other_side(int s) { return s == origin_side ? target_side : origin_side; }

// A set of the two clusters (bit 0 origin, bit 1 target).
class destinations {
    uint8_t _bits = 0;
    constexpr explicit destinations(uint8_t bits) : _bits(bits) {}

public:
    constexpr destinations() = default;
    static constexpr destinations none() { return destinations(0); }
    static constexpr destinations origin() { return destinations(1); }
    static constexpr destinations target() { return destinations(2); }
    static constexpr destinations both() { return destinations(3); }
    static constexpr destinations only(int side) { return destinations(static_cast<uint8_t>(1u << side)); }
    static constexpr destinations of(cluster_role r) { return only(side_of(r)); }

    constexpr bool has(int side) const { return (_bits >> side) & 1u; }
    constexpr bool empty() const { return _bits == 0; }
    constexpr destinations with(int side) const { return destinations(static_cast<uint8_t>(_bits | (1u << side))); }
    constexpr destinations without(int side) const { return destinations(static_cast<uint8_t>(_bits & ~(1u << side))); }
    constexpr bool operator==(const destinations&) const = default;
};

}  // namespace tandem::core
