#pragma once
// A fleet of tandem instances as tandemctl sees it: each instance's admin API (GET
// /api/v1/status, PUT /api/v1/settings) over HTTP, what the instances disagree on, and where
// they are (from a tandem settings file's topology).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hh"

namespace tandem::core::fleet {

struct instance {
    std::string host;
    uint16_t port = 14001;  // the metrics/admin port
    std::string name() const;
};

// "H:P,H:P" (the port defaults to 14001); an error names the item.
std::optional<std::vector<instance>> parse_instances(const std::string& list, std::string& error);
// Every instance of a settings file: proxy_topology_addresses (or metrics_address alone) on
// metrics_port.
std::vector<instance> instances_from_config(const config& c);

struct instance_status {
    instance where;
    bool up = false;
    std::string error;  // why it is down (or the API refused)
    std::string version, primary_cluster, read_mode, write_mode, log_level;
    int64_t index = 0;
    std::vector<std::string> topology;
    int64_t client_connections = 0, requests = 0, errors = 0;
    double requests_per_s = 0, p99_ms = 0, uptime_s = 0;
    std::string origin_state, target_state;
};

// Parses a GET /api/v1/status body into `s` (up); false with s.error set when it cannot.
bool parse_status(const std::string& body, instance_status& s);

// What the instances that are up disagree on: one line per setting (primary cluster, read
// mode, topology, version), naming which instance has which value. Empty when they agree.
std::vector<std::string> disagreements(const std::vector<instance_status>& fleet);

// HTTP to one instance (timeouts of a few seconds): the status code and body, or status 0 and
// the connection error in body.
struct http_result {
    int status = 0;
    std::string body;
};
http_result http_get(const instance& i, const std::string& path, const std::string& token);
http_result http_put(const instance& i, const std::string& path, const std::string& body, const std::string& token);

// The status of every instance, asked in parallel.
std::vector<instance_status> fleet_status(const std::vector<instance>& instances, const std::string& token);

}  // namespace tandem::core::fleet
