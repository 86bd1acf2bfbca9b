// core/fifo.hh: order, no memory while empty, and bounded memory for a queue that never empties.
#include "core/fifo.hh"

#include <gtest/gtest.h>

#include <string>

namespace tandem::core {
namespace {

TEST(fifo, keeps_order_and_frees_its_storage_once_empty) {
    fifo<std::string> q;
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.capacity(), 0u);
    for (int i = 0; i < 1000; ++i) q.push_back("r" + std::to_string(i));
    EXPECT_EQ(q.size(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(q.pop_front(), "r" + std::to_string(i));
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.capacity(), 0u);
}

// A client held back for the pool: its queue is topped up before each partial drain and never
// empties. A million requests pass through it; it holds at most 300 at a time.
TEST(fifo, a_queue_that_never_empties_stays_the_size_of_what_it_holds) {
    fifo<std::string> q;
    int pushed = 0, popped = 0;
    q.push_back("r0");
    ++pushed;
    size_t most = 0;
    while (pushed < 1'000'000) {
        for (int i = 0; i < 300 && q.size() < 300; ++i) q.push_back("r" + std::to_string(pushed++));
        for (int i = 0; i < 250 && q.size() > 1; ++i) ASSERT_EQ(q.pop_front(), "r" + std::to_string(popped++));
        most = std::max(most, q.capacity());
    }
    EXPECT_FALSE(q.empty());
    EXPECT_LE(most, 4096u) << "the vector kept what had passed through it";
    while (!q.empty()) ASSERT_EQ(q.pop_front(), "r" + std::to_string(popped++));
    EXPECT_EQ(popped, pushed);
}

// After a burst the queue gives back the room the burst took, while it still holds some.
TEST(fifo, room_a_burst_took_is_given_back_while_some_is_left) {
    fifo<std::string> q;
    for (int i = 0; i < 100'000; ++i) q.push_back(std::string(10, 'x'));
    for (int i = 0; i < 99'990; ++i) q.pop_front();
    for (int i = 0; i < 200; ++i) {  // steady: one in, one out
        q.push_back("y");
        q.pop_front();
    }
    EXPECT_EQ(q.size(), 10u);
    EXPECT_LE(q.capacity(), 1024u);
}

}  // namespace
}  // namespace tandem::core
