#pragma once
// The handshake across both clusters (zdm-spec §2): OPTIONS and STARTUP go to both, the client
// authenticates against one (the handshake cluster), and tandem logs into the other with the
// credentials ZDM's table names (§2.4) before the client hears READY or AUTH_SUCCESS. The
// decisions are pure functions here, each with a table of cases in tests/core/handshake_test.cc;
// client_session applies them (handshake.cc).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sides.hh"
#include "cql/envelope.hh"

namespace tandem::core {

// §2.4: which cluster handles the client's handshake (its AUTHENTICATE reaches the client), and
// whose credentials the client sends (-1: no cluster authenticates).
struct credential_plan {
    int handshake_side = origin_side;
    int client_creds_side = -1;
    bool operator==(const credential_plan&) const = default;
};
credential_plan plan_credentials(bool origin_auth, bool target_auth, bool forward_client_credentials_to_origin);

// R2.1: versions 2-5 and DSE_V1/V2, minus `blocked` (names as in blocked_protocol_versions).
bool protocol_version_accepted(uint8_t version, const std::vector<std::string>& blocked);

// What follows once both clusters answered STARTUP.
enum class startup_step : uint8_t {
    relay_error,           // a cluster refused: its error (origin's when both) goes to the client (R2.20, R2.23)
    client_authenticates,  // the handshake cluster's AUTHENTICATE goes to the client (R2.9)
    secondary_login,       // the handshake cluster is READY: log into the other one first (R2.13)
    fail,                  // an answer no cluster should give: the connection closes
};
struct startup_decision {
    startup_step step = startup_step::fail;
    int side = origin_side;  // relay_error: whose error
    bool operator==(const startup_decision&) const = default;
};
startup_decision after_startup(cql::opcode origin_reply, cql::opcode target_reply, int handshake_side);

// One client connection's handshake state.
struct handshake_state {
    credential_plan plan;
    bool busy = false;       // a handshake request is out: later requests wait in order
    std::string auth_error;  // the secondary's refusal, repeated to later handshake requests (R2.15)
    std::string client_user, client_password;
    cql::opcode secondary_startup_reply = cql::opcode::ready;
    std::string secondary_authenticator;
    std::string startup_body;  // the client's STARTUP, for the async connection (R2.14)

    int secondary_side() const { return other_side(plan.handshake_side); }
};

constexpr std::string_view dse_authenticator = "com.datastax.bdp.cassandra.auth.DseAuthenticator";

}  // namespace tandem::core
