#include "cql/classifier.hh"

#include <gtest/gtest.h>

namespace tandem::cql {
namespace {

TEST(classifier, kinds) {
    struct c {
        const char* text;
        statement_kind kind;
    } cases[] = {
        {"SELECT * FROM t", statement_kind::select},
        {"select a from ks.t where a = 1", statement_kind::select},
        {"INSERT INTO t (a) VALUES (1)", statement_kind::insert},
        {"update t set a = 1 where k = 2", statement_kind::update},
        {"DELETE FROM t WHERE k = 1", statement_kind::delete_},
        {"DELETE a, b['x'] FROM t WHERE k = 1", statement_kind::delete_},
        {"BEGIN BATCH INSERT INTO t (a) VALUES (1); APPLY BATCH", statement_kind::batch},
        {"USE ks", statement_kind::use},
        {"TRUNCATE t", statement_kind::truncate},
        {"TRUNCATE TABLE ks.t", statement_kind::truncate},
        {"CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", statement_kind::create_keyspace},
        {"ALTER KEYSPACE ks WITH durable_writes = false", statement_kind::alter_keyspace},
        {"DROP KEYSPACE IF EXISTS ks", statement_kind::drop_keyspace},
        {"CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)", statement_kind::create_table},
        {"CREATE COLUMNFAMILY t (k int PRIMARY KEY)", statement_kind::create_table},
        {"ALTER TABLE t ADD c int", statement_kind::alter_table},
        {"DROP TABLE t", statement_kind::drop_table},
        {"CREATE INDEX ON t (c)", statement_kind::create_index},
        {"CREATE CUSTOM INDEX i ON t (c) USING 'x'", statement_kind::create_index},
        {"DROP INDEX ks.i", statement_kind::drop_index},
        {"CREATE TYPE ks.addr (street text)", statement_kind::create_type},
        {"ALTER TYPE addr ADD zip int", statement_kind::alter_type},
        {"DROP TYPE addr", statement_kind::drop_type},
        {"CREATE OR REPLACE FUNCTION ks.f (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return a; $$",
         statement_kind::create_function},
        {"DROP FUNCTION ks.f", statement_kind::drop_function},
        {"CREATE AGGREGATE ks.a (int) SFUNC f STYPE int", statement_kind::create_aggregate},
        {"DROP AGGREGATE ks.a", statement_kind::drop_aggregate},
        {"CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k)", statement_kind::create_view},
        {"ALTER MATERIALIZED VIEW ks.v WITH comment = 'x'", statement_kind::alter_view},
        {"DROP MATERIALIZED VIEW ks.v", statement_kind::drop_view},
        {"CREATE TRIGGER tr ON ks.t USING 'x'", statement_kind::create_trigger},
        {"DROP TRIGGER tr ON ks.t", statement_kind::drop_trigger},
        {"CREATE ROLE r WITH PASSWORD = 'p'", statement_kind::create_role},
        {"CREATE USER u WITH PASSWORD 'p'", statement_kind::create_role},
        {"ALTER ROLE r WITH LOGIN = true", statement_kind::alter_role},
        {"DROP USER u", statement_kind::drop_role},
        {"GRANT SELECT ON ks.t TO r", statement_kind::grant},
        {"REVOKE SELECT ON ks.t FROM r", statement_kind::revoke},
        {"LIST ROLES", statement_kind::list},
        {"CALL InsightsRpc.reportInsight('x')", statement_kind::call},
        {"", statement_kind::empty},
        {"  -- only a comment\n", statement_kind::empty},
        {"EXPLAIN something", statement_kind::other},
        {"SELECT now()", statement_kind::other},
        {"SELECT 'unterminated FROM t", statement_kind::unlexable},
        {"SELECT * FROM t /* never closed", statement_kind::unlexable},
        {"SELECT * FROM \"t", statement_kind::unlexable},
        {"SELECT * FROM t WHERE a = $$x", statement_kind::unlexable},
        {"SELECT * FROM t WHERE a = #", statement_kind::unlexable},
    };
    for (auto& [text, kind] : cases) {
        EXPECT_EQ(to_string(classify(text).kind), to_string(kind)) << text;
    }
}

TEST(classifier, unlexable_is_never_a_read) {
    auto info = classify("SELECT * FROM system.local WHERE key = 'local");
    EXPECT_EQ(info.kind, statement_kind::unlexable);
    EXPECT_FALSE(info.is_read());
    EXPECT_EQ(info.problem, "unterminated string literal");
    EXPECT_EQ(info.problem_offset, 39u);
}

TEST(classifier, keyspace_and_table) {
    auto s = classify("SELECT * FROM \"MyKs\".\"My\"\"Table\" WHERE k = 1");
    EXPECT_TRUE(s.keyspace.quoted);
    EXPECT_EQ(s.keyspace.normalized(), "MyKs");
    EXPECT_EQ(s.table.normalized(), "My\"Table");
    EXPECT_TRUE(s.table.equals("my\"table") == false);

    auto local = classify("select key, release_version from SYSTEM.Local where key='local'");
    EXPECT_TRUE(local.targets("system", "local"));
    auto peers = classify("SELECT * FROM system.peers_v2");
    EXPECT_TRUE(peers.targets("system", "peers_v2"));
    auto unqualified = classify("SELECT * FROM local");
    EXPECT_TRUE(unqualified.keyspace.empty());

    EXPECT_TRUE(classify("INSERT INTO ks.t (a) VALUES (1)").targets("ks", "t"));
    EXPECT_TRUE(classify("UPDATE ks.t USING TTL 5 SET a = 1 WHERE k = 1").targets("ks", "t"));
    EXPECT_TRUE(classify("DELETE a FROM ks.t WHERE k = 1").targets("ks", "t"));
    EXPECT_EQ(classify("USE \"Quoted\"").keyspace.normalized(), "Quoted");
    EXPECT_TRUE(classify("CREATE INDEX idx ON ks.t (c)").targets("ks", "t"));
    EXPECT_TRUE(classify("CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)").if_exists_clause);
    EXPECT_EQ(classify("CREATE KEYSPACE IF NOT EXISTS ks WITH x = 1").keyspace.normalized(), "ks");
    EXPECT_TRUE(classify("TRUNCATE ks.t").targets("ks", "t"));
}

TEST(classifier, statement_heads_fast_and_slow) {
    // Plain heads take the fast path; comments and quoted names the token path; same answers.
    for (const char* text : {"INSERT INTO ks.t (a) VALUES (now())", "INSERT INTO ks . t (a) VALUES (now())",
                             "INSERT /* c */ INTO ks.t (a) VALUES (now())", "INSERT INTO \"ks\".t (a) VALUES (now())",
                             "insert into ks.\"t\"(a) values (now())", "INSERT INTO ks.t(a) VALUES(now())"}) {
        auto info = classify(text);
        EXPECT_EQ(info.kind, statement_kind::insert) << text;
        EXPECT_TRUE(info.keyspace.equals("ks")) << text;
        EXPECT_TRUE(info.table.equals("t")) << text;
        EXPECT_EQ(info.call_count, 1) << text;
    }
    EXPECT_EQ(classify("UPDATE ks.uuid SET a = 1 WHERE k = 1").call_count, 0);
    EXPECT_TRUE(classify("UPDATE t SET a = now() WHERE k = 1").table.equals("t"));
    EXPECT_TRUE(classify("DELETE FROM ks.t WHERE k = 1 IF EXISTS").conditional);
    EXPECT_EQ(classify("INSERT INTO").kind, statement_kind::other);
}

TEST(classifier, comments_strings_and_case) {
    auto s = classify("/* lead */ -- line\n// another\n sElEcT a /* FROM x */ FROM ks.t WHERE b = 'FROM '' y' AND c = $$ FROM $$");
    EXPECT_EQ(s.kind, statement_kind::select);
    EXPECT_TRUE(s.targets("ks", "t"));
}

TEST(classifier, conditional_writes) {
    EXPECT_TRUE(classify("INSERT INTO t (a) VALUES (1) IF NOT EXISTS").conditional);
    EXPECT_TRUE(classify("UPDATE t SET a = 1 WHERE k = 1 IF a = 2").conditional);
    EXPECT_TRUE(classify("UPDATE t SET a = 1 WHERE k = 1 IF EXISTS").conditional);
    EXPECT_TRUE(classify("DELETE FROM t WHERE k = 1 IF EXISTS").conditional);
    EXPECT_FALSE(classify("INSERT INTO t (a) VALUES ('IF NOT EXISTS')").conditional);
    EXPECT_FALSE(classify("INSERT INTO t (\"if\") VALUES (1)").conditional);
    EXPECT_FALSE(classify("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)").conditional);
    EXPECT_TRUE(classify("BEGIN BATCH INSERT INTO t (a) VALUES (1); UPDATE t SET a = 1 WHERE k = 1 IF a = 1 APPLY BATCH").conditional);
}

TEST(classifier, using_timestamp) {
    EXPECT_TRUE(classify("INSERT INTO t (a) VALUES (1) USING TIMESTAMP 5").using_timestamp);
    EXPECT_TRUE(classify("INSERT INTO t (a) VALUES (1) USING TTL 3 AND TIMESTAMP 5").using_timestamp);
    EXPECT_TRUE(classify("UPDATE t USING TIMESTAMP 1 SET a = 1 WHERE k = 1").using_timestamp);
    EXPECT_FALSE(classify("INSERT INTO t (a) VALUES (1) USING TTL 3").using_timestamp);
}

TEST(classifier, bind_markers) {
    auto s = classify("INSERT INTO t (a, b, c) VALUES (?, :bee, :\"Cee\")");
    EXPECT_EQ(s.marker_count, 3);
    EXPECT_TRUE(s.positional_markers);
    EXPECT_TRUE(s.named_markers);
    EXPECT_FALSE(s.markers[0].named);
    EXPECT_TRUE(s.markers[1].named);
    std::string_view text = "INSERT INTO t (a, b, c) VALUES (?, :bee, :\"Cee\")";
    EXPECT_EQ(text.substr(s.markers[1].begin, s.markers[1].end - s.markers[1].begin), ":bee");
    // A colon inside a map literal separates a key from its value.
    auto m = classify("UPDATE t SET m = {'a': 1, 'b':?} WHERE k = :k");
    EXPECT_EQ(m.marker_count, 2);
    EXPECT_FALSE(m.markers[0].named);
    EXPECT_TRUE(m.markers[1].named);
    auto udt = classify("INSERT INTO t (k, u) VALUES (1, {street: 'x', no: ?})");
    EXPECT_EQ(udt.marker_count, 1);
    EXPECT_EQ(classify("SELECT * FROM t WHERE k IN ? AND c > ?").marker_count, 2);
}

TEST(classifier, volatile_functions_in_writes) {
    std::string_view text = "INSERT INTO t (k, ts, id, d) VALUES (?, toTimestamp(NOW()), uuid( ), currentDate())";
    auto s = classify(text);
    ASSERT_EQ(s.call_count, 3);
    EXPECT_EQ(s.calls[0].fn, volatile_function::now);
    EXPECT_EQ(text.substr(s.calls[0].begin, s.calls[0].end - s.calls[0].begin), "NOW()");
    EXPECT_EQ(s.calls[0].markers_before, 1);
    EXPECT_EQ(text.substr(s.calls[1].begin, s.calls[1].end - s.calls[1].begin), "uuid( )");
    EXPECT_EQ(s.calls[2].fn, volatile_function::current_date);
    EXPECT_EQ(classify("UPDATE t SET v = currentTimeUUID() WHERE k = 1").calls[0].fn, volatile_function::current_timeuuid);
    EXPECT_EQ(classify("UPDATE t SET v = current_timestamp() WHERE k = 1").calls[0].fn, volatile_function::current_timestamp);
    // Not calls: a column named now, a table named uuid, a string, reads.
    EXPECT_EQ(classify("INSERT INTO t (now) VALUES (1)").call_count, 0);
    EXPECT_EQ(classify("INSERT INTO uuid (a) VALUES (1)").call_count, 0);
    EXPECT_EQ(classify("INSERT INTO ks.uuid (a) VALUES (1)").call_count, 0);
    EXPECT_EQ(classify("INSERT INTO t (a) VALUES ('now()')").call_count, 0);
    EXPECT_EQ(classify("SELECT now() FROM t").call_count, 0);
    auto b = classify("BEGIN BATCH INSERT INTO t (a) VALUES (now()); INSERT INTO t (a) VALUES (now()) APPLY BATCH");
    EXPECT_EQ(b.call_count, 2);
    EXPECT_EQ(b.batch_statements, 2);
    std::string many = "INSERT INTO t (a) VALUES (";
    for (int i = 0; i < 20; ++i) many += "now(),";
    many += "1)";
    auto o = classify(many);
    EXPECT_EQ(o.call_count, max_reported_calls);
    EXPECT_TRUE(o.calls_overflow);
}

TEST(classifier, batches) {
    auto b = classify("BEGIN UNLOGGED BATCH USING TIMESTAMP 3 INSERT INTO ks.t (a) VALUES (1) DELETE FROM ks.u WHERE k = 1; APPLY BATCH;");
    EXPECT_EQ(b.kind, statement_kind::batch);
    EXPECT_EQ(b.batch_kind, 1);
    EXPECT_TRUE(b.using_timestamp);
    EXPECT_EQ(b.batch_statements, 2);
    EXPECT_TRUE(b.targets("ks", "t"));
    EXPECT_EQ(classify("BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1 APPLY BATCH").batch_kind, 2);
}

TEST(classifier, selectors) {
    std::string_view text = "SELECT key, release_version AS rv, \"Quoted\", count(*), writetime(v) AS w, * FROM system.local";
    auto info = classify(text);
    auto sel = parse_selectors(text, info);
    ASSERT_TRUE(sel) << sel.error();
    ASSERT_EQ(sel->size(), 6u);
    EXPECT_EQ((*sel)[0].k, selector::kind::column);
    EXPECT_TRUE((*sel)[0].column.equals("key"));
    EXPECT_TRUE((*sel)[1].alias.equals("rv"));
    EXPECT_EQ((*sel)[1].text, "release_version");
    EXPECT_TRUE((*sel)[2].column.quoted);
    EXPECT_EQ((*sel)[3].k, selector::kind::count);
    EXPECT_EQ((*sel)[3].text, "count(*)");
    EXPECT_EQ((*sel)[4].k, selector::kind::function);
    EXPECT_TRUE((*sel)[4].alias.equals("w"));
    EXPECT_EQ((*sel)[5].k, selector::kind::star);

    auto json = classify("SELECT JSON DISTINCT k FROM t");
    EXPECT_TRUE(json.select_json);
    EXPECT_TRUE(json.select_distinct);
    EXPECT_EQ(parse_selectors("SELECT JSON DISTINCT k FROM t", json)->size(), 1u);

    EXPECT_FALSE(parse_selectors("SELECT a,, b FROM t", classify("SELECT a,, b FROM t")));
    EXPECT_FALSE(parse_selectors("SELECT a AS FROM t", classify("SELECT a AS FROM t")));
    EXPECT_FALSE(parse_selectors("INSERT INTO t (a) VALUES (1)", classify("INSERT INTO t (a) VALUES (1)")));
}

TEST(classifier, literals) {
    // UUIDs, negative numbers, exponents, blobs, durations, booleans: all lex.
    auto s = classify("INSERT INTO t (a, b, c, d, e, f) VALUES (123e4567-e89b-12d3-a456-426614174000, -1.5e-3, 0xCAFE, 1h30m, true, NaN)");
    EXPECT_EQ(s.kind, statement_kind::insert);
    EXPECT_EQ(classify("SELECT * FROM t WHERE id = fa3f0b3c-2f35-4a4e-9c1e-0c9b8e1d5f7a").kind, statement_kind::select);
}

// Reads outside ZDM's grammar are still reads (zdm-spec R3.6 quirk, W8): vector search, Solr and
// SAI queries; Gremlin text is "other" (tandem sends it to both clusters and counts it).
TEST(classifier, reads_zdm_would_route_as_writes) {
    EXPECT_EQ(classify("SELECT id FROM ks.items ORDER BY embedding ANN OF [0.1, 0.2, 0.3] LIMIT 5").kind, statement_kind::select);
    EXPECT_EQ(classify("SELECT * FROM ks.t WHERE solr_query = 'name:foo*'").kind, statement_kind::select);
    EXPECT_EQ(classify("SELECT * FROM ks.t WHERE v : 'fuzzy'").kind, statement_kind::select);
    EXPECT_EQ(classify("g.V().hasLabel('person').count()").kind, statement_kind::other);
    auto call = classify("CALL InsightsRpc.reportInsight('{}')");
    EXPECT_EQ(call.kind, statement_kind::call);
    EXPECT_TRUE(call.keyspace.equals("insightsrpc"));
}

TEST(classifier, system_now_is_the_system_function) {
    std::string q = "INSERT INTO t (k, a, b, c) VALUES (1, system.now(), SYSTEM.uuid(), other.now())";
    auto info = classify(q);
    ASSERT_EQ(info.call_count, 2);  // other.now() is a user function in keyspace "other"
    EXPECT_EQ(info.calls[0].fn, volatile_function::now);
    EXPECT_EQ(q.substr(info.calls[0].begin, info.calls[0].end - info.calls[0].begin), "system.now()");
    EXPECT_EQ(info.calls[1].fn, volatile_function::uuid);
    EXPECT_EQ(q.substr(info.calls[1].begin, info.calls[1].end - info.calls[1].begin), "SYSTEM.uuid()");
}

}  // namespace
}  // namespace tandem::cql
