#include "core/journal.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "cql/primitives.hh"

namespace tandem::core {

namespace {

constexpr char magic[8] = {'T', 'A', 'N', 'D', 'E', 'M', 'J', 'L'};
constexpr uint32_t format_version = 1;
constexpr uint8_t payload_version = 1;
constexpr uint32_t max_payload = 256u << 20;  // a CQL frame's body is at most 256 MiB

// The record checksum: the low 32 bits of XXH3-64 (xxHash; several times cheaper than zlib's
// CRC-32 on the write path, and as good at catching a torn or flipped record).
uint32_t checksum_of(std::string_view s) { return static_cast<uint32_t>(XXH3_64bits(s.data(), s.size())); }

uint64_t steady_ms() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// The same clock, coarse (a few ms; no clock read on the append path's hot side): a record's
// append time only feeds the oldest-pending age.
uint64_t coarse_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

std::string segment_name(uint64_t first_id) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "segment-%020llu.journal", static_cast<unsigned long long>(first_id));
    return buf;
}

bool write_all(int fd, std::string_view b) {
    while (!b.empty()) {
        ssize_t n = ::write(fd, b.data(), b.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        b.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

void sync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

// The statement's tokens, enough to read SET clauses: identifiers (unquoted ones lowercased,
// quoted ones as written, marked by a leading '"'), one-character symbols, and "'" for any
// string or number literal. Comments are skipped.
std::vector<std::string> tokens_of(std::string_view q) {
    std::vector<std::string> out;
    size_t i = 0;
    auto ident_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    while (i < q.size()) {
        const char c = q[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if ((c == '-' && i + 1 < q.size() && q[i + 1] == '-') || (c == '/' && i + 1 < q.size() && q[i + 1] == '/')) {
            while (i < q.size() && q[i] != '\n') ++i;
        } else if (c == '/' && i + 1 < q.size() && q[i + 1] == '*') {
            size_t e = q.find("*/", i + 2);
            i = e == std::string_view::npos ? q.size() : e + 2;
        } else if (c == '\'') {
            ++i;
            while (i < q.size()) {
                if (q[i] == '\'' && i + 1 < q.size() && q[i + 1] == '\'') {
                    i += 2;
                } else if (q[i] == '\'') {
                    ++i;
                    break;
                } else {
                    ++i;
                }
            }
            out.emplace_back("'");
        } else if (c == '$' && i + 1 < q.size() && q[i + 1] == '$') {
            size_t e = q.find("$$", i + 2);
            i = e == std::string_view::npos ? q.size() : e + 2;
            out.emplace_back("'");
        } else if (c == '"') {
            std::string id = "\"";
            ++i;
            while (i < q.size()) {
                if (q[i] == '"' && i + 1 < q.size() && q[i + 1] == '"') {
                    id.push_back('"');
                    i += 2;
                } else if (q[i] == '"') {
                    ++i;
                    break;
                } else {
                    id.push_back(q[i++]);
                }
            }
            out.push_back(std::move(id));
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            while (i < q.size() && (ident_char(q[i]) || q[i] == '.')) ++i;
            out.emplace_back("'");
        } else if (ident_char(c)) {
            std::string id;
            while (i < q.size() && ident_char(q[i])) id.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(q[i++]))));
            out.push_back(std::move(id));
        } else {
            out.emplace_back(1, c);
            ++i;
        }
    }
    return out;
}

// An identifier token as a column name compares: unquoted ones are lowercase already; a quoted
// lowercase name is the same column.
std::string column_key(const std::string& t) {
    if (!t.empty() && t[0] == '"') return t.substr(1);
    return t;
}

bool is_identifier(const std::string& t) {
    return !t.empty() && (t[0] == '"' || std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_');
}

// Whether any SET clause assigns a column from an expression that names it.
bool self_referencing_assignment(std::string_view query) {
    const auto t = tokens_of(query);
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] != "set") continue;
        size_t j = i + 1;
        while (j < t.size()) {
            if (!is_identifier(t[j])) break;
            const std::string lhs = column_key(t[j]);
            ++j;
            int depth = 0;
            while (j < t.size() && !(depth == 0 && t[j] == "=")) {  // m['k'] = ..., u.field = ...
                if (t[j] == "[" || t[j] == "(") ++depth;
                if (t[j] == "]" || t[j] == ")") --depth;
                ++j;
            }
            ++j;  // '='
            depth = 0;
            while (j < t.size()) {
                const std::string& x = t[j];
                if (depth == 0 && (x == "," || x == "where" || x == "if" || x == "apply" || x == ";" || x == "insert" || x == "update" ||
                                   x == "delete")) {
                    break;
                }
                if (x == "[" || x == "(" || x == "{") ++depth;
                if (x == "]" || x == ")" || x == "}") --depth;
                if (is_identifier(x) && column_key(x) == lhs) return true;
                ++j;
            }
            if (j < t.size() && t[j] == ",") {
                ++j;
                continue;
            }
            break;
        }
    }
    return false;
}

}  // namespace

bool journal_replayable(std::string_view query, const cql::statement_info& info) {
    using K = cql::statement_kind;
    if (info.kind != K::insert && info.kind != K::update && info.kind != K::delete_ && info.kind != K::batch) return false;
    if (info.conditional || info.batch_kind == 2) return false;
    return !self_referencing_assignment(query);
}

std::string journal_segment_header() {
    std::string h(magic, sizeof magic);
    cql::writer w(h);
    w.write_int(static_cast<int32_t>(format_version));
    w.write_int(0);
    return h;
}

void encode_journal_record(cluster_role owed, uint8_t version, cql::opcode op, std::string_view keyspace,
                           const journal_prepared_view* prepared, size_t prepared_count, std::string_view message, std::string& out) {
    const size_t start = out.size();
    out.append(8, '\0');  // length and checksum, filled in below
    cql::writer w(out);
    w.write_byte(payload_version);
    w.write_byte(owed == cluster_role::origin ? 0 : 1);
    w.write_byte(version);
    w.write_byte(static_cast<uint8_t>(op));
    w.write_string(keyspace);
    w.write_short(static_cast<uint16_t>(prepared_count));
    for (size_t i = 0; i < prepared_count; ++i) {
        w.write_short_bytes(prepared[i].id);
        w.write_long_string(prepared[i].query);
        w.write_string(prepared[i].keyspace);
    }
    w.write_long_string(message);
    const std::string_view payload(out.data() + start + 8, out.size() - start - 8);
    cql::store_be32(out.data() + start, static_cast<uint32_t>(payload.size()));
    cql::store_be32(out.data() + start + 4, checksum_of(payload));
}

void encode_journal_record(const journal_record& r, std::string& out) {
    std::vector<journal_prepared_view> v;
    for (const auto& p : r.prepared) v.push_back({p.id, p.query, p.keyspace});
    encode_journal_record(r.owed, r.version, r.op, r.keyspace, v.data(), v.size(), r.message, out);
}

bool journal_reader::next(journal_record& r) {
    if (!_problem.empty() || _at == _data.size()) return false;
    const std::string_view rest = _data.substr(_at);
    if (rest.size() < 8) {
        _problem = "a record header cut short (" + std::to_string(rest.size()) + " bytes)";
        return false;
    }
    const uint32_t len = cql::load_be32(rest.data());
    const uint32_t sum = cql::load_be32(rest.data() + 4);
    if (len > max_payload || len > rest.size() - 8) {
        _problem = "a record of " + std::to_string(len) + " bytes with " + std::to_string(rest.size() - 8) + " left";
        return false;
    }
    const std::string_view payload = rest.substr(8, len);
    if (checksum_of(payload) != sum) {
        _problem = "a record whose checksum does not match";
        return false;
    }
    cql::reader rd(payload);
    const uint8_t pv = rd.read_byte();
    const uint8_t owed = rd.read_byte();
    r.version = rd.read_byte();
    const uint8_t op = rd.read_byte();
    r.keyspace.assign(rd.read_string());
    const uint16_t n = rd.read_short();
    r.prepared.clear();
    for (uint16_t i = 0; i < n && rd.ok(); ++i) {
        journal_prepared p;
        p.id.assign(rd.read_short_bytes());
        p.query.assign(rd.read_long_string());
        p.keyspace.assign(rd.read_string());
        r.prepared.push_back(std::move(p));
    }
    r.message.assign(rd.read_long_string());
    const auto opc = static_cast<cql::opcode>(op);
    if (!rd.ok() || !rd.at_end() || pv != payload_version || owed > 1 ||
        (opc != cql::opcode::query && opc != cql::opcode::execute && opc != cql::opcode::batch)) {
        _problem = "a record that does not decode";
        return false;
    }
    r.owed = owed == 0 ? cluster_role::origin : cluster_role::target;
    r.op = opc;
    _at += 8 + len;
    return true;
}

// ---------------------------------------------------------------------------------------------

write_journal::write_journal(journal_options o) : _opt(std::move(o)) {
    if (_opt.dir.empty()) throw std::runtime_error("write_journal_dir is empty");
    if (_opt.segment_bytes == 0) _opt.segment_bytes = std::clamp<uint64_t>(_opt.max_bytes / 8, 64 << 10, 64 << 20);
    std::error_code ec;
    std::filesystem::create_directories(_opt.dir, ec);
    if (ec) throw std::runtime_error("write_journal_dir " + _opt.dir + ": cannot create it: " + ec.message());
    const std::string lock_path = _opt.dir + "/lock";
    _lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (_lock_fd < 0) throw std::runtime_error("write_journal_dir " + _opt.dir + ": cannot open " + lock_path + ": " + std::strerror(errno));
    if (::flock(_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(_lock_fd);
        throw std::runtime_error("write_journal_dir " + _opt.dir + " is in use by another tandem (" + lock_path +
                                 " is locked); give each instance its own directory");
    }
    recover();
    _thread = std::thread([this] { run(); });
}

write_journal::~write_journal() {
    {
        std::lock_guard lk(_lock);
        _stop = true;
    }
    _cv.notify_all();
    if (_thread.joinable()) _thread.join();
    bool all_released = true;
    for (auto& s : _segments) {
        if (s.fd >= 0) ::close(s.fd);
        s.fd = -1;
        if (s.unsettled > 0) all_released = false;
    }
    if (all_released && !_failed) {
        // A clean stop with nothing owed: nothing to replay at the next start.
        for (auto& s : _segments) ::unlink(s.path.c_str());
    }
    if (_lock_fd >= 0) ::close(_lock_fd);
}

void write_journal::recover() {
    std::vector<std::pair<uint64_t, std::string>> files;
    for (const auto& e : std::filesystem::directory_iterator(_opt.dir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("segment-", 0) != 0 || name.size() < 16 || name.substr(name.size() - 8) != ".journal") continue;
        try {
            files.emplace_back(std::stoull(name.substr(8, name.size() - 16)), e.path().string());
        } catch (const std::exception&) {
            spdlog::warn("write journal: ignoring {}: not a segment name", e.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    const uint64_t now = coarse_ms();
    for (auto& [first, path] : files) {
        int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) throw std::runtime_error("write journal: cannot open " + path + ": " + std::strerror(errno));
        struct stat st {};
        ::fstat(fd, &st);
        std::string data(static_cast<size_t>(st.st_size), '\0');
        size_t got = 0;
        while (got < data.size()) {
            ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
            if (n <= 0) break;
            got += static_cast<size_t>(n);
        }
        data.resize(got);
        if (data.size() < journal_header_size || data.compare(0, journal_header_size, journal_segment_header()) != 0) {
            ::close(fd);
            throw std::runtime_error("write journal: " + path + " is not a tandem journal segment of format " +
                                     std::to_string(format_version) + "; move it away to start");
        }
        segment s;
        s.first_id = first;
        s.path = path;
        s.sealed = true;
        journal_reader rd(std::string_view(data).substr(journal_header_size));
        journal_record r;
        while (rd.next(r)) {
            s.states.push_back(kept_state);
            s.owed.push_back(r.owed == cluster_role::origin ? 0 : 1);
            s.appended_ms.push_back(now);
            ++_kept_count[r.owed == cluster_role::origin ? 0 : 1];
        }
        if (rd.torn()) {
            const size_t good = journal_header_size + rd.offset();
            spdlog::warn("write journal: {}: {} at offset {}: cut there ({} bytes dropped; a write cut short by a crash was never "
                         "acknowledged to a client)",
                         path, rd.problem(), good, data.size() - good);
            if (::ftruncate(fd, static_cast<off_t>(good)) != 0) {
                spdlog::error("write journal: cannot truncate {}: {}", path, std::strerror(errno));
            }
            ::fdatasync(fd);
            data.resize(good);
        }
        ::close(fd);
        s.unsettled = s.states.size();
        s.bytes = s.written = data.size();
        for (int o : {0, 1}) s.scan_offset[o] = journal_header_size;
        _c.recovered += s.states.size();
        _next_id = std::max(_next_id, first + s.states.size());
        if (s.states.empty()) {
            ::unlink(path.c_str());
            continue;
        }
        _live_bytes += s.bytes;
        _segments.push_back(std::move(s));
    }
    if (_c.recovered > 0) {
        spdlog::warn("write journal: {} records found in {}: they will be sent again to the cluster that owes them", _c.recovered,
                     _opt.dir);
    }
}

size_t write_journal::add_listener(std::function<void(uint64_t)> fn) {
    std::lock_guard lk(_lock);
    _listeners.push_back(std::move(fn));
    _listener_waiting.push_back(false);
    return _listeners.size() - 1;
}

void write_journal::new_segment(uint64_t first_id) {
    if (!_segments.empty()) _segments.back().sealed = true;
    segment s;
    s.first_id = first_id;
    s.path = _opt.dir + "/" + segment_name(first_id);
    s.bytes = journal_header_size;
    for (int o : {0, 1}) s.scan_offset[o] = journal_header_size;
    _live_bytes += s.bytes;
    _segments.push_back(std::move(s));
}

uint64_t write_journal::append(size_t listener, cluster_role owed, std::string_view framed) {
    std::unique_lock lk(_lock);
    if (_failed || _live_bytes + framed.size() + journal_header_size > _opt.max_bytes) {
        ++_c.full;
        return 0;
    }
    if (_segments.empty() || _segments.back().sealed || _segments.back().bytes + framed.size() > _opt.segment_bytes) {
        new_segment(_next_id);
    }
    segment& s = _segments.back();
    const uint64_t id = _next_id++;
    s.states.push_back(in_flight);
    s.owed.push_back(owed == cluster_role::origin ? 0 : 1);
    s.appended_ms.push_back(coarse_ms());
    ++s.unsettled;
    s.bytes += framed.size();
    _live_bytes += framed.size();
    ++_c.appended;
    if (_buf.empty() || _buf.back().first_id != s.first_id) _buf.push_back({s.first_id, {}});
    _buf.back().bytes.append(framed);
    if (listener < _listener_waiting.size()) _listener_waiting[listener] = true;
    const bool wake = _buf.size() == 1 && _buf.front().bytes.size() == framed.size();
    lk.unlock();
    if (wake) _cv.notify_one();
    return id;
}

write_journal::segment* write_journal::find(uint64_t id) {
    auto it = std::upper_bound(_segments.begin(), _segments.end(), id, [](uint64_t v, const segment& s) { return v < s.first_id; });
    if (it == _segments.begin()) return nullptr;
    --it;
    if (id - it->first_id >= it->states.size()) return nullptr;
    return &*it;
}

void write_journal::set_state(segment& s, uint64_t pos, state to) {
    uint8_t& st = s.states[pos];
    const int o = s.owed[pos];
    if (st == to || st == released) return;
    if (st == kept_state) --_kept_count[o];
    if (to == kept_state) {
        ++_kept_count[o];
        if (pos < s.scan[o]) {  // behind the replayer's cursor: read the segment again
            s.scan[o] = 0;
            s.scan_offset[o] = journal_header_size;
        }
    }
    if (to == released) --s.unsettled;
    st = to;
}

void write_journal::settle(uint64_t id, bool delivered) {
    std::lock_guard lk(_lock);
    segment* s = find(id);
    if (!s) return;
    set_state(*s, id - s->first_id, delivered ? released : kept_state);
}

uint64_t write_journal::kept(cluster_role owed) const {
    std::lock_guard lk(_lock);
    return _kept_count[owed == cluster_role::origin ? 0 : 1];
}

std::vector<std::pair<uint64_t, journal_record>> write_journal::take_kept(cluster_role owed, size_t max) {
    const int o = owed == cluster_role::origin ? 0 : 1;
    std::vector<std::pair<uint64_t, journal_record>> out;
    std::unique_lock lk(_lock);
    if (_kept_count[o] == 0) return out;
    std::vector<uint64_t> firsts;
    for (const auto& s : _segments) firsts.push_back(s.first_id);
    for (uint64_t first : firsts) {
        if (out.size() >= max) break;
        segment* s = find(first);
        if (!s || s->first_id != first) continue;
        // Only what is on disk is read; the sync thread appends, never rewrites.
        uint64_t pos = s->scan[o], off = s->scan_offset[o];
        const uint64_t written = s->written;
        bool any = false;
        for (uint64_t i = pos; i < s->states.size(); ++i) {
            if (s->states[i] == kept_state && s->owed[i] == o) {
                any = true;
                break;
            }
        }
        if (!any || off >= written) continue;
        const std::string path = s->path;
        lk.unlock();
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        std::string data;
        if (fd >= 0) {
            data.resize(std::min<uint64_t>(written - off, 4u << 20));
            ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(off));
            data.resize(n > 0 ? static_cast<size_t>(n) : 0);
            ::close(fd);
        }
        lk.lock();
        s = find(first);
        if (!s || s->first_id != first || data.empty()) continue;
        journal_reader rd(data);
        journal_record r;
        // The cursor moves past records that are settled or handed out; an in-flight record
        // stops it (it may still be kept later), but later kept ones are still taken.
        bool cursor_moves = s->scan[o] == pos;
        while (out.size() < max && rd.next(r)) {
            const uint64_t at = pos;
            ++pos;
            const uint8_t st = s->states[at];
            if (s->owed[at] == o && st == kept_state) {
                s->states[at] = replaying;
                --_kept_count[o];
                out.emplace_back(first + at, std::move(r));
                r = journal_record{};
            } else if (s->owed[at] == o && st == in_flight) {
                cursor_moves = false;
            }
            if (cursor_moves) {
                s->scan[o] = pos;
                s->scan_offset[o] = off + rd.offset();
            }
        }
    }
    return out;
}

void write_journal::replayed(uint64_t id, bool ok, bool reject, const journal_record* r) {
    if (reject && r) {
        const std::string path = _opt.dir + "/rejected.journal";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            struct stat st {};
            ::fstat(fd, &st);
            std::string b = st.st_size == 0 ? journal_segment_header() : std::string();
            encode_journal_record(*r, b);
            write_all(fd, b);
            ::fdatasync(fd);
            ::close(fd);
        }
    }
    std::lock_guard lk(_lock);
    if (ok) ++_c.replayed;
    if (!ok) ++_c.replay_failures;
    if (reject) ++_c.rejected;
    segment* s = find(id);
    if (!s) return;
    const uint64_t pos = id - s->first_id;
    if (s->states[pos] == replaying) s->states[pos] = in_flight;  // set_state counts from here
    set_state(*s, pos, ok || reject ? released : kept_state);
}

journal_counts write_journal::counts() const {
    std::lock_guard lk(_lock);
    journal_counts c = _c;
    c.kept = _kept_count[0] + _kept_count[1];
    c.pending_bytes = _live_bytes;
    const uint64_t now = coarse_ms();
    for (const auto& s : _segments) {
        c.pending_records += s.unsettled;
        if (c.oldest_pending_s == 0 && s.unsettled > 0) {
            for (size_t i = 0; i < s.states.size(); ++i) {
                if (s.states[i] != released) {
                    c.oldest_pending_s = static_cast<double>(now - std::min(now, s.appended_ms[i])) / 1000.0;
                    break;
                }
            }
        }
    }
    return c;
}

void write_journal::flush() {
    std::unique_lock lk(_lock);
    const uint64_t upto = _next_id - 1;
    _cv.notify_one();
    _flushed.wait(lk, [&] { return _durable.load() >= upto || _failed; });
}

// Sealed segments whose every record is released and on disk: deleted (by the sync thread, the
// only one that holds a segment across an unlock).
void write_journal::maybe_delete(std::vector<std::string>& doomed) {
    for (auto it = _segments.begin(); it != _segments.end();) {
        if (it->sealed && it->unsettled == 0 && it->written == it->bytes) {
            if (it->fd >= 0) ::close(it->fd);
            doomed.push_back(it->path);
            _live_bytes -= it->bytes;
            it = _segments.erase(it);
        } else {
            ++it;
        }
    }
}

void write_journal::run() {
    uint64_t last_sync_ms = 0;
    std::vector<std::function<void(uint64_t)>*> tell;
    for (;;) {
        std::unique_lock lk(_lock);
        _cv.wait_for(lk, std::chrono::milliseconds(500), [&] { return !_buf.empty() || _stop; });
        if (_buf.empty()) {
            std::vector<std::string> doomed;
            maybe_delete(doomed);
            lk.unlock();
            for (auto& p : doomed) ::unlink(p.c_str());
            if (_stop) return;
            continue;
        }
        // Group commit: syncs back to back (load) are spaced by sync_ms, so each takes a
        // window's records; a record at an idle journal is synced at once.
        const uint64_t now = steady_ms();
        if (_opt.sync_ms > 0 && !_stop && now < last_sync_ms + _opt.sync_ms) {
            _cv.wait_for(lk, std::chrono::milliseconds(last_sync_ms + _opt.sync_ms - now), [&] { return _stop; });
        }
        last_sync_ms = steady_ms();
        _writing.swap(_buf);
        const uint64_t upto = _next_id - 1;
        tell.clear();
        for (size_t i = 0; i < _listeners.size(); ++i) {
            if (_listener_waiting[i]) tell.push_back(&_listeners[i]);
            _listener_waiting[i] = false;
        }
        // What the writes need, read under the lock (the segments are not deleted meanwhile:
        // only this thread deletes).
        std::vector<segment*> targets;
        for (auto& ch : _writing) targets.push_back(find(ch.first_id));
        lk.unlock();

        bool ok = true, created = false;
        const auto sync_start = std::chrono::steady_clock::now();
        std::vector<segment*> touched;
        for (size_t i = 0; i < _writing.size() && ok; ++i) {
            segment* s = targets[i];
            if (!s) continue;
            if (s->fd < 0) {
                s->fd = ::open(s->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (s->fd < 0 || !write_all(s->fd, journal_segment_header())) {
                    spdlog::error("write journal: cannot create {}: {}", s->path, std::strerror(errno));
                    ok = false;
                    break;
                }
                created = true;
            }
            if (!write_all(s->fd, _writing[i].bytes)) {
                spdlog::error("write journal: cannot write to {}: {}", s->path, std::strerror(errno));
                ok = false;
                break;
            }
            if (std::find(touched.begin(), touched.end(), s) == touched.end()) touched.push_back(s);
        }
        for (auto* s : touched) {
            if (ok && ::fdatasync(s->fd) != 0) {
                spdlog::error("write journal: fdatasync of {} failed: {}", s->path, std::strerror(errno));
                ok = false;
            }
        }
        if (created) sync_dir(_opt.dir);
        const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sync_start).count();
        if (took_ms >= 200) spdlog::warn("write journal: a sync took {} ms (the disk is slow: writes wait for it)", took_ms);

        lk.lock();
        ++_c.syncs;
        if (!ok) {
            // Nothing is claimed durable any more: waiting writes time out (the client is told
            // the write may not have completed) and new ones are written as DUAL_SYNC does.
            _failed = true;
            ++_c.io_errors;
            spdlog::error("write journal: failed; writes now wait for both clusters (DUAL_SYNC) until tandem restarts");
        } else {
            for (size_t i = 0; i < _writing.size(); ++i) {
                if (targets[i]) targets[i]->written += _writing[i].bytes.size() + (targets[i]->written == 0 ? journal_header_size : 0);
            }
            for (auto* s : touched) {
                if (s->sealed && s->written == s->bytes) {
                    ::close(s->fd);
                    s->fd = -1;
                }
            }
            _durable.store(upto, std::memory_order_release);
        }
        for (auto& ch : _writing) ch.bytes.clear();
        _writing.clear();
        std::vector<std::string> doomed;
        maybe_delete(doomed);
        lk.unlock();
        _flushed.notify_all();
        for (auto& p : doomed) ::unlink(p.c_str());
        if (ok) {
            for (auto* fn : tell) (*fn)(upto);
        }
    }
}

}  // namespace tandem::core
