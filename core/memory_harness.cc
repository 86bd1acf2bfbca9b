#include "core/memory_harness.hh"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

namespace tandem::core {

namespace {

constexpr const char* cluster_address[2] = {"127.0.1.1", "127.0.2.1"};

std::shared_ptr<const cluster_view> make_view(int cluster, uint8_t version) {
    auto v = std::make_shared<cluster_view>();
    v->name = cluster == 0 ? "origin" : "target";
    v->version = version;
    v->supported = {{"CQL_VERSION", {"3.0.0"}}, {"COMPRESSION", {"lz4", "snappy"}}};
    v->local_datacenter = "dc1";
    host_info h;
    h.address = cluster_address[cluster];
    h.datacenter = "dc1";
    h.rack = "rack1";
    h.host_id = cluster == 0 ? "00000000-0000-4000-8000-000000000001" : "00000000-0000-4000-8000-000000000002";
    v->hosts.push_back(h);
    v->connected = h.endpoint();
    return v;
}

}  // namespace

memory_harness::memory_harness(config cfg, uint8_t cluster_version) {
    _worker = std::make_unique<net::worker>();
    net::memory_transport t;
    t.sent = [this](net::connection& c, std::string_view bytes) { on_sent(c, bytes); };
    t.connected = [this](net::connection& c, const sockaddr_storage& peer) {
        char text[INET6_ADDRSTRLEN] = "";
        if (peer.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
        int cluster = std::strcmp(text, cluster_address[0]) == 0 ? 0 : 1;
        _links.push_back({&c, link{cluster, {}}});
    };
    t.closed = [this](net::connection& c) {
        std::erase_if(_links, [&](const auto& l) { return l.first == &c; });
        if (&c == _client) _client = nullptr;
    };
    _worker->start_memory(std::move(t));
    _proxy = std::make_unique<proxy>(std::move(cfg), proxy_options{});
    _proxy->start_memory(*_worker, make_view(0, cluster_version), make_view(1, cluster_version));
    _answer = [this](int cluster, const cql::envelope_view& e) { return default_answer(cluster, e); };
    cql::envelope_header h;
    h.version = cluster_version;
    h.response = true;
    h.op = cql::opcode::result;
    _void_result = cql::make_envelope(h, std::string_view("\x00\x00\x00\x01", 4));
}

memory_harness::~memory_harness() {
    close_client();
    _proxy.reset();
}

void memory_harness::open_client() {
    _client = &_proxy->open_memory_client();
    settle();
}

void memory_harness::close_client() {
    if (!_client) return;
    _client->abort();
    _client = nullptr;
    // The session closes its cluster connections as it goes.
    for (int i = 0; i < 8 && _worker->connection_count() > 0; ++i) _worker->poll();
}

void memory_harness::client_sends(std::string_view bytes) {
    if (!_client) throw std::logic_error("memory_harness: no client connection");
    _worker->deliver(*_client, bytes);
    settle();
}

std::string memory_harness::client_received() { return std::exchange(_client_bytes, {}); }

void memory_harness::settle() {
    // A request turn (the clusters answer), a reply turn; more while answers keep coming.
    for (;;) {
        _worker->poll();
        if (_replies.empty()) return;
        _delivering.swap(_replies);
        for (auto& reply : _delivering) {
            net::connection* c = reply.first;
            // Only to a link still open (a closed one has left _links).
            if (std::any_of(_links.begin(), _links.end(), [c](const auto& l) { return l.first == c; })) _worker->deliver(*c, reply.second);
        }
        _delivering.clear();
    }
}

void memory_harness::on_sent(net::connection& c, std::string_view bytes) {
    if (&c == _client) {
        _client_bytes.append(bytes);
        return;
    }
    for (auto& [lc, l] : _links) {
        if (lc != &c) continue;
        std::string_view in = bytes;
        if (!l.pending.empty()) {
            l.pending.append(bytes);
            in = l.pending;
        }
        cql::header_limits limits;
        limits.expect = cql::header_limits::direction::requests;
        size_t used = 0;
        for (;;) {
            auto sp = cql::split_envelope(in.substr(used), limits);
            if (sp.status != cql::parse_status::ok) break;
            used += sp.consumed;
            if (_history) {
                _received[l.cluster].push_back(sp.envelope.header.op);
                _last_body[l.cluster].assign(sp.envelope.body);
            }
            if (auto reply = _answer(l.cluster, sp.envelope)) _replies.emplace_back(&c, std::move(*reply));
        }
        l.pending = std::string(in.substr(used));
        return;
    }
}

std::optional<std::string> memory_harness::default_answer(int cluster, const cql::envelope_view& request) {
    cql::envelope_header h;
    h.version = request.header.version;
    h.response = true;
    h.stream = request.header.stream;
    std::string body;
    switch (request.header.op) {
        case cql::opcode::query:
        case cql::opcode::execute:
        case cql::opcode::batch: {
            std::string reply = _void_result;
            reply[0] = static_cast<char>(0x80 | request.header.version);
            reply[2] = static_cast<char>(static_cast<uint16_t>(request.header.stream) >> 8);
            reply[3] = static_cast<char>(request.header.stream & 0xFF);
            return reply;
        }
        case cql::opcode::options: {
            cql::supported_message m;
            m.options = {{"CQL_VERSION", {"3.0.0"}}, {"COMPRESSION", {"lz4", "snappy"}}};
            m.encode(body);
            h.op = cql::opcode::supported;
            break;
        }
        case cql::opcode::startup:
        case cql::opcode::register_:
            h.op = cql::opcode::ready;
            break;
        case cql::opcode::prepare: {
            // An id per statement and per cluster, so target's differs from origin's.
            auto m = cql::prepare_message::decode(request.body, request.header.version);
            std::string text = m ? std::string(m->query) : std::string();
            uint64_t hash = std::hash<std::string>{}(text);
            std::string id(16, cluster == 0 ? 'O' : 'T');
            std::memcpy(id.data() + 8, &hash, 8);
            _prepared_id[cluster] = id;
            cql::result_message r;
            r.kind = cql::result_kind::prepared;
            r.prepared_id = id;
            r.result_metadata.no_metadata = true;
            r.encode(body, request.header.version);
            h.op = cql::opcode::result;
            break;
        }
        default:
            return std::nullopt;
    }
    return cql::make_envelope(h, body);
}

}  // namespace tandem::core
