#pragma once
// A cluster's connection options from tandem's settings file (the clusters' contact points,
// ports, credentials, TLS) with command-line overrides: what tandem-migrate and tandemctl
// connect with.

#include <cstdint>
#include <string>

#include "core/client/cluster.hh"
#include "core/config.hh"

namespace tandem::core::client {

// What the command line says of one cluster (empty: the settings file's, or the default).
struct cluster_overrides {
    std::string address;  // HOST[:PORT]
    std::string username, password;
    std::string tls_server_ca_path, tls_client_cert_path, tls_client_key_path;
};

// HOST, HOST:PORT or [IPv6]:PORT; `port` keeps its value when none is given.
bool split_host_port(const std::string& s, std::string& host, uint16_t& port);

// Fills `out` for cluster `name` ("origin" or "target"): the settings file's values (when
// given), overridden by `a`. Returns an error for the user (naming the option), or empty.
std::string cluster_options_for(const char* name, const cluster_overrides& a, const config::cluster_settings* from_config,
                                cluster_options& out);

}  // namespace tandem::core::client
