#include "net/timer_wheel.hh"

#include <gtest/gtest.h>

#include <vector>

namespace tandem::net {
namespace {

TEST(timer_wheel, fires_at_deadline_not_before) {
    timer_wheel w(1000);
    int fired = 0;
    timer t([&] { ++fired; });
    w.arm(t, 10);
    EXPECT_TRUE(t.armed());
    EXPECT_EQ(w.advance(1010), 0u);  // 10 ms after 1000 could be 9.x ms after the call
    EXPECT_EQ(fired, 0);
    EXPECT_EQ(w.advance(1011), 1u);
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(t.armed());
    EXPECT_EQ(w.armed(), 0u);
}

TEST(timer_wheel, cancel_and_rearm) {
    timer_wheel w(0);
    int fired = 0;
    timer t([&] { ++fired; });
    w.arm(t, 5);
    t.cancel();
    EXPECT_EQ(w.advance(100), 0u);
    w.arm(t, 5);
    w.arm(t, 50);  // re-arming moves it
    EXPECT_EQ(w.advance(150), 0u);
    EXPECT_EQ(w.advance(151), 1u);
    EXPECT_EQ(fired, 1);
}

TEST(timer_wheel, beyond_one_rotation_and_long_pauses) {
    timer_wheel w(0);
    int fired = 0;
    timer far([&] { ++fired; });
    w.arm(far, 10'000);  // more than the 4096-slot rotation
    EXPECT_EQ(w.advance(5000), 0u);
    EXPECT_EQ(w.advance(10'000), 0u);
    EXPECT_EQ(w.advance(10'001), 1u);
    timer late([&] { ++fired; });
    w.arm(late, 3);
    EXPECT_EQ(w.advance(50'000), 1u);  // one long jump still fires it
    EXPECT_EQ(fired, 2);
}

TEST(timer_wheel, callbacks_may_rearm_themselves_and_others) {
    timer_wheel w(0);
    std::vector<int> order;
    timer a, b;
    a.set_callback([&] {
        order.push_back(1);
        if (order.size() < 3) w.arm(a, 1);
        b.cancel();
    });
    b.set_callback([&] { order.push_back(2); });
    w.arm(a, 1);
    w.arm(b, 2);
    for (uint64_t t = 1; t <= 10; ++t) w.advance(t);
    EXPECT_EQ(order, (std::vector<int>{1, 1, 1}));
}

TEST(timer_wheel, arms_from_the_callers_clock_not_the_last_advance) {
    timer_wheel w(0);
    int fired = 0;
    timer t([&] { ++fired; });
    w.set_clock(500);  // woke at 500; advance() comes at the end of the turn
    w.arm(t, 100);
    EXPECT_EQ(w.advance(500), 0u);
    EXPECT_EQ(w.advance(600), 0u);  // counted from 0 it would have fired 400 ms early
    EXPECT_EQ(w.advance(601), 1u);
    EXPECT_EQ(fired, 1);
}

TEST(timer_wheel, next_delay) {
    timer_wheel w(0);
    EXPECT_EQ(w.next_delay_ms(1000), 1000u);
    timer t([] {});
    w.arm(t, 40);
    EXPECT_EQ(w.next_delay_ms(1000), 41u);
    EXPECT_EQ(w.next_delay_ms(10), 10u);
    w.advance(30);
    EXPECT_EQ(w.next_delay_ms(1000), 11u);
    t.cancel();
    w.advance(45);
    EXPECT_EQ(w.next_delay_ms(1000), 1000u);
}

TEST(timer_wheel, destroying_an_armed_timer_unlinks_it) {
    timer_wheel w(0);
    {
        timer t([] { FAIL() << "destroyed timer fired"; });
        w.arm(t, 5);
        EXPECT_EQ(w.armed(), 1u);
    }
    EXPECT_EQ(w.armed(), 0u);
    EXPECT_EQ(w.advance(10), 0u);
}

}  // namespace
}  // namespace tandem::net
