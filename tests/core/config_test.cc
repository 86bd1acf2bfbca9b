#include "core/config.hh"

#include <gtest/gtest.h>

#include <algorithm>

#include <map>

namespace tandem::core {
namespace {

const char* minimal = "origin_contact_points: 10.0.0.1,10.0.0.2\ntarget_contact_points: 10.1.0.1\n";

config ok(const std::string& yaml) {
    auto r = load_yaml_text(yaml);
    if (auto* e = std::get_if<config_error>(&r)) ADD_FAILURE() << e->message;
    return std::get<config>(r);
}

config_error bad(const std::string& yaml) {
    auto r = load_yaml_text(yaml);
    if (!std::holds_alternative<config_error>(r)) {
        ADD_FAILURE() << "accepted: " << yaml;
        return {};
    }
    return std::get<config_error>(r);
}

TEST(config, zdm_defaults) {
    auto c = ok(minimal);
    EXPECT_EQ(c.primary_cluster, cluster_role::origin);
    EXPECT_EQ(c.read, read_mode::primary_only);
    EXPECT_EQ(c.proxy_listen_address, "localhost");
    EXPECT_EQ(c.proxy_listen_port, 14002);
    EXPECT_EQ(c.proxy_request_timeout_ms, 10000);
    EXPECT_EQ(c.proxy_max_client_connections, 1000);
    EXPECT_EQ(c.proxy_max_stream_ids, 2048);
    EXPECT_EQ(c.metrics_port, 14001);
    EXPECT_EQ(c.metrics_prefix, "zdm");
    EXPECT_EQ(c.origin.port, 9042);
    EXPECT_EQ(c.origin.connection_timeout_ms, 30000);
    EXPECT_EQ(c.heartbeat_interval_ms, 30000);
    EXPECT_EQ(c.proxy_topology_num_tokens, 8);
    EXPECT_EQ(c.metrics_origin_latency_buckets_ms.size(), 17u);
    EXPECT_EQ(c.origin.contact_points, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST(config, every_key_parses_from_yaml) {
    auto c = ok(std::string(minimal) +
                "primary_cluster: target\nread_mode: DUAL_ASYNC_ON_SECONDARY\nreplace_cql_functions: true\n"
                "log_level: warning\nblocked_protocol_versions: [v2, DseV1]\nproxy_topology_addresses: 10.2.0.1, 10.2.0.2\n"
                "proxy_topology_index: 1\norigin_password: hunter2\ntarget_port: 9043\n"
                "metrics_target_latency_buckets_ms: 1,2,3\nheartbeat_retry_backoff_factor: 1.5\n"
                "request_write_queue_size_frames: 256\n");
    EXPECT_EQ(c.primary_cluster, cluster_role::target);
    EXPECT_EQ(c.read, read_mode::dual_async_on_secondary);
    EXPECT_TRUE(c.replace_cql_functions);
    EXPECT_EQ(c.log_level, "WARN");
    EXPECT_EQ(c.blocked_protocol_versions, (std::vector<std::string>{"v2", "DseV1"}));
    EXPECT_EQ(c.proxy_topology_addresses.size(), 2u);
    EXPECT_EQ(c.target.port, 9043);
    EXPECT_EQ(c.metrics_target_latency_buckets_ms, (std::vector<double>{1, 2, 3}));
    EXPECT_DOUBLE_EQ(c.heartbeat_retry_backoff_factor, 1.5);
    EXPECT_EQ(c.zdm_tuning.at("request_write_queue_size_frames"), 256);
    EXPECT_EQ(describe(c).find("hunter2"), std::string::npos);
    EXPECT_NE(describe(c).find("origin_password: <redacted>"), std::string::npos);
}

TEST(config, errors_name_the_key) {
    EXPECT_EQ(bad(std::string(minimal) + "primary_cluster: BOTH\n").message,
              "invalid value for primary_cluster (ZDM_PRIMARY_CLUSTER): 'BOTH'; possible values are: ORIGIN and TARGET (line 3)");
    EXPECT_EQ(bad(std::string(minimal) + "proxy_listen_port: lots\n").key, "proxy_listen_port");
    EXPECT_EQ(bad(std::string(minimal) + "proxy_listen_port: 70000\n").key, "proxy_listen_port");
    EXPECT_EQ(bad(std::string(minimal) + "metrics_enabled: maybe\n").key, "metrics_enabled");
    EXPECT_EQ(bad(std::string(minimal) + "proxy_topology_num_tokens: 300\n").key, "proxy_topology_num_tokens");
    EXPECT_EQ(bad(std::string(minimal) + "blocked_protocol_versions: v7\n").key, "blocked_protocol_versions");
    EXPECT_EQ(bad(std::string(minimal) + "read_mdoe: PRIMARY_ONLY\n").message, "unknown setting 'read_mdoe' (line 3)");
    EXPECT_EQ(bad("target_contact_points: a\n").key, "origin_contact_points");
    EXPECT_EQ(bad(std::string(minimal) + "proxy_topology_addresses: a,b\nproxy_topology_index: 2\n").key, "proxy_topology_index");
    EXPECT_EQ(bad(std::string(minimal) + "origin_tls_client_cert_path: /c\norigin_tls_client_key_path: /k\n").key,
              "origin_tls_server_ca_path");
    EXPECT_EQ(bad(std::string(minimal) + "log_level: LOUD\n").key, "log_level");
    EXPECT_NE(bad("origin_contact_points: [a\n").message.find("not valid YAML"), std::string::npos);
    EXPECT_EQ(bad("- a\n- b\n").message, "the configuration file must be a map of settings (key: value)");
}

TEST(config, environment_variables) {
    std::map<std::string, std::string> env = {{"ZDM_ORIGIN_CONTACT_POINTS", "127.0.0.1"},
                                              {"ZDM_TARGET_CONTACT_POINTS", "127.0.0.2"},
                                              {"ZDM_PRIMARY_CLUSTER", "TARGET"},
                                              {"ZDM_PROXY_LISTEN_PORT", "9999"},
                                              {"ZDM_METRICS_ENABLED", "false"}};
    auto get = [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    };
    auto r = load_environment(get);
    ASSERT_TRUE(std::holds_alternative<config>(r)) << std::get<config_error>(r).message;
    auto& c = std::get<config>(r);
    EXPECT_EQ(c.primary_cluster, cluster_role::target);
    EXPECT_EQ(c.proxy_listen_port, 9999);
    EXPECT_FALSE(c.metrics_enabled);
    env["ZDM_PROXY_MAX_STREAM_IDS"] = "many";
    auto e = load_environment(get);
    ASSERT_TRUE(std::holds_alternative<config_error>(e));
    EXPECT_EQ(std::get<config_error>(e).message,
              "invalid value for proxy_max_stream_ids (ZDM_PROXY_MAX_STREAM_IDS): 'many' is not an integer");
}

TEST(config, keys_match_zdm_reference_count) {
    // Every ZDM 2.x setting (zdm-spec.md §9): 15 general and topology, 11 per cluster, 9 listener, 7 metrics,
    // 5 heartbeat, 13 tuning; and tandem's own: admin_token, proxy_busy_poll_us,
    // origin/target_consistency_level, write_mode and the three write_journal_* settings,
    // dual_read_compare and dual_read_log_values, cluster_connections and
    // cluster_connections_per_node, cluster_connections_keyspace_idle_ms,
    // cluster_connections_login_cache_ms.
    EXPECT_EQ(setting_keys().size(), 15u + 22u + 9u + 7u + 5u + 13u + 4u + 4u + 2u + 4u);
    config cc;
    ASSERT_FALSE(set_setting(cc, "cluster_connections", "shared"));
    EXPECT_TRUE(cc.cluster_connections_shared);
    EXPECT_EQ(*set_setting(cc, "cluster_connections", "POOLED"),
              "invalid value for cluster_connections: 'POOLED'; possible values are: PER_CLIENT and SHARED");
    EXPECT_EQ(*set_setting(cc, "cluster_connections_per_node", "0"),
              "invalid value for cluster_connections_per_node: 0 is out of range [1, 64]");
    EXPECT_EQ(cc.cluster_connections_keyspace_idle_ms, 300000);
    EXPECT_EQ(*set_setting(cc, "cluster_connections_keyspace_idle_ms", "10"),
              "invalid value for cluster_connections_keyspace_idle_ms: 10 is out of range [1000, 86400000]");
    EXPECT_EQ(cc.cluster_connections_login_cache_ms, 2000);
    ASSERT_FALSE(set_setting(cc, "cluster_connections_login_cache_ms", "0"));
    EXPECT_EQ(cc.cluster_connections_login_cache_ms, 0);
    EXPECT_EQ(*set_setting(cc, "cluster_connections_login_cache_ms", "-1"),
              "invalid value for cluster_connections_login_cache_ms: -1 is out of range [0, 3600000]");
    config cl;
    ASSERT_FALSE(set_setting(cl, "target_consistency_level", "local_one"));
    EXPECT_EQ(cl.target_consistency_level, "LOCAL_ONE");
    EXPECT_NE(set_setting(cl, "origin_consistency_level", "MOSTLY")->find("origin_consistency_level"), std::string::npos);
    EXPECT_NE(set_setting(cl, "origin_consistency_level", "SERIAL")->find("lightweight transactions"), std::string::npos);
    auto bad = load_yaml_text("origin_contact_points: a\ntarget_contact_points: b\ntarget_consistency_level: TWOISH\n");
    ASSERT_TRUE(std::holds_alternative<config_error>(bad));
    EXPECT_EQ(std::get<config_error>(bad).key, "target_consistency_level");
    const auto keys = setting_keys();
    EXPECT_NE(std::find(keys.begin(), keys.end(), "admin_token"), keys.end());
    config c;
    ASSERT_FALSE(set_setting(c, "admin_token", "s3cret"));
    EXPECT_NE(describe(c).find("admin_token: <redacted>"), std::string::npos) << "the token never reaches the start-up log";
    EXPECT_EQ(*set_setting(c, "read_mode", "x"), "invalid value for read_mode: 'x'; possible values are: PRIMARY_ONLY and DUAL_ASYNC_ON_SECONDARY");
    EXPECT_EQ(*set_setting(c, "nope", "x"), "unknown setting 'nope'");
    EXPECT_EQ(*set_setting(c, "proxy_busy_poll_us", "20000"), "invalid value for proxy_busy_poll_us: 20000 is out of range [0, 10000]");
}

TEST(config, write_mode_needs_a_journal_directory) {
    config c;
    EXPECT_EQ(*set_setting(c, "write_mode", "async"),
              "invalid value for write_mode: 'async'; possible values are: DUAL_SYNC and DUAL_ASYNC_ON_SECONDARY");
    auto v = load_yaml_text("origin_contact_points: a\ntarget_contact_points: b\nwrite_mode: dual_async_on_secondary\n");
    ASSERT_TRUE(std::holds_alternative<config_error>(v));
    EXPECT_EQ(std::get<config_error>(v).key, "write_journal_dir");
    EXPECT_NE(std::get<config_error>(v).message.find("ZDM_WRITE_JOURNAL_DIR"), std::string::npos);
    auto ok = load_yaml_text(
        "origin_contact_points: a\ntarget_contact_points: b\nwrite_mode: DUAL_ASYNC_ON_SECONDARY\nwrite_journal_dir: /var/lib/tandem/j0\n");
    ASSERT_TRUE(std::holds_alternative<config>(ok));
    EXPECT_EQ(std::get<config>(ok).write, write_mode::dual_async_on_secondary);
    EXPECT_EQ(std::get<config>(ok).write_journal_max_bytes, int64_t{1} << 30);
    EXPECT_EQ(std::get<config>(ok).write_journal_sync_ms, 2);
    EXPECT_TRUE(set_setting(c, "write_journal_max_bytes", "1000").has_value()) << "under 1 MiB is refused";
}

}  // namespace
}  // namespace tandem::core
