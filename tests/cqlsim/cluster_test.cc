// The store's rules, through the cluster's QUERY entry point.
#include "tools/cqlsim/cluster.hh"

#include <gtest/gtest.h>

#include "cql/envelope.hh"
#include "cql/result.hh"
#include "cql/values.hh"

namespace tandem::cqlsim {
namespace {

class store : public ::testing::Test {
protected:
    cluster c{[] {
        cluster_config cfg;
        cfg.nodes.push_back(node_info{"127.0.0.1", 9042, "dc1", "r1", {}, {1}});
        return cfg;
    }()};
    session s;

    cql::result_message run(const std::string& q, std::optional<int32_t> page_size = {}, std::optional<std::string> paging = {}) {
        cql::query_parameters p;
        p.page_size = page_size;
        if (paging) p.paging_state = std::string_view(*paging_storage = *paging);
        auto e = c.query(s, q, p);
        if (e.error) ADD_FAILURE() << q << ": " << e.error->message;
        body = e.body;
        auto r = cql::result_message::decode(body, 4);
        EXPECT_TRUE(r) << r.error();
        return *r;
    }
    std::string error_of(const std::string& q) {
        auto e = c.query(s, q, {});
        return e.error ? e.error->message : "";
    }
    std::vector<std::vector<std::optional<std::string>>> rows(const std::string& q) {
        auto r = run(q);
        std::vector<std::vector<std::optional<std::string>>> out;
        auto all = r.rows();
        for (auto& row : *all) {
            auto& o = out.emplace_back();
            for (auto& cell : row) o.push_back(cell ? std::optional<std::string>(std::string(*cell)) : std::nullopt);
        }
        return out;
    }
    std::string body;
    std::unique_ptr<std::string> paging_storage = std::make_unique<std::string>();

    void SetUp() override {
        s.version = 4;
        run("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
        run("USE ks");
        run("CREATE TABLE t (k text, c int, v text, PRIMARY KEY (k, c))");
    }
};

TEST_F(store, static_columns_are_written_without_a_clustering_key) {
    run("CREATE TABLE w (p int, c int, s text static, v text, PRIMARY KEY (p, c))");
    run("INSERT INTO w (p, s) VALUES (1, 'only static')");
    run("UPDATE w SET s = 'updated' WHERE p = 2");
    auto r = rows("SELECT p, c, s, v FROM w");
    ASSERT_EQ(r.size(), 2u);  // one row per static-only partition, clustering and regular columns null
    for (const auto& row : r) {
        EXPECT_FALSE(row[1]);
        EXPECT_TRUE(row[2]);
        EXPECT_FALSE(row[3]);
    }
    EXPECT_NE(error_of("INSERT INTO w (p, v) VALUES (3, 'x')").find("Some clustering keys are missing"), std::string::npos);
    EXPECT_NE(error_of("UPDATE w SET v = 'x' WHERE p = 3").find("Some clustering keys are missing"), std::string::npos);
}

TEST_F(store, counter_updates_name_the_column_quoted_or_not) {
    run("CREATE TABLE cnt (k int PRIMARY KEY, \"Hits\" counter, n counter)");
    run("UPDATE cnt SET \"Hits\" = \"Hits\" + 5, n = n + 1 WHERE k = 1");
    run("UPDATE cnt SET \"Hits\" = \"Hits\" + 2 WHERE k = 1");
    auto r = rows("SELECT \"Hits\", n FROM cnt");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(static_cast<int64_t>(cql::load_be64(r[0][0]->data())), 7);
    EXPECT_EQ(static_cast<int64_t>(cql::load_be64(r[0][1]->data())), 1);
}

TEST_F(store, last_write_wins_by_timestamp_not_arrival) {
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'new') USING TIMESTAMP 20");
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'old') USING TIMESTAMP 10");
    EXPECT_EQ(rows("SELECT v FROM t WHERE k = 'a'")[0][0], "new");
    // Equal timestamps: the greater value wins, whatever the order.
    run("UPDATE t USING TIMESTAMP 20 SET v = 'zzz' WHERE k = 'a' AND c = 1");
    run("UPDATE t USING TIMESTAMP 20 SET v = 'aaa' WHERE k = 'a' AND c = 1");
    EXPECT_EQ(rows("SELECT v FROM t WHERE k = 'a'")[0][0], "zzz");
}

TEST_F(store, tombstones_shadow_older_writes_only) {
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'x') USING TIMESTAMP 10");
    run("DELETE FROM t USING TIMESTAMP 15 WHERE k = 'a' AND c = 1");
    EXPECT_TRUE(rows("SELECT v FROM t WHERE k = 'a'").empty());
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'y') USING TIMESTAMP 12");  // older than the delete
    EXPECT_TRUE(rows("SELECT v FROM t WHERE k = 'a'").empty());
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'z') USING TIMESTAMP 16");
    EXPECT_EQ(rows("SELECT v FROM t WHERE k = 'a'")[0][0], "z");
    run("DELETE FROM t WHERE k = 'a'");  // the whole partition
    EXPECT_TRUE(rows("SELECT * FROM t WHERE k = 'a'").empty());
}

TEST_F(store, ttl_expires) {
    run("INSERT INTO t (k, c, v) VALUES ('a', 1, 'x') USING TTL 10");
    EXPECT_EQ(rows("SELECT v FROM t WHERE k = 'a'").size(), 1u);
    c.set_clock_offset_s(11);
    EXPECT_TRUE(rows("SELECT v FROM t WHERE k = 'a'").empty());
}

TEST_F(store, paging_returns_every_row_once) {
    for (int i = 0; i < 25; ++i) run("INSERT INTO t (k, c, v) VALUES ('p', " + std::to_string(i) + ", 'v')");
    std::vector<int> seen;
    std::optional<std::string> state;
    do {
        auto r = run("SELECT c FROM t WHERE k = 'p'", 10, state);
        auto page_rows = r.rows();
        for (auto& row : *page_rows) seen.push_back(static_cast<int>(cql::load_be32(row[0]->data())));
        state = r.metadata.paging_state;
    } while (state);
    ASSERT_EQ(seen.size(), 25u);
    for (int i = 0; i < 25; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
}

TEST_F(store, clustering_ranges_and_order) {
    for (int i = 0; i < 10; ++i) run("INSERT INTO t (k, c, v) VALUES ('r', " + std::to_string(i) + ", 'v')");
    auto r = rows("SELECT c FROM t WHERE k = 'r' AND c > 3 AND c <= 6 ORDER BY c DESC");
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(cql::load_be32(r[0][0]->data()), 6u);
    EXPECT_EQ(cql::load_be32(r[2][0]->data()), 4u);
    EXPECT_EQ(rows("SELECT c FROM t WHERE k = 'r' LIMIT 2").size(), 2u);
}

TEST_F(store, errors_like_cassandra) {
    EXPECT_EQ(error_of("SELECT * FROM nope"), "unconfigured table nope");
    EXPECT_EQ(error_of("SELECT nope FROM t"), "Undefined column name nope");
    EXPECT_EQ(error_of("INSERT INTO t (k, c, v) VALUES ('a', 'notanint', 'v')"),
              "Invalid STRING constant (notanint) for \"c\" of type int");
    EXPECT_NE(error_of("SELECT * FROM t WHERE v = 'x'").find("ALLOW FILTERING"), std::string::npos);
    EXPECT_EQ(error_of("CREATE TABLE t (k int PRIMARY KEY)"), "Cannot add already existing table \"t\" to keyspace \"ks\"");
    EXPECT_EQ(error_of("INSERT INTO t (k, v) VALUES ('a', 'v')"), "Some clustering keys are missing: c");
    EXPECT_EQ(error_of("CREATE TABLE u (a nosuchtype PRIMARY KEY)"), "Unknown type ks.nosuchtype");
}

TEST_F(store, collection_updates) {
    run("CREATE TABLE coll (k int PRIMARY KEY, m map<text, int>, s set<int>, l list<int>)");
    run("INSERT INTO coll (k, m, s, l) VALUES (1, {'a': 1}, {1, 2}, [1, 2])");
    run("UPDATE coll SET m['b'] = 2, s = s - {1}, l = [0] + l WHERE k = 1");
    auto r = rows("SELECT m, s, l FROM coll WHERE k = 1");
    ASSERT_EQ(r.size(), 1u);
    auto m = cql::decode_value(cql::cql_type::map_of(cql::cql_type::simple(cql::type_id::varchar), cql::cql_type::simple(cql::type_id::int_)), *r[0][0]);
    EXPECT_EQ(std::get<cql::cql_map>(m->v).size(), 2u);
    auto set = cql::decode_value(cql::cql_type::set_of(cql::cql_type::simple(cql::type_id::int_)), *r[0][1]);
    EXPECT_EQ(std::get<cql::cql_list>(set->v), (cql::cql_list{2}));
    auto l = cql::decode_value(cql::cql_type::list_of(cql::cql_type::simple(cql::type_id::int_)), *r[0][2]);
    EXPECT_EQ(std::get<cql::cql_list>(l->v), (cql::cql_list{0, 1, 2}));
    run("UPDATE coll SET l[1] = 7 WHERE k = 1");
    auto after = rows("SELECT l FROM coll WHERE k = 1");
    auto l2 = cql::decode_value(cql::cql_type::list_of(cql::cql_type::simple(cql::type_id::int_)), *after[0][0]);
    EXPECT_EQ(std::get<cql::cql_list>(l2->v), (cql::cql_list{0, 7, 2}));
    EXPECT_EQ(error_of("UPDATE coll SET l[5] = 1 WHERE k = 1"), "Invalid index 5, list has size 3");
    EXPECT_NE(error_of("UPDATE coll SET s[0] = 1 WHERE k = 1").find("non list/map column"), std::string::npos);
}

TEST_F(store, prepared_ids_are_deterministic) {
    auto a = c.prepare(s, "SELECT * FROM t WHERE k = ?", std::nullopt);
    auto b = c.prepare(s, "SELECT * FROM t WHERE k = ?", std::nullopt);
    ASSERT_FALSE(a.error);
    auto ra = cql::result_message::decode(a.body, 4);
    auto rb = cql::result_message::decode(b.body, 4);
    EXPECT_EQ(ra->prepared_id, rb->prepared_id);
    EXPECT_EQ(ra->prepared_id.size(), 16u);  // MD5
    EXPECT_EQ(ra->prepared.pk_indexes, (std::vector<uint16_t>{0}));
}

}  // namespace
}  // namespace tandem::cqlsim
