// tandem-migrate's pure parts: ring splits, shards, the checkpoint, the schema check, the
// statements it reads and writes with.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/migrate/diff.hh"
#include "core/migrate/job.hh"
#include "core/migrate/ranges.hh"
#include "core/migrate/schema.hh"

namespace tandem::core::migrate {
namespace {

TEST(migrate_ranges, the_ring_is_covered_once_without_gaps) {
    for (size_t n : {1u, 2u, 3u, 7u, 64u, 1000u}) {
        auto r = split_ring(n);
        ASSERT_EQ(r.size(), n);
        EXPECT_TRUE(r.front().first);
        EXPECT_EQ(r.front().start, INT64_MIN);
        EXPECT_EQ(r.back().end, INT64_MAX);
        for (size_t i = 1; i < n; ++i) {
            EXPECT_FALSE(r[i].first);
            EXPECT_EQ(r[i].start, r[i - 1].end) << "range " << i << " starts where the previous ends (exclusive)";
            EXPECT_LT(r[i].start, r[i].end);
            EXPECT_EQ(r[i].index, i);
        }
    }
    auto two = split_ring(2);
    EXPECT_EQ(two[0].end, -1);  // the ring's two halves
}

TEST(migrate_ranges, shards_take_every_range_exactly_once) {
    auto all = split_ring(10);
    std::vector<size_t> seen;
    for (size_t i = 0; i < 3; ++i) {
        for (const auto& r : shard_slice(all, i, 3)) seen.push_back(r.index);
    }
    ASSERT_EQ(seen.size(), 10u);
    for (size_t i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);
    size_t i = 0, n = 0;
    EXPECT_TRUE(parse_shard("2/4", i, n));
    EXPECT_EQ(i, 2u);
    EXPECT_EQ(n, 4u);
    for (const char* bad : {"4/4", "1", "/2", "1/0", "a/b", "1/2x", "-1/2"}) EXPECT_FALSE(parse_shard(bad, i, n)) << bad;
}

TEST(migrate_ranges, a_checkpoint_resumes_the_same_split_only) {
    char path[] = "/tmp/tandem-checkpoint-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        checkpoint c;
        ASSERT_EQ(c.open(path, 64), "");
        c.record("ks.t", 3);
        c.record("ks.t", 5);
    }
    { std::ofstream(path, std::ios::app) << "ks.t 9"; }  // a torn last line
    checkpoint again;
    ASSERT_EQ(again.open(path, 64), "");
    EXPECT_TRUE(again.done("ks.t", 3));
    EXPECT_TRUE(again.done("ks.t", 5));
    EXPECT_FALSE(again.done("ks.t", 9));
    EXPECT_FALSE(again.done("ks.u", 3));
    checkpoint other_split;
    ASSERT_EQ(other_split.open(path, 128), "");
    EXPECT_EQ(other_split.size(), 0u);
    std::remove(path);
    checkpoint unwritable;
    EXPECT_NE(unwritable.open("/nonexistent/dir/cp", 64), "");
}

table_schema wide() {
    table_schema t;
    t.keyspace = "ks";
    t.name = "wide";
    t.partition_key = {{"p", "int", column_kind::partition_key, 0, false, false, false}};
    t.clustering = {{"c", "int", column_kind::clustering, 0, true, false, false}};
    t.cells = {{"s", "text", column_kind::static_, -1, false, false, false},
               {"tags", "set<text>", column_kind::regular, -1, false, true, false},
               {"v", "text", column_kind::regular, -1, false, false, false}};
    return t;
}

TEST(migrate_schema, reads_and_writes_keep_each_cells_time) {
    auto t = wide();
    auto first = plan_read(t, true), rest = plan_read(t, false);
    EXPECT_EQ(first.text,
              "SELECT \"p\", \"c\", \"s\", writetime(\"s\"), ttl(\"s\"), \"tags\", \"v\", writetime(\"v\"), ttl(\"v\") FROM \"ks\".\"wide\" "
              "WHERE token(\"p\") >= ? AND token(\"p\") <= ?");
    EXPECT_NE(rest.text.find("token(\"p\") > ? AND"), std::string::npos);
    EXPECT_EQ(first.key_columns, 2u);
    ASSERT_EQ(first.cells.size(), 3u);
    EXPECT_EQ(first.cells[0].value, 2u);
    EXPECT_EQ(first.cells[0].writetime, 3);
    EXPECT_EQ(first.cells[1].writetime, -1);  // a non-frozen collection: no writetime()
    EXPECT_EQ(first.cells[2].ttl, 8);
    EXPECT_EQ(insert_text(t, {2}, true, true), "INSERT INTO \"ks\".\"wide\" (\"p\", \"c\", \"v\") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?");
    EXPECT_EQ(insert_text(t, {0}, false, true), "INSERT INTO \"ks\".\"wide\" (\"p\", \"s\") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?");
    EXPECT_EQ(insert_text(t, {}, true, false), "INSERT INTO \"ks\".\"wide\" (\"p\", \"c\") VALUES (?, ?)");
    EXPECT_EQ(counter_update_text(t, {2}), "UPDATE \"ks\".\"wide\" SET \"v\" = \"v\" + ? WHERE \"p\" = ? AND \"c\" = ?");
}

TEST(migrate_schema, differences_name_the_table_and_column) {
    auto o = wide();
    EXPECT_TRUE(schema_differences(o, &o).empty());
    EXPECT_EQ(schema_differences(o, nullptr), std::vector<std::string>{"table ks.wide does not exist on target"});
    auto t = o;
    t.cells.pop_back();
    t.cells[0].type = "int";
    t.clustering[0].descending = false;
    auto d = schema_differences(o, &t);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_NE(d[0].find("clustering columns"), std::string::npos);
    EXPECT_EQ(d[1], "table ks.wide: column s is text static on origin, int static on target");
    EXPECT_EQ(d[2], "table ks.wide: column v (text) does not exist on target");
    auto extra = o;
    extra.cells.push_back({"new", "int", column_kind::regular, -1, false, false, false});
    EXPECT_TRUE(schema_differences(o, &extra).empty()) << "target may have more columns";
}

TEST(migrate_schema, display_values) {
    EXPECT_EQ(display_value("int", std::string("\0\0\1\0", 4)), "256");
    EXPECT_EQ(display_value("bigint", std::string("\xff\xff\xff\xff\xff\xff\xff\xfe", 8)), "-2");
    EXPECT_EQ(display_value("text", std::string("héllo")), "héllo");
    EXPECT_EQ(display_value("uuid", std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16)),
              "00112233-4455-6677-8899-aabbccddeeff");
    EXPECT_EQ(display_value("blob", std::string("\x01\xab", 2)), "0x01ab");
    EXPECT_EQ(display_value("int", std::nullopt), "null");
}

TEST(migrate_diff, a_line_reads_back_to_the_same_key_bytes) {
    auto t = wide();
    t.clustering.push_back({"name", "text", column_kind::clustering, 1, false, false, false});
    const key_values row{std::string("\0\0\0\x2a", 4), std::nullopt, std::string("a \"quoted\" \\ name\n", 18), std::string("cell")};
    const std::string line = diff_line(t, "mismatched", row, {"v", "s"});
    EXPECT_EQ(line, "{\"table\": \"ks.wide\", \"kind\": \"mismatched\", \"key\": {\"p\": \"42\", \"c\": \"null\", \"name\": "
                    "\"a \\\"quoted\\\" \\\\ name\\u000a\"}, \"key_bytes\": [\"0000002a\", null, \"61202271756f74656422205c206e616d650a\"], "
                    "\"columns\": [\"v\", \"s\"]}");
    std::string error;
    auto d = parse_diff_line(line, error);
    ASSERT_TRUE(d) << error;
    EXPECT_EQ(d->table, "ks.wide");
    EXPECT_EQ(d->kind, "mismatched");
    EXPECT_EQ(d->key, key_values(row.begin(), row.begin() + 3)) << "the key columns only, nulls kept";
    EXPECT_EQ(d->columns, (std::vector<std::string>{"v", "s"}));
}

TEST(migrate_diff, bad_lines_say_what_is_wrong) {
    std::string error;
    EXPECT_FALSE(parse_diff_line("not json", error));
    EXPECT_NE(error.find("not JSON"), std::string::npos);
    EXPECT_FALSE(parse_diff_line(R"({"kind": "missing"})", error));
    EXPECT_NE(error.find("\"table\""), std::string::npos);
    EXPECT_FALSE(parse_diff_line(R"({"table": "ks.t", "kind": "missing", "key": {"k": "1"}})", error));
    EXPECT_NE(error.find("older tandem-migrate"), std::string::npos);
    EXPECT_FALSE(parse_diff_line(R"({"table": "ks.t", "kind": "missing", "key_bytes": ["0g"]})", error));
    EXPECT_NE(error.find("hex"), std::string::npos);
    EXPECT_FALSE(parse_diff_line(R"({"table": "ks.t", "kind": "missing", "key_bytes": ["abc"]})", error));
    EXPECT_FALSE(parse_diff_line(R"({"table": "ks.t", "kind": "missing", "key_bytes": [42]})", error));
}

TEST(migrate_progress, the_bar_shows_share_done_and_time_left) {
    EXPECT_EQ(progress_bar(32, 128, 1000000, 250000, 30),
              "[######..................]  25%  32/128 ranges  1000000 rows  250000 rows/s  ETA 1:30");
    EXPECT_EQ(progress_bar(0, 10, 0, 0, 1), "[........................]   0%  0/10 ranges  0 rows  0 rows/s  ETA --:--");
    EXPECT_EQ(progress_bar(1, 100, 5, 5, 60), "[........................]   1%  1/100 ranges  5 rows  5 rows/s  ETA 1:39:00");
    EXPECT_EQ(progress_bar(4, 4, 9, 3, 3).substr(0, 26), "[########################]");
}

TEST(migrate_diff, a_row_is_read_again_by_its_whole_key) {
    auto p = plan_key_read(wide());
    EXPECT_EQ(p.text,
              "SELECT \"p\", \"c\", \"s\", writetime(\"s\"), ttl(\"s\"), \"tags\", \"v\", writetime(\"v\"), ttl(\"v\") FROM \"ks\".\"wide\" "
              "WHERE \"p\" = ? AND \"c\" = ?");
    EXPECT_EQ(p.cells[2].ttl, plan_read(wide(), false).cells[2].ttl) << "the same row layout as a range read";
}

}  // namespace
}  // namespace tandem::core::migrate
