#include "core/routing.hh"
#include "core/functions.hh"
#include "core/merge.hh"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

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

// A generator of recognisable 16-byte values: 0x01 x 16, 0x02 x 16, ...
struct counter_values {
    int n = 0;
    std::function<std::string()> next() {
        return [this] { return std::string(16, static_cast<char>(++n)); };
    }
};

std::string uuid_of(int n) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", n);
    std::string h;
    for (int i = 0; i < 16; ++i) h += b;
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

constexpr int64_t at_ms = 1700000000123;  // 2023-11-14T22:13:20.123Z

TEST(routing, now_literals_in_simple_writes) {
    counter_values tu, u;
    function_values fv(tu.next(), u.next(), at_ms);
    std::string q = "INSERT INTO t (k, a, b) VALUES (1, now(), system.now())";
    auto r = replace_functions_with_literals(q, cql::classify(q), fv);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "INSERT INTO t (k, a, b) VALUES (1, " + uuid_of(1) + ", " + uuid_of(2) + ")");  // system.now() too (R7.2)
    std::string sel = "SELECT now() FROM t";
    EXPECT_FALSE(replace_functions_with_literals(sel, cql::classify(sel), fv));  // reads keep now() (R7.2)
    std::string none = "INSERT INTO t (k) VALUES (1)";
    EXPECT_FALSE(replace_functions_with_literals(none, cql::classify(none), fv));
    std::string upd = "UPDATE t SET a = now() WHERE k = 1 IF b = now()";
    EXPECT_EQ(*replace_functions_with_literals(upd, cql::classify(upd), fv),
              "UPDATE t SET a = " + uuid_of(3) + " WHERE k = 1 IF b = " + uuid_of(4));
    // now() nested in another call is replaced too, as ZDM does (a UUID literal is unambiguous).
    std::string nested = "INSERT INTO t (k, ts) VALUES (1, toTimestamp(now()))";
    EXPECT_EQ(*replace_functions_with_literals(nested, cql::classify(nested), fv),
              "INSERT INTO t (k, ts) VALUES (1, toTimestamp(" + uuid_of(5) + "))");
}

TEST(routing, every_volatile_function_gets_a_literal) {
    counter_values tu, u;
    u.n = 0x40;
    function_values fv(tu.next(), u.next(), at_ms);
    std::string q =
        "INSERT INTO t (k, id, ts, d, tm, tu) VALUES (1, uuid(), currentTimestamp(), currentDate(), currentTime(), currentTimeUUID())";
    auto r = replace_functions_with_literals(q, cql::classify(q), fv);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "INSERT INTO t (k, id, ts, d, tm, tu) VALUES (1, " + uuid_of(0x41) +
                      ", 1700000000123, '2023-11-14', '22:13:20.123', " + uuid_of(1) + ")");
    std::string snake = "UPDATE t SET ts = current_timestamp() WHERE k = 1";
    EXPECT_EQ(*replace_functions_with_literals(snake, cql::classify(snake), fv), "UPDATE t SET ts = 1700000000123 WHERE k = 1");
    // Other functions nested in a call are left alone: their literal could be ambiguous there.
    std::string nested = "INSERT INTO t (k, d) VALUES (1, toDate(currentTimestamp()))";
    EXPECT_FALSE(replace_functions_with_literals(nested, cql::classify(nested), fv));
    // Before the epoch the date still rounds down.
    function_values early(tu.next(), u.next(), -1);
    std::string d = "INSERT INTO t (k, d, tm) VALUES (1, currentDate(), currentTime())";
    EXPECT_EQ(*replace_functions_with_literals(d, cql::classify(d), early), "INSERT INTO t (k, d, tm) VALUES (1, '1969-12-31', '23:59:59.999')");
}

TEST(routing, function_markers_in_prepared_writes) {
    std::string q = "INSERT INTO t (k, at, v) VALUES (?, now(), ?)";
    auto r = replace_functions_with_markers(q, cql::classify(q));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->text, "INSERT INTO t (k, at, v) VALUES (?, ?, ?)");
    EXPECT_EQ(r->generated, (std::vector<generated_marker>{{1, cql::volatile_function::now}}));
    EXPECT_FALSE(r->named);
    std::string first = "INSERT INTO t (at, k, b, id) VALUES (now(), ?, currentTimestamp(), uuid())";
    auto f = replace_functions_with_markers(first, cql::classify(first));
    EXPECT_EQ(f->text, "INSERT INTO t (at, k, b, id) VALUES (?, ?, ?, ?)");
    EXPECT_EQ(f->generated, (std::vector<generated_marker>{{0, cql::volatile_function::now},
                                                            {2, cql::volatile_function::current_timestamp},
                                                            {3, cql::volatile_function::uuid}}));
    std::string named = "UPDATE t SET at = now(), d = currentDate() WHERE k = :k";
    auto nm = replace_functions_with_markers(named, cql::classify(named));
    EXPECT_EQ(nm->text, "UPDATE t SET at = :zdm__now, d = :zdm__date WHERE k = :k");
    EXPECT_TRUE(nm->named);
    // Nested in another call: left alone (no type to infer for a marker there).
    std::string nested = "INSERT INTO t (k, ts) VALUES (?, toTimestamp(now()))";
    EXPECT_FALSE(replace_functions_with_markers(nested, cql::classify(nested)));
}

TEST(routing, generated_values_and_metadata) {
    std::string storage;
    std::string a = "A", b = "B";
    std::vector<cql::bound_value> in = {{{}, cql::value_ref::of(a)}, {{}, cql::value_ref::of(b)}};
    auto values = cql::value_list::build(in, false, storage);
    counter_values tu, u;
    function_values fv(tu.next(), u.next(), at_ms);
    auto out = with_generated_values(values,
                                     {{0, cql::volatile_function::now},
                                      {2, cql::volatile_function::now},
                                      {4, cql::volatile_function::current_timestamp},
                                      {5, cql::volatile_function::current_date},
                                      {6, cql::volatile_function::current_time}},
                                     fv);
    ASSERT_EQ(out.size(), 7u);
    EXPECT_EQ(out[0].value.bytes, std::string(16, '\x01'));
    EXPECT_EQ(out[1].value.bytes, "A");
    EXPECT_EQ(out[2].value.bytes, std::string(16, '\x02'));  // a fresh time-UUID per marker (R7.5)
    EXPECT_EQ(out[3].value.bytes, "B");
    ASSERT_EQ(out[4].value.bytes.size(), 8u);
    EXPECT_EQ(static_cast<int64_t>(cql::load_be64(out[4].value.bytes.data())), at_ms);
    ASSERT_EQ(out[5].value.bytes.size(), 4u);
    EXPECT_EQ(cql::load_be32(out[5].value.bytes.data()), (1u << 31) + 19675u);  // 2023-11-14
    ASSERT_EQ(out[6].value.bytes.size(), 8u);
    EXPECT_EQ(cql::load_be64(out[6].value.bytes.data()), (22ull * 3600 + 13 * 60 + 20) * 1'000'000'000 + 123'000'000);
    std::string named_storage;
    std::vector<cql::bound_value> nin = {{"k", cql::value_ref::of(a)}};
    auto named = with_generated_values(cql::value_list::build(nin, true, named_storage),
                                       {{1, cql::volatile_function::now}, {2, cql::volatile_function::uuid}, {3, cql::volatile_function::now}},
                                       fv);
    ASSERT_EQ(named.size(), 3u);  // one value per name
    EXPECT_EQ(named[1].name, "zdm__now");
    EXPECT_EQ(named[2].name, "zdm__uuid");

    cql::prepared_metadata md;
    for (const char* n : {"at", "k", "c", "at2"}) md.columns.push_back({"ks", "t", n, cql::cql_type::simple(cql::type_id::int_)});
    md.pk_indexes = {1, 2};
    strip_generated(md, {{0, cql::volatile_function::now}, {3, cql::volatile_function::uuid}});
    ASSERT_EQ(md.columns.size(), 2u);
    EXPECT_EQ(md.columns[0].name, "k");
    EXPECT_EQ(md.columns[1].name, "c");
    EXPECT_EQ(md.pk_indexes, (std::vector<uint16_t>{0, 1}));  // shifted past the removed marker
}

}  // namespace
}  // namespace tandem::core
