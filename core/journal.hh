#pragma once
// The write journal of write_mode DUAL_ASYNC_ON_SECONDARY (README, "Write modes"): every write
// the secondary cluster must still receive, on disk before the client hears that it succeeded.
//
// Files: `<dir>/segment-<first id, 20 digits>.journal`, each a 16-byte header (magic, format
// version) and records: [u32 payload length][u32 checksum: the low half of the payload's XXH3-64][payload]. A record's id
// is its segment's first id plus its position. A torn tail (a crash mid-write) fails its length
// or checksum check and is cut off at start-up, never replayed half. `<dir>/lock` keeps a second
// tandem out of the directory; `<dir>/rejected.journal` keeps, in the same format, the records
// the secondary refused for good (syntax, schema), for the operator.
//
// Threads: workers append (one short lock; the record is encoded before it), a sync thread
// writes and fdatasyncs what was appended (group commit: at once when the journal was idle,
// under load at most one sync per `sync_ms`) and tells each worker how far records are durable
// through its listener; workers settle a record when the secondary answered it; the replayer
// (replayer.hh) takes the records to send again. A record is released, and its segment deleted
// once every record in it is, when the cluster that owes it has it.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/config.hh"
#include "cql/classifier.hh"
#include "cql/envelope.hh"

namespace tandem::core {

// A prepared statement an EXECUTE or BATCH names: its id as the message carries it, and what to
// prepare again on a cluster that lost it.
struct journal_prepared {
    std::string id, query, keyspace;
};

struct journal_record {
    cluster_role owed = cluster_role::target;  // the cluster that still needs the write
    uint8_t version = 4;                       // protocol version `message` is encoded in
    cql::opcode op = cql::opcode::query;       // QUERY, EXECUTE or BATCH
    std::string keyspace;                      // the client connection's keyspace (unqualified names)
    std::vector<journal_prepared> prepared;
    std::string message;  // the body without custom payload, uncompressed, with its timestamp
};

// Whether a write may be journaled and applied to the secondary later (and more than once):
// INSERT, UPDATE, DELETE or BATCH, not conditional (a lightweight transaction), not a counter
// batch, and no assignment that reads the column it writes (`c = c + 1` on a counter, `l = l +
// [x]` on a list: applying those twice changes the result). Everything else stays synchronous.
bool journal_replayable(std::string_view query, const cql::statement_info& info);

// Appends one framed record (length, checksum, payload) to `out`.
void encode_journal_record(const journal_record& r, std::string& out);
// The same from views (the request path: no record object is built).
struct journal_prepared_view {
    std::string_view id, query, keyspace;
};
void encode_journal_record(cluster_role owed, uint8_t version, cql::opcode op, std::string_view keyspace,
                           const journal_prepared_view* prepared, size_t prepared_count, std::string_view message, std::string& out);

std::string journal_segment_header();
constexpr size_t journal_header_size = 16;

// Reads the records that follow a segment's header. Stops at the end, or at the first record
// that is short, too long, fails its checksum or does not decode: `torn()` then says so and
// `offset()` is where the good part ends.
class journal_reader {
public:
    explicit journal_reader(std::string_view records) : _data(records) {}
    // The next record, or false at the end or at a bad record.
    bool next(journal_record& r);
    size_t offset() const { return _at; }
    bool torn() const { return !_problem.empty(); }
    const std::string& problem() const { return _problem; }

private:
    std::string_view _data;
    size_t _at = 0;
    std::string _problem;
};

struct journal_options {
    std::string dir;
    uint64_t max_bytes = uint64_t{1} << 30;
    uint32_t sync_ms = 2;
    uint64_t segment_bytes = 0;  // 0: max_bytes / 8, between 64 KiB and 64 MiB
};

struct journal_counts {
    uint64_t pending_records = 0;  // appended, not yet on the cluster that owes them
    uint64_t pending_bytes = 0;    // the segments' size on disk
    uint64_t kept = 0;             // waiting for the replayer
    uint64_t appended = 0;
    uint64_t replayed = 0;
    uint64_t replay_failures = 0;  // attempts that failed (the record stays, unless rejected)
    uint64_t rejected = 0;         // refused for good: moved to rejected.journal
    uint64_t full = 0;             // appends refused: the journal was full
    uint64_t syncs = 0;
    uint64_t io_errors = 0;
    uint64_t recovered = 0;  // records found at start-up
    double oldest_pending_s = 0;
};

class write_journal {
public:
    // Opens (creating) the directory, locks it, reads every segment (a torn tail is cut and
    // logged); the records found are kept for the replayer: after a crash nobody knows whether
    // the secondary got them. Starts the sync thread. Throws std::runtime_error naming the
    // directory and what to fix.
    explicit write_journal(journal_options o);
    ~write_journal();  // a last sync, then the thread stops
    write_journal(const write_journal&) = delete;
    write_journal& operator=(const write_journal&) = delete;

    // How a worker hears that records up to an id are durable (it posts to its own thread).
    size_t add_listener(std::function<void(uint64_t upto)> fn);

    // Whether a write may be journaled and applied to the secondary later (and more than once):
// INSERT, UPDATE, DELETE or BATCH, not conditional (a lightweight transaction), not a counter
// batch, and no assignment that reads the column it writes (`c = c + 1` on a counter, `l = l +
// [x]` on a list: applying those twice changes the result). Everything else stays synchronous.
bool journal_replayable(std::string_view query, const cql::statement_info& info);

    // Appends one framed record (encode_journal_record) owed to `owed` for `listener`; its id,
    // or 0 when the journal is full or failed (the caller then writes as DUAL_SYNC does).
    uint64_t append(size_t listener, cluster_role owed, std::string_view framed);
    bool durable(uint64_t id) const { return id <= _durable.load(std::memory_order_acquire); }
    // The cluster that owes record `id` answered: `delivered` releases it, else it is kept for
    // the replayer.
    void settle(uint64_t id, bool delivered);

    // The replayer's side -------------------------------------------------------------------
    // Up to `max` kept records owed to `owed`, oldest first, marked as being replayed (not
    // handed out again until replayed() says how it went).
    std::vector<std::pair<uint64_t, journal_record>> take_kept(cluster_role owed, size_t max);
    // How a replay went: ok releases it; otherwise it is kept again, or, `reject`ed, written to
    // rejected.journal and released.
    void replayed(uint64_t id, bool ok, bool reject = false, const journal_record* r = nullptr);
    // A replay attempt failed; the replayer keeps the record to try it again later.
    void note_replay_failure() {
        std::lock_guard lk(_lock);
        ++_c.replay_failures;
    }
    // Kept records owed to `owed` (waiting for the replayer).
    uint64_t kept(cluster_role owed) const;

    journal_counts counts() const;
    const std::string& dir() const { return _opt.dir; }
    // Blocks until everything appended so far is durable (tests, shutdown).
    void flush();

private:
    enum state : uint8_t { in_flight = 0, released = 1, kept_state = 2, replaying = 3 };
    struct segment {
        uint64_t first_id = 0;
        std::vector<uint8_t> states;       // by position
        std::vector<uint8_t> owed;         // by position: 0 origin, 1 target
        std::vector<uint64_t> appended_ms; // by position (oldest pending age)
        uint64_t unsettled = 0;            // not released
        uint64_t bytes = 0;                // appended, header included
        uint64_t written = 0;              // on disk
        uint64_t scan[2] = {0, 0};         // per owed cluster: positions below are not kept
        uint64_t scan_offset[2] = {0, 0};
        int fd = -1;                       // the sync thread's, while open
        bool sealed = false;               // no more appends
        std::string path;
    };
    struct chunk {
        uint64_t first_id;
        std::string bytes;
    };
    void run();
    void recover();
    segment* find(uint64_t id);
    void set_state(segment& s, uint64_t pos, state to);
    void maybe_delete(std::vector<std::string>& doomed);
    void new_segment(uint64_t first_id);

    journal_options _opt;
    int _lock_fd = -1;
    mutable std::mutex _lock;
    std::condition_variable _cv, _flushed;
    std::deque<segment> _segments;
    std::vector<chunk> _buf, _writing;
    uint64_t _next_id = 1;
    uint64_t _live_bytes = 0;
    uint64_t _kept_count[2] = {0, 0};
    std::vector<std::function<void(uint64_t)>> _listeners;
    std::vector<bool> _listener_waiting;
    std::atomic<uint64_t> _durable{0};
    bool _stop = false;
    bool _failed = false;
    journal_counts _c;
    std::thread _thread;
};

}  // namespace tandem::core
