// pending_table: slots reused with a new generation, client stream ids in flight.
#include "core/pending.hh"

#include <gtest/gtest.h>

#include <deque>

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
    EXPECT_EQ(p.first_body(), "reply body");
    EXPECT_EQ(p.first_side, target_side);
    EXPECT_FALSE(p.copies) << "a held reply's copy makes one string, not room for rewritten bodies";
    p.drop_held();
    EXPECT_EQ(p.first_body(), "");
}

// Each request in flight holds a slot, and a stalled cluster puts tens of thousands in use
// (bench/e2e/stall.py): 256 bytes is the allocator's size class it fits in now.
TEST(pending, a_slot_fits_in_256_bytes) { EXPECT_LE(sizeof(pending), 256u); }

TEST(pending, what_only_some_requests_need_is_made_on_demand_and_kept_with_the_slot) {
    pending_table t;
    pending& p = t.take(request_kind::plain, 1);
    EXPECT_FALSE(p.x) << "an EXECUTE carries no PREPARE fields";
    EXPECT_FALSE(p.copies) << "nor copies it does not need";
    EXPECT_EQ(p.side_view(target_side), "");
    p.side(origin_side) = "timestamped";
    p.target_same = true;
    EXPECT_EQ(p.side_view(target_side), "timestamped") << "the target's body is the origin's";
    EXPECT_EQ(p.side_bytes(), 11u);
    p.extra().request_id = "ab12";
    EXPECT_EQ(p.request_id(), "ab12");
    const auto* copies = p.copies.get();
    t.release(p);
    pending& q = t.take(request_kind::plain, 2);
    ASSERT_EQ(&q, &p);
    EXPECT_EQ(q.copies.get(), copies) << "kept with the slot (no allocation per request)";
    EXPECT_EQ(q.side_view(origin_side), "");
    EXPECT_EQ(q.side_view(target_side), "");
    EXPECT_EQ(q.request_id(), "");
    EXPECT_FALSE(q.target_same);
    t.release(q);
    t.trim();  // the slot stays (one of the 64 kept), its copies go
    pending& r = t.take(request_kind::plain, 3);
    ASSERT_EQ(&r, &p);
    EXPECT_FALSE(r.copies) << "trim gives them back";
}

TEST(pending, a_burst_is_given_back_and_late_replies_stay_late) {
    pending_table t;
    std::vector<std::pair<uint32_t, uint32_t>> burst;  // (index, generation) of each request
    std::vector<pending*> held;
    for (int i = 0; i < 3000; ++i) {
        pending& p = t.take(request_kind::plain, static_cast<int16_t>(i));
        p.req_copy.assign(100 * 1024, 'x');  // a large request copy
        burst.emplace_back(p.index, p.gen);
        held.push_back(&p);
    }
    EXPECT_EQ(t.size(), 3000u);
    // Requests complete out of order; two stay in flight, one of them at a low index.
    for (size_t i = 0; i < held.size(); ++i) {
        if (i != 5 && i != 40) t.release(*held[i]);
    }
    t.trim();
    EXPECT_EQ(t.size(), 64u) << "free slots past the last used one beyond 64 are gone";
    EXPECT_EQ(t.in_use(), 2u);
    EXPECT_TRUE(t.find(burst[5].first, burst[5].second)) << "requests in flight are kept";
    EXPECT_FALSE(t.find(burst[2000].first, burst[2000].second));
    // New requests take the lowest free indexes, and a slot made again at a trimmed index never
    // matches the generation a late reply carries.
    std::vector<pending*> again;
    for (int i = 0; i < 3000; ++i) again.push_back(&t.take(request_kind::plain, static_cast<int16_t>(i + 3000 % 30000)));
    for (const auto& [index, gen] : burst) {
        if (index == burst[5].first || index == burst[40].first) continue;
        EXPECT_FALSE(t.find(index, gen)) << index;
    }
    std::vector<std::pair<uint32_t, pending*>> slots;
    for (auto* p : again) {
        p->req_copy.assign(100 * 1024, 'y');
        slots.emplace_back(p->index, p);
        t.release(*p);
    }
    t.trim(64, 64 * 1024);
    size_t big = 0, kept = 0;
    for (const auto& [index, p] : slots) {
        if (index >= t.size()) continue;  // dropped (the pointer is gone with it)
        big += p->req_copy.capacity() > 64 * 1024;
        ++kept;
    }
    EXPECT_EQ(kept, 62u);  // the 64 kept slots less the two still in flight
    EXPECT_EQ(big, 0u) << "large strings of free slots are given back";
}

TEST(pending, a_steady_load_keeps_its_slots) {
    pending_table t;
    for (int round = 0; round < 5000; ++round) {
        pending& a = t.take(request_kind::plain, 1);
        pending& b = t.take(request_kind::plain, 2);
        t.release(a);
        t.release(b);
        t.maybe_trim();
    }
    EXPECT_EQ(t.size(), 2u) << "the lowest indexes are reused: the table stays as small as the load";
}

TEST(pending, a_burst_drained_under_steady_load_is_given_back) {
    // A stalled cluster let 1,250 requests pile up on this connection; then it answers them
    // (oldest first) while the client goes on with about ten in flight: the table comes back to
    // its small size without ever being idle.
    pending_table t;
    std::deque<pending*> flight;
    for (int i = 0; i < 1250; ++i) flight.push_back(&t.take(request_kind::plain, static_cast<int16_t>(i)));
    int16_t next = 1250;
    for (int step = 0; step < 20000; ++step) {
        t.maybe_trim();  // each reply is an entry point
        t.release(*flight.front());
        flight.pop_front();
        if (flight.size() < 10 || step % 2) flight.push_back(&t.take(request_kind::plain, static_cast<int16_t>(next++ % 30000)));
    }
    EXPECT_LE(flight.size(), 12u);
    EXPECT_LE(t.size(), 64u) << "slots past the last used one are dropped while traffic goes on";
    EXPECT_LE(t.slots_capacity(), 128u) << "and so is the room the burst made for them";
}

}  // namespace
}  // namespace tandem::core
