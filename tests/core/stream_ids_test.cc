// stream_ids: the per-connection table of proxy stream ids and their owners.
#include "core/stream_ids.hh"

#include <gtest/gtest.h>

#include <set>

namespace tandem::core {
namespace {

TEST(stream_ids, ids_are_distinct_and_bounded) {
    stream_ids ids(100);
    std::set<int> seen;
    for (uint32_t i = 0; i < 100; ++i) {
        int id = ids.take({i, 1});
        ASSERT_GE(id, 0);
        ASSERT_LT(id, 100);
        EXPECT_TRUE(seen.insert(id).second) << "id " << id << " handed out twice";
    }
    EXPECT_FALSE(ids.has_free());
    EXPECT_EQ(ids.take({100, 1}), -1);
    EXPECT_EQ(ids.in_use(), 100u);
}

TEST(stream_ids, the_table_grows_from_small_to_the_maximum) {
    stream_ids ids(2048);
    EXPECT_EQ(ids.capacity(), 32u);
    for (uint32_t i = 0; i < 33; ++i) ASSERT_GE(ids.take({i, 0}), 0);
    EXPECT_EQ(ids.capacity(), 64u);
    for (uint32_t i = 33; i < 2048; ++i) ASSERT_GE(ids.take({i, 0}), 0);
    EXPECT_EQ(ids.capacity(), 2048u);
    EXPECT_EQ(ids.take({0, 0}), -1);
}

TEST(stream_ids, a_reply_finds_its_owner_once) {
    stream_ids ids(8);
    int id = ids.take({7, 3});
    auto o = ids.finish(static_cast<int16_t>(id));
    ASSERT_TRUE(o);
    EXPECT_EQ(*o, (stream_ids::owner{7, 3}));
    EXPECT_FALSE(ids.finish(static_cast<int16_t>(id))) << "a second reply on a freed id must not find an owner";
    EXPECT_EQ(ids.in_use(), 0u);
}

TEST(stream_ids, unknown_and_negative_ids_find_nothing) {
    stream_ids ids(8);
    EXPECT_FALSE(ids.finish(-1));
    EXPECT_FALSE(ids.finish(5));     // inside the table, never taken
    EXPECT_FALSE(ids.finish(4000));  // outside the table
}

TEST(stream_ids, freed_ids_are_reused_last) {
    stream_ids ids(4, 4);
    int a = ids.take({1, 0});
    ASSERT_TRUE(ids.finish(static_cast<int16_t>(a)));
    // The other three free ids come before `a` again (FIFO): a late duplicate is less likely to
    // meet a new request.
    for (int i = 0; i < 3; ++i) EXPECT_NE(ids.take({2, 0}), a);
    EXPECT_EQ(ids.take({3, 0}), a);
}

TEST(stream_ids, an_abandoned_id_stays_taken_until_its_late_reply) {
    stream_ids ids(2, 2);
    int a = ids.take({1, 1});
    int b = ids.take({2, 1});
    ids.abandon(static_cast<int16_t>(a));
    EXPECT_EQ(ids.take({3, 1}), -1) << "an abandoned id is not free";
    auto late = ids.finish(static_cast<int16_t>(a));
    ASSERT_TRUE(late);
    EXPECT_EQ(late->slot, stream_ids::abandoned);
    EXPECT_EQ(ids.take({4, 1}), a);
    ids.abandon(-1);    // ignored
    ids.abandon(1000);  // ignored
    EXPECT_EQ(ids.finish(static_cast<int16_t>(b))->slot, 2u);
}

}  // namespace
}  // namespace tandem::core
