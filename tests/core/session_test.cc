// client_session end to end in memory (core/memory_harness.hh): the real session, net/'s
// memory transport, two fake clusters. The sockets and the real drivers are covered by
// tests/e2e; these check the request path's rules deterministically and under the sanitizers.
#include "core/memory_harness.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "cql/error_body.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

// Every allocation of this test program is counted, so a test can demand that the request path
// allocates nothing in the steady state (issue 5: no allocation per request).
std::atomic<uint64_t> allocations{0};

namespace tandem::core {
namespace {

using cql::opcode;

std::string envelope(opcode op, int16_t stream, const std::string& body) {
    cql::envelope_header h;
    h.version = 4;
    h.op = op;
    h.stream = stream;
    return cql::make_envelope(h, body);
}

std::string startup(int16_t stream) {
    cql::startup_message m;
    m.options = {{"CQL_VERSION", "3.0.0"}};
    std::string body;
    m.encode(body);
    return envelope(opcode::startup, stream, body);
}

// A request message (anything with encode(body, version)) in a v4 envelope.
template <class Message>
std::string request(opcode op, int16_t stream, const Message& m) {
    std::string body;
    m.encode(body, 4);
    return envelope(op, stream, body);
}

std::string query(int16_t stream, std::string_view text) {
    cql::query_message m;
    m.query = text;
    m.params.cl = cql::consistency::local_quorum;
    return request(opcode::query, stream, m);
}

std::string prepare(int16_t stream, std::string_view text) {
    cql::prepare_message m;
    m.query = text;
    return request(opcode::prepare, stream, m);
}

std::string execute(int16_t stream, std::string_view id) {
    cql::execute_message m;
    m.id = id;
    m.params.cl = cql::consistency::local_quorum;
    return request(opcode::execute, stream, m);
}

// The envelopes the client received, in order.
std::vector<std::pair<cql::envelope_header, std::string>> replies(const std::string& bytes) {
    std::vector<std::pair<cql::envelope_header, std::string>> out;
    std::string_view in = bytes;
    for (;;) {
        auto sp = cql::split_envelope(in);
        if (sp.status != cql::parse_status::ok) break;
        out.emplace_back(sp.envelope.header, std::string(sp.envelope.body));
        in.remove_prefix(sp.consumed);
    }
    EXPECT_TRUE(in.empty()) << "a partial envelope reached the client";
    return out;
}

config settings() {
    config c;
    c.origin.contact_points = {"127.0.1.1"};
    c.target.contact_points = {"127.0.2.1"};
    return c;
}

class session : public ::testing::Test {
protected:
    memory_harness h{settings()};
    // PREPAREs the INSERT through the session; the id the client got.
    std::string prepare_insert() {
        h.client_sends(prepare(3, "INSERT INTO ks.t (k, v) VALUES (?, ?)"));
        auto r = replies(h.client_received());
        EXPECT_EQ(r.size(), 1u);
        auto prepared = r.empty() ? cql::result<cql::result_message>(cql::decode_error{"no reply"})
                                  : cql::result_message::decode(r[0].second, 4);
        EXPECT_TRUE(prepared && prepared->kind == cql::result_kind::prepared);
        return prepared ? prepared->prepared_id : std::string();
    }
    void SetUp() override {
        h.open_client();
        h.client_sends(startup(0));
        auto r = replies(h.client_received());
        ASSERT_EQ(r.size(), 1u);
        ASSERT_EQ(r[0].first.op, opcode::ready);
        ASSERT_EQ(h.received(0), std::vector<opcode>{opcode::startup});
        ASSERT_EQ(h.received(1), std::vector<opcode>{opcode::startup});
    }
};

TEST_F(session, a_write_goes_to_both_clusters_and_is_answered_once_on_its_stream) {
    h.client_sends(query(42, "INSERT INTO ks.t (k, v) VALUES (1, 'x')"));
    auto r = replies(h.client_received());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first.op, opcode::result);
    EXPECT_EQ(r[0].first.stream, 42);
    EXPECT_EQ(h.received(0).back(), opcode::query);
    EXPECT_EQ(h.received(1).back(), opcode::query);
}

TEST_F(session, a_read_goes_to_the_primary_only) {
    h.client_sends(query(7, "SELECT v FROM ks.t WHERE k = 1"));
    ASSERT_EQ(replies(h.client_received()).size(), 1u);
    EXPECT_EQ(h.received(0).back(), opcode::query);
    EXPECT_EQ(h.received(1).size(), 1u);  // STARTUP only
}

TEST_F(session, execute_is_rewritten_with_the_target_id) {
    std::string id = prepare_insert();
    EXPECT_EQ(id, h.prepared_id(0));  // the client sees origin's id
    ASSERT_NE(h.prepared_id(0), h.prepared_id(1));

    h.client_sends(execute(4, id));
    auto r = replies(h.client_received());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first.stream, 4);
    auto at_origin = cql::execute_message::decode(h.last_body(0), 4);
    auto at_target = cql::execute_message::decode(h.last_body(1), 4);
    ASSERT_TRUE(at_origin && at_target);
    EXPECT_EQ(at_origin->id, h.prepared_id(0));
    EXPECT_EQ(at_target->id, h.prepared_id(1));
}

TEST_F(session, a_write_that_fails_on_target_fails_for_the_client) {
    h.set_answer([this](int cluster, const cql::envelope_view& e) -> std::optional<std::string> {
        if (cluster == 1 && e.header.op == opcode::query) {
            cql::envelope_header eh = e.header;
            eh.response = true;
            eh.op = opcode::error;
            std::string body;
            cql::error_message::overloaded("target is overloaded").encode(body, 4);
            return cql::make_envelope(eh, body);
        }
        return h.default_answer(cluster, e);
    });
    h.client_sends(query(9, "UPDATE ks.t SET v = 'y' WHERE k = 1"));
    auto r = replies(h.client_received());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first.op, opcode::error);
    auto err = cql::error_message::decode(r[0].second, 4);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->message, "target is overloaded");
}

TEST_F(session, requests_split_at_every_byte_and_pipelined_are_each_answered) {
    std::string bytes;
    for (int16_t s = 10; s < 20; ++s) bytes += query(s, "INSERT INTO ks.t (k, v) VALUES (1, 'x')");
    for (char c : bytes) h.client_sends(std::string_view(&c, 1));
    auto r = replies(h.client_received());
    ASSERT_EQ(r.size(), 10u);
    for (int16_t s = 10; s < 20; ++s) EXPECT_EQ(r[static_cast<size_t>(s - 10)].first.stream, s);
    EXPECT_EQ(h.received(0).size(), 11u);
    EXPECT_EQ(h.received(1).size(), 11u);
}

TEST_F(session, a_request_no_cluster_answers_is_still_pending_and_others_flow) {
    h.set_answer([this](int cluster, const cql::envelope_view& e) -> std::optional<std::string> {
        if (e.header.stream >= 0 && e.header.op == opcode::query && e.body.find("never") != std::string_view::npos) return std::nullopt;
        return h.default_answer(cluster, e);
    });
    h.client_sends(query(1, "INSERT INTO ks.never (k) VALUES (1)"));
    h.client_sends(query(2, "INSERT INTO ks.t (k) VALUES (1)"));
    auto r = replies(h.client_received());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].first.stream, 2);
    EXPECT_EQ(h.p().totals()["inflight"], 1);
}

TEST_F(session, the_steady_state_request_path_allocates_nothing) {
    std::string id = prepare_insert();
    ASSERT_FALSE(id.empty());
    h.keep_history(false);
    std::string burst;
    for (int16_t s = 1; s <= 16; ++s) burst += execute(s, id);
    burst += query(17, "SELECT v FROM ks.t WHERE k = 1");
    for (int i = 0; i < 200; ++i) {  // warm-up: slots, stream ids, buffers and pools reach their size
        h.client_sends(burst);
        ASSERT_EQ(h.client_received_size(), 17u * 13u);
    }
    uint64_t before = allocations.load();
    for (int i = 0; i < 200; ++i) {
        h.client_sends(burst);
        ASSERT_EQ(h.client_received_size(), 17u * 13u);
    }
    EXPECT_EQ(allocations.load() - before, 0u) << "allocations in 3,400 requests (dual writes with a rewritten id, reads)";
}

}  // namespace
}  // namespace tandem::core

// GCC sees free() paired with operator new once these are inlined; they are a matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Every plain form of new and delete is replaced, so that under AddressSanitizer too each
// allocation and its release go through the same pair (malloc and free).
void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
