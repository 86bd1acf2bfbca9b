#pragma once
// R7: volatile functions in writes (now(), uuid(), currentTimestamp(), ...) are replaced by one
// value computed at the proxy, so both clusters store the same: literals in simple statements,
// generated bind markers in prepared ones. Pure functions (the values come from the caller),
// each rule with a unit test; the request path (request_path.cc) applies them.

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cql/classifier.hh"
#include "cql/query.hh"
#include "cql/result.hh"

namespace tandem::core {

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

// Time-based UUIDs (version 1) for now() (R7.6): 100 ns ticks since 1582-10-15, a random node
// id with the multicast bit, a clock sequence bumped per UUID. Also random bytes and version-4
// UUIDs (uuid(), tracing ids). One per worker.
class timeuuid_generator {
    std::mt19937_64 _rng{std::random_device{}()};
    uint64_t _node;
    uint16_t _seq;

public:
    timeuuid_generator();
    std::string random_bytes(size_t n);
    // A random (version 4) UUID, for uuid().
    std::string random_uuid();
    // The 16 bytes of a fresh time-UUID (a value for a timeuuid bind marker).
    std::string next_bytes();
    // A fresh time-UUID as text (8-4-4-4-12 hex digits).
    std::string next_text();
};

}  // namespace tandem::core
