#pragma once
// The handshake family (v4.spec §4.1.1-4.1.2, §4.1.9, §4.2.1-4.2.4, §4.2.7-4.2.8):
// STARTUP, READY, OPTIONS, SUPPORTED, AUTHENTICATE, AUTH_RESPONSE, AUTH_CHALLENGE, AUTH_SUCCESS,
// REGISTER. Decoded messages hold views into the body they came from.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cql/primitives.hh"

namespace tandem::cql {

// STARTUP: a [string map] of options; CQL_VERSION is mandatory (§4.1.1).
struct startup_message {
    string_map_view options;
    std::optional<std::string_view> option(std::string_view key) const;
    static result<startup_message> decode(std::string_view body);
    void encode(std::string& out) const;
};

// READY and OPTIONS have empty bodies; a body with bytes in it is malformed.
[[nodiscard]] result<bool> decode_empty_body(std::string_view body);

// SUPPORTED: a [string multimap] (§4.2.4).
struct supported_message {
    string_multimap_view options;
    const std::vector<std::string_view>* option(std::string_view key) const;
    static result<supported_message> decode(std::string_view body);
    void encode(std::string& out) const;
};

// AUTHENTICATE: the authenticator class name (§4.2.3).
struct authenticate_message {
    std::string_view authenticator;
    static result<authenticate_message> decode(std::string_view body);
    void encode(std::string& out) const;
};

// AUTH_RESPONSE, AUTH_CHALLENGE and AUTH_SUCCESS: one [bytes] token, possibly null.
struct auth_token_message {
    std::optional<std::string_view> token;
    static result<auth_token_message> decode(std::string_view body);
    void encode(std::string& out) const;
};

// REGISTER: a [string list] of event types (§4.1.8).
struct register_message {
    std::vector<std::string_view> event_types;
    static result<register_message> decode(std::string_view body);
    void encode(std::string& out) const;
};

// SASL PLAIN token: NUL user NUL password (what PasswordAuthenticator expects).
std::string plain_sasl_token(std::string_view user, std::string_view password);
struct plain_credentials {
    std::string_view authzid;
    std::string_view user;
    std::string_view password;
};
std::optional<plain_credentials> parse_plain_sasl_token(std::string_view token);

}  // namespace tandem::cql
