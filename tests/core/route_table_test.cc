#include "core/route_table.hh"
#include "core/free_indexes.hh"

#include <gtest/gtest.h>

#include <vector>

using namespace tandem::core;

namespace {
// Sessions are only compared, never used: any distinct addresses do.
alignas(8) char session_a[8], session_b[8];
client_session* const a = reinterpret_cast<client_session*>(session_a);
client_session* const b = reinterpret_cast<client_session*>(session_b);
}  // namespace

TEST(route_table, a_reply_finds_its_route_once) {
    route_table t;
    const uint64_t tag = t.add(a, 7, 3, 1);
    EXPECT_NE(static_cast<uint32_t>(tag), 0u) << "index 0 is never a route";
    auto* rt = t.find(tag);
    ASSERT_TRUE(rt);
    EXPECT_EQ(rt->session, a);
    EXPECT_EQ(rt->slot, 7u);
    EXPECT_EQ(rt->gen, 3u);
    EXPECT_EQ(rt->side, 1);
    t.forget(tag);
    EXPECT_FALSE(t.find(tag)) << "a late reply for a request given up is dropped";
    const uint64_t again = t.add(b, 1, 1, 0);
    EXPECT_EQ(static_cast<uint32_t>(again), static_cast<uint32_t>(tag)) << "the index is reused";
    EXPECT_FALSE(t.find(tag)) << "... with a new generation";
    EXPECT_TRUE(t.find(again));
    EXPECT_FALSE(t.find(0));
}

TEST(route_table, a_closing_session_forgets_only_its_routes) {
    route_table t;
    std::vector<uint64_t> of_a, of_b;
    for (uint32_t i = 0; i < 100; ++i) {
        of_a.push_back(t.add(a, i, 1, 0));
        of_b.push_back(t.add(b, i, 1, 1));
    }
    t.forget_session(a);
    for (auto tag : of_a) EXPECT_FALSE(t.find(tag));
    for (auto tag : of_b) EXPECT_TRUE(t.find(tag));
    EXPECT_EQ(t.in_use(), 100u);
}

TEST(route_table, a_burst_is_given_back_and_late_replies_stay_late) {
    route_table t;
    std::vector<uint64_t> burst;
    for (uint32_t i = 0; i < 60000; ++i) burst.push_back(t.add(a, i, 1, 0));
    EXPECT_EQ(t.size(), 60000u);
    const size_t bytes_at_peak = t.capacity_bytes();
    // Replies come out of order; two requests stay in flight, one early, one late in the burst.
    for (size_t i = 0; i < burst.size(); ++i) {
        if (i != 10 && i != 20000) t.forget(burst[i]);
    }
    // Traffic goes on at a steady few in flight: the lowest free indexes are taken, so the tail
    // drains and the request still in flight at 20,000 is the last one holding it.
    for (int round = 0; round < 1000; ++round) t.forget(t.add(b, 1, 1, 0));
    t.trim();
    EXPECT_EQ(t.size(), 20001u) << "nothing past the last route in use is kept";
    t.forget(burst[20000]);
    t.trim();
    EXPECT_EQ(t.size(), route_table::small - 1) << "down to the small table once the burst is over";
    EXPECT_EQ(t.in_use(), 1u);
    EXPECT_TRUE(t.find(burst[10]));
    EXPECT_LT(t.capacity_bytes() * 4, bytes_at_peak) << "the memory went with it";
    // Routes made again at trimmed indexes never match the tags of the burst.
    std::vector<uint64_t> again;
    for (uint32_t i = 0; i < 60000; ++i) again.push_back(t.add(b, i, 2, 1));
    for (size_t i = 0; i < burst.size(); ++i) {
        if (i == 10) continue;
        EXPECT_FALSE(t.find(burst[i])) << i;
    }
    for (auto tag : again) EXPECT_TRUE(t.find(tag));
}

TEST(route_table, a_steady_load_keeps_its_table) {
    route_table t;
    std::vector<uint64_t> live;
    for (uint32_t i = 0; i < 5000; ++i) live.push_back(t.add(a, i, 1, 0));
    // Half the table in use: trim() waits (it would only cut a few routes at a time).
    for (size_t i = 0; i < live.size(); i += 2) t.forget(live[i]);
    const size_t size = t.size();
    t.trim();
    EXPECT_EQ(t.size(), size);
    EXPECT_EQ(t.in_use(), 2500u);
}

TEST(free_indexes, a_stack_while_small_then_the_lowest_first) {
    free_indexes f(4);
    f.give(2, 3);
    f.give(0, 3);
    EXPECT_EQ(f.take(3), 0u) << "small: the last given first";
    EXPECT_EQ(f.take(3), 2u);
    // A table of 10: the lowest free index first, whatever the order they came back in.
    for (uint32_t i : {7u, 3u, 9u, 5u}) f.give(i, 10);
    EXPECT_EQ(f.take(10), 3u);
    EXPECT_EQ(f.take(10), 5u);
    // The table dropped its entries from 8 on: 9 is gone, 7 stays.
    f.cut(8);
    EXPECT_EQ(f.size(), 1u);
    EXPECT_EQ(f.take(8), 7u);
    EXPECT_TRUE(f.empty());
}
