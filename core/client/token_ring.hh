#pragma once
// The Murmur3 token ring of a cluster's nodes (system.local / system.peers `tokens`): a node owns
// the range from the previous token, exclusive, to its token, as the drivers' TokenAwarePolicy
// assumes. Token-aware routing sends a request to the owner of its partition key's token; the
// next distinct nodes of the ring are the fall-backs (replicas under SimpleStrategy).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::core::client {

class token_ring {
public:
    void add(uint32_t node, int64_t token) { _ring.emplace_back(token, node); }
    // Adds every token of a `tokens` cell (set<text>, v3+ encoding); false when it is malformed
    // or a token is not a Murmur3 (64-bit) token.
    bool add_cell(uint32_t node, std::optional<std::string_view> cell);
    void build();  // sorts; call once after every add
    bool empty() const { return _ring.empty(); }
    size_t size() const { return _ring.size(); }
    // The node that owns `token`.
    uint32_t owner(int64_t token) const;
    // The i-th distinct node in ring order from the owner of `token` (i = 0: the owner).
    uint32_t nth_after(int64_t token, size_t i) const;

private:
    std::vector<std::pair<int64_t, uint32_t>> _ring;
};

// The elements of a set<text> or list<text> cell (v3+: [int] count, then [int]-length
// elements); nullopt when malformed.
std::optional<std::vector<std::string>> text_collection(std::optional<std::string_view> cell);

}  // namespace tandem::core::client
