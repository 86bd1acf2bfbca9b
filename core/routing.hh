#pragma once
// The proxy's decisions as pure functions (no I/O, no state), so each rule has a unit test:
// where a statement goes (zdm-spec §3.3), which of two replies the client gets (§4.3), and the
// replacement of now() and the other volatile functions (§7). client_session (proxy.cc) applies them.

#include <cstdint>
#include <deque>
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

// R7: volatile functions in writes get one value computed at the proxy, so both clusters store
// the same. ZDM replaces now(); tandem also uuid(), currentTimeUUID(), currentTimestamp(),
// currentDate() and currentTime() (and their snake_case spellings).
class function_values {
public:
    // `timeuuid` and `uuid` make 16 fresh bytes; `now_ms` is the wall clock (ms since the epoch).
    function_values(std::function<std::string()> timeuuid, std::function<std::string()> uuid, int64_t now_ms)
        : _timeuuid(std::move(timeuuid)), _uuid(std::move(uuid)), _now_ms(now_ms) {}
    // The CQL literal for one call: a fresh time-UUID or UUID per call, the clock for the others.
    std::string literal(cql::volatile_function f) const;
    // The serialized value for one generated bind marker (a fresh time-UUID or UUID per marker,
    // R7.5), kept alive by this object.
    std::string_view bytes(cql::volatile_function f);

private:
    std::function<std::string()> _timeuuid, _uuid;
    int64_t _now_ms;
    std::deque<std::string> _kept;  // values handed out (stable addresses)
};

// R7.3: each volatile call in a write becomes a literal; nullopt when nothing was replaced.
// now() is replaced wherever it is (as ZDM does); the other functions only where they are a
// term of their own, not an argument of another call, whose overloads could make a literal
// ambiguous.
std::optional<std::string> replace_functions_with_literals(std::string_view query, const cql::statement_info& info,
                                                           const function_values& values);

// R7.4: each volatile call that is a term of its own (not an argument of another call: a bind
// marker there has no type Cassandra can infer) becomes a bind marker, `?`, or `:zdm__now`
// (`:zdm__uuid`, ...) when the statement names its markers.
struct generated_marker {
    uint16_t index;  // the variable's index in the rewritten statement
    cql::volatile_function fn;
    bool operator==(const generated_marker&) const = default;
};
struct marker_rewrite {
    std::string text;
    std::vector<generated_marker> generated;
    bool named = false;
};
std::optional<marker_rewrite> replace_functions_with_markers(std::string_view query, const cql::statement_info& info);
// The name of a generated marker (named statements): zdm__now, zdm__uuid, zdm__timestamp,
// zdm__date, zdm__time.
std::string_view generated_marker_name(cql::volatile_function f);

// R7.5: the values of an EXECUTE (or BATCH child) with the generated values inserted at their
// positions (positional values), or appended once per name (named values). The values point
// into `fv`, which must outlive them.
std::vector<cql::bound_value> with_generated_values(const cql::value_list& values, const std::vector<generated_marker>& generated,
                                                    function_values& fv);

// R7.4: the client sees its own variables: generated ones removed, pk indexes shifted.
void strip_generated(cql::prepared_metadata& md, const std::vector<generated_marker>& generated);

}  // namespace tandem::core
