#include "tools/cqlsim/statement.hh"

#include <gtest/gtest.h>

namespace tandem::cqlsim {
namespace {

statement parse_ok(std::string_view text) {
    auto r = parse_statement(text);
    if (auto* e = std::get_if<parse_error>(&r)) ADD_FAILURE() << text << ": " << e->message;
    return std::get<statement>(std::move(r));
}

std::string parse_fail(std::string_view text) {
    auto r = parse_statement(text);
    if (!std::holds_alternative<parse_error>(r)) {
        ADD_FAILURE() << "parsed: " << text;
        return {};
    }
    return std::get<parse_error>(r).message;
}

TEST(statement, create_table_with_compound_key_order_and_static) {
    auto st = parse_ok(
        "CREATE TABLE IF NOT EXISTS \"Ks\".t (a int, b text, c timeuuid, s int STATIC, m map<text, frozen<list<int>>>, "
        "PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'x' AND compaction = {'class': 'LCS'};");
    auto& t = std::get<create_table>(st.s);
    EXPECT_TRUE(t.if_not_exists);
    EXPECT_EQ(t.keyspace, "Ks");
    EXPECT_EQ(t.partition_key, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.clustering_key, (std::vector<std::string>{"c"}));
    ASSERT_EQ(t.clustering_order.size(), 1u);
    EXPECT_TRUE(t.clustering_order[0].second);
    EXPECT_TRUE(t.columns[3].is_static);
    EXPECT_EQ(cql::to_cql_string(t.columns[4].type), "map<text, list<int>>");
}

TEST(statement, deeply_nested_literals_are_refused_not_a_stack_overflow) {
    std::string deep = "INSERT INTO t (k, v) VALUES (1, " + std::string(100000, '(') + "1" + std::string(100000, ')') + ")";
    EXPECT_NE(parse_fail(deep).find("nested more than 64 levels"), std::string::npos);
    std::string fine = "INSERT INTO t (k, v) VALUES (1, " + std::string(30, '(') + "1" + std::string(30, ')') + ")";
    parse_ok(fine);
}

TEST(statement, insert_with_markers_using_and_lwt) {
    auto st = parse_ok("INSERT INTO ks.t (k, v, w) VALUES (?, :name, now()) IF NOT EXISTS USING TTL ? AND TIMESTAMP 5");
    auto& i = std::get<insert>(st.s);
    EXPECT_EQ(st.marker_count, 3);
    EXPECT_EQ(st.marker_names[1], "name");
    EXPECT_EQ(i.values[2].k, term::kind::function);
    EXPECT_TRUE(i.if_not_exists);
    EXPECT_EQ(i.u.ttl->marker_index, 2);
    EXPECT_EQ(i.u.timestamp->text, "5");
}

TEST(statement, update_assignments_and_conditions) {
    auto st = parse_ok("UPDATE t SET a = a + {'x'}, b = [1] + b, c = c - 1, d['k'] = 2 WHERE k IN (1, 2) AND c >= 3 IF e = 'z'");
    auto& u = std::get<update>(st.s);
    ASSERT_EQ(u.set.size(), 4u);
    EXPECT_EQ(u.set[0].o, assignment::op::add);
    EXPECT_EQ(u.set[1].o, assignment::op::prepend);
    EXPECT_EQ(u.set[2].o, assignment::op::subtract);
    EXPECT_EQ(u.set[3].o, assignment::op::set_element);
    EXPECT_EQ(u.where[0].o, relation::op::in);
    EXPECT_EQ(u.where[0].values.size(), 2u);
    EXPECT_EQ(u.where[1].o, relation::op::ge);
    EXPECT_EQ(u.conditions.size(), 1u);
}

TEST(statement, select_clauses) {
    auto st = parse_ok(
        "SELECT k, v AS x, count(*), writetime(v), ttl(v) FROM t WHERE token(k) > -5 AND token(k) <= ? "
        "ORDER BY c DESC PER PARTITION LIMIT 2 LIMIT 10 ALLOW FILTERING");
    auto& s = std::get<select>(st.s);
    EXPECT_EQ(s.selectors[1].alias, "x");
    EXPECT_EQ(s.selectors[2].k, selector::kind::count);
    EXPECT_EQ(s.selectors[3].k, selector::kind::writetime);
    EXPECT_TRUE(s.where[0].token);
    EXPECT_TRUE(s.where[0].values[0].negative);
    EXPECT_TRUE(s.order_by[0].second);
    EXPECT_EQ(s.limit->text, "10");
    EXPECT_TRUE(s.allow_filtering);
}

TEST(statement, batch_and_ddl) {
    auto st = parse_ok("BEGIN UNLOGGED BATCH USING TIMESTAMP 7 INSERT INTO t (k) VALUES (1); DELETE FROM t WHERE k = 2; APPLY BATCH");
    auto& b = std::get<batch>(st.s);
    EXPECT_EQ(b.type, 1);
    EXPECT_EQ(b.statements.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<drop>(parse_ok("DROP TABLE IF EXISTS ks.t").s));
    EXPECT_TRUE(std::holds_alternative<alter_table>(parse_ok("ALTER TABLE t ADD x int").s));
    EXPECT_TRUE(std::holds_alternative<create_keyspace>(
        parse_ok("CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3} AND durable_writes = true").s));
}

TEST(statement, errors_name_the_position) {
    EXPECT_NE(parse_fail("SELEKT * FROM t").find("line 1:0"), std::string::npos);
    EXPECT_NE(parse_fail("SELECT * FROM").find("expecting an identifier"), std::string::npos);
    EXPECT_NE(parse_fail("INSERT INTO t (a, b) VALUES (1)").find("Unmatched column names/values"), std::string::npos);
    EXPECT_NE(parse_fail("SELECT * FROM t WHERE a = 'open").find("unterminated string literal"), std::string::npos);
    EXPECT_NE(parse_fail("CREATE TABLE t (a int)").find("No PRIMARY KEY specified"), std::string::npos);
    EXPECT_NE(parse_fail("SELECT * FROM t extra").find("extraneous input"), std::string::npos);
    EXPECT_NE(parse_fail("CREATE TABLE t (a map<int> PRIMARY KEY)").find("unknown type"), std::string::npos);
}

}  // namespace
}  // namespace tandem::cqlsim
