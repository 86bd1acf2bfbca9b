// connection_for_turn: which of a node's pool connections a request goes on.
#include <gtest/gtest.h>

#include <vector>

#include "core/shared_pool.hh"

namespace tandem::core {
namespace {

struct node_state {
    std::vector<bool> can_take, congested;
    uint32_t next = 0;
    uint64_t seen = 0;
    int pick(uint64_t turn) {
        return connection_for_turn(
            can_take.size(), next, seen, turn, [&](size_t i) { return static_cast<bool>(can_take[i]); },
            [&](size_t i) { return static_cast<bool>(congested[i]); });
    }
};

TEST(ConnectionForTurn, OneTurnUsesOneConnectionAndTheNextTurnTheNext) {
    node_state n{{true, true, true}, {false, false, false}};
    const int first = n.pick(1);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(n.pick(1), first);
    const int second = n.pick(2);
    EXPECT_NE(second, first);
    EXPECT_EQ(n.pick(2), second);
    const int third = n.pick(3);
    EXPECT_NE(third, second);
    EXPECT_NE(third, first);
    EXPECT_EQ(n.pick(4), first);  // all three in turn
}

TEST(ConnectionForTurn, ACongestedConnectionIsPassedOverWhileAnotherIsNot) {
    node_state n{{true, true}, {false, false}};
    const int a = n.pick(1);
    n.congested[static_cast<size_t>(a)] = true;
    const int b = n.pick(1);  // the same turn moves on
    EXPECT_NE(b, a);
    EXPECT_EQ(n.pick(1), b);
    EXPECT_EQ(n.pick(2), b);  // the next turn's would be `a`: congested
    EXPECT_EQ(n.pick(3), b);
    n.congested[static_cast<size_t>(b)] = true;  // both congested: any that can take it
    EXPECT_GE(n.pick(4), 0);
    n.congested = {false, false};
    n.can_take[static_cast<size_t>(b)] = false;  // out of stream ids, or not ready
    EXPECT_EQ(n.pick(5), a);
    EXPECT_EQ(n.pick(6), a);
}

TEST(ConnectionForTurn, NoneThatCanTakeIt) {
    node_state n{{false, false}, {false, false}};
    EXPECT_EQ(n.pick(1), -1);
    node_state one{{true}, {true}};  // a congested connection still takes what has an id
    EXPECT_EQ(one.pick(1), 0);
    EXPECT_EQ(one.pick(2), 0);
}

// A node's connections share one budget of stream ids, so a node holds its clients back at the
// same number of requests in flight however many connections it has.
TEST(PoolStreamIds, ANodeHasTheSameIdsWithOneConnectionAsWithTwo) {
    EXPECT_EQ(pool_stream_ids(1), 16384);
    EXPECT_EQ(pool_stream_ids(2), 8192);
    EXPECT_EQ(pool_stream_ids(1), 2 * pool_stream_ids(2));
    EXPECT_EQ(pool_stream_ids(4), 4096);
    EXPECT_EQ(pool_stream_ids(64), 1024);  // at least 1,024 per connection
    EXPECT_EQ(pool_stream_ids(0), 16384);  // never divided by zero
}

}  // namespace
}  // namespace tandem::core
