#include "core/routing.hh"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

query_decision decide_text(const std::string& q, std::string_view ks = "", bool dual = false) {
    return decide(cql::classify(q), ks, dual);
}

TEST(routing, reads_go_to_the_primary_and_are_mirrored_in_dual_mode) {
    auto d = decide_text("SELECT * FROM app.kv WHERE k = 1");
    EXPECT_EQ(d.route, query_route::primary);
    EXPECT_FALSE(d.async);
    EXPECT_FALSE(d.write);
    EXPECT_TRUE(decide_text("SELECT * FROM kv", "app", true).async);  // R4.12
    // Vector search is a read (ZDM routes it to both as a write, W8).
    EXPECT_EQ(decide_text("SELECT id FROM app.items ORDER BY v ANN OF [1.0, 2.0] LIMIT 3").route, query_route::primary);
}

TEST(routing, system_keyspaces) {
    EXPECT_EQ(decide_text("SELECT * FROM system_schema.tables", "", true).route, query_route::system);
    EXPECT_FALSE(decide_text("SELECT * FROM system_schema.tables", "", true).async);  // never async (R3.8)
    EXPECT_EQ(decide_text("SELECT * FROM dse_insights.x").route, query_route::system);
    EXPECT_EQ(decide_text("SELECT * FROM size_estimates", "system").route, query_route::system);
    EXPECT_EQ(decide_text("SELECT * FROM systemic.t").route, query_route::primary);
    EXPECT_TRUE(is_system_keyspace("system_auth"));
    EXPECT_FALSE(is_system_keyspace("systems"));
}

TEST(routing, intercepted_and_local) {
    auto d = decide_text("SELECT rpc_address FROM system.local");
    EXPECT_EQ(d.route, query_route::intercepted);
    EXPECT_EQ(d.table, system_table::local);
    EXPECT_EQ(decide_text("SELECT * FROM peers_v2", "system").table, system_table::peers_v2);
    EXPECT_EQ(decide_text("CALL InsightsRpc.reportInsight('{}')").route, query_route::local_void);
    EXPECT_EQ(decide_text("CALL DseGraphRpc.x()").route, query_route::both);  // other CALLs: both (R3.11)
}

TEST(routing, writes_ddl_use_and_unknown_go_to_both) {
    for (const char* q : {"INSERT INTO app.kv (k) VALUES (1)", "UPDATE kv SET v = 1 WHERE k = 1", "DELETE FROM kv WHERE k = 1",
                          "BEGIN BATCH INSERT INTO kv (k) VALUES (1); APPLY BATCH", "CREATE TABLE t (k int PRIMARY KEY)",
                          "TRUNCATE kv", "USE app", "GRANT SELECT ON app.kv TO bob", "INSERT INTO system.peers (peer) VALUES ('1.2.3.4')"}) {
        auto d = decide_text(q, "app");
        EXPECT_EQ(d.route, query_route::both) << q;
        EXPECT_TRUE(d.write) << q;
        EXPECT_FALSE(d.unrecognized) << q;
    }
    EXPECT_TRUE(decide_text("USE app", "", true).async);  // R3.10
    EXPECT_FALSE(decide_text("INSERT INTO kv (k) VALUES (1)", "app", true).async);
    auto graph = decide_text("g.V().count()");
    EXPECT_EQ(graph.route, query_route::both);
    EXPECT_TRUE(graph.unrecognized);  // counted, never silent
    EXPECT_TRUE(decide_text("").unrecognized);
}

TEST(routing, merge_rules) {
    // Both succeed: the primary's reply; PREPARE: origin's whatever the primary (§4.3).
    EXPECT_TRUE(merge(false, false, false, cluster_role::origin).origin_reply);
    EXPECT_FALSE(merge(false, false, false, cluster_role::target).origin_reply);
    EXPECT_TRUE(merge(false, false, true, cluster_role::target).origin_reply);
    EXPECT_EQ(merge(false, false, false, cluster_role::origin).failed, failed_on::none);
    // One fails: that failure wins.
    auto o = merge(true, false, false, cluster_role::target);
    EXPECT_TRUE(o.origin_reply);
    EXPECT_EQ(o.failed, failed_on::origin);
    auto t = merge(false, true, false, cluster_role::origin);
    EXPECT_FALSE(t.origin_reply);
    EXPECT_EQ(t.failed, failed_on::target);
    // Both fail: origin's, even with primary TARGET.
    auto b = merge(true, true, false, cluster_role::target);
    EXPECT_TRUE(b.origin_reply);
    EXPECT_EQ(b.failed, failed_on::both);
}

TEST(routing, now_literals_in_simple_writes) {
    int n = 0;
    auto next = [&] { return "U" + std::to_string(++n); };
    std::string q = "INSERT INTO t (k, a, b) VALUES (1, now(), system.now())";
    auto r = replace_now_with_literals(q, cql::classify(q), next);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "INSERT INTO t (k, a, b) VALUES (1, U1, U2)");  // system.now() too (R7.2)
    std::string sel = "SELECT now() FROM t";
    EXPECT_FALSE(replace_now_with_literals(sel, cql::classify(sel), next));  // reads keep now() (R7.2)
    std::string none = "INSERT INTO t (k) VALUES (1)";
    EXPECT_FALSE(replace_now_with_literals(none, cql::classify(none), next));
    std::string upd = "UPDATE t SET a = now() WHERE k = 1 IF b = now()";
    EXPECT_EQ(*replace_now_with_literals(upd, cql::classify(upd), next), "UPDATE t SET a = U3 WHERE k = 1 IF b = U4");
}

TEST(routing, now_markers_in_prepared_writes) {
    std::string q = "INSERT INTO t (k, at, v) VALUES (?, now(), ?)";
    auto r = replace_now_with_markers(q, cql::classify(q));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->text, "INSERT INTO t (k, at, v) VALUES (?, ?, ?)");
    EXPECT_EQ(r->generated, std::vector<uint16_t>{1});
    EXPECT_FALSE(r->named);
    std::string first = "INSERT INTO t (at, k, b) VALUES (now(), ?, now())";
    auto f = replace_now_with_markers(first, cql::classify(first));
    EXPECT_EQ(f->text, "INSERT INTO t (at, k, b) VALUES (?, ?, ?)");
    EXPECT_EQ(f->generated, (std::vector<uint16_t>{0, 2}));
    std::string named = "UPDATE t SET at = now() WHERE k = :k";
    auto nm = replace_now_with_markers(named, cql::classify(named));
    EXPECT_EQ(nm->text, "UPDATE t SET at = :zdm__now WHERE k = :k");
    EXPECT_TRUE(nm->named);
    // Nested in another call: left alone (no type to infer for a marker there).
    std::string nested = "INSERT INTO t (k, ts) VALUES (?, toTimestamp(now()))";
    EXPECT_FALSE(replace_now_with_markers(nested, cql::classify(nested)));
}

TEST(routing, generated_values_and_metadata) {
    std::string storage;
    std::string a = "A", b = "B";
    std::vector<cql::bound_value> in = {{{}, cql::value_ref::of(a)}, {{}, cql::value_ref::of(b)}};
    auto values = cql::value_list::build(in, false, storage);
    auto out = with_generated_values(values, {0, 2}, "NOW");
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].value.bytes, "NOW");
    EXPECT_EQ(out[1].value.bytes, "A");
    EXPECT_EQ(out[2].value.bytes, "NOW");
    EXPECT_EQ(out[3].value.bytes, "B");
    std::string named_storage;
    std::vector<cql::bound_value> nin = {{"k", cql::value_ref::of(a)}};
    auto named = with_generated_values(cql::value_list::build(nin, true, named_storage), {1}, "NOW");
    ASSERT_EQ(named.size(), 2u);
    EXPECT_EQ(named[1].name, "zdm__now");

    cql::prepared_metadata md;
    for (const char* n : {"at", "k", "c", "at2"}) md.columns.push_back({"ks", "t", n, cql::cql_type::simple(cql::type_id::int_)});
    md.pk_indexes = {1, 2};
    strip_generated(md, {0, 3});
    ASSERT_EQ(md.columns.size(), 2u);
    EXPECT_EQ(md.columns[0].name, "k");
    EXPECT_EQ(md.columns[1].name, "c");
    EXPECT_EQ(md.pk_indexes, (std::vector<uint16_t>{0, 1}));  // shifted past the removed marker
}

}  // namespace
}  // namespace tandem::core
