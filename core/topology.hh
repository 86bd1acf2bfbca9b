#pragma once
// What a control connection learned about one cluster (zdm-spec §1.2): the negotiated protocol
// version, whether it authenticates, its SUPPORTED options, and the nodes of the local
// datacenter with the system.local / system.peers rows they came from (the system table
// virtualization copies columns out of those rows, §6).
//
// A `cluster_view` is immutable once published; workers hold a shared_ptr to the latest one and
// read it when they open cluster connections or answer system.local, never per request.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cql/result.hh"

namespace tandem::core {

// One row of a system table as received: column specs plus raw cell bytes.
struct system_row {
    std::vector<cql::column_spec> columns;
    std::vector<std::optional<std::string>> cells;

    const std::optional<std::string>* cell(std::string_view name) const;
    const cql::column_spec* spec(std::string_view name) const;
    bool has(std::string_view name) const { return spec(name) != nullptr; }
    std::optional<std::string> text(std::string_view name) const;
};

struct host_info {
    std::string address;  // where to connect (rpc_address, or its fallback)
    uint16_t port = 9042;
    std::string datacenter;
    std::string rack;
    std::string host_id;  // canonical text form, for sorting and logs
    std::string server_name;  // TLS SNI: the host id behind an Astra SNI proxy (R1.25), else empty
    bool up = true;       // STATUS_CHANGE from the control connection
    system_row row;       // the system.local or system.peers row this host came from
    // The node's name in logs and in the metrics' node label: address:port, or the host id
    // behind an SNI proxy (every Astra node shares the proxy's address).
    std::string endpoint() const { return server_name.empty() ? address + ":" + std::to_string(port) : server_name; }
};

struct cluster_view {
    std::string name;  // "origin" or "target"
    uint8_t version = 4;  // negotiated by the control connection (version byte, DSE ones included)
    bool auth_enabled = false;
    std::string authenticator;
    std::vector<std::pair<std::string, std::vector<std::string>>> supported;
    std::string local_datacenter;
    std::vector<host_info> hosts;  // local datacenter, sorted by rack then host id
    std::string connected;         // the endpoint the control connection uses
    system_row local;              // the control connection's own system.local row
    bool peers_had_rows = false;
    std::vector<cql::column_spec> peers_columns;  // system.peers columns, for virtual peers
    uint64_t refreshed_at_ms = 0;

    const std::vector<std::string>* option(std::string_view key) const;
};

// The system.local / system.peers rows a control connection read.
struct topology_rows {
    std::vector<system_row> local, peers;
    std::vector<cql::column_spec> peers_columns;
};

struct topology_settings {
    std::string name;              // "origin" or "target"
    uint16_t port = 9042;          // every node's native port
    std::string local_datacenter;  // configured, or empty
    // Astra (R1.25): every node is reached through this SNI proxy by its host id.
    bool sni = false;
    std::string sni_host;
    uint16_t sni_port = 0;
};

// The nodes of the local datacenter from the rows (R1.12: the datacenter chosen before, else
// the configured one when it has nodes, else the connected node's), sorted by rack then host id,
// keeping the down marks of `previous`. Fills `v` (hosts, local, peers columns, datacenter) and
// `sticky_dc`; returns an error, or empty. `warnings` gets what the operator should know (rows
// skipped, a configured datacenter without nodes). `connected_host` stands in for a local row
// without an address.
std::string apply_topology(cluster_view& v, const topology_rows& rows, const topology_settings& s, std::string& sticky_dc,
                           const cluster_view* previous, const std::string& connected_host, std::vector<std::string>& warnings);

// Version bytes in negotiation order (zdm-spec R1.8): DSE_V2, DSE_V1, v5, v4, v3, v2.
uint8_t next_lower_version(uint8_t v);
// "DseV2", "5", "v4" ... to a version byte; 0 when unknown.
uint8_t parse_version_name(std::string_view name);
// Numeric comparison used for "the lower of the two versions" (DSE ones count as v4+).
int version_rank(uint8_t v);

}  // namespace tandem::core
