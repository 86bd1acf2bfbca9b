// cqlsim: an in-memory, multi-node CQL cluster for tests, demos and benchmarks.
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "net/worker.hh"
#include "tools/cqlsim/server.hh"

namespace {
tandem::net::worker* running = nullptr;
void on_signal(int) {
    if (running) running->stop(500);
}
}  // namespace

int main(int argc, char** argv) {
    using namespace tandem;
    CLI::App app{"cqlsim: an in-memory multi-node CQL cluster that real drivers accept.\n"
                 "Node i listens on the base address with its last octet raised by i (127.0.0.1, 127.0.0.2, ...)."};
    int nodes = 1;
    std::string address = "127.0.0.1";
    uint16_t port = 9042;
    std::string cluster_name = "cqlsim";
    std::string datacenter = "datacenter1";
    std::string version = "4.1";
    int vnodes = 16;
    std::vector<std::string> auth;
    std::string salt;
    int dead = 0;
    std::string tls_cert, tls_key, tls_ca;
    app.add_option("--nodes", nodes, "number of nodes")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--address", address, "address of the first node (IPv4)")->capture_default_str();
    app.add_option("--port", port, "native protocol port of every node (0: pick one)")->capture_default_str();
    app.add_option("--cluster-name", cluster_name, "cluster_name in system.local")->capture_default_str();
    app.add_option("--datacenter", datacenter, "data_center of every node")->capture_default_str();
    app.add_option("--cassandra-version", version,
                   "3.11 (protocol v3-v4, no peers_v2), 4.1 or 5.0 (v3-v5)")
        ->check(CLI::IsMember({"3.11", "4.1", "5.0"}))
        ->capture_default_str();
    app.add_option("--vnodes", vnodes, "tokens per node")->check(CLI::Range(1, 256))->capture_default_str();
    app.add_option("--auth", auth, "enable PasswordAuthenticator with user:password (repeatable)");
    app.add_option("--prepared-id-salt", salt,
                   "mix this text into prepared ids, so this cluster's ids differ from another's (proxy tests)");
    app.add_option("--dead-nodes", dead,
                   "the last N nodes are listed in system.peers but never listen (connections are refused)")
        ->check(CLI::Range(0, 63));
    app.add_option("--tls-cert", tls_cert, "serve TLS with this certificate chain (PEM)");
    app.add_option("--tls-key", tls_key, "the certificate's private key (PEM)");
    app.add_option("--tls-ca", tls_ca, "require client certificates signed by this CA (PEM)");
    CLI11_PARSE(app, argc, argv);
    if (tls_cert.empty() != tls_key.empty()) {
        std::fprintf(stderr, "cqlsim: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (dead >= nodes) {
        std::fprintf(stderr, "cqlsim: --dead-nodes must leave at least one live node\n");
        return 2;
    }

    cqlsim::server_config cfg;
    cfg.address = address;
    cfg.port = port;
    cfg.cluster.cluster_name = cluster_name;
    cfg.cluster.version = version;
    cfg.cluster.vnodes = vnodes;
    cfg.cluster.prepared_id_salt = salt;
    cfg.dead_nodes = dead;
    if (!tls_cert.empty()) {
        auto t = net::tls_context::make_server(tls_cert, tls_key, tls_ca, !tls_ca.empty());
        if (auto* err = std::get_if<std::string>(&t)) {
            std::fprintf(stderr, "cqlsim: %s\n", err->c_str());
            return 2;
        }
        cfg.tls = std::get<std::shared_ptr<net::tls_context>>(t);
    }
    for (auto& a : auth) {
        auto colon = a.find(':');
        if (colon == std::string::npos || colon == 0) {
            std::fprintf(stderr, "cqlsim: --auth expects user:password, got '%s'\n", a.c_str());
            return 2;
        }
        cfg.credentials.emplace_back(a.substr(0, colon), a.substr(colon + 1));
    }
    for (int i = 0; i < nodes; ++i) {
        cqlsim::node_info n;
        n.address = cqlsim::node_address(address, i);
        n.port = port;
        n.datacenter = datacenter;
        n.rack = "rack1";
        cfg.cluster.nodes.push_back(n);
    }
    cqlsim::server srv(cfg);
    net::worker w;
    running = &w;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
        w.run([&](net::worker& self) {
            srv.start(self);
            std::printf("cqlsim: cluster '%s', Cassandra %s, %d node(s), %s\n", cluster_name.c_str(),
                        srv.data().release_version().c_str(), nodes, self.features().describe().c_str());
            for (size_t i = 0; i < srv.listening().size(); ++i) {
                if (static_cast<int>(i) >= nodes - dead) {
                    std::printf("cqlsim: node %zu is dead: listed in system.peers as %s, refuses connections\n", i + 1,
                                srv.listening()[i].c_str());
                    continue;
                }
                std::printf("cqlsim: node %zu listening on %s (datacenter %s)\n", i + 1, srv.listening()[i].c_str(),
                            datacenter.c_str());
            }
            std::fflush(stdout);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqlsim: %s\n", e.what());
        return 1;
    }
    std::printf("cqlsim: stopped\n");
    return 0;
}
