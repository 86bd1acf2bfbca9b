#pragma once
// ERROR (v4.spec §4.2.1 and §9, v5.spec §4.2.1 and §9): the code, the message and the extra
// fields some codes carry. One factory per error the proxy or cqlsim sends itself.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cql/primitives.hh"

namespace tandem::cql {

enum class error_code : int32_t {
    server_error = 0x0000,
    protocol_error = 0x000A,
    bad_credentials = 0x0100,
    unavailable = 0x1000,
    overloaded = 0x1001,
    is_bootstrapping = 0x1002,
    truncate_error = 0x1003,
    write_timeout = 0x1100,
    read_timeout = 0x1200,
    read_failure = 0x1300,
    function_failure = 0x1400,
    write_failure = 0x1500,
    cdc_write_failure = 0x1600,  // v5
    cas_write_unknown = 0x1700,  // v5
    syntax_error = 0x2000,
    unauthorized = 0x2100,
    invalid = 0x2200,
    config_error = 0x2300,
    already_exists = 0x2400,
    unprepared = 0x2500,
};
std::string_view to_string(error_code c);

struct error_message {
    error_code code = error_code::server_error;
    std::string message;
    // unavailable, timeouts, failures, cas_write_unknown
    consistency cl = consistency::one;
    int32_t received = 0;  // "received" / "alive" for unavailable
    int32_t block_for = 0;  // "required" for unavailable
    bool data_present = false;  // read timeout / read failure
    std::string write_type;     // write timeout / write failure
    int16_t contentions = 0;    // v5 write timeout with write_type CAS
    int32_t num_failures = 0;   // v4 read/write failure
    std::vector<std::pair<inet_address, uint16_t>> reason_map;  // v5 read/write failure
    // already_exists (keyspace, table) and function_failure (keyspace, function, arg types)
    std::string keyspace;
    std::string table;  // also the function name
    std::vector<std::string> arg_types;
    // unprepared
    std::string unprepared_id;

    static result<error_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;
    bool operator==(const error_message&) const = default;

    static error_message make(error_code c, std::string message);
    static error_message protocol(std::string message) { return make(error_code::protocol_error, std::move(message)); }
    static error_message server(std::string message) { return make(error_code::server_error, std::move(message)); }
    static error_message invalid(std::string message) { return make(error_code::invalid, std::move(message)); }
    static error_message syntax(std::string message) { return make(error_code::syntax_error, std::move(message)); }
    static error_message overloaded(std::string message) { return make(error_code::overloaded, std::move(message)); }
    static error_message bad_credentials(std::string message) { return make(error_code::bad_credentials, std::move(message)); }
    static error_message unprepared(std::string_view id, std::string message);
    static error_message already_exists(std::string keyspace, std::string table, std::string message);
    // The reply drivers parse to downgrade (v4.spec §8 / Cassandra's ProtocolException):
    // "Invalid or unsupported protocol version (N); supported versions are (...)".
    static error_message unsupported_version(uint8_t version, std::string_view supported);
    static error_message write_timeout(consistency cl, int32_t received, int32_t block_for, std::string write_type);
    static error_message read_timeout(consistency cl, int32_t received, int32_t block_for, bool data_present);
    static error_message unavailable(consistency cl, int32_t required, int32_t alive);
};

}  // namespace tandem::cql
