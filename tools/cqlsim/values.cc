#include "tools/cqlsim/values.hh"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>

#include "cql/values.hh"

namespace tandem::cqlsim {

using cql::cql_type;
using cql::type_id;

namespace {

std::mt19937_64& rng() {
    static std::mt19937_64 r{std::random_device{}()};
    return r;
}

std::string type_name(const cql_type& t) { return cql::to_cql_string(t); }

bool parse_int(const term& t, int64_t& out) {
    if (t.text.empty()) return false;
    // Parse with the sign: -9223372036854775808 fits only as a negative literal.
    std::string text = (t.negative ? "-" : "") + t.text;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return false;
    out = v;
    return true;
}

bool parse_double(const term& t, double& out) {
    char* end = nullptr;
    std::string s = t.text;
    if (s == "NaN" || s == "nan") {
        out = std::nan("");
        return true;
    }
    if (s == "Infinity" || s == "infinity") {
        out = t.negative ? -INFINITY : INFINITY;
        return true;
    }
    out = std::strtod(s.c_str(), &end);
    if (*end != '\0') return false;
    if (t.negative) out = -out;
    return true;
}

// Days since the epoch for a proleptic Gregorian date.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// 'YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HHMM]' → milliseconds since the epoch.
std::optional<int64_t> parse_timestamp(const std::string& s) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
    int n = 0;
    if (std::sscanf(s.c_str(), "%d-%d-%d%n", &y, &mo, &d, &n) != 3) return std::nullopt;
    const char* p = s.c_str() + n;
    if (*p == ' ' || *p == 'T') {
        ++p;
        int k = 0;
        if (std::sscanf(p, "%d:%d%n", &h, &mi, &k) != 2) return std::nullopt;
        p += k;
        if (*p == ':') {
            ++p;
            if (std::sscanf(p, "%d%n", &sec, &k) != 1) return std::nullopt;
            p += k;
            if (*p == '.') {
                ++p;
                int digits = 0;
                while (*p >= '0' && *p <= '9') {
                    if (digits < 3) ms = ms * 10 + (*p - '0');
                    ++digits;
                    ++p;
                }
                for (; digits < 3; ++digits) ms *= 10;
            }
        }
    }
    int offset_min = 0;
    if (*p == 'Z') {
        ++p;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        ++p;
        int hh = 0, mm = 0;
        if (std::sscanf(p, "%2d:%2d", &hh, &mm) == 2 || std::sscanf(p, "%2d%2d", &hh, &mm) == 2) {
            offset_min = sign * (hh * 60 + mm);
        }
        while (*p) ++p;
    }
    if (*p != '\0') return std::nullopt;
    int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    return ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms;
}

std::optional<cql::uuid_bytes> parse_uuid(const std::string& s) {
    std::string hex;
    for (char c : s) {
        if (c != '-') hex.push_back(c);
    }
    auto bytes = cql::from_hex(hex);
    if (!bytes || bytes->size() != 16) return std::nullopt;
    cql::uuid_bytes u;
    std::memcpy(u.data(), bytes->data(), 16);
    return u;
}

}  // namespace

cql::uuid_bytes random_uuid() {
    cql::uuid_bytes u;
    uint64_t a = rng()(), b = rng()();
    std::memcpy(u.data(), &a, 8);
    std::memcpy(u.data() + 8, &b, 8);
    u[6] = static_cast<uint8_t>((u[6] & 0x0F) | 0x40);
    u[8] = static_cast<uint8_t>((u[8] & 0x3F) | 0x80);
    return u;
}

cql::uuid_bytes time_uuid(int64_t now_us) {
    // 100 ns intervals since 1582-10-15, the version-1 UUID epoch.
    static uint64_t last = 0;
    uint64_t ts = static_cast<uint64_t>(now_us) * 10 + 0x01B21DD213814000ULL;
    if (ts <= last) ts = last + 1;
    last = ts;
    cql::uuid_bytes u;
    uint32_t time_low = static_cast<uint32_t>(ts);
    uint16_t time_mid = static_cast<uint16_t>(ts >> 32);
    uint16_t time_hi = static_cast<uint16_t>((ts >> 48) & 0x0FFF) | 0x1000;
    cql::store_be32(reinterpret_cast<char*>(u.data()), time_low);
    cql::store_be16(reinterpret_cast<char*>(u.data()) + 4, time_mid);
    cql::store_be16(reinterpret_cast<char*>(u.data()) + 6, time_hi);
    static const uint64_t node = rng()();
    std::memcpy(u.data() + 8, &node, 8);
    u[8] = static_cast<uint8_t>((u[8] & 0x3F) | 0x80);
    return u;
}

std::string uuid_to_string(const cql::uuid_bytes& u) {
    auto h = cql::to_hex(std::string_view(reinterpret_cast<const char*>(u.data()), 16));
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string md5(std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::optional<evaluated> evaluate(const term& t, const cql_type& type, const std::string& column,
                                  const eval_context& ctx, std::string& error) {
    auto invalid = [&](const char* what) -> std::optional<evaluated> {
        error = std::string("Invalid ") + what + " constant (" + (t.negative ? "-" : "") + t.text + ") for \"" + column +
                "\" of type " + type_name(type);
        return std::nullopt;
    };
    evaluated out;
    auto encode = [&](const cql::cql_value& v) -> std::optional<evaluated> {
        std::string bytes;
        auto r = cql::encode_value(type, v, bytes);
        if (!r) {
            error = "Invalid value for \"" + column + "\" of type " + type_name(type) + ": " + std::string(r.error());
            return std::nullopt;
        }
        out.bytes = std::move(bytes);
        return out;
    };
    switch (t.k) {
        case term::kind::null:
            return out;
        case term::kind::marker: {
            if (!ctx.bound || t.marker_index < 0 || static_cast<size_t>(t.marker_index) >= ctx.bound->size()) {
                error = "There were fewer values bound than bind markers";
                return std::nullopt;
            }
            const auto& v = (*ctx.bound)[static_cast<size_t>(t.marker_index)];
            if (v.is_unset()) {
                out.unset = true;
                return out;
            }
            if (v.is_null()) return out;
            if (!cql::validate_value(type, v.bytes)) {
                error = "Invalid value for \"" + column + "\" of type " + type_name(type);
                return std::nullopt;
            }
            out.bytes = std::string(v.bytes);
            return out;
        }
        case term::kind::number: {
            switch (type.id) {
                case type_id::tinyint:
                case type_id::smallint:
                case type_id::int_:
                case type_id::bigint:
                case type_id::counter:
                case type_id::timestamp:
                case type_id::varint: {
                    int64_t v;
                    if (!parse_int(t, v)) return invalid("INTEGER");
                    if (type.id == type_id::varint) return encode(cql::varint::from_int64(v));
                    return encode(cql::cql_value(v));
                }
                case type_id::float_:
                case type_id::double_: {
                    double d;
                    if (!parse_double(t, d)) return invalid("FLOAT");
                    return type.id == type_id::float_ ? encode(cql::cql_value(static_cast<float>(d))) : encode(cql::cql_value(d));
                }
                case type_id::decimal: {
                    std::string digits;
                    int32_t scale = 0;
                    bool after_dot = false;
                    for (char c : t.text) {
                        if (c == '.') {
                            after_dot = true;
                        } else if (c >= '0' && c <= '9') {
                            digits.push_back(c);
                            if (after_dot) ++scale;
                        } else {
                            return invalid("DECIMAL");
                        }
                    }
                    int64_t unscaled = std::strtoll(digits.c_str(), nullptr, 10);
                    if (t.negative) unscaled = -unscaled;
                    return encode(cql::decimal{scale, cql::varint::from_int64(unscaled)});
                }
                default:
                    return invalid("INTEGER");
            }
        }
        case term::kind::string: {
            switch (type.id) {
                case type_id::ascii:
                case type_id::varchar:
                case type_id::text:
                    return encode(cql::cql_value(t.text));
                case type_id::timestamp: {
                    auto ms = parse_timestamp(t.text);
                    if (!ms) {
                        error = "Unable to coerce '" + t.text + "' to a formatted date (long)";
                        return std::nullopt;
                    }
                    return encode(cql::cql_value(*ms));
                }
                case type_id::date: {
                    auto ms = parse_timestamp(t.text);
                    if (!ms) return invalid("STRING");
                    return encode(cql::cql_value(*ms / 86'400'000));
                }
                case type_id::time: {
                    // HH:MM:SS[.fffffffff]: the fraction has up to 9 digits (nanoseconds).
                    int h = 0, m = 0, s = 0, used = 0;
                    if (std::sscanf(t.text.c_str(), "%d:%d:%d%n", &h, &m, &s, &used) < 3) return invalid("STRING");
                    int64_t ns = 0;
                    size_t at = static_cast<size_t>(used);
                    if (at < t.text.size() && t.text[at] == '.') {
                        int digits = 0;
                        for (++at; at < t.text.size() && std::isdigit(static_cast<unsigned char>(t.text[at])) && digits < 9; ++at, ++digits) {
                            ns = ns * 10 + (t.text[at] - '0');
                        }
                        for (; digits < 9; ++digits) ns *= 10;
                    }
                    if (at != t.text.size() || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) return invalid("STRING");
                    return encode(cql::cql_value((int64_t{h} * 3600 + m * 60 + s) * 1'000'000'000LL + ns));
                }
                case type_id::inet: {
                    auto a = cql::inet_address::parse(t.text);
                    if (!a) return invalid("STRING");
                    return encode(cql::cql_value(*a));
                }
                case type_id::uuid:
                case type_id::timeuuid: {
                    auto u = parse_uuid(t.text);
                    if (!u) return invalid("STRING");
                    return encode(cql::cql_value(*u));
                }
                default:
                    return invalid("STRING");
            }
        }
        case term::kind::uuid: {
            if (type.id != type_id::uuid && type.id != type_id::timeuuid) return invalid("UUID");
            auto u = parse_uuid(t.text);
            if (!u) return invalid("UUID");
            return encode(cql::cql_value(*u));
        }
        case term::kind::blob: {
            if (type.id != type_id::blob && type.id != type_id::custom) return invalid("HEX");
            auto b = cql::from_hex(std::string_view(t.text).substr(2));
            if (!b) return invalid("HEX");
            out.bytes = *b;
            return out;
        }
        case term::kind::boolean:
            if (type.id != type_id::boolean) return invalid("BOOLEAN");
            return encode(cql::cql_value(t.text == "true"));
        case term::kind::duration:
            return invalid("DURATION");
        case term::kind::function: {
            const std::string& f = t.text;
            if (f == "now" || f == "currenttimeuuid" || f == "current_timeuuid") {
                if (type.id != type_id::timeuuid && type.id != type_id::uuid) return invalid("FUNCTION");
                return encode(cql::cql_value(time_uuid(ctx.now_us)));
            }
            if (f == "uuid") return encode(cql::cql_value(random_uuid()));
            if (f == "currenttimestamp" || f == "totimestamp" || f == "current_timestamp") {
                if (type.id != type_id::timestamp) return invalid("FUNCTION");
                return encode(cql::cql_value(ctx.now_us / 1000));
            }
            if (f == "currentdate" || f == "current_date" || f == "todate") return encode(cql::cql_value(ctx.now_us / 86'400'000'000LL));
            if (f == "currenttime" || f == "current_time") {
                if (type.id != type_id::time) return invalid("FUNCTION");
                return encode(cql::cql_value(ctx.now_us % 86'400'000'000LL * 1000));
            }
            if (f == "textasblob" && !t.items.empty()) {
                out.bytes = t.items[0].text;
                return out;
            }
            error = "Unknown function " + f + " called";
            return std::nullopt;
        }
        case term::kind::list:
        case term::kind::set:
        case term::kind::map:
        case term::kind::tuple: {
            std::string bytes;
            cql::writer w(bytes);
            if (type.id == type_id::map) {
                if (t.k != term::kind::map) return invalid("COLLECTION");
                w.write_int(static_cast<int32_t>(t.items.size() / 2));
                for (size_t i = 0; i + 1 < t.items.size(); i += 2) {
                    for (int side = 0; side < 2; ++side) {
                        auto e = evaluate(t.items[i + static_cast<size_t>(side)], type.params.at(static_cast<size_t>(side)), column, ctx, error);
                        if (!e) return std::nullopt;
                        if (!e->bytes) {
                            error = "null is not supported inside collections";
                            return std::nullopt;
                        }
                        w.write_bytes(*e->bytes);
                    }
                }
            } else if (type.id == type_id::list || type.id == type_id::set) {
                if (t.k != term::kind::list && t.k != term::kind::set && !(t.k == term::kind::map && t.items.empty())) {
                    return invalid("COLLECTION");
                }
                w.write_int(static_cast<int32_t>(t.items.size()));
                std::vector<std::string> elems;
                for (auto& item : t.items) {
                    auto e = evaluate(item, type.params.at(0), column, ctx, error);
                    if (!e) return std::nullopt;
                    if (!e->bytes) {
                        error = "null is not supported inside collections";
                        return std::nullopt;
                    }
                    elems.push_back(*e->bytes);
                }
                if (type.id == type_id::set) {
                    std::sort(elems.begin(), elems.end(), [&](const std::string& a, const std::string& b) {
                        return compare_values(type.params.at(0), a, b) < 0;
                    });
                    elems.erase(std::unique(elems.begin(), elems.end()), elems.end());
                    bytes.clear();
                    w.write_int(static_cast<int32_t>(elems.size()));
                }
                for (auto& e : elems) w.write_bytes(e);
            } else if (type.id == type_id::tuple) {
                if (t.k != term::kind::tuple || t.items.size() > type.params.size()) return invalid("TUPLE");
                for (size_t i = 0; i < t.items.size(); ++i) {
                    auto e = evaluate(t.items[i], type.params[i], column, ctx, error);
                    if (!e) return std::nullopt;
                    w.write_bytes(e->bytes ? std::optional<std::string_view>(*e->bytes) : std::nullopt);
                }
            } else if (type.id == type_id::udt) {
                if (t.k != term::kind::map) return invalid("UDT");
                for (size_t f = 0; f < type.params.size(); ++f) {
                    std::optional<std::string> v;
                    for (size_t i = 0; i + 1 < t.items.size(); i += 2) {
                        if (t.items[i].text == type.field_names[f]) {
                            auto e = evaluate(t.items[i + 1], type.params[f], column, ctx, error);
                            if (!e) return std::nullopt;
                            v = e->bytes;
                        }
                    }
                    w.write_bytes(v ? std::optional<std::string_view>(*v) : std::nullopt);
                }
            } else {
                return invalid("COLLECTION");
            }
            out.bytes = std::move(bytes);
            return out;
        }
    }
    return invalid("VALUE");
}

int compare_values(const cql_type& type, std::string_view a, std::string_view b) {
    auto sign = [](auto x) { return (x > 0) - (x < 0); };
    switch (type.id) {
        case type_id::tinyint:
        case type_id::smallint:
        case type_id::int_:
        case type_id::bigint:
        case type_id::counter:
        case type_id::timestamp:
        case type_id::time:
        case type_id::varint:
        case type_id::float_:
        case type_id::double_:
        case type_id::decimal: {
            auto va = cql::decode_value(type, a);
            auto vb = cql::decode_value(type, b);
            if (va && vb) {
                if (auto* x = std::get_if<int64_t>(&va->v)) {
                    if (auto* y = std::get_if<int64_t>(&vb->v)) return sign(*x > *y ? 1 : *x < *y ? -1 : 0);
                }
                if (auto* x = std::get_if<double>(&va->v)) {
                    if (auto* y = std::get_if<double>(&vb->v)) return *x < *y ? -1 : *x > *y ? 1 : 0;
                }
                if (auto* x = std::get_if<float>(&va->v)) {
                    if (auto* y = std::get_if<float>(&vb->v)) return *x < *y ? -1 : *x > *y ? 1 : 0;
                }
                if (auto* x = std::get_if<cql::varint>(&va->v)) {
                    auto* y = std::get_if<cql::varint>(&vb->v);
                    auto xi = x->to_int64(), yi = y ? y->to_int64() : std::nullopt;
                    if (xi && yi) return *xi < *yi ? -1 : *xi > *yi ? 1 : 0;
                }
            }
            break;
        }
        case type_id::timeuuid:
            if (a.size() == 16 && b.size() == 16) {
                auto ts = [](std::string_view u) {
                    const char* p = u.data();
                    uint64_t hi = cql::load_be16(p + 6) & 0x0FFF;
                    uint64_t mid = cql::load_be16(p + 4);
                    uint64_t low = cql::load_be32(p);
                    return (hi << 48) | (mid << 32) | low;
                };
                uint64_t x = ts(a), y = ts(b);
                if (x != y) return x < y ? -1 : 1;
            }
            break;
        default:
            break;
    }
    int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
    if (c != 0) return c < 0 ? -1 : 1;
    return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

}  // namespace tandem::cqlsim
