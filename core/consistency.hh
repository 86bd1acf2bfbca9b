#pragma once
// Request parameters tandem sets per cluster. Consistency overrides (origin_consistency_level,
// target_consistency_level): a cluster may be written and read at another consistency than the
// client asked for (a target in another region at LOCAL_ONE while origin keeps LOCAL_QUORUM).
// Write timestamps: a write sent to both clusters without a client timestamp gets one from
// tandem, the same for both, so both hold identical cells (each cluster would otherwise stamp
// it with its own clock). Pure functions, and the generator of those timestamps.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cql/primitives.hh"
#include "cql/envelope.hh"

namespace tandem::core {

// A consistency by its CQL name (any case); nullopt for another word. SERIAL and LOCAL_SERIAL
// are names too: the caller decides whether they fit.
std::optional<cql::consistency> consistency_named(std::string_view name);

// `message` (the body of a QUERY, EXECUTE or BATCH without its custom-payload prefix, protocol
// `version`) with its consistency replaced by `cl`. Nullopt when nothing changes: another
// opcode, the same level already, a SERIAL or LOCAL_SERIAL level (a conditional read's, left
// alone), or a body too short to hold one (the cluster will answer it as it would have).
std::optional<std::string> with_consistency(cql::opcode op, std::string_view message, uint8_t version, cql::consistency cl);

// `message` (QUERY, EXECUTE or BATCH, without its custom-payload prefix) with `micros` as its
// default timestamp, written to `out` (its capacity reused: no allocation in the steady state).
// False, `out` unspecified, when it has one already (the client's: kept), for another opcode, or
// a body that does not decode (sent as it came; the cluster answers it).
bool with_timestamp(cql::opcode op, std::string_view message, uint8_t version, int64_t micros, std::string& out);
// Whether with_timestamp would add one (read from the flags for QUERY and EXECUTE: no decoding).
bool needs_timestamp(cql::opcode op, std::string_view message, uint8_t version);

// Write timestamps (microseconds since the epoch) as drivers' monotonic generators make them:
// the clock, or one past the last handed out, so one generator never gives the same one twice.
// One thread.
class timestamp_generator {
    int64_t _last = 0;

public:
    int64_t next();
};

}  // namespace tandem::core
