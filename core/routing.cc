#include "core/routing.hh"

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

destinations destinations_for(query_route r, cluster_role primary, cluster_role system_queries) {
    switch (r) {
        case query_route::intercepted:
        case query_route::local_void: return destinations::none();
        case query_route::system: return destinations::of(system_queries);
        case query_route::primary: return destinations::of(primary);
        case query_route::both: return destinations::both();
    }
    return destinations::both();
}

}  // namespace tandem::core
