#pragma once
// Values of every CQL type (v4.spec §6, v5.spec §6 for duration): an owned representation and
// its encoding. Used where the proxy or cqlsim must understand a value (system tables, cqlsim's
// store, now() replacement); the proxy forwards every other value as opaque bytes.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cql/primitives.hh"
#include "cql/types.hh"

namespace tandem::cql {

// varint: minimal two's complement, big-endian (§6.23).
struct varint {
    std::string bytes;  // empty means 0 only when decoded from an empty value
    static varint from_int64(int64_t v);
    std::optional<int64_t> to_int64() const;
    std::string to_string() const;  // decimal digits, any size
    bool operator==(const varint&) const = default;
};

// decimal: unscaled varint and a scale (§6.6): value = unscaled × 10^-scale.
struct decimal {
    int32_t scale = 0;
    varint unscaled;
    bool operator==(const decimal&) const = default;
};

// duration (v5.spec §6.6): months, days and nanoseconds, each a zig-zag [vint]; the signs of
// the three must agree.
struct duration {
    int32_t months = 0;
    int32_t days = 0;
    int64_t nanoseconds = 0;
    bool operator==(const duration&) const = default;
};

struct cql_value;
using cql_list = std::vector<cql_value>;  // list, set, tuple and UDT fields (positional)
using cql_map = std::vector<std::pair<cql_value, cql_value>>;

// One value. Which alternative is legal depends on the type:
//  null          any type
//  bool          boolean
//  int64_t       tinyint, smallint, int, bigint, counter, timestamp (ms), time (ns since
//                midnight), date (days since the epoch, may be negative)
//  float/double  float/double
//  std::string   ascii, text/varchar, blob, custom
//  uuid_bytes    uuid, timeuuid
//  inet_address  inet
//  varint/decimal/duration
//  cql_list      list, set, tuple, udt
//  cql_map       map
struct null_value {
    bool operator==(const null_value&) const = default;
};
struct cql_value {
    std::variant<null_value, bool, int64_t, float, double, std::string, uuid_bytes, inet_address, varint,
                 decimal, duration, cql_list, cql_map>
        v;

    cql_value() = default;
    template <typename T>
        requires(!std::is_same_v<std::decay_t<T>, cql_value>)
    cql_value(T&& x) : v(std::forward<T>(x)) {}  // NOLINT(google-explicit-constructor)
    cql_value(const char* s) : v(std::string(s)) {}  // NOLINT(google-explicit-constructor)
    cql_value(int i) : v(int64_t{i}) {}  // NOLINT(google-explicit-constructor)

    bool is_null() const { return std::holds_alternative<null_value>(v); }
    bool operator==(const cql_value& o) const;
};

// Appends the serialized value (without the [bytes] length prefix); a null value writes
// nothing (callers write length -1). Fails when the value does not fit the type.
[[nodiscard]] result<bool> encode_value(const cql_type& t, const cql_value& v, std::string& out);
// Encodes as a [bytes]/[value]: length prefix, -1 for null.
[[nodiscard]] result<bool> encode_value_with_length(const cql_type& t, const cql_value& v,
                                                    std::string& out);
// Decodes a serialized value of type `t`; validates sizes, UTF-8 for text, ASCII for ascii.
[[nodiscard]] result<cql_value> decode_value(const cql_type& t, std::string_view bytes);
// Checks a serialized value against its type without building it (for bound values).
[[nodiscard]] bool validate_value(const cql_type& t, std::string_view bytes);

bool is_valid_utf8(std::string_view s);

}  // namespace tandem::cql
