// pending_table: slots reused with a new generation, client stream ids in flight.
#include "core/pending.hh"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

TEST(pending, a_released_slot_is_reused_with_a_new_generation) {
    pending_table t;
    pending& a = t.take(request_kind::plain, 5);
    const uint32_t index = a.index, gen = a.gen;
    EXPECT_EQ(t.find(index, gen), &a);
    t.release(a);
    EXPECT_EQ(t.find(index, gen), nullptr) << "a reply for the earlier use must not find the slot";
    pending& b = t.take(request_kind::prepare, 6);
    EXPECT_EQ(&b, &a);
    EXPECT_NE(b.gen, gen);
    EXPECT_EQ(t.find(index, b.gen), &b);
    EXPECT_EQ(t.find(index + 100, b.gen), nullptr);
}

TEST(pending, client_streams_are_busy_while_in_flight) {
    pending_table t;
    EXPECT_FALSE(t.stream_busy(3));
    pending& a = t.take(request_kind::plain, 3);
    pending& b = t.take(request_kind::plain, 32767);
    EXPECT_TRUE(t.stream_busy(3));
    EXPECT_TRUE(t.stream_busy(32767));
    EXPECT_FALSE(t.stream_busy(4));
    EXPECT_FALSE(t.stream_busy(-1));
    t.release(a);
    EXPECT_FALSE(t.stream_busy(3));
    EXPECT_TRUE(t.stream_busy(32767));
    t.release(b);
    EXPECT_EQ(t.in_use(), 0u);
}

TEST(pending, answers_are_counted_once_per_cluster) {
    pending_table t;
    pending& p = t.take(request_kind::plain, 1);
    p.expect = destinations::both();
    EXPECT_TRUE(p.waits_for(origin_side));
    EXPECT_TRUE(p.mark_answered(origin_side));
    EXPECT_FALSE(p.mark_answered(origin_side)) << "a duplicate reply is not a second answer";
    EXPECT_FALSE(p.complete());
    EXPECT_TRUE(p.mark_answered(target_side));
    EXPECT_TRUE(p.complete());
    p.expect_again(target_side, 9);  // healing: the target is asked again
    EXPECT_TRUE(p.waits_for(target_side));
    EXPECT_EQ(p.proxy_stream[target_side], 9);
    t.release(p);
    pending& q = t.take(request_kind::plain, 1);
    EXPECT_TRUE(q.expect.empty()) << "a reused slot starts clean";
    EXPECT_EQ(q.proxy_stream[origin_side], -1);
}

TEST(pending, a_held_reply_outside_a_receive_buffer_is_copied) {
    pending_table t;
    pending& p = t.take(request_kind::plain, 1);
    std::string body = "reply body";
    inbound_envelope e{cql::envelope_header{}, body, {}};  // decrypted or reassembled: no buffer to share
    p.hold(target_side, e, true);
    body.assign("overwrite!");
    EXPECT_EQ(p.first_body, "reply body");
    EXPECT_EQ(p.first_side, target_side);
}

}  // namespace
}  // namespace tandem::core
