#include "core/client/token_ring.hh"

#include <algorithm>
#include <charconv>

#include "cql/values.hh"

namespace tandem::core::client {

std::optional<std::vector<std::string>> text_collection(std::optional<std::string_view> cell) {
    std::vector<std::string> out;
    if (!cell) return out;
    static const cql::cql_type set_of_text = cql::cql_type::set_of(cql::cql_type::simple(cql::type_id::varchar));
    auto v = cql::decode_value(set_of_text, *cell);
    if (!v || !std::holds_alternative<cql::cql_list>(v->v)) return std::nullopt;
    for (const auto& e : std::get<cql::cql_list>(v->v)) {
        if (!std::holds_alternative<std::string>(e.v)) return std::nullopt;
        out.push_back(std::get<std::string>(e.v));
    }
    return out;
}

bool token_ring::add_cell(uint32_t node, std::optional<std::string_view> cell) {
    auto tokens = text_collection(cell);
    if (!tokens) return false;
    bool ok = true;
    for (const auto& t : *tokens) {
        int64_t v = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || end != t.data() + t.size()) {
            ok = false;  // not a Murmur3 token: this node gets no keys by token
            continue;
        }
        add(node, v);
    }
    return ok;
}

void token_ring::build() { std::sort(_ring.begin(), _ring.end()); }

uint32_t token_ring::owner(int64_t token) const {
    auto it = std::lower_bound(_ring.begin(), _ring.end(), std::make_pair(token, uint32_t{0}));
    return it == _ring.end() ? _ring.front().second : it->second;
}

uint32_t token_ring::nth_after(int64_t token, size_t i) const {
    auto it = std::lower_bound(_ring.begin(), _ring.end(), std::make_pair(token, uint32_t{0}));
    size_t at = static_cast<size_t>(it - _ring.begin());
    std::vector<uint32_t> seen;
    for (size_t step = 0; step < _ring.size(); ++step) {
        uint32_t n = _ring[(at + step) % _ring.size()].second;
        if (std::find(seen.begin(), seen.end(), n) != seen.end()) continue;
        if (seen.size() == i) return n;
        seen.push_back(n);
    }
    return seen.empty() ? 0 : seen[i % seen.size()];
}

}  // namespace tandem::core::client
