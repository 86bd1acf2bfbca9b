#pragma once
// tandem's settings: every ZDM Proxy setting, with the same YAML key, the same ZDM_ environment
// variable and the same default (zdm-spec.md §9). As with ZDM Proxy, a YAML file given with
// --config is the whole configuration (environment variables are then ignored); without one,
// the ZDM_* environment variables are. Unlike ZDM Proxy, an unknown key, a value of the wrong
// type or an invalid value stops start-up with a message that names the key.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <variant>
#include <string>
#include <vector>

namespace tandem::core {

enum class cluster_role : uint8_t { origin, target };
enum class read_mode : uint8_t { primary_only, dual_async_on_secondary };
enum class write_mode : uint8_t { dual_sync, dual_async_on_secondary };

struct config {
    // Routing
    cluster_role primary_cluster = cluster_role::origin;
    read_mode read = read_mode::primary_only;
    bool replace_cql_functions = false;
    int64_t async_handshake_timeout_ms = 4000;
    std::string log_level = "INFO";
    std::string control_conn_max_protocol_version = "DseV2";
    std::vector<std::string> blocked_protocol_versions;
    bool tracing_enabled = false;
    int64_t tracing_rate_limit = 0;
    std::string tracing_request_id_key = "request-id";
    std::string system_queries_mode = "ORIGIN";
    // Consistency overrides: QUERY, EXECUTE and BATCH sent to that cluster carry this level
    // instead of the client's (empty: the client's). SERIAL levels of conditional reads stay.
    std::string origin_consistency_level, target_consistency_level;
    bool forward_client_credentials_to_origin = false;
    // Writes (README, "Write modes"): DUAL_SYNC waits for both clusters; DUAL_ASYNC_ON_SECONDARY
    // answers with the primary once the secondary's copy is in the journal.
    write_mode write = write_mode::dual_sync;
    // read_mode DUAL_ASYNC_ON_SECONDARY: compare the secondary's result with the primary's
    // (counted per table); log a mismatch's row values too (off: the statement and key only).
    bool dual_read_compare = true;
    bool dual_read_log_values = false;
    std::string write_journal_dir;
    int64_t write_journal_max_bytes = int64_t{1} << 30;
    int64_t write_journal_sync_ms = 2;

    // Proxy topology (system.local / system.peers virtualization)
    int64_t proxy_topology_index = 0;
    std::vector<std::string> proxy_topology_addresses;
    int64_t proxy_topology_num_tokens = 8;

    // Clusters
    struct cluster_settings {
        std::vector<std::string> contact_points;
        int64_t port = 9042;
        std::string secure_connect_bundle_path;
        std::string local_datacenter;
        std::string username;
        std::string password;
        int64_t connection_timeout_ms = 30000;
        std::string tls_server_ca_path, tls_client_cert_path, tls_client_key_path;
        bool enable_host_assignment = true;
    } origin, target;

    // Client-facing listener
    std::string proxy_listen_address = "localhost";
    int64_t proxy_listen_port = 14002;
    int64_t proxy_request_timeout_ms = 10000;
    int64_t proxy_max_client_connections = 1000;
    int64_t proxy_max_stream_ids = 2048;
    std::string proxy_tls_ca_path, proxy_tls_cert_path, proxy_tls_key_path;
    bool proxy_tls_require_client_auth = false;
    int64_t proxy_busy_poll_us = 0;
    // PER_CLIENT: an origin and a target connection per client connection (ZDM's model);
    // SHARED: each worker multiplexes its clients over a pool per node (core/shared_pool.hh).
    bool cluster_connections_shared = false;
    int64_t cluster_connections_per_node = 1;
    int64_t cluster_connections_keyspace_idle_ms = 300000;  // SHARED: a keyspace's connections close after this long unused
    int64_t cluster_connections_login_cache_ms = 2000;  // SHARED: a login the cluster accepted is not checked again for this long (0: always)

    // Metrics and health
    bool metrics_enabled = true;
    std::string metrics_address = "localhost";
    int64_t metrics_port = 14001;
    std::string metrics_prefix = "zdm";
    std::string admin_token;  // when set, /api/* needs "Authorization: Bearer <token>"
    std::vector<double> metrics_origin_latency_buckets_ms, metrics_target_latency_buckets_ms,
        metrics_async_read_latency_buckets_ms;

    // Control connections
    int64_t heartbeat_interval_ms = 30000;
    int64_t heartbeat_retry_interval_min_ms = 250;
    int64_t heartbeat_retry_interval_max_ms = 30000;
    double heartbeat_retry_backoff_factor = 2;
    int64_t heartbeat_failure_threshold = 1;

    // ZDM tuning knobs: accepted and validated for drop-in compatibility; tandem's runtime
    // sizes its own queues (net/), so they change nothing.
    std::map<std::string, int64_t> zdm_tuning;

    config();
};

struct config_error {
    std::string key;      // the YAML key (or environment variable) at fault
    std::string message;  // full sentence, naming the key
};

// Loads from a YAML file.
std::variant<config, config_error> load_yaml_file(const std::string& path);
std::variant<config, config_error> load_yaml_text(const std::string& text);
// Loads from ZDM_* variables, read through `getenv` (injectable for tests).
std::variant<config, config_error> load_environment(const std::function<const char*(const char*)>& getenv_fn);
// Cross-setting checks (contact points or bundle, TLS completeness, topology index, ...).
std::optional<config_error> validate(const config& c);

// The effective settings as YAML lines, passwords redacted (for the start-up log).
std::string describe(const config& c);
// Sets one setting from its text form, as the YAML file would; an error text names the key.
std::optional<std::string> set_setting(config& c, const std::string& key, const std::string& value);
// A setting's value in its text form (as the start-up log shows it; "" for an unknown key).
std::string get_setting(const config& c, const std::string& key);
// Every YAML key, in documentation order.
std::vector<std::string> setting_keys();

}  // namespace tandem::core
