#include "core/consistency.hh"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "cql/query.hh"

namespace tandem::core {

std::optional<cql::consistency> consistency_named(std::string_view name) {
    std::string upper;
    for (char c : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    for (uint16_t v = 0; v <= 0x000A; ++v) {
        const auto c = static_cast<cql::consistency>(v);
        if (cql::to_string(c) == upper) return c;
    }
    return std::nullopt;
}

namespace {

bool serial(cql::consistency c) { return c == cql::consistency::serial || c == cql::consistency::local_serial; }

// The consistency at `at` replaced in a copy, unless it is already `cl` or a serial level.
std::optional<std::string> patched(std::string_view message, size_t at, cql::consistency cl) {
    if (at + 2 > message.size()) return std::nullopt;
    const auto now = static_cast<cql::consistency>(cql::load_be16(message.data() + at));
    if (now == cl || serial(now)) return std::nullopt;
    std::string out(message);
    cql::store_be16(out.data() + at, static_cast<uint16_t>(cl));
    return out;
}

}  // namespace

std::optional<std::string> with_consistency(cql::opcode op, std::string_view message, uint8_t version, cql::consistency cl) {
    switch (op) {
        case cql::opcode::query: {  // [long string query][consistency]...
            if (message.size() < 4) return std::nullopt;
            const auto len = static_cast<int32_t>(cql::load_be32(message.data()));
            if (len < 0) return std::nullopt;
            return patched(message, 4 + static_cast<size_t>(len), cl);
        }
        case cql::opcode::execute: {  // [short bytes id][v5: short bytes result metadata id][consistency]...
            size_t at = 0;
            for (int i = 0; i < (version >= 5 ? 2 : 1); ++i) {
                if (at + 2 > message.size()) return std::nullopt;
                at += 2 + cql::load_be16(message.data() + at);
            }
            return patched(message, at, cl);
        }
        case cql::opcode::batch: {  // the consistency follows the children: decode and encode again
            auto m = cql::batch_message::decode(message, version);
            if (!m || m->cl == cl || serial(m->cl)) return std::nullopt;
            m->cl = cl;
            std::string out;
            m->encode(out, version);
            return out;
        }
        default: return std::nullopt;
    }
}

namespace {

// Whether the query parameters at `at` carry a timestamp (flag 0x20; the flags are a byte before
// v5, an int from v5 on). Nullopt when the body is too short to say.
std::optional<bool> timestamp_flag(std::string_view message, size_t at, uint8_t version) {
    at += 2;  // the consistency
    if (version >= 5) {
        if (at + 4 > message.size()) return std::nullopt;
        return (cql::load_be32(message.data() + at) & cql::query_flags::default_timestamp) != 0;
    }
    if (at + 1 > message.size()) return std::nullopt;
    return (static_cast<uint8_t>(message[at]) & cql::query_flags::default_timestamp) != 0;
}

}  // namespace

bool needs_timestamp(cql::opcode op, std::string_view message, uint8_t version) {
    switch (op) {
        case cql::opcode::query: {
            if (message.size() < 4) return false;
            const auto len = static_cast<int32_t>(cql::load_be32(message.data()));
            if (len < 0) return false;
            auto flag = timestamp_flag(message, 4 + static_cast<size_t>(len), version);
            return flag && !*flag;
        }
        case cql::opcode::execute: {
            size_t at = 0;
            for (int i = 0; i < (version >= 5 ? 2 : 1); ++i) {
                if (at + 2 > message.size()) return false;
                at += 2 + cql::load_be16(message.data() + at);
            }
            auto flag = timestamp_flag(message, at, version);
            return flag && !*flag;
        }
        case cql::opcode::batch: {
            auto m = cql::batch_message::decode(message, version);
            return m && !m->timestamp;
        }
        default: return false;
    }
}

namespace {

// Decodes a message of type M, sets its timestamp (`field` picks where M keeps it), encodes it.
template <class M, class Field>
bool stamped(std::string_view message, uint8_t version, int64_t micros, std::string& out, Field field) {
    auto m = M::decode(message, version);
    if (!m) return false;
    field(*m) = micros;
    m->encode(out, version);
    return true;
}

}  // namespace

bool with_timestamp(cql::opcode op, std::string_view message, uint8_t version, int64_t micros, std::string& out) {
    if (!needs_timestamp(op, message, version)) return false;
    out.clear();
    switch (op) {
        case cql::opcode::query:
            return stamped<cql::query_message>(message, version, micros, out, [](auto& m) -> auto& { return m.params.timestamp; });
        case cql::opcode::execute:
            return stamped<cql::execute_message>(message, version, micros, out, [](auto& m) -> auto& { return m.params.timestamp; });
        case cql::opcode::batch:
            return stamped<cql::batch_message>(message, version, micros, out, [](auto& m) -> auto& { return m.timestamp; });
        default: return false;
    }
}

int64_t timestamp_generator::next() {
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    _last = std::max<int64_t>(now, _last + 1);
    return _last;
}

}  // namespace tandem::core
