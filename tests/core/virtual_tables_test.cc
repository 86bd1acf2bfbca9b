#include "core/virtual_tables.hh"

#include <gtest/gtest.h>

#include "cql/values.hh"

namespace tandem::core {
namespace {

using cql::cql_type;
using cql::type_id;

TEST(virtual_tables, tokens_follow_zdm_formula) {
    // floor(2^64 / (T·N)) · (t·N + i) − 2^63 (zdm-spec R6.2)
    EXPECT_EQ(virtual_tokens(0, 1, 1), std::vector<std::string>{"-9223372036854775808"});
    EXPECT_EQ(virtual_tokens(1, 2, 1), std::vector<std::string>{"0"});
    EXPECT_EQ(virtual_tokens(0, 1, 2), (std::vector<std::string>{"-9223372036854775808", "0"}));
    EXPECT_EQ(virtual_tokens(1, 3, 1), std::vector<std::string>{"-3074457345618258603"});
    auto t = virtual_tokens(2, 3, 8);
    ASSERT_EQ(t.size(), 8u);
    // Tokens of one instance ascend; instances interleave.
    for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(std::stoll(t[i - 1]), std::stoll(t[i]));
}

TEST(virtual_tables, host_ids_are_name_based_uuids) {
    auto a = *cql::inet_address::parse("10.0.0.1");
    auto b = *cql::inet_address::parse("10.0.0.2");
    auto ua = virtual_host_id(a, false);
    EXPECT_EQ(ua[6] >> 4, 5);           // version 5
    EXPECT_EQ(ua[8] & 0xC0, 0x80);      // RFC 4122 variant
    EXPECT_EQ(ua, virtual_host_id(a, false));
    EXPECT_NE(ua, virtual_host_id(b, false));
    EXPECT_NE(ua, virtual_host_id(a, true));  // 4-byte vs 16-byte form (R6.2)
}

TEST(virtual_tables, intercepted_tables) {
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM system.local WHERE key='local'"), ""), system_table::local);
    EXPECT_EQ(intercepted_table(cql::classify("select peer from SYSTEM.PEERS"), "ks"), system_table::peers);
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM system.peers_v2"), ""), system_table::peers_v2);
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM local"), "system"), system_table::local);
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM local"), "app"), system_table::none);
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM app.local"), "system"), system_table::none);
    EXPECT_EQ(intercepted_table(cql::classify("SELECT * FROM system.size_estimates"), ""), system_table::none);
    EXPECT_EQ(intercepted_table(cql::classify("INSERT INTO system.local (key) VALUES ('x')"), ""), system_table::none);
}

TEST(virtual_tables, topology_settings_are_validated) {
    auto bad_ip = make_proxy_topology({"10.0.0.1", "proxy-b"}, 0, 8, "localhost", 14002);
    ASSERT_TRUE(std::holds_alternative<std::string>(bad_ip));
    EXPECT_NE(std::get<std::string>(bad_ip).find("proxy_topology_addresses"), std::string::npos);
    auto bad_index = make_proxy_topology({"10.0.0.1"}, 1, 8, "localhost", 14002);
    EXPECT_NE(std::get<std::string>(bad_index).find("proxy_topology_index"), std::string::npos);
    auto bad_tokens = make_proxy_topology({}, 0, 0, "localhost", 14002);
    EXPECT_NE(std::get<std::string>(bad_tokens).find("proxy_topology_num_tokens"), std::string::npos);
    auto any = std::get<proxy_topology>(make_proxy_topology({}, 0, 8, "0.0.0.0", 14002));
    EXPECT_TRUE(any.unspecified);  // never advertised: the client's own address is used
    auto three = std::get<proxy_topology>(make_proxy_topology({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 2, 4, "0.0.0.0", 9042));
    EXPECT_EQ(three.index, 2u);
    EXPECT_FALSE(three.unspecified);
}

system_row row_of(std::vector<std::tuple<std::string, cql_type, std::optional<std::string>>> cells) {
    system_row r;
    for (auto& [name, type, value] : cells) {
        r.columns.push_back({"system", "local", name, type});
        r.cells.push_back(value);
    }
    return r;
}

cluster_view sample_view() {
    cluster_view v;
    auto text = cql_type::simple(type_id::varchar);
    std::string schema(16, '\x07');
    v.local = row_of({{"key", text, std::string("local")},
                      {"cluster_name", text, std::string("prod")},
                      {"cql_version", text, std::string("3.4.5")},
                      {"release_version", text, std::string("4.1.5")},
                      {"schema_version", cql_type::simple(type_id::uuid), schema},
                      {"data_center", text, std::string("dc1")}});
    host_info h;
    h.address = "10.1.0.1";
    h.datacenter = "dc1";
    h.rack = "r1";
    h.host_id = "x";
    h.row = v.local;
    v.hosts.push_back(h);
    return v;
}

struct decoded {
    std::vector<std::string> names;
    std::vector<std::vector<std::optional<std::string>>> rows;
};

decoded run(system_table t, const std::string& q, const proxy_topology& topo) {
    auto info = cql::classify(q);
    auto a = answer_system_select(t, q, info, sample_view(), topo, *cql::inet_address::parse("127.0.0.9"), 4);
    EXPECT_TRUE(std::holds_alternative<system_answer>(a)) << (std::holds_alternative<cql::error_message>(a) ? std::get<cql::error_message>(a).message : "");
    decoded d;
    if (!std::holds_alternative<system_answer>(a)) return d;
    auto r = cql::result_message::decode(std::get<system_answer>(a).result_body, 4);
    EXPECT_TRUE(r.has_value());
    for (auto& c : r->metadata.columns) d.names.push_back(c.name);
    auto rows = r->rows();
    for (auto& row : *rows) {
        auto& out = d.rows.emplace_back();
        for (auto& cell : row) out.push_back(cell ? std::optional<std::string>(std::string(*cell)) : std::nullopt);
    }
    return d;
}

TEST(virtual_tables, local_answers_exactly_the_selected_columns) {
    auto topo = std::get<proxy_topology>(make_proxy_topology({"10.0.0.1", "10.0.0.2"}, 0, 8, "0.0.0.0", 9042));
    auto all = run(system_table::local, "SELECT * FROM system.local", topo);
    ASSERT_EQ(all.rows.size(), 1u);
    for (const char* col : {"key", "broadcast_address", "cluster_name", "data_center", "host_id", "partitioner", "rack",
                            "release_version", "rpc_address", "schema_version", "tokens"}) {
        EXPECT_NE(std::find(all.names.begin(), all.names.end(), col), all.names.end()) << col;
    }
    auto some = run(system_table::local, "SELECT rack AS r, rpc_address, cluster_name FROM system.local WHERE key='local'", topo);
    EXPECT_EQ(some.names, (std::vector<std::string>{"r", "rpc_address", "cluster_name"}));
    EXPECT_EQ(some.rows[0][0], std::optional<std::string>("rack0"));
    EXPECT_EQ(some.rows[0][1], std::optional<std::string>(std::string("\x0a\x00\x00\x01", 4)));  // this instance
    EXPECT_EQ(some.rows[0][2], std::optional<std::string>("prod"));
    auto count = run(system_table::local, "SELECT count(*) FROM system.local", topo);
    EXPECT_EQ(count.names, std::vector<std::string>{"count"});
    EXPECT_EQ(count.rows[0][0], std::optional<std::string>(std::string("\0\0\0\0\0\0\0\1", 8)));
}

TEST(virtual_tables, peers_lists_the_other_instances) {
    auto topo = std::get<proxy_topology>(make_proxy_topology({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 1, 8, "0.0.0.0", 9042));
    auto p = run(system_table::peers, "SELECT peer, rpc_address, data_center, host_id, tokens FROM system.peers", topo);
    ASSERT_EQ(p.rows.size(), 2u);
    EXPECT_EQ(p.rows[0][0], std::optional<std::string>(std::string("\x0a\x00\x00\x01", 4)));
    EXPECT_EQ(p.rows[1][0], std::optional<std::string>(std::string("\x0a\x00\x00\x03", 4)));
    EXPECT_EQ(p.rows[0][2], std::optional<std::string>("dc1"));
    auto alone = std::get<proxy_topology>(make_proxy_topology({}, 0, 8, "127.0.0.1", 9042));
    EXPECT_TRUE(run(system_table::peers, "SELECT * FROM system.peers", alone).rows.empty());
}

TEST(virtual_tables, errors_drivers_expect) {
    auto topo = std::get<proxy_topology>(make_proxy_topology({}, 0, 8, "127.0.0.1", 9042));
    auto v = sample_view();
    auto ask = [&](system_table t, const std::string& q) {
        return answer_system_select(t, q, cql::classify(q), v, topo, *cql::inet_address::parse("127.0.0.1"), 4);
    };
    auto v2 = ask(system_table::peers_v2, "SELECT * FROM system.peers_v2");
    ASSERT_TRUE(std::holds_alternative<cql::error_message>(v2));
    EXPECT_EQ(std::get<cql::error_message>(v2).code, cql::error_code::invalid);
    EXPECT_EQ(std::get<cql::error_message>(v2).message, "unconfigured table peers_v2");
    auto unknown = ask(system_table::local, "SELECT bogus FROM system.local");
    EXPECT_EQ(std::get<cql::error_message>(unknown).message, "Undefined column name bogus");
    auto fn = ask(system_table::local, "SELECT toJson(tokens) FROM system.local");
    EXPECT_EQ(std::get<cql::error_message>(fn).code, cql::error_code::invalid);
}

}  // namespace
}  // namespace tandem::core
