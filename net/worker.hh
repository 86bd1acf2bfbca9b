#pragma once
// A worker: one thread, one io_uring ring, and everything that thread serves (listeners,
// connections, provided buffers, timers). Nothing here is shared between workers or locked,
// except the inbox that other threads post to (rare, proxy-wide events).
//
// Loop shape (liburing examples/proxy.c): queue sends and re-arms while handling completions,
// then at the end of each turn publish recycled buffers, flush every connection's send queue
// in one gather write each, submit everything and wait for at least one completion or the
// next timer; drain every CQE and advance the CQ once.
//
// user_data is {op:8, slot:24, generation:32}: a completion for a connection slot that has been
// reused since is recognised and dropped.

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/buffer_ring.hh"
#include "net/timer_wheel.hh"

namespace tandem::net {

class worker;
class connection;

// What a worker's ring could be set up with; probed once, logged by the caller.
struct ring_features {
    bool single_issuer = false;
    bool defer_taskrun = false;
    bool coop_taskrun = false;
    bool msg_ring = false;
    bool registered_ring_fd = false;
    std::string describe() const;
};

struct worker_config {
    uint32_t sq_entries = 512;
    uint32_t cq_entries = 8192;       // larger than the SQ: multishot ops post many CQEs
    uint32_t buffer_size = 16 * 1024;  // provided receive buffers
    uint32_t buffer_count = 1024;      // a power of two
    size_t send_queue_limit_bytes = 4 * 1024 * 1024;  // per connection; above it: over_limit()
    uint32_t max_iovecs = 64;          // pieces per gather write
    // Latency mode: after a turn that handled completions, poll for the next ones for up to
    // this long (no sleep, one io_uring_enter without waiting per poll) before sleeping. A
    // wake-up costs more than the forwarding itself on these machines
    // (../shared/reference/io-uring-here.md); an idle worker never spins. 0: off.
    uint32_t busy_poll_us = 0;
    // For a load generator: when the turn hook asks for its next turn at a given time, the
    // loop sleeps until then even if completions arrive meanwhile (they are handled together
    // at that turn): one wake-up per hook tick instead of one per burst of replies. What
    // arrives waits up to that long. Off in the proxy.
    bool hold_until_hook_due = false;
};

// Callbacks of one connection, on the worker's thread.
class connection_handler {
public:
    virtual ~connection_handler() = default;
    // Bytes arrived (never empty). Keep `data` to forward it without a copy.
    virtual void on_data(connection& c, rx_buffer data) = 0;
    // The connection is gone: 0 after an orderly end or a local close, -errno after an error.
    // Called exactly once; the connection and this handler are destroyed right after.
    virtual void on_close(connection& c, int error) = 0;
    // The send queue fell back under half the limit after going over it.
    virtual void on_drained(connection&) {}
};

class connection {
    friend class worker;

    // One queued piece: owned bytes or a reference to a received buffer.
    struct piece {
        std::string owned;
        rx_buffer shared;
        std::string_view bytes;  // what is left to send

        piece() = default;
        piece(piece&& o) noexcept { *this = std::move(o); }
        // Moving re-points `bytes` into the moved string (a short string lives inside it).
        piece& operator=(piece&& o) noexcept {
            const bool own = !o.owned.empty();
            const size_t at = own ? static_cast<size_t>(o.bytes.data() - o.owned.data()) : 0;
            owned = std::move(o.owned);
            shared = std::move(o.shared);
            bytes = own ? std::string_view(owned).substr(at, o.bytes.size()) : o.bytes;
            o.bytes = {};
            return *this;
        }
    };
    // The send queue: a ring that keeps its capacity (up to 256 pieces, room for 128 replies
    // of a turn; a larger one is given back once drained: 64 client connections that each took
    // a burst of 1,024 would otherwise keep 5 MiB), so a connection in the steady state
    // queues and sends without allocating (a std::deque allocates and frees a block every few
    // pieces). Pieces of a send in flight must not move (the kernel reads a short string inside
    // its piece): when the ring is full during a send, pieces wait in `_later`, and join the ring
    // at the next flush, with no send in flight.
    class piece_ring {
        static constexpr size_t shrink_above = 256;  // pieces
        // A ring of more than `quiet_size` pieces whose last `quiet_drains` fillings each used a
        // quarter of it or less is given back too (a burst's room, kept under steady traffic
        // that drains every turn, on every connection the burst touched).
        static constexpr size_t quiet_size = 16, quiet_drains = 64;
        std::vector<piece> _v;  // capacity: 0 or a power of two
        size_t _head = 0, _n = 0;
        size_t _peak = 0;   // most pieces held since the ring last drained
        size_t _quiet = 0;  // drains in a row with `_peak` at a quarter of the ring or less
        std::vector<piece> _later;

        void grow() {
            std::vector<piece> v(_v.empty() ? 2 : _v.size() * 2);  // 2: an idle connection holds little
            for (size_t i = 0; i < _n; ++i) v[i] = std::move((*this)[i]);
            _v = std::move(v);
            _head = 0;
        }
        void append(piece&& p) {
            if (_n == _v.size()) grow();
            _v[(_head + _n) & (_v.size() - 1)] = std::move(p);
            ++_n;
            _peak = std::max(_peak, _n);
        }

    public:
        bool empty() const { return _n == 0 && _later.empty(); }
        size_t capacity() const { return _v.size() + _later.capacity(); }
        size_t size() const { return _n + _later.size(); }
        // The ring's pieces (after settle(), all of them).
        size_t ready() const { return _n; }
        piece& operator[](size_t i) { return _v[(_head + i) & (_v.size() - 1)]; }
        piece& front() { return (*this)[0]; }
        void push_back(piece&& p, bool send_in_flight) {
            if (!_later.empty() || (_n == _v.size() && send_in_flight)) {
                _later.push_back(std::move(p));
                _peak = std::max(_peak, _n + _later.size());
                return;
            }
            append(std::move(p));
        }
        // No send in flight: the waiting pieces join the ring, in order.
        void settle() {
            for (auto& p : _later) append(std::move(p));
            if (_later.capacity() > shrink_above) {
                std::vector<piece>().swap(_later);
            } else {
                _later.clear();
            }
        }
        void pop_front() {
            front() = piece{};  // releases the received buffer or string it held
            _head = (_head + 1) & (_v.size() - 1);
            --_n;
            if (_n == 0) drained();
        }
        void drained() {
            // A burst (a stalled peer) grew the ring far past what steady traffic needs: give
            // it back once it has drained, at once when it is large, after a while of small
            // fillings otherwise.
            const size_t room = capacity();
            _quiet = room > quiet_size && _peak * 4 <= room ? _quiet + 1 : 0;
            _peak = 0;
            if (_v.size() > shrink_above || _quiet >= quiet_drains) {
                std::vector<piece>().swap(_v);
                _head = 0;
                _quiet = 0;
                // And the room of the pieces that waited for a send in flight.
                if (_later.empty()) std::vector<piece>().swap(_later);
            }
        }
        void clear() {
            while (_n > 0) pop_front();
            _head = 0;
            _later.clear();
        }
    };

    worker& _worker;
    std::unique_ptr<connection_handler> _handler;
    int _fd;
    uint32_t _slot;
    uint32_t _generation;
    uint32_t _inflight = 0;  // operations the kernel holds for this connection
    bool _recv_armed = false;
    bool _send_inflight = false;
    bool _paused = false;
    bool _starved = false;      // recv ended with -ENOBUFS; waits for buffers
    bool _cautious = false;     // paused since the last recv was armed: the next takes one buffer
    bool _dirty = false;        // on the worker's flush list
    bool _closing = false;      // close() called: flush, then shut down
    bool _shut = false;         // shutdown and cancel issued
    bool _over_limit = false;
    int _close_error = 0;
    piece_ring _queue;
    size_t _queued = 0;
    // Gather write in flight: iovecs and header stay put until its completion.
    std::vector<iovec> _iov;
    msghdr _msg{};

public:
    connection(worker& w, int fd, uint32_t slot, uint32_t generation);
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    worker& owner() { return _worker; }
    int fd() const { return _fd; }
    uint64_t id() const { return (uint64_t{_generation} << 32) | _slot; }
    connection_handler* handler() { return _handler.get(); }
    void set_handler(std::unique_ptr<connection_handler> h) { _handler = std::move(h); }

    // Queue bytes; everything queued in one loop turn leaves in one gather write.
    void send(std::string bytes);
    void send(rx_buffer bytes);
    size_t queued_bytes() const { return _queued; }
    // Pieces the send queue has room for (it keeps up to 256 once drained).
    size_t queue_capacity() const { return _queue.capacity(); }
    // True while more than the limit is queued: stop feeding this connection (back-pressure).
    bool over_limit() const { return _over_limit; }

    // Stop / restart delivering received bytes (for back-pressure on the peer that feeds a slow
    // writer). Bytes already received are still delivered. After a resume the first delivery is
    // one buffer at most, the next ones whatever arrived, as long as reading is not paused again.
    void pause_reading();
    void resume_reading();
    bool reading_paused() const { return _paused; }

    // Sends what is queued, then shuts the connection down; on_close(0) follows.
    void close();
    // Drops what is queued and shuts down now; on_close(error) follows.
    void abort(int error = 0);
    bool closing() const { return _closing; }
};

struct worker_stats {
    uint64_t accepted = 0;
    uint64_t connected = 0;
    uint64_t closed = 0;
    uint64_t recv_enobufs = 0;  // times a connection's recv stopped for lack of buffers
    uint64_t sends = 0;         // gather writes submitted
    uint64_t loop_turns = 0;
    uint64_t spins = 0;      // latency mode: polls begun
    uint64_t spin_hits = 0;  // ... that found completions (a sleep and a wake-up saved)
    uint64_t spin_ns = 0;    // time spent polling
};

// The in-memory transport: connections without sockets, so a benchmark or a test can drive the
// code above net/ (a whole proxy session) in-process, deterministically, and measure it without
// the kernel. Bytes a memory connection sends go to `sent` at the end of the turn (as the gather
// write would), and connect() makes a memory connection at once, reported to `connected`.
struct memory_transport {
    std::function<void(connection&, std::string_view bytes)> sent;
    std::function<void(connection&, const sockaddr_storage& peer)> connected;
    std::function<void(connection&)> closed;  // just before the connection is freed
};

class worker {
public:
    using accept_fn = std::function<std::unique_ptr<connection_handler>(connection&)>;
    using connect_fn = std::function<void(connection* c, int error)>;

    explicit worker(worker_config cfg = {});
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // Runs the loop on the calling thread: sets up the ring (throws std::runtime_error with
    // what to fix when the kernel lacks a feature), calls `init` on this thread, then serves
    // until stop() has closed everything.
    void run(const std::function<void(worker&)>& init);

    // Worker thread only -------------------------------------------------------------------
    // Listens on host:port (port 0 picks one) with SO_REUSEPORT and multishot accept; returns
    // the bound port. Throws std::runtime_error when the address cannot be bound.
    uint16_t listen(const std::string& host, uint16_t port, accept_fn on_accept);
    // Connects with a timeout; `done` gets the connection (handler installed) or an error.
    void connect(const sockaddr_storage& addr, socklen_t len, uint32_t timeout_ms,
                 std::unique_ptr<connection_handler> handler, connect_fn done);
    // Runs `hook` once per loop turn, before the wait; it returns the longest the loop may
    // sleep, in microseconds. For work finer than the timer wheel's millisecond ticks (an open
    // loop load generator sending at exact times). One hook; null removes it.
    void set_turn_hook(std::function<uint64_t()> hook) { _turn_hook = std::move(hook); }
    // Closes every listening socket (new connections are refused); connections stay.
    void stop_listening();
    timer_wheel& timers() { return *_timers; }
    // The monotonic clock as read once per loop turn, when the turn's completions arrived: every
    // request of a turn shares it (one clock read per turn, not several per request).
    uint64_t now_ms() const { return _turn_ns / 1'000'000; }
    uint64_t now_ns() const { return _turn_ns; }
    // An empty string with capacity from a sent buffer, if one is spare: what a connection sent
    // from an owned string comes back here, so building a frame allocates nothing in the steady
    // state. Hand it to connection::send.
    std::string take_string();
    const ring_features& features() const { return _features; }
    const worker_stats& stats() const { return _stats; }
    size_t connection_count() const { return _open; }
    const buffer_ring& buffers() const { return *_buffers; }

    // Any thread --------------------------------------------------------------------------
    // Runs `fn` on the worker's thread, in posting order. Messages posted before run() wait.
    void post(std::function<void()> fn);
    // Stops accepting, lets queued sends drain for up to `drain_ms`, closes every connection,
    // and makes run() return once every operation has completed.
    void stop(uint32_t drain_ms = 1000);

    // In-memory mode, instead of run(): the caller's thread drives the worker with poll().
    void start_memory(memory_transport transport);
    // A connection without a socket (a client, in a benchmark); it owns `handler`.
    connection& open_memory(std::unique_ptr<connection_handler> handler);
    // Bytes arrive on a memory connection: copied into receive buffers (as the kernel would)
    // and handed to its handler.
    void deliver(connection& c, std::string_view bytes);
    // One loop turn: posted functions and completed connects run, the turn hook, sends are
    // flushed to the transport, timers fire.
    void poll();

private:
    friend class connection;
    enum class op : uint8_t { accept = 1, recv, send, cancel, connect, link_timeout, inbox, accept_cancel };

    struct listener {
        int fd;
        accept_fn on_accept;
        bool armed = false;
    };
    struct pending_connect {
        connect_fn done;
        std::unique_ptr<connection_handler> handler;
        __kernel_timespec timeout{};
        sockaddr_storage addr{};
        socklen_t len = 0;
    };

    static uint64_t pack(op o, uint32_t slot, uint32_t generation) {
        return (uint64_t{static_cast<uint8_t>(o)} << 56) | (uint64_t{slot & 0xFFFFFF} << 32) | generation;
    }
    io_uring_sqe* sqe();
    void setup_ring();
    connection* new_connection(int fd);
    connection* lookup(uint32_t slot, uint32_t generation);
    void arm_recv(connection& c);
    void arm_accept(uint32_t index);
    void arm_inbox();
    void flush(connection& c);
    void mark_dirty(connection& c);
    void shut(connection& c);
    void maybe_finish(connection& c);
    void handle(io_uring_cqe* cqe);
    void on_recv(connection& c, int res, uint32_t flags);
    void on_send(connection& c, int res);
    void on_connect(connection& c, int res);
    void drain_inbox();
    void begin_stop(uint32_t drain_ms);
    void end_of_turn();
    void tick();

    worker_config _cfg;
    io_uring _ring{};
    bool _ring_ready = false;
    ring_features _features;
    std::unique_ptr<buffer_ring> _buffers;
    std::unique_ptr<timer_wheel> _timers;
    std::vector<std::unique_ptr<connection>> _slots;
    std::vector<uint32_t> _generations;
    std::vector<uint32_t> _free_slots;
    std::vector<std::unique_ptr<pending_connect>> _connects;  // by slot, while connecting
    std::vector<connection*> _dirty;
    std::vector<connection*> _starved;
    std::vector<listener> _listeners;
    size_t _open = 0;
    worker_stats _stats;
    bool _stopping = false;
    bool _last_turn_had_io = false;
    bool spin(uint64_t limit_us);
    uint32_t _ops_outside = 0;  // accept, inbox and cancel operations in flight
    timer _drain_timer;
    std::function<uint64_t()> _turn_hook;
    uint64_t _turn_ns = 0;
    std::vector<std::string> _spare_strings;  // take_string()
    void give_string(std::string&& s);
    std::unique_ptr<memory_transport> _memory;
    std::vector<std::function<void()>> _deferred;  // memory mode: connects, closes

    // Inbox: the only state touched by other threads.
    int _eventfd = -1;
    uint64_t _eventfd_value = 0;
    std::mutex _inbox_lock;
    std::vector<std::function<void()>> _inbox;
    std::vector<std::function<void()>> _inbox_work;
};

// Parses "host" (IPv4, IPv6 or localhost) and a port into a socket address.
std::optional<std::pair<sockaddr_storage, socklen_t>> resolve_address(const std::string& host, uint16_t port);
// A host name's first address as text (getaddrinfo: blocking, for start-up and tools); an
// address is returned as it is. Empty with `error` set when it cannot be resolved.
std::string resolve_name(const std::string& host, std::string& error);

}  // namespace tandem::net
