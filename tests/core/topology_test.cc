// apply_topology: the control connection's view of a cluster from its system tables.
#include "core/topology.hh"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

// A system.local / system.peers row with the columns the view reads.
system_row row(const std::string& address, const std::string& dc, const std::string& rack, int host, bool peer = false) {
    system_row r;
    for (const char* name : {peer ? "peer" : "broadcast_address", "rpc_address", "data_center", "rack", "host_id"}) {
        cql::column_spec c;
        c.name = name;
        r.columns.push_back(c);
    }
    std::string addr(4, '\0');
    unsigned a, b, c, d;
    std::sscanf(address.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d);
    addr = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
    std::string id(16, '\0');
    id[15] = static_cast<char>(host);
    r.cells = {addr, addr, dc, rack, host ? std::optional<std::string>(id) : std::nullopt};
    return r;
}

TEST(topology, the_local_datacenter_sorted_by_rack_then_host_id) {
    topology_rows rows;
    rows.local = {row("10.0.0.1", "dc1", "r2", 1)};
    rows.peers = {row("10.0.0.2", "dc1", "r1", 3, true), row("10.0.0.3", "dc2", "r1", 2, true), row("10.0.0.4", "dc1", "r1", 2, true),
                  row("10.0.0.5", "dc1", "r1", 0, true)};  // no host id: skipped with a warning
    topology_settings s{"origin", 9042, "", false, {}, 0};
    cluster_view v;
    v.name = "origin";
    std::string sticky;
    std::vector<std::string> warnings;
    ASSERT_EQ(apply_topology(v, rows, s, sticky, nullptr, "10.0.0.1", warnings), "");
    ASSERT_EQ(v.hosts.size(), 3u);
    EXPECT_EQ(v.hosts[0].address, "10.0.0.4");  // r1, host id ...02
    EXPECT_EQ(v.hosts[1].address, "10.0.0.2");  // r1, host id ...03
    EXPECT_EQ(v.hosts[2].address, "10.0.0.1");  // r2
    EXPECT_EQ(v.local_datacenter, "dc1");
    EXPECT_EQ(sticky, "dc1");
    EXPECT_EQ(warnings.size(), 1u);
    EXPECT_TRUE(v.peers_had_rows);
}

TEST(topology, configured_datacenter_then_sticky_and_down_marks_kept) {
    topology_rows rows;
    rows.local = {row("10.0.0.1", "dc1", "r1", 1)};
    rows.peers = {row("10.0.1.1", "dc2", "r1", 2, true)};
    topology_settings s{"target", 9042, "dc2", false, {}, 0};
    cluster_view v;
    v.name = "target";
    std::string sticky;
    std::vector<std::string> warnings;
    ASSERT_EQ(apply_topology(v, rows, s, sticky, nullptr, "", warnings), "");
    ASSERT_EQ(v.hosts.size(), 1u);
    EXPECT_EQ(v.hosts[0].address, "10.0.1.1");
    v.hosts[0].up = false;
    // A refresh keeps the datacenter chosen first and the node's down mark.
    cluster_view next;
    next.name = "target";
    s.local_datacenter = "dc1";
    ASSERT_EQ(apply_topology(next, rows, s, sticky, &v, "", warnings), "");
    EXPECT_EQ(next.local_datacenter, "dc2");
    EXPECT_FALSE(next.hosts[0].up);
    // A configured datacenter without nodes: the contact point's, with a warning.
    cluster_view other;
    other.name = "target";
    std::string fresh;
    warnings.clear();
    s.local_datacenter = "nowhere";
    ASSERT_EQ(apply_topology(other, rows, s, fresh, nullptr, "", warnings), "");
    EXPECT_EQ(other.local_datacenter, "dc1");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("nowhere"), std::string::npos);
}

TEST(topology, what_cannot_be_served_is_an_error) {
    topology_settings s{"origin", 9042, "", false, {}, 0};
    cluster_view v;
    std::string sticky;
    std::vector<std::string> warnings;
    EXPECT_EQ(apply_topology(v, {}, s, sticky, nullptr, "", warnings), "system.local returned no row");
    topology_rows rows;
    rows.local = {row("10.0.0.1", "dc1", "r1", 0)};
    EXPECT_NE(apply_topology(v, rows, s, sticky, nullptr, "", warnings).find("lacks"), std::string::npos);
    rows.local = {row("10.0.0.1", "dc1", "r1", 1)};
    cql::column_spec p;
    p.name = "partitioner";
    rows.local[0].columns.push_back(p);
    rows.local[0].cells.push_back(std::string("org.apache.cassandra.dht.ByteOrderedPartitioner"));
    EXPECT_NE(apply_topology(v, rows, s, sticky, nullptr, "", warnings).find("unsupported partitioner"), std::string::npos);
}

TEST(topology, astra_nodes_are_reached_through_the_sni_proxy) {
    topology_rows rows;
    rows.local = {row("10.0.0.1", "dc1", "r1", 1)};
    topology_settings s{"origin", 9042, "", true, "203.0.113.9", 29042};
    cluster_view v;
    std::string sticky;
    std::vector<std::string> warnings;
    ASSERT_EQ(apply_topology(v, rows, s, sticky, nullptr, "", warnings), "");
    EXPECT_EQ(v.hosts[0].address, "203.0.113.9");
    EXPECT_EQ(v.hosts[0].port, 29042);
    EXPECT_EQ(v.hosts[0].server_name, "00000000-0000-0000-0000-000000000001");
    EXPECT_EQ(v.hosts[0].endpoint(), v.hosts[0].server_name);
}

}  // namespace
}  // namespace tandem::core
