#pragma once
// The proxy's decisions as pure functions (no I/O, no state), so each rule has a unit test:
// where a statement goes (zdm-spec §3.3), which of two replies the client gets (§4.3), and the
// now() replacement (§7). client_session (proxy.cc) applies them.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hh"
#include "core/virtual_tables.hh"
#include "cql/classifier.hh"
#include "cql/query.hh"
#include "cql/result.hh"

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

// §4.3, for a request sent to both clusters. Both succeed: the primary's reply (PREPARE:
// origin's). One fails: its failure. Both fail: origin's.
enum class failed_on : uint8_t { none, origin, target, both };
struct merge_decision {
    bool origin_reply = true;  // which reply the client gets
    failed_on failed = failed_on::none;
};
merge_decision merge(bool origin_error, bool target_error, bool is_prepare, cluster_role primary);

// R7.3: every now() in a write replaced by a time-UUID literal (one call of `next_uuid` per
// occurrence); nullopt when there is nothing to replace.
std::optional<std::string> replace_now_with_literals(std::string_view query, const cql::statement_info& info,
                                                     const std::function<std::string()>& next_uuid);

// R7.4: every now() that is a term of its own (not an argument of another call) becomes a bind
// marker, `?` or `:zdm__now` when the statement names its markers. `generated` are the new
// markers' variable indexes in the rewritten statement.
struct marker_rewrite {
    std::string text;
    std::vector<uint16_t> generated;
    bool named = false;
};
std::optional<marker_rewrite> replace_now_with_markers(std::string_view query, const cql::statement_info& info);

// R7.5: the values of an EXECUTE (or BATCH child) with `now` inserted at each generated
// position (positional values), or appended as zdm__now (named values).
std::vector<cql::bound_value> with_generated_values(const cql::value_list& values, const std::vector<uint16_t>& generated,
                                                    std::string_view now);

// R7.4: the client sees its own variables: generated ones removed, pk indexes shifted.
void strip_generated(cql::prepared_metadata& md, const std::vector<uint16_t>& generated);

}  // namespace tandem::core
