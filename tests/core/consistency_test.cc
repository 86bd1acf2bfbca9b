// Consistency overrides: the level is replaced in QUERY, EXECUTE (v4 and v5) and BATCH bodies,
// byte for byte everywhere else; serial levels and other opcodes are left alone.
#include "core/consistency.hh"

#include <gtest/gtest.h>

#include <chrono>

#include "cql/query.hh"

namespace tandem::core {
namespace {

using cql::consistency;

TEST(consistency, names) {
    EXPECT_EQ(consistency_named("local_quorum"), consistency::local_quorum);
    EXPECT_EQ(consistency_named("LOCAL_ONE"), consistency::local_one);
    EXPECT_EQ(consistency_named("SERIAL"), consistency::serial);
    EXPECT_FALSE(consistency_named("MOSTLY"));
    EXPECT_FALSE(consistency_named(""));
}

TEST(consistency, a_query_gets_the_clusters_level) {
    cql::query_message q;
    q.query = "INSERT INTO ks.t (k) VALUES (1)";
    q.params.cl = consistency::local_quorum;
    q.params.serial_consistency = consistency::local_serial;
    std::string body;
    q.encode(body, 4);
    auto out = with_consistency(cql::opcode::query, body, 4, consistency::one);
    ASSERT_TRUE(out);
    auto back = cql::query_message::decode(*out, 4);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->params.cl, consistency::one);
    EXPECT_EQ(back->params.serial_consistency, consistency::local_serial) << "the LWT's serial level stays";
    EXPECT_EQ(back->query, q.query);
    EXPECT_EQ(out->size(), body.size());
    EXPECT_FALSE(with_consistency(cql::opcode::query, body, 4, consistency::local_quorum)) << "already that level";
    q.params.cl = consistency::serial;  // a conditional read at SERIAL
    body.clear();
    q.encode(body, 4);
    EXPECT_FALSE(with_consistency(cql::opcode::query, body, 4, consistency::one));
}

TEST(consistency, execute_in_v4_and_v5) {
    for (uint8_t v : {4, 5}) {
        const std::string id("\x01\x02\x03\x04", 4), metadata_id("\x09\x08", 2);  // the message holds views
        cql::execute_message m;
        m.id = id;
        if (v >= 5) m.result_metadata_id = metadata_id;
        m.params.cl = consistency::quorum;
        std::string body;
        m.encode(body, v);
        auto out = with_consistency(cql::opcode::execute, body, v, consistency::local_one);
        ASSERT_TRUE(out) << int(v);
        auto back = cql::execute_message::decode(*out, v);
        ASSERT_TRUE(back);
        EXPECT_EQ(back->params.cl, consistency::local_one);
        EXPECT_EQ(back->id, m.id);
        EXPECT_EQ(back->result_metadata_id, m.result_metadata_id);
    }
}

TEST(consistency, a_batch) {
    cql::batch_message b;
    std::string storage;
    std::vector<cql::batch_child> children(2);
    children[0].query_or_id = "INSERT INTO ks.t (k) VALUES (1)";
    children[1].query_or_id = "INSERT INTO ks.t (k) VALUES (2)";
    b.children = cql::batch_children::build(children, storage);
    b.cl = consistency::all;
    std::string body;
    b.encode(body, 4);
    auto out = with_consistency(cql::opcode::batch, body, 4, consistency::two);
    ASSERT_TRUE(out);
    auto back = cql::batch_message::decode(*out, 4);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->cl, consistency::two);
    EXPECT_EQ(back->children.count, 2u);
}

TEST(write_timestamps, a_write_without_one_gets_tandems) {
    for (uint8_t v : {4, 5}) {
        cql::query_message q;
        q.query = "INSERT INTO ks.t (k) VALUES (1)";
        q.params.cl = consistency::quorum;
        std::string body;
        q.encode(body, v);
        EXPECT_TRUE(needs_timestamp(cql::opcode::query, body, v));
        auto out = std::make_optional<std::string>();
        ASSERT_TRUE(with_timestamp(cql::opcode::query, body, v, 1700000000123456, *out));
        auto back = cql::query_message::decode(*out, v);
        ASSERT_TRUE(back);
        EXPECT_EQ(back->params.timestamp, 1700000000123456);
        EXPECT_EQ(back->params.cl, consistency::quorum);
        EXPECT_FALSE(needs_timestamp(cql::opcode::query, *out, v));
        std::string again;
        EXPECT_FALSE(with_timestamp(cql::opcode::query, *out, v, 1, again)) << "the client's timestamp is kept";

        const std::string id("\x01\x02", 2), metadata_id("\x07", 1);
        cql::execute_message e;
        e.id = id;
        if (v >= 5) e.result_metadata_id = metadata_id;
        std::string value("\0\0\0\x2a", 4), storage;
        cql::bound_value vals[1] = {{{}, cql::value_ref::of(value)}};
        e.params.values = cql::value_list::build(vals, false, storage);
        std::string eb;
        e.encode(eb, v);
        EXPECT_TRUE(needs_timestamp(cql::opcode::execute, eb, v));
        std::string eo;
        ASSERT_TRUE(with_timestamp(cql::opcode::execute, eb, v, 42, eo));
        auto eback = cql::execute_message::decode(eo, v);
        ASSERT_TRUE(eback);
        EXPECT_EQ(eback->params.timestamp, 42);
        EXPECT_EQ(eback->params.values.count, 1u);
        e.params.timestamp = 7;
        eb.clear();
        e.encode(eb, v);
        EXPECT_FALSE(needs_timestamp(cql::opcode::execute, eb, v));
    }
    cql::batch_message b;
    std::string storage;
    std::vector<cql::batch_child> children(1);
    children[0].query_or_id = "INSERT INTO ks.t (k) VALUES (1)";
    b.children = cql::batch_children::build(children, storage);
    std::string body;
    b.encode(body, 4);
    EXPECT_TRUE(needs_timestamp(cql::opcode::batch, body, 4));
    std::string out;
    ASSERT_TRUE(with_timestamp(cql::opcode::batch, body, 4, 99, out));
    EXPECT_EQ(cql::batch_message::decode(out, 4)->timestamp, 99);
    EXPECT_FALSE(needs_timestamp(cql::opcode::prepare, "x", 4));
    EXPECT_FALSE(needs_timestamp(cql::opcode::query, std::string("\0\0\0\x09short", 9), 4));
}

TEST(consistency, other_bodies_are_left_alone) {
    EXPECT_FALSE(with_consistency(cql::opcode::prepare, "anything", 4, consistency::one));
    EXPECT_FALSE(with_consistency(cql::opcode::query, "", 4, consistency::one));
    EXPECT_FALSE(with_consistency(cql::opcode::query, std::string("\0\0\0\x10short", 9), 4, consistency::one));
    EXPECT_FALSE(with_consistency(cql::opcode::query, std::string("\xff\xff\xff\xff\0\1", 6), 4, consistency::one));
    EXPECT_FALSE(with_consistency(cql::opcode::execute, std::string("\0\x09", 2), 4, consistency::one));
    EXPECT_FALSE(with_consistency(cql::opcode::batch, "\x09", 4, consistency::one));
}

TEST(write_timestamps, a_generator_never_hands_out_one_twice) {
    timestamp_generator g;
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    int64_t last = g.next();
    EXPECT_GE(last, now);
    EXPECT_LT(last, now + 60'000'000) << "the clock's microseconds";
    for (int i = 0; i < 100000; ++i) {  // faster than the clock ticks: one past the last
        const int64_t t = g.next();
        ASSERT_GT(t, last);
        last = t;
    }
}

}  // namespace
}  // namespace tandem::core
