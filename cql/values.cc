#include "cql/values.hh"

#include <algorithm>
#include <cstring>

namespace tandem::cql {

namespace {

constexpr int64_t nanos_per_day = 86'400'000'000'000LL;
constexpr int max_value_depth = 64;

template <typename T>
const T* as(const cql_value& v) {
    return std::get_if<T>(&v.v);
}

void append_be(std::string& out, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
}

uint64_t load_be(std::string_view b) {
    uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
    return v;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}

result<bool> encode_impl(const cql_type& t, const cql_value& v, std::string& out, int depth);

result<bool> encode_elements(const cql_type& t, const cql_value& v, std::string& out, int depth) {
    const cql_list* items = as<cql_list>(v);
    if (!items) return decode_error{"collection value expected"};
    const cql_type& et = t.params.at(0);
    writer w(out);
    w.write_int(static_cast<int32_t>(items->size()));
    for (const auto& item : *items) {
        if (item.is_null()) return decode_error{"null element in a collection"};
        size_t at = out.size();
        w.write_int(0);
        auto r = encode_impl(et, item, out, depth + 1);
        if (!r) return r;
        w.patch_int(at, static_cast<int32_t>(out.size() - at - 4));
    }
    return true;
}

// Writes each of `items` as a [bytes] with -1 for null (tuple elements and UDT fields).
result<bool> encode_fields(const std::vector<cql_type>& types, const cql_list& items, std::string& out,
                           int depth) {
    if (items.size() > types.size()) return decode_error{"more fields than the type has"};
    writer w(out);
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].is_null()) {
            w.write_int(-1);
            continue;
        }
        size_t at = out.size();
        w.write_int(0);
        auto r = encode_impl(types[i], items[i], out, depth + 1);
        if (!r) return r;
        w.patch_int(at, static_cast<int32_t>(out.size() - at - 4));
    }
    return true;
}

result<bool> encode_impl(const cql_type& t, const cql_value& v, std::string& out, int depth) {
    if (depth > max_value_depth) return decode_error{"value nesting too deep"};
    if (v.is_null()) return true;
    auto int_in = [&](int64_t lo, int64_t hi, int bytes) -> result<bool> {
        const int64_t* i = as<int64_t>(v);
        if (!i) return decode_error{"integer value expected"};
        if (*i < lo || *i > hi) return decode_error{"integer out of range for the type"};
        append_be(out, static_cast<uint64_t>(*i), bytes);
        return true;
    };
    switch (t.id) {
        case type_id::boolean: {
            const bool* b = as<bool>(v);
            if (!b) return decode_error{"boolean value expected"};
            out.push_back(*b ? 1 : 0);
            return true;
        }
        case type_id::tinyint: return int_in(INT8_MIN, INT8_MAX, 1);
        case type_id::smallint: return int_in(INT16_MIN, INT16_MAX, 2);
        case type_id::int_: return int_in(INT32_MIN, INT32_MAX, 4);
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp: return int_in(INT64_MIN, INT64_MAX, 8);
        case type_id::time: return int_in(0, nanos_per_day - 1, 8);
        case type_id::date: {
            const int64_t* d = as<int64_t>(v);
            if (!d) return decode_error{"date value expected (days since the epoch)"};
            if (*d < INT32_MIN || *d > INT32_MAX) return decode_error{"date out of range"};
            append_be(out, static_cast<uint32_t>(*d + (int64_t{1} << 31)), 4);
            return true;
        }
        case type_id::float_: {
            const float* f = as<float>(v);
            if (!f) return decode_error{"float value expected"};
            uint32_t bits;
            std::memcpy(&bits, f, 4);
            append_be(out, bits, 4);
            return true;
        }
        case type_id::double_: {
            const double* d = as<double>(v);
            if (!d) return decode_error{"double value expected"};
            uint64_t bits;
            std::memcpy(&bits, d, 8);
            append_be(out, bits, 8);
            return true;
        }
        case type_id::ascii:
        case type_id::varchar:
        case type_id::text:
        case type_id::blob:
        case type_id::custom: {
            const std::string* s = as<std::string>(v);
            if (!s) return decode_error{"string value expected"};
            if (t.id == type_id::ascii && !is_ascii(*s)) return decode_error{"non-ASCII byte in an ascii value"};
            if ((t.id == type_id::varchar || t.id == type_id::text) && !is_valid_utf8(*s)) {
                return decode_error{"invalid UTF-8 in a text value"};
            }
            out.append(*s);
            return true;
        }
        case type_id::uuid:
        case type_id::timeuuid: {
            const uuid_bytes* u = as<uuid_bytes>(v);
            if (!u) return decode_error{"uuid value expected"};
            if (t.id == type_id::timeuuid && ((*u)[6] >> 4) != 1) return decode_error{"timeuuid must be a version 1 UUID"};
            out.append(reinterpret_cast<const char*>(u->data()), 16);
            return true;
        }
        case type_id::inet: {
            const inet_address* a = as<inet_address>(v);
            if (!a || (a->size != 4 && a->size != 16)) return decode_error{"inet value expected"};
            out.append(a->address());
            return true;
        }
        case type_id::varint: {
            const varint* n = as<varint>(v);
            if (!n) {
                if (const int64_t* i = as<int64_t>(v)) {
                    out.append(varint::from_int64(*i).bytes);
                    return true;
                }
                return decode_error{"varint value expected"};
            }
            out.append(n->bytes);
            return true;
        }
        case type_id::decimal: {
            const decimal* d = as<decimal>(v);
            if (!d) return decode_error{"decimal value expected"};
            append_be(out, static_cast<uint32_t>(d->scale), 4);
            out.append(d->unscaled.bytes);
            return true;
        }
        case type_id::duration: {
            const duration* d = as<duration>(v);
            if (!d) return decode_error{"duration value expected"};
            bool neg = d->months < 0 || d->days < 0 || d->nanoseconds < 0;
            bool pos = d->months > 0 || d->days > 0 || d->nanoseconds > 0;
            if (neg && pos) return decode_error{"duration components must all have the same sign"};
            writer w(out);
            w.write_vint(d->months);
            w.write_vint(d->days);
            w.write_vint(d->nanoseconds);
            return true;
        }
        case type_id::list:
        case type_id::set:
            return encode_elements(t, v, out, depth);
        case type_id::map: {
            const cql_map* m = as<cql_map>(v);
            if (!m) return decode_error{"map value expected"};
            writer w(out);
            w.write_int(static_cast<int32_t>(m->size()));
            for (const auto& [k, val] : *m) {
                if (k.is_null() || val.is_null()) return decode_error{"null key or value in a map"};
                for (int side = 0; side < 2; ++side) {
                    size_t at = out.size();
                    w.write_int(0);
                    auto r = encode_impl(t.params.at(static_cast<size_t>(side)), side ? val : k, out, depth + 1);
                    if (!r) return r;
                    w.patch_int(at, static_cast<int32_t>(out.size() - at - 4));
                }
            }
            return true;
        }
        case type_id::tuple:
        case type_id::udt: {
            const cql_list* items = as<cql_list>(v);
            if (!items) return decode_error{"tuple or UDT value expected"};
            return encode_fields(t.params, *items, out, depth);
        }
    }
    return decode_error{"unknown type"};
}

result<cql_value> decode_impl(const cql_type& t, std::string_view b, int depth);

result<cql_value> decode_elements(const cql_type& t, std::string_view b, int depth) {
    reader r(b);
    int32_t n = r.read_int();
    if (!r.ok()) return decode_error{"collection shorter than its count"};
    if (n < 0 || static_cast<size_t>(n) > r.remaining() / 4) return decode_error{"collection count exceeds the value"};
    cql_list items;
    items.reserve(static_cast<size_t>(n));
    const cql_type& et = t.params.at(0);
    for (int32_t i = 0; i < n; ++i) {
        auto e = r.read_bytes();
        if (!r.ok()) return decode_error{"collection element truncated"};
        if (!e) return decode_error{"null element in a collection"};
        auto d = decode_impl(et, *e, depth + 1);
        if (!d) return d;
        // An empty element of a fixed-size type would read as null, which a collection cannot
        // hold; refusing it keeps every decoded collection encodable (found by values_fuzz).
        if (d->is_null()) return decode_error{"empty element in a collection"};
        items.push_back(std::move(*d));
    }
    if (!r.at_end()) return decode_error{"bytes after the last collection element"};
    return cql_value(std::move(items));
}

result<cql_value> decode_impl(const cql_type& t, std::string_view b, int depth) {
    if (depth > max_value_depth) return decode_error{"value nesting too deep"};
    auto fixed = [&](size_t n) { return b.size() == n; };
    // Cassandra accepts an empty value for the fixed-size types and reads it back as empty;
    // drivers present it as null.
    switch (t.id) {
        case type_id::boolean:
        case type_id::tinyint:
        case type_id::smallint:
        case type_id::int_:
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
        case type_id::time:
        case type_id::date:
        case type_id::float_:
        case type_id::double_:
        case type_id::uuid:
        case type_id::timeuuid:
        case type_id::inet:
        case type_id::decimal:
        case type_id::varint:
            if (b.empty()) return cql_value(null_value{});
            break;
        default:
            break;
    }
    switch (t.id) {
        case type_id::boolean:
            if (!fixed(1)) return decode_error{"boolean value must be 1 byte"};
            return cql_value(b[0] != 0);
        case type_id::tinyint:
            if (!fixed(1)) return decode_error{"tinyint value must be 1 byte"};
            return cql_value(int64_t{static_cast<int8_t>(b[0])});
        case type_id::smallint:
            if (!fixed(2)) return decode_error{"smallint value must be 2 bytes"};
            return cql_value(int64_t{static_cast<int16_t>(load_be(b))});
        case type_id::int_:
            if (!fixed(4)) return decode_error{"int value must be 4 bytes"};
            return cql_value(int64_t{static_cast<int32_t>(load_be(b))});
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
            if (!fixed(8)) return decode_error{"64-bit value must be 8 bytes"};
            return cql_value(static_cast<int64_t>(load_be(b)));
        case type_id::time: {
            if (!fixed(8)) return decode_error{"time value must be 8 bytes"};
            auto ns = static_cast<int64_t>(load_be(b));
            if (ns < 0 || ns >= nanos_per_day) return decode_error{"time value outside one day"};
            return cql_value(ns);
        }
        case type_id::date:
            if (!fixed(4)) return decode_error{"date value must be 4 bytes"};
            return cql_value(static_cast<int64_t>(load_be(b)) - (int64_t{1} << 31));
        case type_id::float_: {
            if (!fixed(4)) return decode_error{"float value must be 4 bytes"};
            auto bits = static_cast<uint32_t>(load_be(b));
            float f;
            std::memcpy(&f, &bits, 4);
            return cql_value(f);
        }
        case type_id::double_: {
            if (!fixed(8)) return decode_error{"double value must be 8 bytes"};
            uint64_t bits = load_be(b);
            double d;
            std::memcpy(&d, &bits, 8);
            return cql_value(d);
        }
        case type_id::ascii:
            if (!is_ascii(b)) return decode_error{"non-ASCII byte in an ascii value"};
            return cql_value(std::string(b));
        case type_id::varchar:
        case type_id::text:
            if (!is_valid_utf8(b)) return decode_error{"invalid UTF-8 in a text value"};
            return cql_value(std::string(b));
        case type_id::blob:
        case type_id::custom:
            return cql_value(std::string(b));
        case type_id::uuid:
        case type_id::timeuuid: {
            if (!fixed(16)) return decode_error{"uuid value must be 16 bytes"};
            uuid_bytes u;
            std::memcpy(u.data(), b.data(), 16);
            if (t.id == type_id::timeuuid && (u[6] >> 4) != 1) return decode_error{"timeuuid must be a version 1 UUID"};
            return cql_value(u);
        }
        case type_id::inet: {
            if (!fixed(4) && !fixed(16)) return decode_error{"inet value must be 4 or 16 bytes"};
            inet_address a;
            a.size = static_cast<uint8_t>(b.size());
            std::memcpy(a.bytes.data(), b.data(), b.size());
            return cql_value(a);
        }
        case type_id::varint:
            return cql_value(varint{std::string(b)});
        case type_id::decimal: {
            if (b.size() < 5) return decode_error{"decimal value shorter than 5 bytes"};
            decimal d;
            d.scale = static_cast<int32_t>(load_be(b.substr(0, 4)));
            d.unscaled.bytes = std::string(b.substr(4));
            return cql_value(std::move(d));
        }
        case type_id::duration: {
            reader r(b);
            duration d;
            int64_t months = r.read_vint();
            int64_t days = r.read_vint();
            d.nanoseconds = r.read_vint();
            if (!r.ok() || !r.at_end()) return decode_error{"duration value is not three vints"};
            if (months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX) {
                return decode_error{"duration months or days out of range"};
            }
            d.months = static_cast<int32_t>(months);
            d.days = static_cast<int32_t>(days);
            bool neg = d.months < 0 || d.days < 0 || d.nanoseconds < 0;
            bool pos = d.months > 0 || d.days > 0 || d.nanoseconds > 0;
            if (neg && pos) return decode_error{"duration components must all have the same sign"};
            return cql_value(d);
        }
        case type_id::list:
        case type_id::set:
            return decode_elements(t, b, depth);
        case type_id::map: {
            reader r(b);
            int32_t n = r.read_int();
            if (!r.ok()) return decode_error{"map shorter than its count"};
            if (n < 0 || static_cast<size_t>(n) > r.remaining() / 8) return decode_error{"map count exceeds the value"};
            cql_map m;
            m.reserve(static_cast<size_t>(n));
            for (int32_t i = 0; i < n; ++i) {
                auto kb = r.read_bytes();
                auto vb = r.read_bytes();
                if (!r.ok()) return decode_error{"map entry truncated"};
                if (!kb || !vb) return decode_error{"null key or value in a map"};
                auto k = decode_impl(t.params.at(0), *kb, depth + 1);
                if (!k) return k;
                auto v = decode_impl(t.params.at(1), *vb, depth + 1);
                if (!v) return v;
                if (k->is_null() || v->is_null()) return decode_error{"empty key or value in a map"};
                m.emplace_back(std::move(*k), std::move(*v));
            }
            if (!r.at_end()) return decode_error{"bytes after the last map entry"};
            return cql_value(std::move(m));
        }
        case type_id::tuple:
        case type_id::udt: {
            // Both may be sent with trailing fields missing; those read as null.
            reader r(b);
            cql_list items;
            items.reserve(t.params.size());
            for (size_t i = 0; i < t.params.size() && r.remaining() > 0; ++i) {
                auto fb = r.read_bytes();
                if (!r.ok()) return decode_error{"tuple or UDT field truncated"};
                if (!fb) {
                    items.emplace_back(null_value{});
                    continue;
                }
                auto f = decode_impl(t.params[i], *fb, depth + 1);
                if (!f) return f;
                items.push_back(std::move(*f));
            }
            if (!r.at_end()) return decode_error{"bytes after the last tuple or UDT field"};
            while (items.size() < t.params.size()) items.emplace_back(null_value{});
            return cql_value(std::move(items));
        }
    }
    return decode_error{"unknown type"};
}

}  // namespace

bool cql_value::operator==(const cql_value& o) const { return v == o.v; }

varint varint::from_int64(int64_t v) {
    std::string b;
    append_be(b, static_cast<uint64_t>(v), 8);
    size_t skip = 0;
    while (skip < 7) {
        auto cur = static_cast<uint8_t>(b[skip]);
        auto next = static_cast<uint8_t>(b[skip + 1]);
        if ((cur == 0x00 && !(next & 0x80)) || (cur == 0xFF && (next & 0x80))) {
            ++skip;
        } else {
            break;
        }
    }
    return varint{b.substr(skip)};
}

std::optional<int64_t> varint::to_int64() const {
    if (bytes.empty()) return int64_t{0};
    if (bytes.size() > 8) return std::nullopt;
    uint64_t v = (static_cast<uint8_t>(bytes[0]) & 0x80) ? ~uint64_t{0} : 0;
    for (char c : bytes) v = (v << 8) | static_cast<uint8_t>(c);
    return static_cast<int64_t>(v);
}

std::string varint::to_string() const {
    if (bytes.empty()) return "0";
    std::vector<uint8_t> mag(bytes.begin(), bytes.end());
    bool negative = mag[0] & 0x80;
    if (negative) {
        // Two's complement negation: invert and add one.
        for (auto& b : mag) b = static_cast<uint8_t>(~b);
        for (size_t i = mag.size(); i-- > 0;) {
            if (++mag[i] != 0) break;
        }
    }
    std::string digits;
    while (std::any_of(mag.begin(), mag.end(), [](uint8_t b) { return b != 0; })) {
        unsigned rem = 0;
        for (auto& b : mag) {
            unsigned cur = rem * 256 + b;
            b = static_cast<uint8_t>(cur / 10);
            rem = cur % 10;
        }
        digits.push_back(static_cast<char>('0' + rem));
    }
    if (digits.empty()) digits = "0";
    if (negative) digits.push_back('-');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p <= n) return false;
        for (int i = 1; i <= n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

result<bool> encode_value(const cql_type& t, const cql_value& v, std::string& out) {
    size_t at = out.size();
    auto r = encode_impl(t, v, out, 0);
    if (!r) out.resize(at);
    return r;
}

result<bool> encode_value_with_length(const cql_type& t, const cql_value& v, std::string& out) {
    writer w(out);
    if (v.is_null()) {
        w.write_int(-1);
        return true;
    }
    size_t at = out.size();
    w.write_int(0);
    auto r = encode_impl(t, v, out, 0);
    if (!r) {
        out.resize(at);
        return r;
    }
    w.patch_int(at, static_cast<int32_t>(out.size() - at - 4));
    return true;
}

result<cql_value> decode_value(const cql_type& t, std::string_view bytes) { return decode_impl(t, bytes, 0); }

bool validate_value(const cql_type& t, std::string_view bytes) { return decode_impl(t, bytes, 0).has_value(); }

}  // namespace tandem::cql
