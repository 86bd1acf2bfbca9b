#pragma once
// The [notation] of native_protocol_v4.spec §3 and v5.spec §3: bounds-checked readers and
// appending writers for [byte], [short], [int], [long], [string], [long string], [bytes],
// [value], [short bytes], [uuid], [inet], [string list], [string map], [string multimap],
// [bytes map], [consistency] and v5's [vint] (§3, used by duration values).
//
// Decoding never throws and never allocates for scalar reads: a `reader` walks a byte view and
// keeps the first error it meets ("sticky"); every later read returns a zero value. Callers read
// a whole structure, then check `ok()` once. Views returned point into the input.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::cql {

// Why a decode failed, as a static string: no allocation on the error path either.
struct decode_error {
    std::string_view reason;
};

// A value or the reason there is none. The reason points at a string literal.
template <typename T>
class [[nodiscard]] result {
    std::optional<T> _value;
    std::string_view _error;

public:
    result(T v) : _value(std::move(v)) {}  // NOLINT(google-explicit-constructor)
    result(decode_error e) : _error(e.reason) {}  // NOLINT(google-explicit-constructor)
    explicit operator bool() const { return _value.has_value(); }
    bool has_value() const { return _value.has_value(); }
    T& value() & { return *_value; }
    const T& value() const& { return *_value; }
    T&& value() && { return std::move(*_value); }
    T* operator->() { return &*_value; }
    const T* operator->() const { return &*_value; }
    T& operator*() { return *_value; }
    const T& operator*() const { return *_value; }
    std::string_view error() const { return _error; }
};

// Consistency levels, [consistency] (§3).
enum class consistency : uint16_t {
    any = 0x0000,
    one = 0x0001,
    two = 0x0002,
    three = 0x0003,
    quorum = 0x0004,
    all = 0x0005,
    local_quorum = 0x0006,
    each_quorum = 0x0007,
    serial = 0x0008,
    local_serial = 0x0009,
    local_one = 0x000A,
};
bool is_valid(consistency c);
std::string_view to_string(consistency c);

using uuid_bytes = std::array<uint8_t, 16>;
// A uuid's 16 bytes as text, 8-4-4-4-12 lowercase hex digits; empty for another size.
std::string uuid_text(std::string_view sixteen_bytes);

// [inet]: an address of 4 or 16 bytes and a port. Also used for inet values (address only).
struct inet_address {
    uint8_t size = 4;  // 4 (IPv4) or 16 (IPv6)
    std::array<uint8_t, 16> bytes{};
    bool operator==(const inet_address&) const = default;
    std::string_view address() const {
        return {reinterpret_cast<const char*>(bytes.data()), size};
    }
    static std::optional<inet_address> parse(std::string_view text);  // "1.2.3.4" or "::1"
    // From an inet value's 4 or 16 bytes; nullopt for any other size.
    static std::optional<inet_address> from_bytes(std::string_view b);
    std::string to_string() const;
};
struct inet_endpoint {
    inet_address addr;
    int32_t port = 0;
    bool operator==(const inet_endpoint&) const = default;
};

// A [value]: bytes, null (length -1) or, from v4, unset (length -2).
struct value_ref {
    enum class state : uint8_t { normal, null, unset };
    state st = state::normal;
    std::string_view bytes;
    static value_ref null() { return {state::null, {}}; }
    static value_ref unset() { return {state::unset, {}}; }
    static value_ref of(std::string_view b) { return {state::normal, b}; }
    bool is_null() const { return st == state::null; }
    bool is_unset() const { return st == state::unset; }
    bool operator==(const value_ref&) const = default;
};

using string_pair = std::pair<std::string_view, std::string_view>;
using string_map_view = std::vector<string_pair>;
using string_multimap_view = std::vector<std::pair<std::string_view, std::vector<std::string_view>>>;

class reader {
    const char* _p;
    const char* _end;
    std::string_view _error;

public:
    explicit reader(std::string_view in) : _p(in.data()), _end(in.data() + in.size()) {}

    bool ok() const { return _error.empty(); }
    std::string_view error() const { return _error; }
    size_t remaining() const { return ok() ? static_cast<size_t>(_end - _p) : 0; }
    bool at_end() const { return ok() && _p == _end; }
    const char* position() const { return _p; }
    // Records the first failure; later reads return zero values.
    void fail(std::string_view reason) {
        if (_error.empty()) {
            _error = reason;
        }
        _p = _end;
    }

    uint8_t read_byte();
    uint16_t read_short();
    int32_t read_int();
    int64_t read_long();
    std::string_view read_raw(size_t n);
    std::string_view read_string();         // [string]: [short] n, n bytes
    std::string_view read_long_string();    // [long string]: [int] n, n bytes
    std::optional<std::string_view> read_bytes();  // [bytes]: n < 0 is null
    std::string_view read_short_bytes();    // [short bytes]
    value_ref read_value();                 // [value]: -1 null, -2 unset, other negatives malformed
    uuid_bytes read_uuid();
    inet_address read_inet_address();  // [inetaddr]: [byte] n, n bytes
    inet_endpoint read_inet();         // [inet]: [inetaddr] then [int] port
    consistency read_consistency();
    std::vector<std::string_view> read_string_list();
    string_map_view read_string_map();
    string_multimap_view read_string_multimap();
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> read_bytes_map();
    uint64_t read_unsigned_vint();
    int64_t read_vint();  // zig-zag signed
};

// Appends to a std::string used as a byte buffer.
class writer {
    std::string& _out;

public:
    explicit writer(std::string& out) : _out(out) {}
    std::string& buffer() { return _out; }
    size_t size() const { return _out.size(); }

    void write_byte(uint8_t v) { _out.push_back(static_cast<char>(v)); }
    void write_short(uint16_t v);
    void write_int(int32_t v);
    void write_long(int64_t v);
    void write_raw(std::string_view b) { _out.append(b); }
    void write_string(std::string_view s);
    void write_long_string(std::string_view s);
    void write_bytes(std::optional<std::string_view> b);
    void write_short_bytes(std::string_view b);
    void write_value(const value_ref& v);
    void write_uuid(const uuid_bytes& u) { _out.append(reinterpret_cast<const char*>(u.data()), 16); }
    void write_inet_address(const inet_address& a);
    void write_inet(const inet_endpoint& e);
    void write_consistency(consistency c) { write_short(static_cast<uint16_t>(c)); }
    void write_string_list(const std::vector<std::string_view>& l);
    void write_string_map(const string_map_view& m);
    void write_string_multimap(const string_multimap_view& m);
    void write_bytes_map(const std::vector<std::pair<std::string_view, std::optional<std::string_view>>>& m);
    void write_unsigned_vint(uint64_t v);
    void write_vint(int64_t v);
    // Overwrites a big-endian [int] written earlier at `pos` (for counts known only at the end).
    void patch_int(size_t pos, int32_t v);
};

// Big-endian loads and stores on raw bytes.
inline uint16_t load_be16(const char* p) {
    return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
inline uint32_t load_be32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
inline uint64_t load_be64(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
inline void store_be16(char* p, uint16_t v) {
    p[0] = static_cast<char>(v >> 8);
    p[1] = static_cast<char>(v);
}
inline void store_be32(char* p, uint32_t v) {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}
inline void store_be64(char* p, uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

// Hex helpers for logs and tests.
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace tandem::cql
