#include "core/control.hh"

#include "core/wire.hh"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>

#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/event.hh"
#include "cql/framing.hh"
#include "cql/query.hh"
#include "cql/startup.hh"
#include "cql/values.hh"

#include <openssl/err.h>

namespace tandem::core {

// ---------------------------------------------------------------------------------------------
// topology.hh helpers

const std::optional<std::string>* system_row::cell(std::string_view name) const {
    for (size_t i = 0; i < columns.size() && i < cells.size(); ++i) {
        if (columns[i].name == name) return &cells[i];
    }
    return nullptr;
}

const cql::column_spec* system_row::spec(std::string_view name) const {
    for (const auto& c : columns) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

std::optional<std::string> system_row::text(std::string_view name) const {
    auto* c = cell(name);
    if (!c || !*c) return std::nullopt;
    return **c;
}

const std::vector<std::string>* cluster_view::option(std::string_view key) const {
    for (const auto& [k, v] : supported) {
        if (k == key) return &v;
    }
    return nullptr;
}

uint8_t next_lower_version(uint8_t v) {
    switch (v) {
        case cql::protocol_version::dse_v2: return cql::protocol_version::dse_v1;
        case cql::protocol_version::dse_v1: return cql::protocol_version::v5;
        case cql::protocol_version::v5: return cql::protocol_version::v4;
        case cql::protocol_version::v4: return cql::protocol_version::v3;
        case cql::protocol_version::v3: return cql::protocol_version::v2;
        default: return 0;
    }
}

uint8_t parse_version_name(std::string_view name) {
    std::string n;
    for (char c : name) {
        if (c != '_') n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (n == "2" || n == "v2") return 2;
    if (n == "3" || n == "v3") return 3;
    if (n == "4" || n == "v4") return 4;
    if (n == "5" || n == "v5") return 5;
    if (n == "dsev1") return cql::protocol_version::dse_v1;
    if (n == "dsev2") return cql::protocol_version::dse_v2;
    return 0;
}

int version_rank(uint8_t v) {
    // ZDM compares DSE versions numerically against 2..5 (R2.2): 0x41/0x42 rank above v5.
    return v;
}

namespace {

using cql::envelope_header;
using cql::opcode;

std::string uuid_text(std::string_view b) {
    if (b.size() != 16) return {};
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
        s.push_back(hex[static_cast<uint8_t>(b[i]) >> 4]);
        s.push_back(hex[static_cast<uint8_t>(b[i]) & 15]);
    }
    return s;
}

std::string inet_text(const std::optional<std::string>& cell) {
    if (!cell || (cell->size() != 4 && cell->size() != 16)) return {};
    cql::inet_address a;
    a.size = static_cast<uint8_t>(cell->size());
    std::memcpy(a.bytes.data(), cell->data(), cell->size());
    return a.to_string();
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A blocking CQL connection: one request at a time, events queued aside.
class sync_connection {
    int _fd = -1;
    int _wake;
    uint8_t _version;
    core::envelope_reader _reader{response_limits()};  // unframed, then v5 frames after READY
    int16_t _next_stream = 1;

public:
    struct envelope {
        envelope_header header;
        std::string body;
    };
    std::deque<envelope> events;
    std::string endpoint;

    sync_connection(int wake, uint8_t version, const net::tls_context* tls) : _wake(wake), _version(version), _tls(tls) {}
    ~sync_connection() {
        if (_ssl) SSL_free(_ssl);
        if (_fd >= 0) ::close(_fd);
    }
    int fd() const { return _fd; }
    uint8_t version() const { return _version; }

    std::string open(const std::string& host, uint16_t port, int64_t timeout_ms, const std::string& server_name = {}) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        std::string service = std::to_string(port);
        int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
        if (rc != 0) return "cannot resolve " + host + ": " + gai_strerror(rc);
        std::string err = "no address for " + host;
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            int r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
            if (r < 0 && errno == EINPROGRESS) {
                pollfd p{fd, POLLOUT, 0};
                r = ::poll(&p, 1, static_cast<int>(timeout_ms));
                if (r == 0) {
                    err = "connect to " + host + ":" + service + " timed out after " + std::to_string(timeout_ms) + " ms";
                    ::close(fd);
                    continue;
                }
                int so = 0;
                socklen_t len = sizeof so;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
                if (so != 0) {
                    err = "connect to " + host + ":" + service + ": " + std::strerror(so);
                    ::close(fd);
                    continue;
                }
                r = 0;
            }
            if (r < 0) {
                err = "connect to " + host + ":" + service + ": " + std::strerror(errno);
                ::close(fd);
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            _fd = fd;
            endpoint = host + ":" + service;
            freeaddrinfo(res);
            if (!server_name.empty()) endpoint = server_name;
            if (_tls) return tls_handshake(timeout_ms, server_name);
            return {};
        }
        freeaddrinfo(res);
        return err;
    }

    // TLS on the non-blocking socket: SSL_connect until done, waiting with poll (R1.26).
    std::string tls_handshake(int64_t timeout_ms, const std::string& server_name) {
        _ssl = SSL_new(_tls->get());
        if (!server_name.empty()) SSL_ctrl(_ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(server_name.c_str()));
        SSL_set_fd(_ssl, _fd);
        int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
            int r = SSL_connect(_ssl);
            if (r == 1) return {};
            int e = SSL_get_error(_ssl, r);
            if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now_ms() > deadline) {
                unsigned long code = ERR_get_error();
                char buf[256] = "timed out";
                if (code) ERR_error_string_n(code, buf, sizeof buf);
                ERR_clear_error();
                return "TLS handshake with " + endpoint + " failed: " + buf;
            }
            pollfd p{_fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
            ::poll(&p, 1, 100);
        }
    }


    std::string send(opcode op, std::string_view body, int16_t stream) {
        envelope_header h;
        h.version = _version;
        h.op = op;
        h.stream = stream;
        std::string env = cql::make_envelope(h, body);
        std::string wire;
        if (_reader.framed()) {
            cql::frame_encoder enc(false);
            enc.add_envelope(env, wire);
            enc.flush(wire);
        } else {
            wire = std::move(env);
        }
        size_t at = 0;
        while (at < wire.size()) {
            if (_ssl) {
                int n = SSL_write(_ssl, wire.data() + at, static_cast<int>(wire.size() - at));
                if (n > 0) {
                    at += static_cast<size_t>(n);
                    continue;
                }
                int e = SSL_get_error(_ssl, n);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return "TLS write to " + endpoint + " failed";
                pollfd p{_fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            ssize_t n = ::send(_fd, wire.data() + at, wire.size() - at, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN) {
                pollfd p{_fd, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            if (n <= 0) return std::string("send to ") + endpoint + ": " + std::strerror(errno);
            at += static_cast<size_t>(n);
        }
        return {};
    }

    // Reads one envelope; nullopt with `err` set on error, timeout or wake-up.
    std::optional<envelope> read(int64_t timeout_ms, std::string& err) {
        int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
            if (auto e = take()) return e;
            if (!err.empty()) return std::nullopt;
            int64_t left = deadline - now_ms();
            if (left <= 0) {
                err = "no reply from " + endpoint + " within " + std::to_string(timeout_ms) + " ms";
                return std::nullopt;
            }
            if (_ssl && SSL_pending(_ssl) > 0) {
                char buf[16384];
                int n = SSL_read(_ssl, buf, sizeof buf);
                if (n > 0) err = ingest(std::string_view(buf, static_cast<size_t>(n)));
                continue;
            }
            pollfd p[2] = {{_fd, POLLIN, 0}, {_wake, POLLIN, 0}};
            int r = ::poll(p, 2, static_cast<int>(left));
            if (r < 0 && errno != EINTR) {
                err = std::strerror(errno);
                return std::nullopt;
            }
            if (p[1].revents) {
                err = "stopping";
                return std::nullopt;
            }
            if (p[0].revents && _ssl) {
                char buf[16384];
                int n = SSL_read(_ssl, buf, sizeof buf);
                if (n > 0) {
                    err = ingest(std::string_view(buf, static_cast<size_t>(n)));
                } else {
                    int e = SSL_get_error(_ssl, n);
                    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                        err = endpoint + " closed the connection (TLS)";
                        return std::nullopt;
                    }
                }
                continue;
            }
            if (p[0].revents) {
                char buf[16384];
                ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
                if (n == 0) {
                    err = endpoint + " closed the connection";
                    return std::nullopt;
                }
                if (n < 0) {
                    if (errno == EAGAIN || errno == EINTR) continue;
                    err = "recv from " + endpoint + ": " + std::strerror(errno);
                    return std::nullopt;
                }
                err = ingest(std::string_view(buf, static_cast<size_t>(n)));
            }
        }
    }

    // Sends a request and waits for its reply, queueing events that arrive meanwhile.
    std::optional<envelope> request(opcode op, std::string_view body, int64_t timeout_ms, std::string& err) {
        int16_t stream = _next_stream;
        _next_stream = static_cast<int16_t>(_next_stream % 30000 + 1);
        err = send(op, body, stream);
        if (!err.empty()) return std::nullopt;
        int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
            auto e = read(std::max<int64_t>(1, deadline - now_ms()), err);
            if (!e) return std::nullopt;
            if (e->header.op == opcode::event) {
                events.push_back(std::move(*e));
                continue;
            }
            if (e->header.stream != stream) continue;  // a late reply to an earlier request
            return e;
        }
    }

private:
    const net::tls_context* _tls;
    SSL* _ssl = nullptr;
    std::deque<envelope> _ready;

    std::optional<envelope> take() {
        if (_ready.empty()) return std::nullopt;
        auto e = std::move(_ready.front());
        _ready.pop_front();
        return e;
    }

    // Received bytes become envelopes in _ready; v5 framing starts after READY or AUTHENTICATE
    // (v5.spec §2.3.1). Returns an error text when the stream cannot be read any more.
    std::string ingest(std::string_view bytes) {
        auto out = _reader.feed_bytes(bytes, [&](core::inbound_envelope&& e) {
            _ready.push_back({e.header, std::string(e.body)});
            if ((e.header.op == opcode::ready || e.header.op == opcode::authenticate) &&
                cql::effective_version(_version) == cql::protocol_version::v5) {
                _reader.start_framing(false);
            }
            return true;
        });
        if (out.ok) return {};
        if (out.problem == cql::envelope_problem::unknown_version) {
            return "reply in an unknown protocol version " + std::to_string(out.raw_version & 0x7F);
        }
        return "malformed reply from " + endpoint + ": " +
               (out.reason.empty() ? std::string(cql::to_string(out.problem)) : std::string(out.reason));
    }
};

// The message of an ERROR body, or empty.
std::optional<cql::error_message> as_error(const sync_connection::envelope& e, uint8_t version) {
    if (e.header.op != opcode::error) return std::nullopt;
    auto m = cql::error_message::decode(e.body, version);
    if (!m) return cql::error_message::server("undecodable error");
    return *m;
}

std::optional<std::vector<system_row>> query_rows(sync_connection& c, const std::string& cql_text, int64_t timeout_ms,
                                                  std::string& err, std::vector<cql::column_spec>* columns_out) {
    cql::query_message q;
    q.query = cql_text;
    q.params.cl = cql::consistency::one;
    std::string body;
    q.encode(body, c.version());
    auto reply = c.request(opcode::query, body, timeout_ms, err);
    if (!reply) return std::nullopt;
    if (auto e = as_error(*reply, c.version())) {
        err = cql_text + ": " + e->message;
        return std::nullopt;
    }
    auto r = cql::result_message::decode(reply->body, cql::effective_version(c.version()));
    if (!r || r->kind != cql::result_kind::rows) {
        err = cql_text + ": unexpected reply";
        return std::nullopt;
    }
    auto rows = r->rows();
    if (!rows) {
        err = cql_text + ": " + std::string(rows.error());
        return std::nullopt;
    }
    if (columns_out) *columns_out = r->metadata.columns;
    std::vector<system_row> out;
    for (auto& row : *rows) {
        system_row sr;
        sr.columns = r->metadata.columns;
        for (auto& cell : row) sr.cells.push_back(cell ? std::optional<std::string>(std::string(*cell)) : std::nullopt);
        out.push_back(std::move(sr));
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

control_connection::control_connection(control_settings s, log_fn log) : _s(std::move(s)), _log(std::move(log)) {
    if (::pipe2(_wake, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
}

control_connection::~control_connection() {
    stop();
    ::close(_wake[0]);
    ::close(_wake[1]);
}

void control_connection::start() { _thread = std::thread([this] { run(); }); }

void control_connection::stop() {
    if (!_stop.exchange(true)) {
        char b = 1;
        (void)!::write(_wake[1], &b, 1);
        _ready_cv.notify_all();
    }
    if (_thread.joinable()) _thread.join();
}

std::shared_ptr<const cluster_view> control_connection::view() const {
    std::lock_guard g(_lock);
    return _view;
}

std::string control_connection::last_error() const {
    std::lock_guard g(_lock);
    return _last_error;
}

bool control_connection::wait_ready(int64_t timeout_ms) {
    std::unique_lock g(_lock);
    _ready_cv.wait_for(g, std::chrono::milliseconds(timeout_ms), [&] { return _view != nullptr || _stop.load(); });
    return _view != nullptr;
}

void control_connection::publish(std::shared_ptr<const cluster_view> v) {
    {
        std::lock_guard g(_lock);
        _view = std::move(v);
    }
    _ready_cv.notify_all();
}

void control_connection::sleep_ms(int64_t ms) {
    pollfd p{_wake[0], POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(ms));
}

void control_connection::run() {
    std::mt19937_64 rng(std::random_device{}());
    double backoff = static_cast<double>(_s.retry_min_ms);
    while (!_stop.load()) {
        bool was_up = connect_and_serve();
        if (_stop.load()) break;
        _failures.fetch_add(1, std::memory_order_relaxed);
        if (was_up) backoff = static_cast<double>(_s.retry_min_ms);
        // Exponential backoff with jitter (R1.14).
        std::uniform_real_distribution<double> jitter(0.5, 1.0);
        int64_t wait = static_cast<int64_t>(backoff * jitter(rng));
        _log(2, _s.name + " control connection: " + last_error() + "; retrying in " + std::to_string(wait) + " ms");
        sleep_ms(wait);
        backoff = std::min(backoff * _s.retry_factor, static_cast<double>(_s.retry_max_ms));
    }
}

// Opens a control connection, serves it until it fails. Returns true when it had been up.
bool control_connection::connect_and_serve() {
    auto fail = [&](const std::string& why) {
        std::lock_guard g(_lock);
        _last_error = why;
    };
    // Endpoints: known hosts of the local DC first after a working connection was lost, then
    // the contact points, each list from a random start (R1.7).
    struct target {
        std::string host;
        uint16_t port;
        std::string server_name;  // an Astra node's host id, else empty
    };
    std::vector<target> endpoints;
    std::mt19937 rng(std::random_device{}());
    if (auto v = view()) {
        size_t start = v->hosts.empty() ? 0 : rng() % v->hosts.size();
        for (size_t i = 0; i < v->hosts.size(); ++i) {
            const auto& h = v->hosts[(start + i) % v->hosts.size()];
            endpoints.push_back({h.address, h.port, h.server_name});
        }
    }
    if (_s.sni) {
        const auto& ids = _s.sni->host_ids;
        size_t start = ids.empty() ? 0 : rng() % ids.size();
        for (size_t i = 0; i < ids.size(); ++i) endpoints.push_back({_s.sni->host, _s.sni->port, ids[(start + i) % ids.size()]});
    } else {
        const auto& cps = _s.cluster.contact_points;
        size_t start = cps.empty() ? 0 : rng() % cps.size();
        for (size_t i = 0; i < cps.size(); ++i) {
            endpoints.push_back({cps[(start + i) % cps.size()], static_cast<uint16_t>(_s.cluster.port), {}});
        }
    }
    if (endpoints.empty()) {
        fail("no contact points");
        return false;
    }
    const int64_t timeout = _s.request_timeout_ms;
    std::string err;
    for (auto& [host, port, server_name] : endpoints) {
        if (_stop.load()) return false;
        auto view = std::make_shared<cluster_view>();
        view->name = _s.name;
        std::unique_ptr<sync_connection> conn;
        // Protocol negotiation (R1.8): from the configured maximum down, a new connection per try.
        uint8_t version = _s.max_version;
        bool handshook = false;
        while (version != 0 && !_stop.load()) {
            conn = std::make_unique<sync_connection>(_wake[0], version, _s.tls.get());
            err = conn->open(host, port, std::min<int64_t>(_s.cluster.connection_timeout_ms, 5000), server_name);
            if (!err.empty()) break;
            auto sup = conn->request(opcode::options, "", timeout, err);
            if (!sup) {
                // Some servers close the connection on a version they do not speak.
                if (err.find("closed") != std::string::npos || err.find("unknown protocol version") != std::string::npos ||
                    err.find("malformed") != std::string::npos) {
                    version = next_lower_version(version);
                    err.clear();
                    continue;
                }
                break;
            }
            if (auto e = as_error(*sup, version)) {
                if (e->code == cql::error_code::protocol_error) {
                    version = next_lower_version(version);
                    continue;
                }
                err = "OPTIONS: " + e->message;
                break;
            }
            if (auto s = cql::supported_message::decode(sup->body)) {
                view->supported.clear();
                for (auto& [k, vals] : s->options) {
                    std::vector<std::string> vs(vals.begin(), vals.end());
                    view->supported.emplace_back(std::string(k), std::move(vs));
                }
            }
            cql::startup_message st;
            st.options = {{"CQL_VERSION", "3.0.0"}};
            std::string body;
            st.encode(body);
            auto rep = conn->request(opcode::startup, body, timeout, err);
            if (!rep) break;
            if (auto e = as_error(*rep, version)) {
                if (e->code == cql::error_code::protocol_error) {
                    version = next_lower_version(version);
                    continue;
                }
                err = "STARTUP: " + e->message;
                break;
            }
            if (rep->header.op == opcode::authenticate) {
                view->auth_enabled = true;
                auto a = cql::authenticate_message::decode(rep->body);
                view->authenticator = a ? std::string(a->authenticator) : "";
                if (_s.cluster.username.empty()) {
                    err = _s.name + " requires authentication (" + view->authenticator + ") but " + _s.name +
                          "_username is not set";
                    break;
                }
                bool dse = view->authenticator == "com.datastax.bdp.cassandra.auth.DseAuthenticator";
                if (dse) {
                    cql::auth_token_message plain{std::string_view("PLAIN")};
                    std::string b;
                    plain.encode(b);
                    auto ch = conn->request(opcode::auth_response, b, timeout, err);
                    if (!ch) break;
                    if (ch->header.op != opcode::auth_challenge) {
                        err = "DSE authentication: expected AUTH_CHALLENGE";
                        break;
                    }
                }
                std::string token = cql::plain_sasl_token(_s.cluster.username, _s.cluster.password);
                cql::auth_token_message m{std::string_view(token)};
                std::string b;
                m.encode(b);
                auto ok = conn->request(opcode::auth_response, b, timeout, err);
                if (!ok) break;
                if (auto e = as_error(*ok, version)) {
                    err = "authentication with " + _s.name + "_username '" + _s.cluster.username + "' failed: " + e->message;
                    break;
                }
                if (ok->header.op != opcode::auth_success) {
                    err = "authentication: unexpected " + std::string(cql::to_string(ok->header.op));
                    break;
                }
            } else if (rep->header.op != opcode::ready) {
                err = "STARTUP: unexpected " + std::string(cql::to_string(rep->header.op));
                break;
            }
            handshook = true;
            break;
        }
        if (!handshook) {
            std::string where = host + ":" + std::to_string(port) + (server_name.empty() ? "" : " (SNI " + server_name + ")");
            if (err.empty()) err = "no protocol version accepted by " + where;
            _log(1, _s.name + " control connection to " + where + ": " + err);
            continue;
        }
        view->version = version;
        view->connected = conn->endpoint;
        if (!view->auth_enabled) _log(2, _s.name + " cluster does not require authentication");
        // Events: topology (as ZDM), status and schema (tandem: nodes marked down, schema_version).
        cql::register_message reg;
        reg.event_types = {"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"};
        std::string rb;
        reg.encode(rb);
        auto rr = conn->request(opcode::register_, rb, timeout, err);
        if (!rr || rr->header.op != opcode::ready) {
            if (err.empty()) err = "REGISTER refused";
            _log(1, _s.name + " control connection to " + conn->endpoint + ": " + err);
            continue;
        }

        std::string sticky_dc;
        auto refresh = [&](cluster_view& v) -> bool {
            auto local = query_rows(*conn, "SELECT * FROM system.local", timeout, err, nullptr);
            if (!local) return false;
            if (local->empty()) {
                err = "system.local returned no row";
                return false;
            }
            std::vector<cql::column_spec> peer_cols;
            auto peers = query_rows(*conn, "SELECT * FROM system.peers", timeout, err, &peer_cols);
            if (!peers) return false;
            v.local = (*local)[0];
            v.peers_columns = peer_cols;
            v.peers_had_rows = !peers->empty();
            auto partitioner = v.local.text("partitioner").value_or("");
            if (!partitioner.empty() && partitioner.find("Murmur3Partitioner") == std::string::npos &&
                partitioner.find("RandomPartitioner") == std::string::npos) {
                err = "unsupported partitioner " + partitioner;
                return false;
            }
            std::vector<host_info> all;
            auto make = [&](const system_row& row, bool is_local) -> std::optional<host_info> {
                host_info h;
                h.port = static_cast<uint16_t>(_s.cluster.port);
                h.row = row;
                h.address = inet_text(row.cell("rpc_address") ? *row.cell("rpc_address") : std::nullopt);
                if (h.address.empty() || h.address == "0.0.0.0" || h.address == "::") {
                    auto* alt = row.cell(is_local ? "broadcast_address" : "peer");
                    h.address = alt ? inet_text(*alt) : "";
                }
                if (h.address.empty() && is_local) {
                    h.address = conn->endpoint.substr(0, conn->endpoint.rfind(':'));
                }
                h.datacenter = row.text("data_center").value_or("");
                h.rack = row.text("rack").value_or("");
                auto hid = row.cell("host_id");
                h.host_id = hid && *hid ? uuid_text(**hid) : "";
                if (_s.sni) {  // R1.25: every node is reached through the SNI proxy by its host id
                    h.address = _s.sni->host;
                    h.port = _s.sni->port;
                    h.server_name = h.host_id;
                }
                if (h.address.empty() || h.datacenter.empty() || h.rack.empty() || h.host_id.empty()) return std::nullopt;
                return h;
            };
            auto lh = make(v.local, true);
            if (!lh) {
                err = "system.local lacks rpc_address, data_center, rack or host_id";
                return false;
            }
            all.push_back(*lh);
            for (auto& p : *peers) {
                auto h = make(p, false);
                if (!h) {
                    _log(2, _s.name + ": skipping a system.peers row without address, data_center, rack or host_id");
                    continue;
                }
                if (h->host_id == lh->host_id) continue;  // the local row wins
                all.push_back(*h);
            }
            // Local datacenter (R1.12): sticky, else configured, else the connected node's.
            std::string dc = sticky_dc;
            if (dc.empty() && !_s.cluster.local_datacenter.empty()) {
                if (std::any_of(all.begin(), all.end(), [&](auto& h) { return h.datacenter == _s.cluster.local_datacenter; })) {
                    dc = _s.cluster.local_datacenter;
                } else {
                    _log(2, _s.name + ": no node in " + _s.name + "_local_datacenter '" + _s.cluster.local_datacenter +
                                "'; using the contact point's datacenter '" + lh->datacenter + "'");
                }
            }
            if (dc.empty()) dc = lh->datacenter;
            v.hosts.clear();
            for (auto& h : all) {
                if (h.datacenter == dc) v.hosts.push_back(h);
            }
            if (v.hosts.empty()) {
                err = "no node left in datacenter " + dc;
                return false;
            }
            std::sort(v.hosts.begin(), v.hosts.end(),
                      [](const host_info& a, const host_info& b) { return std::tie(a.rack, a.host_id) < std::tie(b.rack, b.host_id); });
            // Keep down marks across refreshes.
            if (auto old = this->view(); old && old->name == v.name) {
                for (auto& h : v.hosts) {
                    for (auto& o : old->hosts) {
                        if (o.host_id == h.host_id) h.up = o.up;
                    }
                }
            }
            sticky_dc = dc;
            v.local_datacenter = dc;
            v.refreshed_at_ms = static_cast<uint64_t>(now_ms());
            return true;
        };
        if (!refresh(*view)) {
            _log(1, _s.name + " control connection to " + conn->endpoint + ": topology refresh failed: " + err);
            continue;
        }
        std::string hosts;
        for (auto& h : view->hosts) hosts += (hosts.empty() ? "" : ", ") + h.endpoint();
        _log(1, _s.name + " control connection up on " + conn->endpoint + " (protocol " +
                    std::to_string(version >= 0x41 ? version : version) + ", datacenter " + view->local_datacenter +
                    ", auth " + (view->auth_enabled ? "on" : "off") + "); nodes: " + hosts);
        publish(view);
        _failures.store(0, std::memory_order_relaxed);

        // Serve: heartbeats and events until the connection fails or stop().
        int64_t next_heartbeat = now_ms() + _s.heartbeat_interval_ms;
        for (;;) {
            if (_stop.load()) return true;
            bool needs_refresh = false;
            std::optional<std::pair<std::string, bool>> status;  // endpoint, up
            auto handle_event = [&](const sync_connection::envelope& e) {
                auto ev = cql::event_message::decode(e.body);
                if (!ev) return;
                if (ev->type == "TOPOLOGY_CHANGE" || ev->type == "SCHEMA_CHANGE") needs_refresh = true;
                if (ev->type == "STATUS_CHANGE") status = std::make_pair(ev->address.addr.to_string(), ev->change == "UP");
            };
            while (!conn->events.empty()) {
                handle_event(conn->events.front());
                conn->events.pop_front();
            }
            if (!needs_refresh && !status) {
                int64_t left = next_heartbeat - now_ms();
                if (left <= 0) {
                    auto hb = conn->request(opcode::options, "", timeout, err);
                    if (!hb) {
                        fail(_s.name + " control connection heartbeat failed: " + err);
                        return true;
                    }
                    if (hb->header.op != opcode::supported) _log(2, _s.name + " control connection: heartbeat answered with " + std::string(cql::to_string(hb->header.op)));
                    next_heartbeat = now_ms() + _s.heartbeat_interval_ms;
                    _failures.store(0, std::memory_order_relaxed);
                    continue;
                }
                auto e = conn->read(left, err);
                if (!e) {
                    if (_stop.load()) return true;
                    if (err.rfind("no reply", 0) == 0) {
                        err.clear();
                        continue;  // heartbeat time
                    }
                    fail(_s.name + " control connection lost: " + err);
                    return true;
                }
                if (e->header.op == opcode::event) handle_event(*e);
            }
            if (status) {
                auto next = std::make_shared<cluster_view>(*view);
                for (auto& h : next->hosts) {
                    if (h.address == status->first) {
                        if (h.up != status->second) _log(1, _s.name + " node " + h.endpoint() + " is " + (status->second ? "UP" : "DOWN"));
                        h.up = status->second;
                    }
                }
                view = next;
                publish(view);
            }
            if (needs_refresh) {
                auto next = std::make_shared<cluster_view>(*view);
                if (!refresh(*next)) {
                    fail(_s.name + " topology refresh failed: " + err);
                    return true;
                }
                view = next;
                publish(view);
            }
        }
    }
    fail(err.empty() ? "no contact point reachable" : err);
    return false;
}

}  // namespace tandem::core
