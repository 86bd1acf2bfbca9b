#include "core/table_stats.hh"

#include <gtest/gtest.h>

#include "cql/result.hh"

namespace tandem::core {
namespace {

// A Rows RESULT with one text column and these values (nullopt: null).
std::string rows_body(const std::vector<std::optional<std::string>>& values) {
    cql::result_message r;
    r.kind = cql::result_kind::rows;
    r.metadata.column_count = 1;
    r.metadata.columns.push_back(cql::column_spec{"ks", "t", "v", cql::cql_type::simple(cql::type_id::varchar)});
    std::string rows;
    cql::writer w(rows);
    for (const auto& v : values) w.write_bytes(v ? std::optional<std::string_view>(*v) : std::nullopt);
    r.row_count = static_cast<int32_t>(values.size());
    r.rows_raw = rows;
    std::string body;
    r.encode(body, 4);
    return body;
}

TEST(table_stats, rows_compare_by_hash_in_order) {
    auto a = row_hashes(rows_body({"x", "y", std::nullopt}), 4);
    auto b = row_hashes(rows_body({"x", "y", std::nullopt}), 4);
    auto c = row_hashes(rows_body({"x", "z", std::nullopt}), 4);
    auto d = row_hashes(rows_body({"y", "x", std::nullopt}), 4);
    ASSERT_TRUE(a && b && c && d);
    EXPECT_EQ(a->size(), 3u);
    EXPECT_EQ(*a, *b);
    EXPECT_NE(*a, *c);
    EXPECT_EQ((*a)[0], (*c)[0]) << "only the second row differs";
    EXPECT_NE(*a, *d) << "order matters";
    EXPECT_NE(*row_hashes(rows_body({""}), 4), *row_hashes(rows_body({std::nullopt}), 4)) << "empty is not null";
    std::string raw;
    ASSERT_TRUE(row_hashes(rows_body({"x"}), 4, &raw));
    EXPECT_EQ(raw, std::string("\0\0\0\1x", 5));
}

TEST(table_stats, a_void_result_has_no_rows_and_garbage_does_not_decode) {
    std::string v(4, '\0');
    cql::store_be32(v.data(), static_cast<uint32_t>(cql::result_kind::void_));
    auto r = row_hashes(v, 4);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
    EXPECT_FALSE(row_hashes("ab", 4));
    std::string cut = rows_body({"x", "y"});
    cut.resize(cut.size() - 1);
    EXPECT_FALSE(row_hashes(cut, 4));
}

TEST(table_stats, label_sets_are_bounded) {
    table_registry r;
    EXPECT_EQ(r.index_of("app", "kv"), 0);
    EXPECT_EQ(r.index_of("app", "other_table"), 1);
    EXPECT_EQ(r.index_of("app", "kv"), 0);
    for (int i = 2; i < table_registry::limit; ++i) EXPECT_EQ(r.index_of("ks", "t" + std::to_string(i)), i);
    EXPECT_EQ(r.index_of("ks", "one_too_many"), table_registry::limit) << "past the limit: table=\"other\"";
    EXPECT_EQ(r.names().size(), table_registry::limit);

    table_metrics w({1, 10});
    w.at(0).requests = 5;
    w.at(table_registry::limit).requests = 2;
    w.at(0).dual_reads[static_cast<size_t>(dual_read_outcome::mismatch)] = 1;
    auto text = table_series("zdm", r, {&w});
    EXPECT_NE(text.find("zdm_tandem_table_requests_total{keyspace=\"app\",table=\"kv\"} 5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("zdm_tandem_table_requests_total{keyspace=\"\",table=\"other\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("zdm_tandem_dual_reads_total{keyspace=\"app\",table=\"kv\",outcome=\"mismatch\"} 1\n"), std::string::npos);
    EXPECT_EQ(text.find("table=\"t5\""), std::string::npos) << "tables without traffic are left out";
}

}  // namespace
}  // namespace tandem::core
