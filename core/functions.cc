#include "core/functions.hh"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

namespace tandem::core {

namespace {

// Whether the call starting at `begin` is an argument of another function (toTimestamp(now())).
bool nested_in_function(std::string_view text, uint32_t begin) {
    size_t i = begin;
    auto skip_space = [&] {
        while (i > 0 && std::isspace(static_cast<unsigned char>(text[i - 1]))) --i;
    };
    skip_space();
    if (i >= 7) {
        std::string q;
        for (size_t k = i - 7; k < i; ++k) q.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[k]))));
        if (q == "system.") i -= 7;
    }
    skip_space();
    if (i == 0 || text[i - 1] != '(') return false;
    --i;
    skip_space();
    size_t end = i;
    while (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_' || text[i - 1] == '"')) --i;
    std::string word;
    for (size_t k = i; k < end; ++k) word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[k]))));
    return !word.empty() && word != "values" && word != "in";
}

constexpr int64_t ms_per_day = 86'400'000;

int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Days since 1970-01-01 to a civil date (proleptic Gregorian), H. Hinnant's algorithm.
std::string civil_date(int64_t days) {
    days += 719468;
    const int64_t era = floor_div(days, 146097);
    const int64_t doe = days - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const int64_t y = yoe + era * 400 + (m <= 2);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d));
    return buf;
}

}  // namespace

std::string_view generated_marker_name(cql::volatile_function f) {
    switch (f) {
        case cql::volatile_function::now:
        case cql::volatile_function::current_timeuuid: return "zdm__now";
        case cql::volatile_function::uuid: return "zdm__uuid";
        case cql::volatile_function::current_timestamp: return "zdm__timestamp";
        case cql::volatile_function::current_date: return "zdm__date";
        case cql::volatile_function::current_time: return "zdm__time";
    }
    return "zdm__now";
}

std::string function_values::literal(cql::volatile_function f) const {
    const int64_t day = floor_div(_now_ms, ms_per_day);
    const int64_t in_day = _now_ms - day * ms_per_day;
    switch (f) {
        case cql::volatile_function::now:
        case cql::volatile_function::current_timeuuid: return cql::uuid_text(_timeuuid());
        case cql::volatile_function::uuid: return cql::uuid_text(_uuid());
        case cql::volatile_function::current_timestamp: return std::to_string(_now_ms);
        case cql::volatile_function::current_date: return "'" + civil_date(day) + "'";
        case cql::volatile_function::current_time: {
            char buf[80];
            std::snprintf(buf, sizeof buf, "'%02lld:%02lld:%02lld.%03lld'", static_cast<long long>(in_day / 3'600'000),
                          static_cast<long long>(in_day / 60'000 % 60), static_cast<long long>(in_day / 1000 % 60),
                          static_cast<long long>(in_day % 1000));
            return buf;
        }
    }
    return {};
}

std::string_view function_values::bytes(cql::volatile_function f) {
    const int64_t day = floor_div(_now_ms, ms_per_day);
    std::string v;
    switch (f) {
        case cql::volatile_function::now:
        case cql::volatile_function::current_timeuuid: v = _timeuuid(); break;
        case cql::volatile_function::uuid: v = _uuid(); break;
        case cql::volatile_function::current_timestamp:  // [long] ms since the epoch
            v.resize(8);
            cql::store_be64(v.data(), static_cast<uint64_t>(_now_ms));
            break;
        case cql::volatile_function::current_date:  // [int] days, 2^31 being the epoch
            v.resize(4);
            cql::store_be32(v.data(), static_cast<uint32_t>(day + (int64_t{1} << 31)));
            break;
        case cql::volatile_function::current_time:  // [long] ns since midnight
            v.resize(8);
            cql::store_be64(v.data(), static_cast<uint64_t>((_now_ms - day * ms_per_day) * 1'000'000));
            break;
    }
    return _kept.emplace_back(std::move(v));
}

std::optional<std::string> replace_functions_with_literals(std::string_view query, const cql::statement_info& info,
                                                           const function_values& values) {
    if (!cql::is_write(info.kind)) return std::nullopt;
    std::string text;
    size_t at = 0;
    bool changed = false;
    for (uint8_t i = 0; i < info.call_count; ++i) {
        const auto& call = info.calls[i];
        if (call.end == 0) continue;
        if (call.fn != cql::volatile_function::now && nested_in_function(query, call.begin)) continue;
        text.append(query.substr(at, call.begin - at));
        text.append(values.literal(call.fn));
        at = call.end;
        changed = true;
    }
    if (!changed) return std::nullopt;
    text.append(query.substr(at));
    return text;
}

std::optional<marker_rewrite> replace_functions_with_markers(std::string_view query, const cql::statement_info& info) {
    if (!cql::is_write(info.kind)) return std::nullopt;
    marker_rewrite r;
    r.named = info.named_markers;
    size_t at = 0;
    for (uint8_t i = 0; i < info.call_count; ++i) {
        const auto& call = info.calls[i];
        if (call.end == 0) continue;
        if (nested_in_function(query, call.begin)) continue;
        r.text.append(query.substr(at, call.begin - at));
        if (r.named) {
            r.text.push_back(':');
            r.text.append(generated_marker_name(call.fn));
        } else {
            r.text.push_back('?');
        }
        r.generated.push_back({static_cast<uint16_t>(call.markers_before + r.generated.size()), call.fn});
        at = call.end;
    }
    if (r.generated.empty()) return std::nullopt;
    r.text.append(query.substr(at));
    return r;
}

std::vector<cql::bound_value> with_generated_values(const cql::value_list& values, const std::vector<generated_marker>& generated,
                                                    function_values& fv) {
    std::vector<cql::bound_value> out;
    if (values.present && values.named) {
        for (const auto& v : values) out.push_back(v);
        for (size_t i = 0; i < generated.size(); ++i) {
            auto name = generated_marker_name(generated[i].fn);
            bool seen = false;
            for (size_t j = 0; j < i; ++j) seen = seen || generated_marker_name(generated[j].fn) == name;
            if (!seen) out.push_back({name, cql::value_ref::of(fv.bytes(generated[i].fn))});
        }
        return out;
    }
    auto it = values.begin();
    size_t left = values.present ? values.count : 0;
    const size_t total = left + generated.size();
    for (size_t i = 0; i < total; ++i) {
        auto g = std::find_if(generated.begin(), generated.end(), [&](const generated_marker& m) { return m.index == i; });
        if (g != generated.end()) {
            out.push_back({{}, cql::value_ref::of(fv.bytes(g->fn))});
        } else if (left > 0) {
            out.push_back(*it);
            ++it;
            --left;
        }
    }
    return out;
}

void strip_generated(cql::prepared_metadata& md, const std::vector<generated_marker>& generated) {
    auto is_generated = [&](size_t i) {
        return std::any_of(generated.begin(), generated.end(), [&](const generated_marker& m) { return m.index == i; });
    };
    std::vector<cql::column_spec> cols;
    for (size_t i = 0; i < md.columns.size(); ++i) {
        if (!is_generated(i)) cols.push_back(md.columns[i]);
    }
    std::vector<uint16_t> pks;
    for (uint16_t k : md.pk_indexes) {
        if (is_generated(k)) continue;
        auto below = std::count_if(generated.begin(), generated.end(), [&](const generated_marker& m) { return m.index < k; });
        pks.push_back(static_cast<uint16_t>(k - below));
    }
    md.columns = std::move(cols);
    md.pk_indexes = std::move(pks);
}

timeuuid_generator::timeuuid_generator()
    : _node((_rng() & 0xFFFFFFFFFFFFull) | 0x010000000000ull), _seq(static_cast<uint16_t>(_rng())) {}

std::string timeuuid_generator::random_bytes(size_t n) {
    std::string out;
    while (out.size() < n) {
        uint64_t r = _rng();
        out.append(reinterpret_cast<const char*>(&r), std::min<size_t>(8, n - out.size()));
    }
    return out;
}

std::string timeuuid_generator::random_uuid() {
    std::string b = random_bytes(16);
    b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
    return b;
}

std::string timeuuid_generator::next_bytes() {
    std::string text = next_text();
    std::string out;
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; i + 1 < text.size(); ++i) {
        if (text[i] == '-') continue;
        out.push_back(static_cast<char>(nib(text[i]) << 4 | nib(text[i + 1])));
        ++i;
    }
    return out;
}

std::string timeuuid_generator::next_text() {
    using namespace std::chrono;
    uint64_t ticks = static_cast<uint64_t>(duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count() / 100) +
                     0x01B21DD213814000ull;
    ++_seq;
    uint32_t time_low = static_cast<uint32_t>(ticks);
    uint16_t time_mid = static_cast<uint16_t>(ticks >> 32);
    uint16_t time_hi = static_cast<uint16_t>(((ticks >> 48) & 0x0FFF) | 0x1000);
    uint16_t seq = static_cast<uint16_t>((_seq & 0x3FFF) | 0x8000);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", time_low, time_mid, time_hi, seq,
                  static_cast<unsigned long long>(_node));
    return buf;
}

}  // namespace tandem::core
