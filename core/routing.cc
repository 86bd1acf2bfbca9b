#include "core/routing.hh"

#include <algorithm>
#include <cctype>

namespace tandem::core {

bool is_system_keyspace(std::string_view ks) {
    return ks == "system" || ks.rfind("system_", 0) == 0 || ks.rfind("dse_", 0) == 0;
}

query_decision decide(const cql::statement_info& info, std::string_view keyspace, bool dual_reads) {
    query_decision d;
    if (auto t = intercepted_table(info, keyspace); t != system_table::none) {
        d.route = query_route::intercepted;
        d.table = t;
        return d;
    }
    if (info.kind == cql::statement_kind::call && info.keyspace.equals("insightsrpc")) {
        d.route = query_route::local_void;
        return d;
    }
    if (info.kind == cql::statement_kind::select) {
        std::string ks = info.keyspace.empty() ? std::string(keyspace) : info.keyspace.normalized();
        d.route = is_system_keyspace(ks) ? query_route::system : query_route::primary;
        d.async = d.route == query_route::primary && dual_reads;
        return d;
    }
    d.route = query_route::both;
    d.write = true;
    d.async = info.kind == cql::statement_kind::use && dual_reads;
    d.unrecognized = info.kind == cql::statement_kind::other || info.kind == cql::statement_kind::unlexable ||
                     info.kind == cql::statement_kind::empty;
    return d;
}

merge_decision merge(bool origin_error, bool target_error, bool is_prepare, cluster_role primary) {
    merge_decision m;
    if (!origin_error && !target_error) {
        m.origin_reply = is_prepare || primary == cluster_role::origin;
    } else {
        m.origin_reply = origin_error;
        m.failed = origin_error && target_error ? failed_on::both : origin_error ? failed_on::origin : failed_on::target;
    }
    return m;
}

std::optional<std::string> replace_now_with_literals(std::string_view query, const cql::statement_info& info,
                                                     const std::function<std::string()>& next_uuid) {
    if (!cql::is_write(info.kind)) return std::nullopt;
    std::string text;
    size_t at = 0;
    bool changed = false;
    for (uint8_t i = 0; i < info.call_count; ++i) {
        const auto& call = info.calls[i];
        if (call.fn != cql::volatile_function::now || call.end == 0) continue;
        text.append(query.substr(at, call.begin - at));
        text.append(next_uuid());
        at = call.end;
        changed = true;
    }
    if (!changed) return std::nullopt;
    text.append(query.substr(at));
    return text;
}

namespace {
// Whether the call starting at `begin` is an argument of another function (toTimestamp(now())):
// a bind marker there has no type Cassandra can infer.
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
}  // namespace

std::optional<marker_rewrite> replace_now_with_markers(std::string_view query, const cql::statement_info& info) {
    if (!cql::is_write(info.kind)) return std::nullopt;
    marker_rewrite r;
    r.named = info.named_markers;
    size_t at = 0;
    for (uint8_t i = 0; i < info.call_count; ++i) {
        const auto& call = info.calls[i];
        if (call.fn != cql::volatile_function::now || call.end == 0) continue;
        if (nested_in_function(query, call.begin)) continue;
        r.text.append(query.substr(at, call.begin - at));
        r.text.append(r.named ? ":zdm__now" : "?");
        r.generated.push_back(static_cast<uint16_t>(call.markers_before + r.generated.size()));
        at = call.end;
    }
    if (r.generated.empty()) return std::nullopt;
    r.text.append(query.substr(at));
    return r;
}

std::vector<cql::bound_value> with_generated_values(const cql::value_list& values, const std::vector<uint16_t>& generated,
                                                    std::string_view now) {
    std::vector<cql::bound_value> out;
    if (values.present && values.named) {
        for (const auto& v : values) out.push_back(v);
        out.push_back({"zdm__now", cql::value_ref::of(now)});
        return out;
    }
    auto it = values.begin();
    size_t left = values.present ? values.count : 0;
    const size_t total = left + generated.size();
    for (size_t i = 0; i < total; ++i) {
        if (std::find(generated.begin(), generated.end(), i) != generated.end()) {
            out.push_back({{}, cql::value_ref::of(now)});
        } else if (left > 0) {
            out.push_back(*it);
            ++it;
            --left;
        }
    }
    return out;
}

void strip_generated(cql::prepared_metadata& md, const std::vector<uint16_t>& generated) {
    auto is_generated = [&](size_t i) { return std::find(generated.begin(), generated.end(), i) != generated.end(); };
    std::vector<cql::column_spec> cols;
    for (size_t i = 0; i < md.columns.size(); ++i) {
        if (!is_generated(i)) cols.push_back(md.columns[i]);
    }
    std::vector<uint16_t> pks;
    for (uint16_t k : md.pk_indexes) {
        if (is_generated(k)) continue;
        auto below = std::count_if(generated.begin(), generated.end(), [&](uint16_t g) { return g < k; });
        pks.push_back(static_cast<uint16_t>(k - below));
    }
    md.columns = std::move(cols);
    md.pk_indexes = std::move(pks);
}

}  // namespace tandem::core
