#include "net/worker.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ctime>
#include <stdexcept>

namespace tandem::net {

namespace {

uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string errno_text(int e) { return std::strerror(e < 0 ? -e : e); }

// worker::run's error when its ring cannot be set up (`rc`: -errno), naming what to fix: for
// EPERM kernel.io_uring_disabled and container seccomp profiles, for ENOSYS a kernel or sandbox
// without io_uring.
std::string io_uring_setup_error(int rc) {
    const int e = rc < 0 ? -rc : rc;
    std::string why = "cannot set up io_uring: " + errno_text(e);
    if (e == EPERM) {
        std::string disabled;
        if (std::ifstream f("/proc/sys/kernel/io_uring_disabled"); f) std::getline(f, disabled);
        why += ": io_uring is refused to this process: kernel.io_uring_disabled is " +
               (disabled.empty() ? std::string("unreadable") : disabled) +
               " (0 allows it, 1 only to CAP_SYS_ADMIN and members of kernel.io_uring_group, 2 to nobody), or a seccomp filter "
               "blocks io_uring_setup (the default profiles of container runtimes do, Docker's since 25.0): allow "
               "io_uring_setup, io_uring_enter and io_uring_register";
    } else if (e == ENOSYS) {
        why += ": this kernel or sandbox has no io_uring (a kernel built without CONFIG_IO_URING, gVisor without "
               "--iouring, a seccomp filter answering ENOSYS); tandem needs Linux 5.19+ with io_uring";
    } else if (e == ENOMEM) {
        why += ": the ring's memory could not be locked (raise the locked-memory limit: ulimit -l, systemd LimitMEMLOCK)";
    }
    return why;
}

}  // namespace


std::string ring_features::describe() const {
    std::string s = "io_uring:";
    s += single_issuer ? " SINGLE_ISSUER" : "";
    s += defer_taskrun ? " DEFER_TASKRUN" : "";
    s += coop_taskrun ? " COOP_TASKRUN" : "";
    s += msg_ring ? " MSG_RING" : "";
    s += registered_ring_fd ? " registered-ring-fd" : "";
    s += " multishot-accept multishot-recv provided-buffer-ring";
    return s;
}

std::string resolve_name(const std::string& host, std::string& error) {
    if (resolve_address(host, 0)) return host;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0 || !res) {
        error = "cannot resolve " + host + ": " + gai_strerror(rc);
        return {};
    }
    char ip[INET6_ADDRSTRLEN] = "";
    getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return ip;
}

std::optional<std::pair<sockaddr_storage, socklen_t>> resolve_address(const std::string& host, uint16_t port) {
    sockaddr_storage ss{};
    std::string h = host == "localhost" ? "127.0.0.1" : host;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return std::make_pair(ss, static_cast<socklen_t>(sizeof(sockaddr_in)));
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    std::string inner = h;
    if (inner.size() > 2 && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
    if (inet_pton(AF_INET6, inner.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return std::make_pair(ss, static_cast<socklen_t>(sizeof(sockaddr_in6)));
    }
    return std::nullopt;
}

// ---- connection ------------------------------------------------------------------------

connection::connection(worker& w, int fd, uint32_t slot, uint32_t generation)
    : _worker(w), _fd(fd), _slot(slot), _generation(generation) {}

void connection::send(std::string bytes) {
    if (_shut || bytes.empty()) return;
    piece p;
    p.owned = std::move(bytes);
    p.bytes = p.owned;
    _queued += p.bytes.size();
    _queue.push_back(std::move(p), _send_inflight);  // the move re-points `bytes` into the queued string
    if (_queued > _worker._cfg.send_queue_limit_bytes) _over_limit = true;
    _worker.mark_dirty(*this);
}

void connection::send(rx_buffer bytes) {
    if (_shut || bytes.empty()) return;
    piece p;
    p.bytes = bytes.view();
    p.shared = std::move(bytes);
    _queued += p.bytes.size();
    _queue.push_back(std::move(p), _send_inflight);
    if (_queued > _worker._cfg.send_queue_limit_bytes) _over_limit = true;
    _worker.mark_dirty(*this);
}

void connection::pause_reading() {
    if (_paused) return;
    _paused = true;
    _cautious = true;
    // A multishot recv keeps filling buffers until cancelled.
    if (_recv_armed && !_shut) {
        io_uring_sqe* s = _worker.sqe();
        io_uring_prep_cancel64(s, worker::pack(worker::op::recv, _slot, _generation), 0);
        io_uring_sqe_set_data64(s, worker::pack(worker::op::cancel, _slot, _generation));
        ++_inflight;
    }
}

void connection::resume_reading() {
    if (!_paused) return;
    _paused = false;
    if (!_recv_armed && !_shut && !_starved) _worker.arm_recv(*this);
}

void connection::close() {
    if (_closing) return;
    _closing = true;
    if (_queue.empty() && !_send_inflight) {
        _worker.shut(*this);
    }
}

void connection::abort(int error) {
    _closing = true;
    if (_close_error == 0) _close_error = error;
    _queue.clear();
    _queued = 0;
    _worker.shut(*this);
}

// ---- worker ----------------------------------------------------------------------------

worker::worker(worker_config cfg) : _cfg(cfg) {
    _eventfd = eventfd(0, EFD_CLOEXEC);
    if (_eventfd < 0) throw std::runtime_error("eventfd failed: " + errno_text(errno));
}

worker::~worker() {
    if (_ring_ready) {
        _buffers.reset();
        io_uring_queue_exit(&_ring);
    }
    if (_eventfd >= 0) ::close(_eventfd);
}

std::string worker::take_string() {
    if (_spare_strings.empty()) return {};
    std::string s = std::move(_spare_strings.back());
    _spare_strings.pop_back();
    return s;
}

void worker::give_string(std::string&& s) {
    // Only heap buffers are worth keeping, and only so many: a burst must not pin memory.
    if (s.capacity() <= 15 || s.capacity() > 64 * 1024 || _spare_strings.size() >= 256) return;
    s.clear();
    _spare_strings.push_back(std::move(s));
}

void worker::tick() {
    _turn_ns = monotonic_ns();
    if (_timers) _timers->set_clock(now_ms());
}

void worker::setup_ring() {
    // Best first: SINGLE_ISSUER|DEFER_TASKRUN runs completions only when we wait, on our
    // thread (the fastest mode measured on these machines, reference/io-uring-here.md); then
    // COOP_TASKRUN; then no task-run flag at all.
    struct attempt {
        unsigned flags;
        bool single, defer, coop;
    } attempts[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, true, true, false},
        {IORING_SETUP_COOP_TASKRUN, false, false, true},
        {0, false, false, false},
    };
    int rc = -EINVAL;
    for (auto& a : attempts) {
        io_uring_params p{};
        // A CQ larger than the SQ: multishot accept and recv post many CQEs per SQE.
        p.flags = a.flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = _cfg.cq_entries;
        rc = io_uring_queue_init_params(_cfg.sq_entries, &_ring, &p);
        if (rc == 0) {
            _features.single_issuer = a.single;
            _features.defer_taskrun = a.defer;
            _features.coop_taskrun = a.coop;
            break;
        }
    }
    if (rc < 0) throw std::runtime_error(io_uring_setup_error(rc));
    _ring_ready = true;
    // A registered ring fd saves a file lookup on every io_uring_enter (optional: older
    // kernels lack it and nothing depends on it).
    _features.registered_ring_fd = io_uring_register_ring_fd(&_ring) == 1;
    io_uring_probe* probe = io_uring_get_probe_ring(&_ring);
    if (!probe) throw std::runtime_error("io_uring probe failed: the kernel is too old (need 5.19+)");
    const std::pair<int, const char*> needed[] = {
        {IORING_OP_ACCEPT, "ACCEPT"},         {IORING_OP_RECV, "RECV"},   {IORING_OP_SENDMSG, "SENDMSG"},
        {IORING_OP_SEND, "SEND"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}, {IORING_OP_CONNECT, "CONNECT"},
        {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"}, {IORING_OP_READ, "READ"},
    };
    std::string missing;
    for (auto& [opcode, name] : needed) {
        if (!io_uring_opcode_supported(probe, opcode)) missing += std::string(" ") + name;
    }
    _features.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
    io_uring_free_probe(probe);
    if (!missing.empty()) throw std::runtime_error("io_uring lacks opcodes:" + missing + " (need Linux 5.19+)");
    _buffers = std::make_unique<buffer_ring>(_ring, 0, _cfg.buffer_size, _cfg.buffer_count);
    tick();
    _timers = std::make_unique<timer_wheel>(now_ms());
}

io_uring_sqe* worker::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&_ring);
    while (!s) {
        io_uring_submit(&_ring);
        s = io_uring_get_sqe(&_ring);
    }
    return s;
}

connection* worker::new_connection(int fd) {
    uint32_t slot;
    if (!_free_slots.empty()) {
        slot = _free_slots.back();
        _free_slots.pop_back();
    } else {
        slot = static_cast<uint32_t>(_slots.size());
        _slots.emplace_back();
        _generations.push_back(0);
        _connects.emplace_back();
    }
    uint32_t gen = ++_generations[slot];
    _slots[slot] = std::make_unique<connection>(*this, fd, slot, gen);
    ++_open;
    return _slots[slot].get();
}

connection* worker::lookup(uint32_t slot, uint32_t generation) {
    if (slot >= _slots.size() || _generations[slot] != generation) return nullptr;
    return _slots[slot].get();
}

void worker::arm_recv(connection& c) {
    io_uring_sqe* s = sqe();
    if (c._cautious) {
        // The first read after a pause takes one buffer: a multishot recv would hand over all
        // that waited in the socket (megabytes, from a client that kept sending) in one go, to a
        // handler that paused because it could not pass on what it had. More once it keeps up.
        c._cautious = false;
        io_uring_prep_recv(s, c._fd, nullptr, _cfg.buffer_size, 0);
    } else {
        io_uring_prep_recv_multishot(s, c._fd, nullptr, 0, 0);
    }
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = _buffers->group();
    io_uring_sqe_set_data64(s, pack(op::recv, c._slot, c._generation));
    c._recv_armed = true;
    ++c._inflight;
}

void worker::arm_accept(uint32_t index) {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, _listeners[index].fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, pack(op::accept, index, 0));
    _listeners[index].armed = true;
    ++_ops_outside;
}

void worker::arm_inbox() {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, _eventfd, &_eventfd_value, sizeof _eventfd_value, 0);
    io_uring_sqe_set_data64(s, pack(op::inbox, 0, 0));
    ++_ops_outside;
}

uint16_t worker::listen(const std::string& host, uint16_t port, accept_fn on_accept) {
    auto addr = resolve_address(host, port);
    if (!addr) throw std::runtime_error("cannot parse listen address '" + host + "'");
    int fd = ::socket(addr->first.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed: " + errno_text(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // One listening socket per worker on the same port; the kernel spreads connections.
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr->first), addr->second) < 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + errno_text(e));
    }
    if (::listen(fd, 4096) < 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error("listen failed: " + errno_text(e));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    uint16_t actual = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    _listeners.push_back(listener{fd, std::move(on_accept), false});
    arm_accept(static_cast<uint32_t>(_listeners.size() - 1));
    return actual;
}

void worker::connect(const sockaddr_storage& addr, socklen_t len, uint32_t timeout_ms,
                     std::unique_ptr<connection_handler> handler, connect_fn done) {
    if (_memory) {
        connection* c = new_connection(-1);
        c->_handler = std::move(handler);
        ++_stats.connected;
        if (_memory->connected) _memory->connected(*c, addr);
        _deferred.push_back([this, slot = c->_slot, gen = c->_generation, done = std::move(done)] {
            connection* mc = lookup(slot, gen);
            done(mc, mc ? 0 : -ECONNABORTED);
        });
        return;
    }
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        done(nullptr, -errno);
        return;
    }
    connection* c = new_connection(fd);
    auto pc = std::make_unique<pending_connect>();
    pc->done = std::move(done);
    pc->handler = std::move(handler);
    pc->addr = addr;
    pc->len = len;
    pc->timeout.tv_sec = timeout_ms / 1000;
    pc->timeout.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    io_uring_sqe* s = sqe();
    io_uring_prep_connect(s, fd, reinterpret_cast<sockaddr*>(&pc->addr), pc->len);
    io_uring_sqe_set_data64(s, pack(op::connect, c->_slot, c->_generation));
    s->flags |= IOSQE_IO_LINK;
    io_uring_sqe* t = sqe();
    io_uring_prep_link_timeout(t, &pc->timeout, 0);
    io_uring_sqe_set_data64(t, pack(op::link_timeout, c->_slot, c->_generation));
    c->_inflight += 2;
    _connects[c->_slot] = std::move(pc);
}

void worker::mark_dirty(connection& c) {
    if (!c._dirty) {
        c._dirty = true;
        _dirty.push_back(&c);
    }
}

// One gather write of everything queued (up to max_iovecs pieces); one in flight at a time
// keeps the byte order.
void worker::flush(connection& c) {
    if (c._send_inflight || c._queue.empty() || c._shut) return;
    c._queue.settle();
    if (c._fd < 0) {  // memory connection: everything leaves at once
        while (c._queue.ready() > 0) {
            auto& piece = c._queue.front();
            _memory->sent(c, piece.bytes);
            give_string(std::move(piece.owned));
            c._queue.pop_front();
        }
        c._queued = 0;
        if (c._over_limit) {
            c._over_limit = false;
            if (c._handler) c._handler->on_drained(c);
        }
        if (c._closing) shut(c);
        return;
    }
    size_t n = std::min<size_t>(c._queue.ready(), _cfg.max_iovecs);
    if (n == 1) {
        // One piece: a plain send is cheaper for the kernel to set up than a sendmsg.
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, c._fd, c._queue.front().bytes.data(), c._queue.front().bytes.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, pack(op::send, c._slot, c._generation));
        c._send_inflight = true;
        ++c._inflight;
        ++_stats.sends;
        return;
    }
    c._iov.resize(n);
    for (size_t i = 0; i < n; ++i) {
        c._iov[i].iov_base = const_cast<char*>(c._queue[i].bytes.data());
        c._iov[i].iov_len = c._queue[i].bytes.size();
    }
    c._msg = msghdr{};
    c._msg.msg_iov = c._iov.data();
    c._msg.msg_iovlen = n;
    io_uring_sqe* s = sqe();
    io_uring_prep_sendmsg(s, c._fd, &c._msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(op::send, c._slot, c._generation));
    c._send_inflight = true;
    ++c._inflight;
    ++_stats.sends;
}

// Shut down: the peer sees the end, every pending operation on the socket completes
// (cancelled), and the connection is finished when the last one is back.
void worker::shut(connection& c) {
    if (c._shut) return;
    c._shut = true;
    if (c._fd < 0) {  // memory connection: nothing in the kernel; it ends next turn
        _deferred.push_back([this, slot = c._slot, gen = c._generation] {
            if (connection* mc = lookup(slot, gen)) maybe_finish(*mc);
        });
        return;
    }
    ::shutdown(c._fd, SHUT_RDWR);
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel_fd(s, c._fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, pack(op::cancel, c._slot, c._generation));
    ++c._inflight;
}

// A connection dies only at zero operations in flight (STYLE 7).
void worker::maybe_finish(connection& c) {
    if (!c._shut || c._inflight != 0) return;
    if (c._fd >= 0) {
        ::close(c._fd);
    } else if (_memory && _memory->closed) {
        _memory->closed(c);
    }
    uint32_t slot = c._slot;
    int error = c._close_error;
    auto handler = std::move(c._handler);
    c._queue.clear();
    if (handler) handler->on_close(c, error);
    handler.reset();
    if (c._dirty) {
        for (auto& d : _dirty) {
            if (d == &c) d = nullptr;
        }
    }
    for (auto& s : _starved) {
        if (s == &c) s = nullptr;
    }
    _slots[slot].reset();
    ++_generations[slot];
    _free_slots.push_back(slot);
    --_open;
    ++_stats.closed;
}

void worker::on_recv(connection& c, int res, uint32_t flags) {
    bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        c._recv_armed = false;
        --c._inflight;
    }
    if (res > 0) {
        auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        _buffers->taken(bid);
        rx_buffer data(*_buffers, bid, static_cast<uint32_t>(res));
        if (c._handler && !c._shut) {
            c._handler->on_data(c, std::move(data));
        }
        if (!more && !c._recv_armed && !c._shut && !c._paused) arm_recv(c);
        return;
    }
    if (res == -ENOBUFS) {
        // The ring ran dry: nothing was lost, the data waits in the socket. Re-arm once
        // buffers come back (end of turn).
        ++_stats.recv_enobufs;
        if (!c._starved && !c._shut) {
            c._starved = true;
            _starved.push_back(&c);
        }
        return;
    }
    if (res == -ECANCELED) {
        // Cancelled by pause_reading() or shut(); if reading resumed meanwhile, start again.
        if (!c._shut && !c._paused && !c._recv_armed) arm_recv(c);
        return;
    }
    // 0: the peer closed; negative: an error. Either way this connection is done.
    if (!c._shut) {
        if (c._close_error == 0) c._close_error = res;
        c._queue.clear();
        c._queued = 0;
        shut(c);
    }
}

void worker::on_send(connection& c, int res) {
    c._send_inflight = false;
    --c._inflight;
    if (res < 0) {
        if (!c._shut) {
            c._close_error = res;
            c._queue.clear();
            c._queued = 0;
            shut(c);
        }
        return;
    }
    auto left = static_cast<size_t>(res);
    c._queued -= left;
    while (left > 0 && c._queue.ready() > 0) {
        auto& front = c._queue.front();
        if (front.bytes.size() <= left) {
            left -= front.bytes.size();
            give_string(std::move(front.owned));
            c._queue.pop_front();  // releases the received buffer it held
        } else {
            front.bytes.remove_prefix(left);  // partial send: resume from here
            left = 0;
        }
    }
    if (c._over_limit && c._queued <= _cfg.send_queue_limit_bytes / 2) {
        c._over_limit = false;
        if (c._handler && !c._shut) c._handler->on_drained(c);
    }
    if (!c._queue.empty()) {
        flush(c);
    } else if (c._closing) {
        shut(c);
    }
}

void worker::on_connect(connection& c, int res) {
    --c._inflight;
    auto pc = std::move(_connects[c._slot]);
    if (!pc) return;
    if (res < 0) {
        c._shut = true;
        c._close_error = res == -ECANCELED ? -ETIMEDOUT : res;
        pc->done(nullptr, c._close_error);
        return;
    }
    set_nodelay(c._fd);
    c._handler = std::move(pc->handler);
    ++_stats.connected;
    arm_recv(c);
    pc->done(&c, 0);
}

void worker::handle(io_uring_cqe* cqe) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    auto o = static_cast<op>(ud >> 56);
    auto slot = static_cast<uint32_t>((ud >> 32) & 0xFFFFFF);
    auto gen = static_cast<uint32_t>(ud);
    int res = cqe->res;
    switch (o) {
        case op::accept: {
            auto& l = _listeners[slot];
            if (!(cqe->flags & IORING_CQE_F_MORE)) {
                l.armed = false;
                --_ops_outside;
            }
            if (res >= 0) {
                if (_stopping) {
                    ::close(res);
                    break;
                }
                set_nodelay(res);
                connection* c = new_connection(res);
                ++_stats.accepted;
                c->_handler = l.on_accept(*c);
                if (!c->_handler) {
                    c->abort();
                    maybe_finish(*c);
                    break;
                }
                arm_recv(*c);
            }
            if (!l.armed && !_stopping && l.fd >= 0) arm_accept(slot);
            break;
        }
        case op::recv:
        case op::send:
        case op::cancel:
        case op::connect:
        case op::link_timeout: {
            connection* c = lookup(slot, gen);
            if (!c) break;  // a stale completion for a reused slot
            if (o == op::recv) {
                on_recv(*c, res, cqe->flags);
            } else if (o == op::send) {
                on_send(*c, res);
            } else if (o == op::connect) {
                on_connect(*c, res);
            } else {
                --c->_inflight;
            }
            maybe_finish(*c);
            break;
        }
        case op::inbox:
            --_ops_outside;
            drain_inbox();
            if (!(_stopping && _open == 0)) arm_inbox();
            break;
        case op::accept_cancel:
            --_ops_outside;
            break;
    }
}

void worker::post(std::function<void()> fn) {
    {
        std::lock_guard<std::mutex> g(_inbox_lock);
        _inbox.push_back(std::move(fn));
    }
    uint64_t one = 1;
    ssize_t n = ::write(_eventfd, &one, sizeof one);
    (void)n;
}

void worker::drain_inbox() {
    {
        std::lock_guard<std::mutex> g(_inbox_lock);
        _inbox_work.swap(_inbox);
    }
    for (auto& fn : _inbox_work) fn();
    _inbox_work.clear();
}

void worker::stop(uint32_t drain_ms) {
    post([this, drain_ms] { begin_stop(drain_ms); });
}

void worker::begin_stop(uint32_t drain_ms) {
    if (_stopping) return;
    _stopping = true;
    stop_listening();
    for (auto& c : _slots) {
        if (c) c->close();
    }
    _drain_timer.set_callback([this] {
        for (auto& c : _slots) {
            if (c && !c->_shut) c->abort(-ETIMEDOUT);
        }
    });
    _timers->arm(_drain_timer, drain_ms);
}

void worker::stop_listening() {
    for (auto& l : _listeners) {
        if (l.fd < 0) continue;
        // Closing the socket alone does not end a multishot accept: cancel it.
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel_fd(s, l.fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(s, pack(op::accept_cancel, 0, 0));
        ++_ops_outside;
        io_uring_submit(&_ring);
        ::close(l.fd);
        l.fd = -1;
    }
}

void worker::end_of_turn() {
    _buffers->publish();
    if (!_starved.empty() && _buffers->available() > 0) {
        auto starved = std::move(_starved);
        _starved.clear();
        for (connection* c : starved) {
            if (!c) continue;
            c->_starved = false;
            if (!c->_recv_armed && !c->_shut && !c->_paused) arm_recv(*c);
        }
    }
    if (!_dirty.empty()) {
        // flush() may not add to _dirty, but keep the list stable while iterating anyway.
        for (size_t i = 0; i < _dirty.size(); ++i) {
            connection* c = _dirty[i];
            if (!c) continue;
            c->_dirty = false;
            flush(*c);
        }
        _dirty.clear();
    }
}

void worker::start_memory(memory_transport transport) {
    setup_ring();
    _buffers = std::make_unique<buffer_ring>(_cfg.buffer_size, _cfg.buffer_count);
    _memory = std::make_unique<memory_transport>(std::move(transport));
}

connection& worker::open_memory(std::unique_ptr<connection_handler> handler) {
    connection* c = new_connection(-1);
    c->_handler = std::move(handler);
    ++_stats.accepted;
    return *c;
}

void worker::deliver(connection& c, std::string_view bytes) {
    uint32_t slot = c._slot, gen = c._generation;
    while (!bytes.empty()) {
        connection* live = lookup(slot, gen);
        if (!live || live->_shut || !live->_handler) return;
        int bid = _buffers->take();
        if (bid < 0) throw std::runtime_error("memory transport: no free receive buffer");
        size_t n = std::min<size_t>(bytes.size(), _buffers->buffer_size());
        std::memcpy(const_cast<char*>(_buffers->data(static_cast<uint16_t>(bid))), bytes.data(), n);
        bytes.remove_prefix(n);
        live->_handler->on_data(*live, rx_buffer(*_buffers, static_cast<uint16_t>(bid), static_cast<uint32_t>(n)));
    }
}

void worker::poll() {
    tick();
    drain_inbox();
    while (!_deferred.empty()) {
        auto work = std::move(_deferred);
        _deferred.clear();
        for (auto& fn : work) fn();
    }
    ++_stats.loop_turns;
    if (_turn_hook) _turn_hook();
    end_of_turn();
    _timers->advance(now_ms());
}

// Submits what the turn queued, then asks the kernel for completions without waiting (with
// DEFER_TASKRUN they are posted only when we enter the kernel) until one is there or
// `limit_us` passed. True when completions are ready.
bool worker::spin(uint64_t limit_us) {
    ++_stats.spins;
    const uint64_t start = monotonic_ns(), until = start + limit_us * 1000;
    io_uring_submit(&_ring);
    bool found = false;
    for (uint64_t now = start;; now = monotonic_ns()) {
        if (io_uring_cq_ready(&_ring) > 0) {
            found = true;
        } else if (now < until) {
            io_uring_get_events(&_ring);
            found = io_uring_cq_ready(&_ring) > 0;
        }
        if (found || now >= until) {
            _stats.spin_ns += now - start;
            break;
        }
    }
    if (found) ++_stats.spin_hits;
    return found;
}

void worker::run(const std::function<void(worker&)>& init) {
    setup_ring();
    arm_inbox();
    init(*this);
    std::array<io_uring_cqe*, 256> batch{};
    for (;;) {
        end_of_turn();
        if (_stopping && _open == 0) {
            _timers->cancel(_drain_timer);
            // Wait for the last accept cancels and the inbox read, then leave.
            if (_ops_outside > 0) {
                io_uring_sqe* s = sqe();
                io_uring_prep_cancel_fd(s, _eventfd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(s, pack(op::accept_cancel, 0, 0));
                ++_ops_outside;
                while (_ops_outside > 0) {
                    io_uring_cqe* cqe;
                    if (io_uring_submit_and_wait(&_ring, 1) < 0) break;
                    while (io_uring_peek_cqe(&_ring, &cqe) == 0) {
                        auto o = static_cast<op>(io_uring_cqe_get_data64(cqe) >> 56);
                        if (o == op::inbox || o == op::accept_cancel ||
                            (o == op::accept && !(cqe->flags & IORING_CQE_F_MORE))) {
                            --_ops_outside;
                        }
                        io_uring_cqe_seen(&_ring, cqe);
                    }
                }
            }
            drain_inbox();
            return;
        }
        ++_stats.loop_turns;
        uint64_t wait_us = _timers->next_delay_ms(1000) * 1000;
        bool hold = false;
        if (_turn_hook) {
            // The hook runs once per turn and says how soon it needs the next one (µs).
            uint64_t want = _turn_hook();
            if (want < wait_us) {
                wait_us = want;
                hold = _cfg.hold_until_hook_due;
            }
            end_of_turn();  // what the hook queued leaves in this turn's submit
        }
        // Latency mode: traffic is flowing, so the next completion is likely soon; poll for it
        // instead of paying a sleep and a wake-up.
        const bool ready = _cfg.busy_poll_us > 0 && _last_turn_had_io && spin(std::min<uint64_t>(_cfg.busy_poll_us, wait_us));
        if (!ready) {
            __kernel_timespec ts{};
            ts.tv_sec = static_cast<long long>(wait_us / 1000000);
            ts.tv_nsec = static_cast<long long>(wait_us % 1000000) * 1000;
            io_uring_cqe* first = nullptr;
            // Held: as many completions as the ring holds (the kernel caps the count there), so
            // in practice the timeout ends the wait.
            const unsigned wait_nr = hold && wait_us > 0 ? _ring.cq.ring_entries : 1;
            int rc = io_uring_submit_and_wait_timeout(&_ring, &first, wait_nr, &ts, nullptr);
            if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
                throw std::runtime_error("io_uring wait failed: " + errno_text(rc));
            }
        }
        tick();
        unsigned n;
        _last_turn_had_io = false;
        while ((n = io_uring_peek_batch_cqe(&_ring, batch.data(), static_cast<unsigned>(batch.size()))) > 0) {
            _last_turn_had_io = true;
            for (unsigned i = 0; i < n; ++i) handle(batch[i]);
            io_uring_cq_advance(&_ring, n);
            if (n < batch.size()) break;
        }
        _timers->advance(now_ms());
    }
}

}  // namespace tandem::net
