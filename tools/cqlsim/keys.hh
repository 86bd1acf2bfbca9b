#pragma once
// Key encodings and cell rules shared by the store, writes and reads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cql/murmur3.hh"
#include "cql/primitives.hh"
#include "tools/cqlsim/cluster.hh"

namespace tandem::cqlsim {

// A clustering key as stored: [int length][bytes] per component.
inline std::string compose(const std::vector<std::string>& parts) {
    std::string out;
    for (auto& p : parts) {
        char b[4];
        cql::store_be32(b, static_cast<uint32_t>(p.size()));
        out.append(b, 4);
        out += p;
    }
    return out;
}

inline std::vector<std::string_view> decompose(std::string_view key) {
    std::vector<std::string_view> parts;
    while (key.size() >= 4) {
        auto n = cql::load_be32(key.data());
        parts.push_back(key.substr(4, n));
        key.remove_prefix(4 + n);
    }
    return parts;
}

// Cassandra's partition key bytes: the single column's value, or the composite form.
inline std::string partition_key_bytes(const std::vector<std::string>& components) {
    if (components.size() == 1) return components[0];
    std::vector<std::string_view> views(components.begin(), components.end());
    return cql::composite_partition_key(views);
}

// A cell counts when it holds a value newer than the deletion covering it and has not expired.
inline bool live(const cell& c, int64_t now_s, int64_t deleted_ts) {
    return c.value.has_value() && c.timestamp != INT64_MIN && c.timestamp > deleted_ts &&
           (c.expires_s == 0 || c.expires_s > now_s);
}

// Last write wins; on equal timestamps a tombstone wins, then the greater value (Cassandra's
// reconciliation rule).
inline void merge_cell(cell& into, cell incoming) {
    if (into.timestamp != INT64_MIN) {
        if (incoming.timestamp < into.timestamp) return;
        if (incoming.timestamp == into.timestamp) {
            if (!into.value) return;
            if (incoming.value && *incoming.value <= *into.value) return;
        }
    }
    into = std::move(incoming);
}

}  // namespace tandem::cqlsim
