#include "core/topology.hh"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <tuple>

#include "cql/envelope.hh"
#include "cql/primitives.hh"

namespace tandem::core {

const std::optional<std::string>* system_row::cell(std::string_view name) const {
    for (size_t i = 0; i < columns.size() && i < cells.size(); ++i) {
        if (columns[i].name == name) return &cells[i];
    }
    return nullptr;
}

const cql::column_spec* system_row::spec(std::string_view name) const {
    for (const auto& c : columns) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

std::optional<std::string> system_row::text(std::string_view name) const {
    auto* c = cell(name);
    if (!c || !*c) return std::nullopt;
    return **c;
}

const std::vector<std::string>* cluster_view::option(std::string_view key) const {
    for (const auto& [k, v] : supported) {
        if (k == key) return &v;
    }
    return nullptr;
}

uint8_t next_lower_version(uint8_t v) {
    switch (v) {
        case cql::protocol_version::dse_v2: return cql::protocol_version::dse_v1;
        case cql::protocol_version::dse_v1: return cql::protocol_version::v5;
        case cql::protocol_version::v5: return cql::protocol_version::v4;
        case cql::protocol_version::v4: return cql::protocol_version::v3;
        case cql::protocol_version::v3: return cql::protocol_version::v2;
        default: return 0;
    }
}

uint8_t parse_version_name(std::string_view name) {
    std::string n;
    for (char c : name) {
        if (c != '_') n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (n == "2" || n == "v2") return 2;
    if (n == "3" || n == "v3") return 3;
    if (n == "4" || n == "v4") return 4;
    if (n == "5" || n == "v5") return 5;
    if (n == "dsev1") return cql::protocol_version::dse_v1;
    if (n == "dsev2") return cql::protocol_version::dse_v2;
    return 0;
}

int version_rank(uint8_t v) {
    // ZDM compares DSE versions numerically against 2..5 (R2.2): 0x41/0x42 rank above v5.
    return v;
}
namespace {

std::string inet_text(const std::optional<std::string>& cell) {
    auto a = cell ? cql::inet_address::from_bytes(*cell) : std::nullopt;
    return a ? a->to_string() : std::string();
}

// A node from its row; nullopt when the row lacks an address, datacenter, rack or host id.
std::optional<host_info> host_from(const system_row& row, bool is_local, const topology_settings& s, const std::string& connected_host) {
    host_info h;
    h.port = s.port;
    h.row = row;
    h.address = inet_text(row.cell("rpc_address") ? *row.cell("rpc_address") : std::nullopt);
    if (h.address.empty() || h.address == "0.0.0.0" || h.address == "::") {
        auto* alt = row.cell(is_local ? "broadcast_address" : "peer");
        h.address = alt ? inet_text(*alt) : "";
    }
    if (h.address.empty() && is_local) h.address = connected_host;
    h.datacenter = row.text("data_center").value_or("");
    h.rack = row.text("rack").value_or("");
    auto hid = row.cell("host_id");
    h.host_id = hid && *hid ? cql::uuid_text(**hid) : "";
    if (s.sni) {  // R1.25: every node is reached through the SNI proxy by its host id
        h.address = s.sni_host;
        h.port = s.sni_port;
        h.server_name = h.host_id;
    }
    if (h.address.empty() || h.datacenter.empty() || h.rack.empty() || h.host_id.empty()) return std::nullopt;
    return h;
}

}  // namespace

std::string apply_topology(cluster_view& v, const topology_rows& rows, const topology_settings& s, std::string& sticky_dc,
                           const cluster_view* previous, const std::string& connected_host, std::vector<std::string>& warnings) {
    if (rows.local.empty()) return "system.local returned no row";
    v.local = rows.local[0];
    v.peers_columns = rows.peers_columns;
    v.peers_had_rows = !rows.peers.empty();
    auto partitioner = v.local.text("partitioner").value_or("");
    if (!partitioner.empty() && partitioner.find("Murmur3Partitioner") == std::string::npos &&
        partitioner.find("RandomPartitioner") == std::string::npos) {
        return "unsupported partitioner " + partitioner;
    }
    auto lh = host_from(v.local, true, s, connected_host);
    if (!lh) return "system.local lacks rpc_address, data_center, rack or host_id";
    std::vector<host_info> all{*lh};
    for (const auto& p : rows.peers) {
        auto h = host_from(p, false, s, connected_host);
        if (!h) {
            warnings.push_back(s.name + ": skipping a system.peers row without address, data_center, rack or host_id");
            continue;
        }
        if (h->host_id != lh->host_id) all.push_back(*h);  // the local row wins
    }
    // Local datacenter (R1.12): sticky, else configured, else the connected node's.
    std::string dc = sticky_dc;
    if (dc.empty() && !s.local_datacenter.empty()) {
        if (std::any_of(all.begin(), all.end(), [&](auto& h) { return h.datacenter == s.local_datacenter; })) {
            dc = s.local_datacenter;
        } else {
            warnings.push_back(s.name + ": no node in " + s.name + "_local_datacenter '" + s.local_datacenter +
                               "'; using the contact point's datacenter '" + lh->datacenter + "'");
        }
    }
    if (dc.empty()) dc = lh->datacenter;
    v.hosts.clear();
    for (auto& h : all) {
        if (h.datacenter == dc) v.hosts.push_back(h);
    }
    if (v.hosts.empty()) return "no node left in datacenter " + dc;
    std::sort(v.hosts.begin(), v.hosts.end(),
              [](const host_info& a, const host_info& b) { return std::tie(a.rack, a.host_id) < std::tie(b.rack, b.host_id); });
    if (previous && previous->name == v.name) {  // down marks survive a refresh
        for (auto& h : v.hosts) {
            for (const auto& o : previous->hosts) {
                if (o.host_id == h.host_id) h.up = o.up;
            }
        }
    }
    sticky_dc = dc;
    v.local_datacenter = dc;
    return {};
}

}  // namespace tandem::core
