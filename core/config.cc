#include "core/config.hh"

#include "core/consistency.hh"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tandem::core {

namespace {

const std::vector<double> default_buckets = {1, 4, 7, 10, 25, 40, 60, 80, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 15000};

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    return s;
}
std::string env_name(const std::string& key) { return "ZDM_" + upper(key); }

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
    return std::string(s.substr(b, e - b));
}

std::vector<std::string> split_list(std::string_view v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string item = trim(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        // ZDM removes spaces inside contact point lists too.
        item.erase(std::remove(item.begin(), item.end(), ' '), item.end());
        if (!item.empty()) out.push_back(item);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

// Go's strconv.ParseBool.
std::optional<bool> parse_bool(const std::string& v) {
    if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
    if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") return false;
    return std::nullopt;
}

std::optional<int64_t> parse_int(const std::string& v) {
    if (v.empty()) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return std::nullopt;
    return n;
}

std::optional<double> parse_double(const std::string& v) {
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (*end != '\0') return std::nullopt;
    return d;
}

// One setting: how to parse it into the config and how to print it back.
struct setting {
    std::string key;
    std::function<std::optional<std::string>(config&, const std::string&)> set;  // error text
    std::function<std::string(const config&)> get;
    bool secret = false;
};

template <typename F>
setting str(std::string key, F member, bool secret = false) {
    return {key, [member](config& c, const std::string& v) -> std::optional<std::string> {
                member(c) = v;
                return std::nullopt;
            },
            [member](const config& c) { return member(const_cast<config&>(c)); }, secret};
}

template <typename F>
setting integer(std::string key, F member, int64_t lo, int64_t hi) {
    return {key,
            [member, lo, hi](config& c, const std::string& v) -> std::optional<std::string> {
                auto n = parse_int(v);
                if (!n) return "'" + v + "' is not an integer";
                if (*n < lo || *n > hi) return std::to_string(*n) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
                member(c) = *n;
                return std::nullopt;
            },
            [member](const config& c) { return std::to_string(member(const_cast<config&>(c))); }};
}

template <typename F>
setting boolean(std::string key, F member) {
    return {key,
            [member](config& c, const std::string& v) -> std::optional<std::string> {
                auto b = parse_bool(v);
                if (!b) return "'" + v + "' is not a boolean (true or false)";
                member(c) = *b;
                return std::nullopt;
            },
            [member](const config& c) { return std::string(member(const_cast<config&>(c)) ? "true" : "false"); }};
}

template <typename F>
setting list(std::string key, F member) {
    return {key,
            [member](config& c, const std::string& v) -> std::optional<std::string> {
                member(c) = split_list(v);
                return std::nullopt;
            },
            [member](const config& c) {
                std::string out;
                for (auto& s : member(const_cast<config&>(c))) out += (out.empty() ? "" : ",") + s;
                return out;
            }};
}

template <typename F>
setting buckets(std::string key, F member) {
    return {key,
            [member](config& c, const std::string& v) -> std::optional<std::string> {
                std::vector<double> out;
                for (auto& item : split_list(v)) {
                    auto d = parse_double(item);
                    if (!d || *d <= 0) return "'" + item + "' is not a positive number of milliseconds";
                    out.push_back(*d);
                }
                if (out.empty()) return std::string("at least one bucket is needed");
                if (!std::is_sorted(out.begin(), out.end())) return std::string("buckets must be in increasing order");
                member(c) = out;
                return std::nullopt;
            },
            [member](const config& c) {
                std::ostringstream out;
                bool first = true;
                for (double d : member(const_cast<config&>(c))) {
                    out << (first ? "" : ",") << d;
                    first = false;
                }
                return out.str();
            }};
}

std::vector<setting> make_settings() {
    std::vector<setting> s;
    s.push_back({"primary_cluster",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     if (u == "ORIGIN") c.primary_cluster = cluster_role::origin;
                     else if (u == "TARGET") c.primary_cluster = cluster_role::target;
                     else return "'" + v + "'; possible values are: ORIGIN and TARGET";
                     return std::nullopt;
                 },
                 [](const config& c) { return std::string(c.primary_cluster == cluster_role::origin ? "ORIGIN" : "TARGET"); }});
    s.push_back({"read_mode",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     if (u == "PRIMARY_ONLY") c.read = read_mode::primary_only;
                     else if (u == "DUAL_ASYNC_ON_SECONDARY") c.read = read_mode::dual_async_on_secondary;
                     else return "'" + v + "'; possible values are: PRIMARY_ONLY and DUAL_ASYNC_ON_SECONDARY";
                     return std::nullopt;
                 },
                 [](const config& c) { return std::string(c.read == read_mode::primary_only ? "PRIMARY_ONLY" : "DUAL_ASYNC_ON_SECONDARY"); }});
    s.push_back({"write_mode",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     if (u == "DUAL_SYNC") c.write = write_mode::dual_sync;
                     else if (u == "DUAL_ASYNC_ON_SECONDARY") c.write = write_mode::dual_async_on_secondary;
                     else return "'" + v + "'; possible values are: DUAL_SYNC and DUAL_ASYNC_ON_SECONDARY";
                     return std::nullopt;
                 },
                 [](const config& c) { return std::string(c.write == write_mode::dual_sync ? "DUAL_SYNC" : "DUAL_ASYNC_ON_SECONDARY"); }});
    s.push_back(boolean("dual_read_compare", [](config& c) -> bool& { return c.dual_read_compare; }));
    s.push_back(boolean("dual_read_log_values", [](config& c) -> bool& { return c.dual_read_log_values; }));
    s.push_back(str("write_journal_dir", [](config& c) -> std::string& { return c.write_journal_dir; }));
    s.push_back(integer("write_journal_max_bytes", [](config& c) -> int64_t& { return c.write_journal_max_bytes; }, 1 << 20, INT64_MAX));
    s.push_back(integer("write_journal_sync_ms", [](config& c) -> int64_t& { return c.write_journal_sync_ms; }, 0, 1000));
    s.push_back(boolean("replace_cql_functions", [](config& c) -> bool& { return c.replace_cql_functions; }));
    s.push_back(integer("async_handshake_timeout_ms", [](config& c) -> int64_t& { return c.async_handshake_timeout_ms; }, 1, INT32_MAX));
    s.push_back({"log_level",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     static const char* levels[] = {"PANIC", "FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE"};
                     if (std::none_of(std::begin(levels), std::end(levels), [&](const char* l) { return u == l; })) {
                         return "'" + v + "'; valid log levels are PANIC, FATAL, ERROR, WARN or WARNING, INFO, DEBUG and TRACE";
                     }
                     c.log_level = u == "WARNING" ? "WARN" : u;
                     return std::nullopt;
                 },
                 [](const config& c) { return c.log_level; }});
    s.push_back({"control_conn_max_protocol_version",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     static const char* ok[] = {"2", "3", "4", "5", "DseV1", "DseV2"};
                     if (std::none_of(std::begin(ok), std::end(ok), [&](const char* o) { return upper(v) == upper(o); })) {
                         return "'" + v + "'; possible values are: 2, 3, 4, 5, DseV1 and DseV2";
                     }
                     c.control_conn_max_protocol_version = v;
                     return std::nullopt;
                 },
                 [](const config& c) { return c.control_conn_max_protocol_version; }});
    s.push_back({"blocked_protocol_versions",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     static const char* ok[] = {"2", "v2", "3", "v3", "4", "v4", "5", "v5", "DSEV1", "DSE_V1", "DSEV2", "DSE_V2"};
                     auto items = split_list(v);
                     for (auto& i : items) {
                         if (std::none_of(std::begin(ok), std::end(ok), [&](const char* o) { return upper(i) == upper(o); })) {
                             return "'" + i + "'; possible values are: [2 v2 3 v3 4 v4 5 v5 DseV1 Dse_V1 DseV2 Dse_V2] (case insensitive)";
                         }
                     }
                     c.blocked_protocol_versions = items;
                     return std::nullopt;
                 },
                 [](const config& c) {
                     std::string out;
                     for (auto& v : c.blocked_protocol_versions) out += (out.empty() ? "" : ",") + v;
                     return out;
                 }});
    s.push_back(boolean("tracing_enabled", [](config& c) -> bool& { return c.tracing_enabled; }));
    s.push_back(integer("tracing_rate_limit", [](config& c) -> int64_t& { return c.tracing_rate_limit; }, 0, INT32_MAX));
    s.push_back(str("tracing_request_id_key", [](config& c) -> std::string& { return c.tracing_request_id_key; }));
    s.push_back({"system_queries_mode",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     if (u != "ORIGIN" && u != "TARGET") return "'" + v + "'; possible values are: ORIGIN and TARGET";
                     c.system_queries_mode = u;
                     return std::nullopt;
                 },
                 [](const config& c) { return c.system_queries_mode; }});
    s.push_back(boolean("forward_client_credentials_to_origin", [](config& c) -> bool& { return c.forward_client_credentials_to_origin; }));
    s.push_back(integer("proxy_topology_index", [](config& c) -> int64_t& { return c.proxy_topology_index; }, 0, INT32_MAX));
    s.push_back(list("proxy_topology_addresses", [](config& c) -> std::vector<std::string>& { return c.proxy_topology_addresses; }));
    s.push_back(integer("proxy_topology_num_tokens", [](config& c) -> int64_t& { return c.proxy_topology_num_tokens; }, 1, 256));
    for (auto role : {cluster_role::origin, cluster_role::target}) {
        std::string p = role == cluster_role::origin ? "origin_" : "target_";
        auto cl = [role](config& c) -> config::cluster_settings& { return role == cluster_role::origin ? c.origin : c.target; };
        s.push_back(list(p + "contact_points", [cl](config& c) -> std::vector<std::string>& { return cl(c).contact_points; }));
        s.push_back(integer(p + "port", [cl](config& c) -> int64_t& { return cl(c).port; }, 1, 65535));
        s.push_back(str(p + "secure_connect_bundle_path", [cl](config& c) -> std::string& { return cl(c).secure_connect_bundle_path; }));
        s.push_back(str(p + "local_datacenter", [cl](config& c) -> std::string& { return cl(c).local_datacenter; }));
        s.push_back(str(p + "username", [cl](config& c) -> std::string& { return cl(c).username; }));
        s.push_back(str(p + "password", [cl](config& c) -> std::string& { return cl(c).password; }, true));
        s.push_back(integer(p + "connection_timeout_ms", [cl](config& c) -> int64_t& { return cl(c).connection_timeout_ms; }, 1, INT32_MAX));
        s.push_back(str(p + "tls_server_ca_path", [cl](config& c) -> std::string& { return cl(c).tls_server_ca_path; }));
        s.push_back(str(p + "tls_client_cert_path", [cl](config& c) -> std::string& { return cl(c).tls_client_cert_path; }));
        s.push_back(str(p + "tls_client_key_path", [cl](config& c) -> std::string& { return cl(c).tls_client_key_path; }));
        s.push_back(boolean(p + "enable_host_assignment", [cl](config& c) -> bool& { return cl(c).enable_host_assignment; }));
    }
    s.push_back(str("proxy_listen_address", [](config& c) -> std::string& { return c.proxy_listen_address; }));
    s.push_back(integer("proxy_listen_port", [](config& c) -> int64_t& { return c.proxy_listen_port; }, 0, 65535));
    s.push_back(integer("proxy_request_timeout_ms", [](config& c) -> int64_t& { return c.proxy_request_timeout_ms; }, 1, INT32_MAX));
    s.push_back(integer("proxy_max_client_connections", [](config& c) -> int64_t& { return c.proxy_max_client_connections; }, 1, 1'000'000));
    s.push_back(integer("proxy_max_stream_ids", [](config& c) -> int64_t& { return c.proxy_max_stream_ids; }, 1, 32768));
    s.push_back(str("proxy_tls_ca_path", [](config& c) -> std::string& { return c.proxy_tls_ca_path; }));
    s.push_back(str("proxy_tls_cert_path", [](config& c) -> std::string& { return c.proxy_tls_cert_path; }));
    s.push_back(str("proxy_tls_key_path", [](config& c) -> std::string& { return c.proxy_tls_key_path; }));
    for (const char* name : {"origin", "target"}) {
        const bool origin = std::string(name) == "origin";
        s.push_back({std::string(name) + "_consistency_level",
                     [origin](config& c, const std::string& v) -> std::optional<std::string> {
                         if (!v.empty()) {
                             auto cl = consistency_named(v);
                             if (!cl) return "'" + v + "' is not a consistency level (ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE)";
                             if (*cl == cql::consistency::serial || *cl == cql::consistency::local_serial) {
                                 return "'" + v + "' is a serial level, for the conditions of lightweight transactions only";
                             }
                         }
                         (origin ? c.origin_consistency_level : c.target_consistency_level) = v.empty() ? v : std::string(cql::to_string(*consistency_named(v)));
                         return std::nullopt;
                     },
                     [origin](const config& c) { return origin ? c.origin_consistency_level : c.target_consistency_level; }});
    }
    s.push_back(boolean("proxy_tls_require_client_auth", [](config& c) -> bool& { return c.proxy_tls_require_client_auth; }));
    s.push_back({"cluster_connections",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto u = upper(v);
                     if (u == "PER_CLIENT") c.cluster_connections_shared = false;
                     else if (u == "SHARED") c.cluster_connections_shared = true;
                     else return "'" + v + "'; possible values are: PER_CLIENT and SHARED";
                     return std::nullopt;
                 },
                 [](const config& c) { return std::string(c.cluster_connections_shared ? "SHARED" : "PER_CLIENT"); }});
    s.push_back(integer("cluster_connections_per_node", [](config& c) -> int64_t& { return c.cluster_connections_per_node; }, 1, 64));
    s.push_back(integer("cluster_connections_keyspace_idle_ms", [](config& c) -> int64_t& { return c.cluster_connections_keyspace_idle_ms; },
                        1000, 86400000));
    s.push_back(integer("cluster_connections_login_cache_ms", [](config& c) -> int64_t& { return c.cluster_connections_login_cache_ms; }, 0,
                        3600000));
    s.push_back(integer("proxy_busy_poll_us", [](config& c) -> int64_t& { return c.proxy_busy_poll_us; }, 0, 10000));
    s.push_back(boolean("metrics_enabled", [](config& c) -> bool& { return c.metrics_enabled; }));
    s.push_back(str("metrics_address", [](config& c) -> std::string& { return c.metrics_address; }));
    s.push_back(integer("metrics_port", [](config& c) -> int64_t& { return c.metrics_port; }, 0, 65535));
    s.push_back(str("metrics_prefix", [](config& c) -> std::string& { return c.metrics_prefix; }));
    s.push_back(str("admin_token", [](config& c) -> std::string& { return c.admin_token; }, true));
    s.push_back(buckets("metrics_origin_latency_buckets_ms", [](config& c) -> std::vector<double>& { return c.metrics_origin_latency_buckets_ms; }));
    s.push_back(buckets("metrics_target_latency_buckets_ms", [](config& c) -> std::vector<double>& { return c.metrics_target_latency_buckets_ms; }));
    s.push_back(buckets("metrics_async_read_latency_buckets_ms", [](config& c) -> std::vector<double>& { return c.metrics_async_read_latency_buckets_ms; }));
    s.push_back(integer("heartbeat_interval_ms", [](config& c) -> int64_t& { return c.heartbeat_interval_ms; }, 1, INT32_MAX));
    s.push_back(integer("heartbeat_retry_interval_min_ms", [](config& c) -> int64_t& { return c.heartbeat_retry_interval_min_ms; }, 1, INT32_MAX));
    s.push_back(integer("heartbeat_retry_interval_max_ms", [](config& c) -> int64_t& { return c.heartbeat_retry_interval_max_ms; }, 1, INT32_MAX));
    s.push_back({"heartbeat_retry_backoff_factor",
                 [](config& c, const std::string& v) -> std::optional<std::string> {
                     auto d = parse_double(v);
                     if (!d || *d < 1) return "'" + v + "' is not a number of at least 1";
                     c.heartbeat_retry_backoff_factor = *d;
                     return std::nullopt;
                 },
                 [](const config& c) {
                     std::ostringstream o;
                     o << c.heartbeat_retry_backoff_factor;
                     return o.str();
                 }});
    s.push_back(integer("heartbeat_failure_threshold", [](config& c) -> int64_t& { return c.heartbeat_failure_threshold; }, 1, INT32_MAX));
    for (const char* k : {"request_write_queue_size_frames", "request_write_buffer_size_bytes", "request_read_buffer_size_bytes",
                          "response_write_queue_size_frames", "response_write_buffer_size_bytes", "response_read_buffer_size_bytes",
                          "request_response_max_workers", "write_max_workers", "read_max_workers", "listener_max_workers",
                          "event_queue_size_frames", "async_connector_write_queue_size_frames",
                          "async_connector_write_buffer_size_bytes"}) {
        std::string key = k;
        s.push_back({key,
                     [key](config& c, const std::string& v) -> std::optional<std::string> {
                         auto n = parse_int(v);
                         if (!n) return "'" + v + "' is not an integer";
                         c.zdm_tuning[key] = *n;
                         return std::nullopt;
                     },
                     [key](const config& c) { return std::to_string(c.zdm_tuning.at(key)); }});
    }
    return s;
}

const std::vector<setting>& settings() {
    static const std::vector<setting> all = make_settings();
    return all;
}

const setting* find(const std::string& key) {
    for (auto& s : settings()) {
        if (s.key == key) return &s;
    }
    return nullptr;
}

config_error bad_value(const std::string& key, const std::string& why) {
    return {key, "invalid value for " + key + " (" + env_name(key) + "): " + why};
}

}  // namespace

config::config()
    : metrics_origin_latency_buckets_ms(default_buckets),
      metrics_target_latency_buckets_ms(default_buckets),
      metrics_async_read_latency_buckets_ms(default_buckets) {
    zdm_tuning = {{"request_write_queue_size_frames", 128}, {"request_write_buffer_size_bytes", 4096},
                  {"request_read_buffer_size_bytes", 32768}, {"response_write_queue_size_frames", 128},
                  {"response_write_buffer_size_bytes", 8192}, {"response_read_buffer_size_bytes", 32768},
                  {"request_response_max_workers", -1}, {"write_max_workers", -1}, {"read_max_workers", -1},
                  {"listener_max_workers", -1}, {"event_queue_size_frames", 12},
                  {"async_connector_write_queue_size_frames", 2048}, {"async_connector_write_buffer_size_bytes", 4096}};
}

std::vector<std::string> setting_keys() {
    std::vector<std::string> out;
    for (auto& s : settings()) out.push_back(s.key);
    return out;
}

std::variant<config, config_error> load_yaml_text(const std::string& text) {
    config c;
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return config_error{"", "the configuration file is not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")"};
    }
    if (root.IsNull()) {
        auto v = validate(c);
        if (v) return *v;
        return c;
    }
    if (!root.IsMap()) return config_error{"", "the configuration file must be a map of settings (key: value)"};
    for (auto it = root.begin(); it != root.end(); ++it) {
        std::string key = it->first.as<std::string>();
        const setting* s = find(key);
        int line = it->first.Mark().line + 1;
        if (!s) return config_error{key, "unknown setting '" + key + "' (line " + std::to_string(line) + ")"};
        std::string value;
        YAML::Node v = it->second;
        if (v.IsSequence()) {
            for (auto item : v) value += (value.empty() ? "" : ",") + item.as<std::string>();
        } else if (v.IsScalar()) {
            value = v.as<std::string>();
        } else if (!v.IsNull()) {
            return config_error{key, "invalid value for " + key + " (line " + std::to_string(line) + "): a map is not allowed here"};
        }
        if (auto err = s->set(c, value)) return bad_value(key, *err + " (line " + std::to_string(line) + ")");
    }
    if (auto v = validate(c)) return *v;
    return c;
}

std::variant<config, config_error> load_yaml_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return config_error{"", "cannot read the configuration file " + path};
    std::stringstream buf;
    buf << in.rdbuf();
    return load_yaml_text(buf.str());
}

std::variant<config, config_error> load_environment(const std::function<const char*(const char*)>& getenv_fn) {
    config c;
    for (auto& s : settings()) {
        std::string name = env_name(s.key);
        const char* v = getenv_fn(name.c_str());
        if (!v) continue;
        if (auto err = s.set(c, v)) return bad_value(s.key, *err);
    }
    if (auto v = validate(c)) return *v;
    return c;
}

std::optional<config_error> validate(const config& c) {
    if (c.write == write_mode::dual_async_on_secondary && c.write_journal_dir.empty()) {
        return config_error{"write_journal_dir", "write_mode DUAL_ASYNC_ON_SECONDARY needs write_journal_dir (" + env_name("write_journal_dir") +
                                                     "): a directory on a local disk, one per tandem instance, where writes the secondary "
                                                     "has not acknowledged are kept"};
    }
    for (auto [name, cl] : {std::pair<const char*, const config::cluster_settings*>{"origin", &c.origin}, {"target", &c.target}}) {
        std::string p = name;
        bool points = !cl->contact_points.empty();
        bool bundle = !cl->secure_connect_bundle_path.empty();
        if (points && bundle) {
            return config_error{p + "_contact_points", p + "_secure_connect_bundle_path and " + p +
                                                           "_contact_points are mutually exclusive: set one of them"};
        }
        if (!points && !bundle) {
            return config_error{p + "_contact_points", "missing " + p + "_contact_points (" + env_name(p + "_contact_points") +
                                                           "): set the " + p + " cluster's contact points"};
        }
        // R1.25: the bundle names the datacenter and carries the TLS material.
        if (bundle && !cl->local_datacenter.empty()) {
            return config_error{p + "_local_datacenter", p + "_secure_connect_bundle_path and " + p +
                                                             "_local_datacenter are mutually exclusive: the bundle's metadata names the datacenter"};
        }
        if (bundle && (!cl->tls_server_ca_path.empty() || !cl->tls_client_cert_path.empty() || !cl->tls_client_key_path.empty())) {
            return config_error{p + "_tls_server_ca_path", p + "_secure_connect_bundle_path and " + p +
                                                               "_tls_* settings are mutually exclusive: the bundle carries the TLS material"};
        }
        bool client_tls = !cl->tls_client_cert_path.empty() || !cl->tls_client_key_path.empty();
        if (client_tls && cl->tls_server_ca_path.empty()) {
            return config_error{p + "_tls_server_ca_path", "incomplete TLS configuration for " + p +
                                                               ": the server CA path is required when a client certificate or key is set"};
        }
        if (!cl->tls_client_cert_path.empty() != !cl->tls_client_key_path.empty()) {
            return config_error{p + "_tls_client_cert_path", "incomplete TLS configuration for " + p +
                                                                 ": the client certificate and key go together"};
        }
    }
    if (!c.proxy_topology_addresses.empty() &&
        c.proxy_topology_index >= static_cast<int64_t>(c.proxy_topology_addresses.size())) {
        return config_error{"proxy_topology_index",
                            "invalid ZDM_PROXY_TOPOLOGY_INDEX and ZDM_PROXY_TOPOLOGY_ADDRESSES values; proxy_topology_index (" +
                                std::to_string(c.proxy_topology_index) + ") must be less than the number of addresses (" +
                                std::to_string(c.proxy_topology_addresses.size()) + ")"};
    }
    if (c.proxy_topology_addresses.empty() && c.proxy_topology_index != 0) {
        return config_error{"proxy_topology_index", "proxy_topology_index is " + std::to_string(c.proxy_topology_index) +
                                                        " but proxy_topology_addresses is empty"};
    }
    if (c.heartbeat_retry_interval_min_ms > c.heartbeat_retry_interval_max_ms) {
        return config_error{"heartbeat_retry_interval_min_ms", "heartbeat_retry_interval_min_ms must not exceed heartbeat_retry_interval_max_ms"};
    }
    int proxy_tls = !c.proxy_tls_ca_path.empty() + !c.proxy_tls_cert_path.empty() + !c.proxy_tls_key_path.empty();
    if (proxy_tls > 0 && (c.proxy_tls_cert_path.empty() || c.proxy_tls_key_path.empty())) {
        return config_error{"proxy_tls_cert_path", "incomplete TLS configuration for the proxy listener: proxy_tls_cert_path "
                                                   "and proxy_tls_key_path are both required"};
    }
    if (c.proxy_tls_require_client_auth && c.proxy_tls_ca_path.empty()) {
        return config_error{"proxy_tls_ca_path", "proxy_tls_require_client_auth needs proxy_tls_ca_path"};
    }
    return std::nullopt;
}

std::optional<std::string> set_setting(config& c, const std::string& key, const std::string& value) {
    const setting* s = find(key);
    if (!s) return "unknown setting '" + key + "'";
    if (auto err = s->set(c, value)) return "invalid value for " + key + ": " + *err;
    return std::nullopt;
}

std::string get_setting(const config& c, const std::string& key) {
    const setting* s = find(key);
    return s ? s->get(c) : std::string();
}

std::string describe(const config& c) {
    std::string out;
    for (auto& s : settings()) {
        std::string v = s.get(c);
        if (s.secret && !v.empty()) v = "<redacted>";
        out += s.key + ": " + v + "\n";
    }
    return out;
}

}  // namespace tandem::core
