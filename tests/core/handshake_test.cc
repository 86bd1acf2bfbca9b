// The handshake's decisions (core/handshake.hh), one table of cases each.
#include "core/handshake.hh"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

using cql::opcode;

TEST(handshake, credential_table) {
    // zdm-spec §2.4: origin auth, target auth, forward_client_credentials_to_origin.
    struct row {
        bool origin_auth, target_auth, forward;
        credential_plan want;
    };
    const row rows[] = {
        {false, false, false, {origin_side, -1}},
        {false, false, true, {origin_side, -1}},
        {true, false, false, {origin_side, origin_side}},
        {true, false, true, {origin_side, origin_side}},
        {false, true, false, {target_side, target_side}},  // only target authenticates: it handles the handshake
        {false, true, true, {target_side, target_side}},
        {true, true, false, {origin_side, target_side}},  // the application logs in with target's credentials
        {true, true, true, {origin_side, origin_side}},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(plan_credentials(r.origin_auth, r.target_auth, r.forward), r.want)
            << "origin_auth=" << r.origin_auth << " target_auth=" << r.target_auth << " forward=" << r.forward;
    }
}

TEST(handshake, after_startup) {
    struct row {
        opcode origin, target;
        int handshake_side;
        startup_decision want;
    };
    const row rows[] = {
        {opcode::ready, opcode::ready, origin_side, {startup_step::secondary_login, origin_side}},
        {opcode::ready, opcode::authenticate, origin_side, {startup_step::secondary_login, origin_side}},
        {opcode::authenticate, opcode::ready, origin_side, {startup_step::client_authenticates, origin_side}},
        {opcode::authenticate, opcode::authenticate, origin_side, {startup_step::client_authenticates, origin_side}},
        {opcode::ready, opcode::authenticate, target_side, {startup_step::client_authenticates, target_side}},
        {opcode::error, opcode::ready, origin_side, {startup_step::relay_error, origin_side}},
        {opcode::ready, opcode::error, origin_side, {startup_step::relay_error, target_side}},
        {opcode::error, opcode::error, target_side, {startup_step::relay_error, origin_side}},  // both: origin's
        {opcode::ready, opcode::supported, origin_side, {startup_step::fail, target_side}},
        {opcode::result, opcode::ready, origin_side, {startup_step::fail, origin_side}},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(after_startup(r.origin, r.target, r.handshake_side), r.want)
            << cql::to_string(r.origin) << " / " << cql::to_string(r.target) << " handshake side " << r.handshake_side;
    }
}

TEST(handshake, protocol_versions) {
    const std::vector<std::string> none, blocked = {"v2", "DseV1"};
    for (uint8_t v : {2, 3, 4, 5, 0x41, 0x42}) EXPECT_TRUE(protocol_version_accepted(v, none)) << int(v);
    for (uint8_t v : {0, 1, 6, 0x40, 0x43, 0x7F}) EXPECT_FALSE(protocol_version_accepted(v, none)) << int(v);
    EXPECT_FALSE(protocol_version_accepted(2, blocked));
    EXPECT_FALSE(protocol_version_accepted(0x41, blocked));
    EXPECT_TRUE(protocol_version_accepted(4, blocked));
}

}  // namespace
}  // namespace tandem::core
