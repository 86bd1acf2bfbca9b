#pragma once
// Astra secure connect bundles (zdm-spec R1.25). A bundle is a zip holding config.json (the
// metadata service's host and port) and the TLS material (ca.crt, cert, key). At start-up tandem
// asks the metadata service, over mutual TLS, for the cluster's SNI proxy address, its local
// datacenter and the host ids of its nodes; every connection to the cluster then goes to the
// SNI proxy with the node's host id as the TLS server name.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tandem::core {

struct secure_bundle {
    std::string path;
    std::string host;  // the metadata service
    uint16_t port = 0;
    std::string ca_pem, cert_pem, key_pem;
};

// Reads the zip; the error names the bundle and what is missing or malformed.
std::variant<secure_bundle, std::string> read_secure_bundle(const std::string& path);

struct astra_metadata {
    std::string local_dc;
    std::string sni_host;
    uint16_t sni_port = 0;
    std::vector<std::string> host_ids;  // contact points
};

// The metadata service's JSON reply (contact_info.local_dc, sni_proxy_address, contact_points).
std::variant<astra_metadata, std::string> parse_astra_metadata(std::string_view json);

// GET https://host:port/metadata with the bundle's certificates (mutual TLS, the service's
// certificate verified against the bundle's CA and its host name).
std::variant<astra_metadata, std::string> fetch_astra_metadata(const secure_bundle& b, int64_t timeout_ms);

}  // namespace tandem::core
