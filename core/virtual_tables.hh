#pragma once
// System table virtualization (zdm-spec §6): tandem answers SELECTs on system.local and
// system.peers itself, so drivers see the proxy instances (not the cluster nodes) as the
// cluster, and system.peers_v2 with the INVALID error that makes drivers fall back to
// system.peers. Columns are copied from the rows the control connection read, addresses,
// host ids, tokens and racks are the proxy instances'.
//
// Improvements over ZDM Proxy: every row carries the same schema_version (the control
// connection's, refreshed on SCHEMA_CHANGE) so schema agreement passes and follows DDL; an
// unspecified listen address (0.0.0.0) is never advertised (the address the client reached is
// used instead); function selectors get an INVALID error instead of no reply.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/topology.hh"
#include "cql/classifier.hh"
#include "cql/error_body.hh"
#include "cql/result.hh"

namespace tandem::core {

enum class system_table : uint8_t { none, local, peers, peers_v2 };

// Which intercepted table a statement reads (R3.7): a SELECT on system.local / peers /
// peers_v2, qualified or under `USE system` / the v5 keyspace flag.
system_table intercepted_table(const cql::statement_info& info, std::string_view current_keyspace);

struct proxy_topology {
    std::vector<cql::inet_address> addresses;  // every instance, in order
    size_t index = 0;                          // this instance
    int num_tokens = 8;
    uint16_t port = 14002;                     // the listen port (DSE native_transport_port)
    bool short_host_id_form = false;           // the address came from proxy_listen_address (R6.2)
    bool unspecified = false;                  // listening on 0.0.0.0 / :: without a topology list
};

// Builds the proxy topology from the settings; an error names the setting.
std::variant<proxy_topology, std::string> make_proxy_topology(const std::vector<std::string>& addresses,
                                                              int64_t index, int64_t num_tokens,
                                                              const std::string& listen_address, uint16_t port);

// The tokens of instance i of n (R6.2), as decimal strings.
std::vector<std::string> virtual_tokens(size_t i, size_t n, int num_tokens);
// Name-based (SHA-1, all-zero namespace) host id of an address (R6.2).
cql::uuid_bytes virtual_host_id(const cql::inet_address& a, bool short_form);

struct system_answer {
    cql::rows_metadata metadata;
    std::string result_body;  // a RESULT ROWS body
};

// Answers a SELECT on system.local or system.peers (R6.4-R6.8). `client_address` is the
// address the client reached (used when the listen address is unspecified).
std::variant<system_answer, cql::error_message> answer_system_select(system_table table, std::string_view query,
                                                                     const cql::statement_info& info,
                                                                     const cluster_view& view, const proxy_topology& topo,
                                                                     const cql::inet_address& client_address, uint8_t version);

// The id of an intercepted prepared statement: MD5(query + keyspace) (R6.9).
std::string intercepted_prepared_id(std::string_view query, std::string_view keyspace);

}  // namespace tandem::core
