#pragma once
// Where a request goes (zdm-spec §3.3), as pure functions (no I/O, no state), so each rule has
// a unit test. The request path (request_path.cc) applies them; which reply the client gets is
// merge.hh, the replacement of volatile functions functions.hh.

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/config.hh"
#include "core/sides.hh"
#include "core/virtual_tables.hh"
#include "cql/classifier.hh"

namespace tandem::core {

// system, system_* and dse_* keyspaces (R3.8).
bool is_system_keyspace(std::string_view keyspace);

enum class query_route : uint8_t {
    intercepted,  // system.local / peers / peers_v2: answered by tandem (R3.7)
    local_void,   // CALL InsightsRpc...: answered by tandem with VOID (R3.11, without the quirk)
    system,       // system_queries_mode's cluster (R3.8), never async
    primary,      // a read: the primary, and the async connection in dual-read mode (R3.9)
    both,         // writes, DDL, USE, anything else (R3.10, R3.12)
};

struct query_decision {
    query_route route = query_route::both;
    system_table table = system_table::none;
    bool async = false;         // also mirrored to the secondary (reads and USE, dual-read mode)
    bool write = false;         // counted as a write (failed_writes) rather than a read
    bool unrecognized = false;  // the classifier did not know it (metric)
};

// `keyspace` is the request's keyspace: the v5 keyspace flag, else the connection's current one.
query_decision decide(const cql::statement_info& info, std::string_view keyspace, bool dual_reads);

// The clusters a routed request goes to: both, the primary, or system_queries_mode's cluster
// (R3.8). Intercepted and local answers go nowhere.
destinations destinations_for(query_route r, cluster_role primary, cluster_role system_queries);

}  // namespace tandem::core
