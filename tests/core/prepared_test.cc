#include "core/prepared.hh"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

std::shared_ptr<prepared_entry> entry(std::string o, std::string t) {
    auto e = std::make_shared<prepared_entry>();
    e->origin_id = std::move(o);
    e->target_id = std::move(t);
    e->query = "INSERT INTO ks.t (k) VALUES (?)";
    return e;
}

TEST(prepared, store_maps_both_ways) {
    prepared_store s(10);
    s.put(entry("o1", "t1"));
    ASSERT_NE(s.find("o1"), nullptr);
    EXPECT_EQ(s.find("o1")->target_id, "t1");
    EXPECT_EQ(s.origin_for_target("t1"), std::optional<std::string>("o1"));
    EXPECT_EQ(s.find("t1"), nullptr);
    EXPECT_EQ(s.origin_for_target("o1"), std::nullopt);
}

TEST(prepared, store_is_bounded_oldest_first) {
    prepared_store s(3);
    for (int i = 0; i < 5; ++i) s.put(entry("o" + std::to_string(i), "t" + std::to_string(i)));
    EXPECT_EQ(s.size(), 3u);
    EXPECT_EQ(s.find("o0"), nullptr);
    EXPECT_EQ(s.find("o1"), nullptr);
    EXPECT_EQ(s.origin_for_target("t1"), std::nullopt);
    EXPECT_NE(s.find("o4"), nullptr);
    // Preparing again replaces, does not duplicate.
    s.put(entry("o4", "t4b"));
    EXPECT_EQ(s.size(), 3u);
    EXPECT_EQ(s.find("o4")->target_id, "t4b");
}

TEST(prepared, worker_cache_reads_through_and_stays_bounded) {
    prepared_store s(100);
    prepared_cache a(s, 2), b(s, 2);
    a.put(entry("o1", "t1"));
    // Another worker finds what this one prepared.
    ASSERT_NE(b.find("o1"), nullptr);
    EXPECT_EQ(b.find("o1")->target_id, "t1");
    EXPECT_EQ(b.find("missing"), nullptr);
    for (int i = 2; i < 10; ++i) a.put(entry("o" + std::to_string(i), "t"));
    EXPECT_NE(a.find("o1"), nullptr);  // refilled from the store after the local bound cleared it
}

}  // namespace
}  // namespace tandem::core
