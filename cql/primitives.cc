#include "cql/primitives.hh"

#include <arpa/inet.h>

#include <cstring>

namespace tandem::cql {

bool is_valid(consistency c) {
    return static_cast<uint16_t>(c) <= static_cast<uint16_t>(consistency::local_one);
}

std::string_view to_string(consistency c) {
    switch (c) {
        case consistency::any: return "ANY";
        case consistency::one: return "ONE";
        case consistency::two: return "TWO";
        case consistency::three: return "THREE";
        case consistency::quorum: return "QUORUM";
        case consistency::all: return "ALL";
        case consistency::local_quorum: return "LOCAL_QUORUM";
        case consistency::each_quorum: return "EACH_QUORUM";
        case consistency::serial: return "SERIAL";
        case consistency::local_serial: return "LOCAL_SERIAL";
        case consistency::local_one: return "LOCAL_ONE";
    }
    return "UNKNOWN";
}

std::optional<inet_address> inet_address::parse(std::string_view text) {
    std::string s(text);
    inet_address a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.size = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.size = 16;
        return a;
    }
    return std::nullopt;
}

std::optional<inet_address> inet_address::from_bytes(std::string_view b) {
    if (b.size() != 4 && b.size() != 16) return std::nullopt;
    inet_address a;
    a.size = static_cast<uint8_t>(b.size());
    std::memcpy(a.bytes.data(), b.data(), b.size());
    return a;
}

std::string uuid_text(std::string_view b) {
    if (b.size() != 16) return {};
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(hex[static_cast<uint8_t>(b[i]) >> 4]);
        out.push_back(hex[static_cast<uint8_t>(b[i]) & 15]);
    }
    return out;
}

std::string inet_address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(size == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

uint8_t reader::read_byte() {
    if (_end - _p < 1) {
        fail("truncated [byte]");
        return 0;
    }
    return static_cast<uint8_t>(*_p++);
}

uint16_t reader::read_short() {
    if (_end - _p < 2) {
        fail("truncated [short]");
        return 0;
    }
    uint16_t v = load_be16(_p);
    _p += 2;
    return v;
}

int32_t reader::read_int() {
    if (_end - _p < 4) {
        fail("truncated [int]");
        return 0;
    }
    auto v = static_cast<int32_t>(load_be32(_p));
    _p += 4;
    return v;
}

int64_t reader::read_long() {
    if (_end - _p < 8) {
        fail("truncated [long]");
        return 0;
    }
    auto v = static_cast<int64_t>(load_be64(_p));
    _p += 8;
    return v;
}

std::string_view reader::read_raw(size_t n) {
    if (static_cast<size_t>(_end - _p) < n) {
        fail("length exceeds the remaining bytes");
        return {};
    }
    std::string_view v(_p, n);
    _p += n;
    return v;
}

std::string_view reader::read_string() {
    uint16_t n = read_short();
    return read_raw(n);
}

std::string_view reader::read_long_string() {
    int32_t n = read_int();
    if (n < 0) {
        fail("negative [long string] length");
        return {};
    }
    return read_raw(static_cast<size_t>(n));
}

std::optional<std::string_view> reader::read_bytes() {
    int32_t n = read_int();
    if (n < 0) {
        return std::nullopt;
    }
    return read_raw(static_cast<size_t>(n));
}

std::string_view reader::read_short_bytes() {
    uint16_t n = read_short();
    return read_raw(n);
}

value_ref reader::read_value() {
    int32_t n = read_int();
    if (n >= 0) {
        return value_ref::of(read_raw(static_cast<size_t>(n)));
    }
    if (n == -1) {
        return value_ref::null();
    }
    if (n == -2) {
        return value_ref::unset();
    }
    fail("[value] length below -2");
    return {};
}

uuid_bytes reader::read_uuid() {
    uuid_bytes u{};
    auto raw = read_raw(16);
    if (raw.size() == 16) {
        std::memcpy(u.data(), raw.data(), 16);
    }
    return u;
}

inet_address reader::read_inet_address() {
    inet_address a;
    uint8_t n = read_byte();
    if (n != 4 && n != 16) {
        fail("[inetaddr] size is neither 4 nor 16");
        return a;
    }
    auto raw = read_raw(n);
    if (raw.size() == n) {
        a.size = n;
        std::memcpy(a.bytes.data(), raw.data(), n);
    }
    return a;
}

inet_endpoint reader::read_inet() {
    inet_endpoint e;
    e.addr = read_inet_address();
    e.port = read_int();
    return e;
}

consistency reader::read_consistency() {
    auto c = static_cast<consistency>(read_short());
    if (!is_valid(c)) {
        fail("unknown consistency level");
    }
    return c;
}

std::vector<std::string_view> reader::read_string_list() {
    std::vector<std::string_view> out;
    uint16_t n = read_short();
    if (n > remaining() / 2) {
        fail("[string list] count exceeds the remaining bytes");
        return out;
    }
    out.reserve(n);
    for (uint16_t i = 0; i < n && ok(); ++i) {
        out.push_back(read_string());
    }
    return out;
}

string_map_view reader::read_string_map() {
    string_map_view out;
    uint16_t n = read_short();
    if (n > remaining() / 4) {
        fail("[string map] count exceeds the remaining bytes");
        return out;
    }
    out.reserve(n);
    for (uint16_t i = 0; i < n && ok(); ++i) {
        auto k = read_string();
        auto v = read_string();
        out.emplace_back(k, v);
    }
    return out;
}

string_multimap_view reader::read_string_multimap() {
    string_multimap_view out;
    uint16_t n = read_short();
    if (n > remaining() / 4) {
        fail("[string multimap] count exceeds the remaining bytes");
        return out;
    }
    out.reserve(n);
    for (uint16_t i = 0; i < n && ok(); ++i) {
        auto k = read_string();
        auto v = read_string_list();
        out.emplace_back(k, std::move(v));
    }
    return out;
}

std::vector<std::pair<std::string_view, std::optional<std::string_view>>> reader::read_bytes_map() {
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> out;
    uint16_t n = read_short();
    if (n > remaining() / 6) {
        fail("[bytes map] count exceeds the remaining bytes");
        return out;
    }
    out.reserve(n);
    for (uint16_t i = 0; i < n && ok(); ++i) {
        auto k = read_string();
        auto v = read_bytes();
        out.emplace_back(k, v);
    }
    return out;
}

// [vint] (v5 §3; Cassandra's VIntCoding): the count of leading one bits of the first byte is
// the number of extra bytes; the rest of the first byte holds the high bits of the value.
uint64_t reader::read_unsigned_vint() {
    uint8_t first = read_byte();
    if (!ok()) {
        return 0;
    }
    int extra = __builtin_clz(static_cast<unsigned>(static_cast<uint8_t>(~first)) << 24 | 0x800000);
    if (first == 0xFF) {
        extra = 8;
    }
    uint64_t v = extra >= 8 ? 0 : (first & (0xFFu >> extra));
    for (int i = 0; i < extra; ++i) {
        v = (v << 8) | read_byte();
    }
    return ok() ? v : 0;
}

int64_t reader::read_vint() {
    uint64_t n = read_unsigned_vint();
    return static_cast<int64_t>((n >> 1) ^ (~(n & 1) + 1));
}

void writer::write_short(uint16_t v) {
    char b[2];
    store_be16(b, v);
    _out.append(b, 2);
}

void writer::write_int(int32_t v) {
    char b[4];
    store_be32(b, static_cast<uint32_t>(v));
    _out.append(b, 4);
}

void writer::write_long(int64_t v) {
    char b[8];
    store_be64(b, static_cast<uint64_t>(v));
    _out.append(b, 8);
}

void writer::write_string(std::string_view s) {
    write_short(static_cast<uint16_t>(s.size()));
    _out.append(s);
}

void writer::write_long_string(std::string_view s) {
    write_int(static_cast<int32_t>(s.size()));
    _out.append(s);
}

void writer::write_bytes(std::optional<std::string_view> b) {
    if (!b) {
        write_int(-1);
        return;
    }
    write_int(static_cast<int32_t>(b->size()));
    _out.append(*b);
}

void writer::write_short_bytes(std::string_view b) {
    write_short(static_cast<uint16_t>(b.size()));
    _out.append(b);
}

void writer::write_value(const value_ref& v) {
    switch (v.st) {
        case value_ref::state::null: write_int(-1); return;
        case value_ref::state::unset: write_int(-2); return;
        case value_ref::state::normal: break;
    }
    write_int(static_cast<int32_t>(v.bytes.size()));
    _out.append(v.bytes);
}

void writer::write_inet_address(const inet_address& a) {
    write_byte(a.size);
    _out.append(a.address());
}

void writer::write_inet(const inet_endpoint& e) {
    write_inet_address(e.addr);
    write_int(e.port);
}

void writer::write_string_list(const std::vector<std::string_view>& l) {
    write_short(static_cast<uint16_t>(l.size()));
    for (auto s : l) {
        write_string(s);
    }
}

void writer::write_string_map(const string_map_view& m) {
    write_short(static_cast<uint16_t>(m.size()));
    for (auto& [k, v] : m) {
        write_string(k);
        write_string(v);
    }
}

void writer::write_string_multimap(const string_multimap_view& m) {
    write_short(static_cast<uint16_t>(m.size()));
    for (auto& [k, v] : m) {
        write_string(k);
        write_string_list(v);
    }
}

void writer::write_bytes_map(
    const std::vector<std::pair<std::string_view, std::optional<std::string_view>>>& m) {
    write_short(static_cast<uint16_t>(m.size()));
    for (auto& [k, v] : m) {
        write_string(k);
        write_bytes(v);
    }
}

void writer::write_unsigned_vint(uint64_t v) {
    // Size as Cassandra computes it: 1 byte up to 7 bits, then one more byte per 7 bits, max 9.
    int magnitude = __builtin_clzll(v | 1);
    int size = (639 - magnitude * 9) >> 6;
    if (size == 1) {
        write_byte(static_cast<uint8_t>(v));
        return;
    }
    char buf[9];
    int extra = size - 1;
    for (int i = extra; i >= 0; --i) {
        buf[i] = static_cast<char>(v & 0xFF);
        v >>= 8;
    }
    buf[0] = static_cast<char>(static_cast<uint8_t>(buf[0]) | static_cast<uint8_t>(~(0xFFu >> extra)));
    _out.append(buf, static_cast<size_t>(size));
}

void writer::write_vint(int64_t v) {
    write_unsigned_vint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void writer::patch_int(size_t pos, int32_t v) {
    store_be32(_out.data() + pos, static_cast<uint32_t>(v));
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        auto b = static_cast<uint8_t>(c);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return std::nullopt;
    }
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]);
        int lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return out;
}

}  // namespace tandem::cql
