// The admin API's and tandemctl's pure parts: who may call, what a settings body changes, the
// status window, what a fleet disagrees on, the schema diff.
#include <gtest/gtest.h>

#include "core/admin_api.hh"
#include "core/fleet/fleet.hh"
#include "core/fleet/preflight.hh"
#include "core/status.hh"

namespace tandem::core {
namespace {

TEST(admin_api, who_may_call) {
    http_request get{"GET", "/api/v1/status", "", "", "10.0.0.9:5000"};
    http_request put{"PUT", "/api/v1/settings", "{}", "", "10.0.0.9:5000"};
    EXPECT_FALSE(authorize(get, "", false)) << "GET is open without a token";
    EXPECT_FALSE(authorize(put, "", true)) << "PUT is open on a loopback listener";
    auto refused = authorize(put, "", false);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    EXPECT_NE(refused->body.find("admin_token"), std::string::npos);
    EXPECT_EQ(authorize(get, "t0k", true)->status, 401) << "a token set: every /api call needs it";
    get.authorization = "Bearer t0k";
    EXPECT_FALSE(authorize(get, "t0k", false));
    get.authorization = "Bearer t0k2";
    EXPECT_EQ(authorize(get, "t0k", false)->status, 401);
    get.authorization = "t0k";
    EXPECT_EQ(authorize(get, "t0k", false)->status, 401);
}

TEST(admin_api, loopback_addresses) {
    for (const char* a : {"localhost", "127.0.0.1", "127.1.2.3", "::1"}) EXPECT_TRUE(is_loopback(a)) << a;
    for (const char* a : {"0.0.0.0", "10.0.0.1", "::", "example.com"}) EXPECT_FALSE(is_loopback(a)) << a;
}

TEST(admin_api, a_settings_body_applies_all_or_nothing) {
    config live;
    auto ok = settings_from_json(live, R"({"primary_cluster": "target", "read_mode": "DUAL_ASYNC_ON_SECONDARY", "log_level": "debug"})");
    ASSERT_TRUE(std::holds_alternative<config>(ok));
    EXPECT_EQ(std::get<config>(ok).primary_cluster, cluster_role::target);
    EXPECT_EQ(std::get<config>(ok).read, read_mode::dual_async_on_secondary);
    EXPECT_EQ(std::get<config>(ok).log_level, "DEBUG");
    struct bad {
        const char* body;
        const char* names;
    } cases[] = {
        {R"({"primary_cluster": "TARGET", "read_mode": "SOMETIMES"})", "read_mode"},
        {R"({"proxy_listen_port": "1"})", "proxy_listen_port"},
        {R"({"primary_cluster": 1})", "primary_cluster"},
        {R"(["primary_cluster"])", "JSON object"},
        {"not json", "JSON object"},
    };
    for (const auto& c : cases) {
        auto r = settings_from_json(live, c.body);
        ASSERT_TRUE(std::holds_alternative<http_response>(r)) << c.body;
        EXPECT_EQ(std::get<http_response>(r).status, 400);
        EXPECT_NE(std::get<http_response>(r).body.find(c.names), std::string::npos) << std::get<http_response>(r).body;
    }
}

TEST(status_window, the_last_minute_of_samples) {
    recent_latency lat;
    status_window w(60);
    EXPECT_EQ(w.summary().requests, 0u);
    status_sample s;
    s.at_s = 0;
    w.add(s);
    for (int i = 0; i < 99; ++i) lat.record(100'000);  // 0.1 ms
    lat.record(50'000'000);                             // 50 ms
    s = {};
    s.at_s = 10;
    s.requests = 100;
    s.errors = 2;
    s.add(lat);
    w.add(s);
    auto sum = w.summary();
    EXPECT_EQ(sum.requests, 100u);
    EXPECT_DOUBLE_EQ(sum.requests_per_s, 10);
    EXPECT_DOUBLE_EQ(sum.errors_per_s, 0.2);
    EXPECT_NEAR(sum.p50_ms, 0.1, 0.1 * 0.25);
    EXPECT_NEAR(sum.p99_ms, 0.1, 0.1 * 0.25);  // the 100th value is above the 99th percentile
    // 70 s later with no traffic: the minute holds nothing of the burst.
    status_sample idle = s;
    idle.at_s = 80;
    w.add(idle);
    idle.at_s = 85;
    w.add(idle);
    sum = w.summary();
    EXPECT_EQ(sum.requests, 0u);
    EXPECT_EQ(sum.p99_ms, 0);
    EXPECT_GE(sum.seconds, 60);
}

TEST(status_window, buckets_hold_their_values) {
    for (uint64_t v : {0ull, 3ull, 4ull, 5ull, 7ull, 8ull, 1000ull, 123456ull, 1ull << 40}) {
        const size_t i = recent_latency::index_of(v);
        EXPECT_GE(recent_latency::upper_edge(i), v) << v;
        if (i > 0) {
            EXPECT_LT(recent_latency::upper_edge(i - 1), v) << v;
        }
    }
}

TEST(fleet, instances_from_flags_and_settings) {
    std::string error;
    auto list = fleet::parse_instances("10.0.0.1:9000, 10.0.0.2,[::1]:14001", error);
    ASSERT_TRUE(list) << error;
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[1].port, 14001);
    EXPECT_EQ((*list)[2].name(), "[::1]:14001");
    EXPECT_FALSE(fleet::parse_instances("10.0.0.1:x", error));
    EXPECT_NE(error.find("10.0.0.1:x"), std::string::npos);
    EXPECT_FALSE(fleet::parse_instances(" , ", error));
    config c;
    c.proxy_topology_addresses = {"10.0.0.1", "10.0.0.2"};
    c.metrics_port = 9100;
    auto from = fleet::instances_from_config(c);
    ASSERT_EQ(from.size(), 2u);
    EXPECT_EQ(from[1].name(), "10.0.0.2:9100");
}

TEST(fleet, what_instances_disagree_on) {
    auto up = [](const char* host, int64_t index, const char* primary) {
        fleet::instance_status s;
        s.where = {host, 14001};
        s.up = true;
        s.index = index;
        s.primary_cluster = primary;
        s.read_mode = "PRIMARY_ONLY";
        s.version = "0.2.0";
        s.topology = {"a", "b", "c"};
        return s;
    };
    std::vector<fleet::instance_status> f = {up("a", 0, "ORIGIN"), up("b", 1, "ORIGIN"), up("c", 2, "ORIGIN")};
    EXPECT_TRUE(fleet::disagreements(f).empty());
    f[2].primary_cluster = "TARGET";
    f[1].index = 0;
    fleet::instance_status down;
    down.where = {"d", 14001};
    f.push_back(down);  // a down instance disagrees with nobody
    auto d = fleet::disagreements(f);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0], "instances disagree on the primary cluster: ORIGIN (a:14001, b:14001); TARGET (c:14001)");
    EXPECT_NE(d[1].find("both have proxy_topology_index 0"), std::string::npos);
    f[0].write_mode = "DUAL_ASYNC_ON_SECONDARY";
    d = fleet::disagreements(f);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[1], "instances disagree on the write mode: (none) (b:14001, c:14001); DUAL_ASYNC_ON_SECONDARY (a:14001)");
}

TEST(fleet, a_status_body) {
    fleet::instance_status s;
    EXPECT_TRUE(fleet::parse_status(R"({"version": "0.2.0", "instance": {"index": 2, "addresses": ["a", "b"]}, "primary_cluster": "TARGET",
        "read_mode": "PRIMARY_ONLY", "client_connections": 7, "requests": 1000, "errors": 3,
        "last_minute": {"requests_per_s": 12.5, "p99_ms": 1.25}, "clusters": {"origin": {"state": "UP"}, "target": {"state": "DOWN"}}})", s));
    EXPECT_EQ(s.index, 2);
    EXPECT_EQ(s.topology.size(), 2u);
    EXPECT_DOUBLE_EQ(s.requests_per_s, 12.5);
    EXPECT_EQ(s.target_state, "DOWN");
    EXPECT_FALSE(fleet::parse_status("{}", s));
    EXPECT_FALSE(fleet::parse_status("<html>", s));
}

TEST(preflight, the_schema_diff) {
    migrate::table_schema t;
    t.keyspace = "app";
    t.name = "kv";
    t.partition_key = {{"k", "int", migrate::column_kind::partition_key, 0, false, false, false}};
    t.cells = {{"v", "text", migrate::column_kind::regular, -1, false, false, false}};
    fleet::cluster_schema origin;
    origin["app"].replication = "class=org.apache.cassandra.locator.SimpleStrategy,replication_factor=3";
    origin["app"].tables["kv"] = t;
    origin["app"].udts["addr"] = "street text, zip int";
    origin["app"].table_options["kv"] = "default_time_to_live=0, gc_grace_seconds=864000";
    origin["shop"] = {};
    auto target = origin;
    target.erase("shop");
    target["app"].replication = "class=org.apache.cassandra.locator.SimpleStrategy,replication_factor=1";
    target["app"].tables["kv"].cells[0].type = "varchar";
    target["app"].udts["addr"] = "street text";
    target["app"].table_options["kv"] = "default_time_to_live=60, gc_grace_seconds=864000";
    auto r = fleet::schema_diff(origin, target);
    ASSERT_EQ(r.errors.size(), 3u);
    EXPECT_EQ(r.errors[0], "type app.addr is (street text, zip int) on origin, (street text) on target");
    EXPECT_NE(r.errors[1].find("column v is text"), std::string::npos) << r.errors[1];
    EXPECT_EQ(r.errors[2], "keyspace shop does not exist on target (0 tables on origin)");
    ASSERT_EQ(r.warnings.size(), 2u);
    EXPECT_NE(r.warnings[0].find("replication"), std::string::npos);
    EXPECT_NE(r.warnings[1].find("default_time_to_live=60"), std::string::npos);
    EXPECT_TRUE(fleet::schema_diff(origin, origin).errors.empty());
    EXPECT_TRUE(fleet::is_internal_keyspace("system_auth"));
    EXPECT_FALSE(fleet::is_internal_keyspace("systematic"));
}

}  // namespace
}  // namespace tandem::core
