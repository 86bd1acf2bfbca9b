// The CQL client library (core/client/) against cqlsim, in process: discovery, the token ring,
// token-aware routing, prepared statements on every node, paging, version negotiation,
// authentication, compression.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <set>
#include <thread>

#include "core/client/blocking.hh"
#include "cql/murmur3.hh"
#include "tests/support/deny_io_uring.hh"
#include "tools/cqlsim/server.hh"

namespace tandem::core::client {
namespace {

// A port free on 127.0.0.1 right now: every node of a simulated cluster listens on it, each on
// its own loopback address, as real nodes share one port.
uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// cqlsim on its own worker thread.
class sim {
public:
    explicit sim(int nodes, std::string version = "4.1", std::vector<std::pair<std::string, std::string>> creds = {}) {
        cqlsim::server_config cfg;
        cfg.port = free_port();
        cfg.credentials = std::move(creds);
        cfg.cluster.version = std::move(version);
        for (int i = 0; i < nodes; ++i) {
            cqlsim::node_info n;
            n.address = cqlsim::node_address("127.0.0.1", i);
            n.port = cfg.port;
            cfg.cluster.nodes.push_back(n);
        }
        port = cfg.port;
        _srv = std::make_unique<cqlsim::server>(cfg);
        std::promise<std::string> up;
        auto f = up.get_future();
        _thread = std::thread([this, &up] {
            try {
                _w.run([&](net::worker& self) {
                    _srv->start(self);
                    up.set_value({});
                });
            } catch (const std::exception& e) {
                up.set_value(e.what());
            }
        });
        std::string err = f.get();
        if (!err.empty()) throw std::runtime_error(err);
    }
    ~sim() {
        _w.stop(100);
        _thread.join();
    }
    // The node (index) that owns `token`, from cqlsim's own token assignment.
    std::string owner_address(int64_t token) const {
        std::vector<std::pair<int64_t, std::string>> ring;
        for (const auto& n : _srv->data().config().nodes) {
            for (auto t : n.tokens) ring.emplace_back(t, n.address);
        }
        std::sort(ring.begin(), ring.end());
        for (const auto& [t, a] : ring) {
            if (t >= token) return a;
        }
        return ring.front().second;
    }
    uint16_t port;

private:
    net::worker _w;
    std::unique_ptr<cqlsim::server> _srv;
    std::thread _thread;
};

cluster_options options_for(const sim& s, int per_node = 1) {
    cluster_options o;
    o.host = "127.0.0.1";
    o.port = s.port;
    o.connections_per_node = per_node;
    return o;
}

std::string bigint(int64_t v) {
    std::string b(8, '\0');
    cql::store_be64(b.data(), static_cast<uint64_t>(v));
    return b;
}

TEST(token_ring, a_node_owns_the_range_ending_at_its_token) {
    token_ring r;
    r.add(0, -100);
    r.add(1, 0);
    r.add(2, 100);
    r.add(1, 200);
    r.build();
    EXPECT_EQ(r.owner(-100), 0u);  // a token is owned by the node that has it
    EXPECT_EQ(r.owner(-99), 1u);
    EXPECT_EQ(r.owner(0), 1u);
    EXPECT_EQ(r.owner(1), 2u);
    EXPECT_EQ(r.owner(150), 1u);
    EXPECT_EQ(r.owner(201), 0u);  // past the last token: wraps to the first
    EXPECT_EQ(r.owner(INT64_MIN), 0u);
    // The distinct nodes after the owner, in ring order.
    EXPECT_EQ(r.nth_after(1, 0), 2u);
    EXPECT_EQ(r.nth_after(1, 1), 1u);
    EXPECT_EQ(r.nth_after(1, 2), 0u);
    EXPECT_EQ(r.nth_after(150, 1), 0u);
}

TEST(token_ring, tokens_cells) {
    token_ring r;
    std::string cell;
    auto add = [&](std::string_view s) {
        char len[4];
        cql::store_be32(len, static_cast<uint32_t>(s.size()));
        cell.append(len, 4);
        cell.append(s);
    };
    char count[4];
    cql::store_be32(count, 2);
    cell.append(count, 4);
    add("-5");
    add("7");
    EXPECT_TRUE(r.add_cell(3, cell));
    r.build();
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(r.owner(0), 3u);
    EXPECT_FALSE(r.add_cell(4, std::string_view("\0\0\0\5", 4))) << "a count past the cell's end is malformed";
    EXPECT_FALSE(text_collection(std::string_view("\0\0", 2)));
}

TEST(client, a_session_whose_worker_cannot_start_answers_why_instead_of_ending_the_program) {
    // Before: the worker thread's exception ended the process (std::terminate), so
    // tandem-migrate aborted where io_uring is refused.
    EXPECT_EXIT(
        {
            if (!tandem::testing::deny_io_uring(EPERM)) std::_Exit(3);
            cluster_options o;
            o.port = 1;
            blocking_session c(o, 2000);
            const auto err = c.connect();
            std::string perr;
            const bool prepared = c.prepare("SELECT * FROM system.local", perr) != nullptr;
            const auto q = c.query("SELECT * FROM system.local");
            std::fprintf(stderr, "connect: %s; prepare %d: %s; query: %s\n", err.c_str(), prepared, perr.c_str(), q.error.c_str());
            std::_Exit(err.empty() || prepared || q.ok() ? 4 : 0);
        },
        ::testing::ExitedWithCode(0),
        "connect: cannot set up io_uring: Operation not permitted: .*; prepare 0: cannot set up io_uring: .*; query: cannot set up io_uring");
}

TEST(client, discovers_every_node_and_routes_each_key_to_its_owner) {
    sim s(3);
    blocking_session c(options_for(s, 2));
    ASSERT_EQ(c.connect(), "");
    ASSERT_EQ(c.view().nodes().size(), 3u);
    EXPECT_EQ(c.view().connection_count(), 6u);
    EXPECT_FALSE(c.view().ring().empty());
    std::set<std::string> addresses;
    for (const auto& n : c.view().nodes()) addresses.insert(n.address);
    EXPECT_EQ(addresses, (std::set<std::string>{"127.0.0.1", "127.0.0.2", "127.0.0.3"}));
    // Token-aware: the connection picked for a key is on the node cqlsim says owns it.
    auto& cl = const_cast<cluster&>(c.view());
    for (int64_t k = 0; k < 200; ++k) {
        std::string key = bigint(k);
        connection* conn = cl.pick(key);
        ASSERT_NE(conn, nullptr);
        std::string owner = s.owner_address(cql::murmur3_token(key));
        EXPECT_EQ(conn->endpoint(), owner + ":" + std::to_string(s.port)) << "key " << k;
    }
    // By token (a token range's reads): the owner of the token.
    for (int64_t token : {INT64_MIN + 1, int64_t{-42}, int64_t{0}, int64_t{1} << 40, INT64_MAX}) {
        connection* conn = cl.pick_token(token);
        ASSERT_NE(conn, nullptr);
        EXPECT_EQ(conn->endpoint(), s.owner_address(token) + ":" + std::to_string(s.port)) << "token " << token;
    }
}

TEST(client, prepares_on_every_node_and_pages_through_every_row) {
    sim s(3);
    blocking_session c(options_for(s));
    ASSERT_EQ(c.connect(), "");
    ASSERT_TRUE(c.query("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").ok());
    ASSERT_TRUE(c.query("CREATE TABLE ks.kv (k bigint PRIMARY KEY, v text)").ok());
    std::string err;
    auto ins = c.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)", err);
    ASSERT_TRUE(ins) << err;
    ASSERT_EQ(ins->metadata.pk_indexes, std::vector<uint16_t>{0});
    for (int64_t k = 0; k < 250; ++k) {
        auto r = c.execute(*ins, {bigint(k), "value " + std::to_string(k)});
        ASSERT_TRUE(r.ok()) << r.error;
    }
    auto all = c.query("SELECT k, v FROM ks.kv", {}, cql::consistency::one, 100);  // three pages
    ASSERT_TRUE(all.ok()) << all.error;
    ASSERT_EQ(all.rows.columns.size(), 2u);
    std::set<int64_t> keys;
    for (const auto& row : all.rows.rows) {
        ASSERT_TRUE(row[0]);
        keys.insert(static_cast<int64_t>(cql::load_be64(row[0]->data())));
    }
    EXPECT_EQ(keys.size(), 250u);
    auto bad = c.query("SELECT * FROM ks.missing");
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.error.find("missing"), std::string::npos) << bad.error;
}

TEST(client, negotiates_the_version_down_and_compresses) {
    sim s(1, "3.11");  // speaks v3 and v4 only
    for (auto comp : {cql::compression::none, cql::compression::lz4, cql::compression::snappy}) {
        auto o = options_for(s);
        o.connection.max_version = 5;
        o.connection.compression = comp;
        blocking_session c(o);
        ASSERT_EQ(c.connect(), "");
        EXPECT_EQ(c.view().version(), 4);
        auto r = c.query("SELECT cluster_name FROM system.local");
        ASSERT_TRUE(r.ok()) << r.error;
        ASSERT_EQ(r.rows.rows.size(), 1u);
    }
    sim s5(1, "4.1");
    for (auto comp : {cql::compression::none, cql::compression::lz4}) {
        auto o = options_for(s5);
        o.connection.compression = comp;
        blocking_session c(o);
        ASSERT_EQ(c.connect(), "");
        EXPECT_EQ(c.view().version(), 5);  // v5 frames, lz4 or plain
        auto r = c.query("SELECT cluster_name FROM system.local");
        ASSERT_TRUE(r.ok()) << r.error;
    }
}

TEST(client, logs_in_and_says_why_not) {
    sim s(1, "4.1", {{"app", "secret"}});
    {
        auto o = options_for(s);
        blocking_session c(o);
        std::string err = c.connect();
        EXPECT_NE(err.find("requires authentication"), std::string::npos) << err;
    }
    {
        auto o = options_for(s);
        o.connection.username = "app";
        o.connection.password = "wrong";
        blocking_session c(o);
        std::string err = c.connect();
        EXPECT_NE(err.find("username 'app'"), std::string::npos) << err;
    }
    auto o = options_for(s);
    o.connection.username = "app";
    o.connection.password = "secret";
    blocking_session c(o);
    ASSERT_EQ(c.connect(), "");
    EXPECT_TRUE(c.query("SELECT cluster_name FROM system.local").ok());
}

TEST(client, an_unreachable_contact_point_is_named) {
    cluster_options o;
    o.host = "127.0.0.1";
    o.port = free_port();
    o.connection.connect_timeout_ms = 500;
    blocking_session c(o);
    std::string err = c.connect();
    EXPECT_NE(err.find("127.0.0.1:" + std::to_string(o.port)), std::string::npos) << err;
}

}  // namespace
}  // namespace tandem::core::client
