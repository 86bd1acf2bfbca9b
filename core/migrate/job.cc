#include "core/migrate/job.hh"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/client/blocking.hh"
#include "core/migrate/diff.hh"
#include "core/migrate/ranges.hh"
#include "core/migrate/schema.hh"
#include "cql/murmur3.hh"
#include "cql/primitives.hh"
#include "cql/query.hh"

namespace tandem::core::migrate {

using cql::opcode;
using row = std::vector<std::optional<std::string>>;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int max_attempts = 5;
constexpr int64_t ttl_tolerance_s = 5;

std::string bigint(int64_t v) {
    std::string b(8, '\0');
    cql::store_be64(b.data(), static_cast<uint64_t>(v));
    return b;
}
std::string int32(int32_t v) {
    std::string b(4, '\0');
    cql::store_be32(b.data(), static_cast<uint32_t>(v));
    return b;
}
int64_t as_bigint(const std::optional<std::string>& c) {
    return c && c->size() == 8 ? static_cast<int64_t>(cql::load_be64(c->data())) : 0;
}
int32_t as_int(const std::optional<std::string>& c) { return c && c->size() == 4 ? static_cast<int32_t>(cql::load_be32(c->data())) : 0; }

// The primary key of a row, as one comparable string (length-prefixed cells).
std::string key_of(const row& r, size_t key_columns) {
    std::string k;
    for (size_t i = 0; i < key_columns && i < r.size(); ++i) {
        if (!r[i]) {
            k += "\xff\xff\xff\xff";
            continue;
        }
        k += int32(static_cast<int32_t>(r[i]->size()));
        k += *r[i];
    }
    return k;
}

struct table_task {
    table_schema schema;
    read_plan first_plan, plan, key_plan;
    std::vector<token_range> ranges;
    std::vector<key_values> keys;  // repair --from-diff: the rows to read again and write
    table_stats stats;
    clock_type::time_point started;
    size_t pending = 0;  // ranges not finished
    // Prepared writes by column-set key ('r'/'s' regular or static, 't'/'u' timed or not, then
    // the cell indexes; 'c' counters; 'k' key only).
    std::unordered_map<std::string, const client::prepared_statement*> statements;
};

// The writes of one range (or of one comparison): how many are out, whether all succeeded, and
// what follows the last one.
struct write_batch {
    size_t outstanding = 1;  // held by the issuer until every write is out
    bool ok = true;
    std::function<void(bool ok)> done;
};

// A write waiting or in flight (by its slot index, the request's tag).
struct write_op {
    const client::prepared_statement* st = nullptr;  // once prepared
    std::string text;                                // to prepare it, and for errors
    std::string key;                                 // its column-set key in `table`'s cache
    table_task* table = nullptr;
    std::vector<std::optional<std::string>> values;
    std::string routing_key;
    int attempts = 0;
    std::shared_ptr<write_batch> batch;
};

// A token range, or (repair --from-diff) one row by its primary key.
struct range_task {
    table_task* table;
    token_range range;
    int attempts = 0;
    const key_values* key = nullptr;
};

class engine : public client::reply_sink {
public:
    engine(net::worker& w, const job_options& o, std::vector<table_task>& tables, checkpoint* cp, std::ofstream* diff, job_result& result)
        : _w(w), _o(o), _tables(tables), _cp(cp), _diff(diff), _result(result), _origin(w, o.origin), _target(w, o.target) {}

    void start();

private:
    void fail_all(const std::string& why) {
        _result.messages.push_back(why);
        _result.exit_code = 1;
        _w.stop(0);
    }
    void next();
    void read(std::shared_ptr<range_task> rt);
    void read_failed(std::shared_ptr<range_task> rt, const std::string& why);
    void copy_rows(std::shared_ptr<range_task> rt, std::vector<row> rows);
    void compare(std::shared_ptr<range_task> rt, std::vector<row> origin_rows, std::vector<row> target_rows);
    void range_done(std::shared_ptr<range_task> rt, bool ok);
    void write_row(table_task& t, const row& r, bool statics, const std::shared_ptr<write_batch>& batch);
    void submit(write_op op);
    void send(uint32_t slot);
    void on_reply(client::connection& c, uint64_t tag, const client::reply& r) override;
    void retry(uint32_t slot, const std::string& why);
    void complete(uint32_t slot, bool ok);
    void drain();
    void with_statement(const std::string& text, std::function<void(const client::prepared_statement*, const std::string&)> fn);
    void report_difference(const table_task& t, const row& r, const char* kind, const std::vector<std::string>& columns);
    void progress();
    void finish();
    // Runs `fn` on the worker after `ms`; the timer is the engine's (a retry or a paced range is
    // rare next to the writes, and the engine outlives every timer it armed).
    void after(uint64_t ms, std::function<void()> fn) {
        auto& t = _timers.emplace_back(std::make_unique<net::timer>());
        t->set_callback(std::move(fn));
        _w.timers().arm(*t, ms);
    }

    net::worker& _w;
    const job_options& _o;
    std::vector<table_task>& _tables;
    checkpoint* _cp;
    std::ofstream* _diff;
    job_result& _result;
    client::cluster _origin, _target;
    std::deque<range_task> _queue;
    size_t _active = 0;
    size_t _writes = 0;
    std::deque<write_op> _backlog;
    std::vector<write_op> _slots;  // writes in flight, by tag
    std::vector<uint32_t> _free_slots;
    std::string _body, _storage;
    struct statement {
        std::shared_ptr<const client::prepared_statement> st;
        std::string error;
        std::vector<std::function<void(const client::prepared_statement*, const std::string&)>> waiting;
    };
    std::map<std::string, statement> _statements;
    net::timer _progress;
    clock_type::time_point _last_progress = clock_type::now();
    uint64_t _last_rows = 0;
    bool _finished = false;
    clock_type::time_point _started = clock_type::now();
    std::vector<std::unique_ptr<net::timer>> _timers;
};

void engine::start() {
    _origin.connect([this](const std::string& err) {
        if (!err.empty()) return fail_all("origin: " + err);
        _target.connect([this](const std::string& err2) {
            if (!err2.empty()) return fail_all("target: " + err2);
            for (auto* c : _target.all_connections()) c->set_sink(this);
            _started = clock_type::now();
            for (auto& t : _tables) {
                t.started = clock_type::now();
                for (const auto& r : t.ranges) {
                    if (_cp && _cp->done(t.stats.table, r.index)) continue;
                    _queue.push_back({&t, r, 0});
                    ++t.pending;
                }
                for (const auto& k : t.keys) {
                    _queue.push_back({&t, {}, 0, &k});
                    ++t.pending;
                }
            }
            _progress.set_callback([this] { progress(); });
            _w.timers().arm(_progress, _o.bar ? 1000 : 5000);
            for (size_t i = 0; i < std::max<size_t>(_o.parallel, 1); ++i) next();
            if (_active == 0) finish();
        });
    });
}

void engine::next() {
    const bool stopping = _o.stop && _o.stop->load();
    if (stopping) _result.interrupted = true;
    if (_queue.empty() || stopping) {
        if (_active == 0) finish();
        return;
    }
    auto rt = std::make_shared<range_task>(_queue.front());
    _queue.pop_front();
    ++_active;
    read(rt);
}

// One range from origin (and from target when comparing), every page, each read from a replica
// of the range's last token (ranges are narrower than a node's share of the ring).
void engine::read(std::shared_ptr<range_task> rt) {
    const table_task& t = *rt->table;
    if (rt->key) {  // one row, from a replica of its partition
        auto storage = std::make_shared<std::string>();
        cql::query_parameters params;
        params.cl = _o.consistency;
        params.values = client::bind_values(*rt->key, *storage);
        const key_values& k = *rt->key;
        std::vector<std::string_view> pk_parts;
        for (size_t i = 0; i < t.schema.partition_key.size(); ++i) pk_parts.push_back(k[i] ? std::string_view(*k[i]) : std::string_view());
        _origin.query_all(t.key_plan.text, params, [this, rt, storage](client::rows_result rows, const std::string& err) {
            if (!err.empty()) return read_failed(rt, "origin: " + err);
            copy_rows(rt, std::move(rows.rows));  // none: deleted on origin since; nothing to write
        }, cql::murmur3_token(client::routing_key(pk_parts)));
        return;
    }
    const read_plan& plan = rt->range.first ? t.first_plan : t.plan;
    auto storage = std::make_shared<std::string>();
    auto bounds = std::make_shared<std::vector<std::string>>(std::vector<std::string>{bigint(rt->range.start), bigint(rt->range.end)});
    cql::bound_value vals[2] = {{{}, cql::value_ref::of((*bounds)[0])}, {{}, cql::value_ref::of((*bounds)[1])}};
    cql::query_parameters params;
    params.cl = _o.consistency;
    params.page_size = 5000;
    params.values = cql::value_list::build(vals, false, *storage);
    if (_o.kind == job_kind::copy) {
        _origin.query_all(plan.text, params, [this, rt, storage, bounds](client::rows_result rows, const std::string& err) {
            if (!err.empty()) return read_failed(rt, "origin: " + err);
            copy_rows(rt, std::move(rows.rows));
        }, rt->range.end);
        return;
    }
    _origin.query_all(plan.text, params, [this, rt, storage, bounds, text = plan.text, params](client::rows_result o, const std::string& err) {
        if (!err.empty()) return read_failed(rt, "origin: " + err);
        _target.query_all(text, params, [this, rt, storage, bounds, o = std::move(o)](client::rows_result on_target, const std::string& err2) mutable {
            if (!err2.empty()) return read_failed(rt, "target: " + err2);
            compare(rt, std::move(o.rows), std::move(on_target.rows));
        }, rt->range.end);
    }, rt->range.end);
}

void engine::read_failed(std::shared_ptr<range_task> rt, const std::string& why) {
    if (++rt->attempts < max_attempts) {
        // Retried with exponential backoff: a timeout or an overloaded node passes.
        after(static_cast<uint64_t>(100 << rt->attempts), [this, rt] { read(rt); });
        return;
    }
    const std::string what = rt->table->stats.table + (rt->key ? " row" : " range " + std::to_string(rt->range.index));
    if (_o.log) _o.log(what + " failed after " + std::to_string(max_attempts) + " attempts: " + why);
    _result.messages.push_back(what + ": " + why);
    range_done(rt, false);
}

void engine::copy_rows(std::shared_ptr<range_task> rt, std::vector<row> rows) {
    table_task& t = *rt->table;
    t.stats.rows_read += rows.size();
    auto batch = std::make_shared<write_batch>();
    batch->done = [this, rt](bool ok) { range_done(rt, ok); };
    std::string last_partition;
    const size_t pk = t.schema.partition_key.size();
    for (const auto& r : rows) {
        std::string partition = key_of(r, pk);
        const bool first_of_partition = partition != last_partition;
        last_partition = std::move(partition);
        write_row(t, r, first_of_partition, batch);
    }
    if (--batch->outstanding == 0) batch->done(batch->ok);
}

// A row's cells grouped by (static, writetime, ttl): one write per group, each with its cells'
// own timestamp and remaining TTL. Multi-cell columns (no writetime() before Cassandra 5) take
// the row's latest write time. Counters become increments.
void engine::write_row(table_task& t, const row& r, bool statics, const std::shared_ptr<write_batch>& batch) {
    const auto& s = t.schema;
    const read_plan& plan = t.plan;
    const size_t pk = s.partition_key.size();
    const bool has_row = s.clustering.empty() || (plan.key_columns > pk && r[pk]);
    std::vector<std::optional<std::string>> key(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(plan.key_columns));
    std::vector<std::string_view> pk_parts;
    for (size_t i = 0; i < pk; ++i) pk_parts.push_back(r[i] ? std::string_view(*r[i]) : std::string_view());
    const std::string routing = client::routing_key(pk_parts);
    bool counted = false;
    // The statement of a column set is looked up by a short key (no text built per row).
    auto issue = [&](std::string statement_key, auto make_text, std::vector<std::optional<std::string>> values) {
        ++batch->outstanding;
        if (!std::exchange(counted, true)) ++t.stats.rows_written;
        write_op op;
        auto it = t.statements.find(statement_key);
        if (it != t.statements.end()) {
            op.st = it->second;
        } else {
            op.text = make_text();
            op.key = std::move(statement_key);
            op.table = &t;
        }
        op.values = std::move(values);
        op.routing_key = routing;
        op.batch = batch;
        submit(std::move(op));
    };
    if (s.counters()) {
        std::vector<size_t> cols;
        std::vector<std::optional<std::string>> values;
        for (size_t i = 0; i < s.cells.size(); ++i) {
            if (!r[plan.cells[i].value]) continue;
            cols.push_back(i);
            values.push_back(r[plan.cells[i].value]);
        }
        if (cols.empty() || !has_row) return;
        values.insert(values.end(), key.begin(), key.end());
        std::string skey = "c";
        for (size_t i : cols) skey.push_back(static_cast<char>(i));
        issue(std::move(skey), [&] { return counter_update_text(s, cols); }, std::move(values));
        return;
    }
    int64_t latest = INT64_MIN;
    for (const auto& c : plan.cells) {
        if (c.writetime >= 0 && r[static_cast<size_t>(c.writetime)]) latest = std::max(latest, as_bigint(r[static_cast<size_t>(c.writetime)]));
    }
    struct group_key {
        bool is_static;
        bool timed;
        int64_t writetime;
        int32_t ttl;
        auto operator<=>(const group_key&) const = default;
    };
    std::map<group_key, std::vector<size_t>> groups;
    for (size_t i = 0; i < s.cells.size(); ++i) {
        const auto& at = plan.cells[i];
        if (!r[at.value]) continue;  // nothing to copy (a null is no write: no tombstone)
        const bool is_static = s.cells[i].kind == column_kind::static_;
        if (is_static ? !statics : !has_row) continue;
        group_key g{is_static, false, 0, 0};
        if (at.writetime >= 0 && r[static_cast<size_t>(at.writetime)]) {
            g.timed = true;
            g.writetime = as_bigint(r[static_cast<size_t>(at.writetime)]);
            g.ttl = at.ttl >= 0 ? as_int(r[static_cast<size_t>(at.ttl)]) : 0;
        } else if (latest != INT64_MIN) {
            g.timed = true;
            g.writetime = latest;
        }
        if (g.timed && g.writetime < _o.writetime_since) continue;
        groups[g].push_back(i);
    }
    for (const auto& entry : groups) {  // not a structured binding: clang 14 cannot capture those
        const group_key& g = entry.first;
        const std::vector<size_t>& cols = entry.second;
        std::vector<std::optional<std::string>> values(key.begin(), key.begin() + static_cast<std::ptrdiff_t>(g.is_static ? pk : plan.key_columns));
        for (size_t i : cols) values.push_back(r[plan.cells[i].value]);
        if (g.timed) {
            values.push_back(bigint(g.writetime));
            values.push_back(int32(g.ttl));
        }
        std::string skey = std::string(1, g.is_static ? 's' : 'r') + (g.timed ? "t" : "u");
        for (size_t i : cols) skey.push_back(static_cast<char>(i));
        issue(std::move(skey), [&] { return insert_text(s, cols, !g.is_static, g.timed); }, std::move(values));
    }
    if (groups.empty() && has_row && _o.writetime_since == INT64_MIN) {
        // A row with its key only (no cell to copy): the key itself.
        issue("k", [&] { return insert_text(s, {}, true, false); }, key);
    }
}

void engine::submit(write_op op) {
    if (_writes >= _o.writes_in_flight) {
        _backlog.push_back(std::move(op));
        return;
    }
    ++_writes;
    uint32_t slot;
    if (_free_slots.empty()) {
        slot = static_cast<uint32_t>(_slots.size());
        _slots.emplace_back();
    } else {
        slot = _free_slots.back();
        _free_slots.pop_back();
    }
    _slots[slot] = std::move(op);
    if (_slots[slot].st) {
        send(slot);
        return;
    }
    std::string text = _slots[slot].text;
    with_statement(text, [this, slot](const client::prepared_statement* st, const std::string& err) {
        if (!st) {
            if (_result.messages.size() < 100) _result.messages.push_back("cannot prepare " + _slots[slot].text + ": " + err);
            complete(slot, false);
            return;
        }
        _slots[slot].st = st;
        if (auto* t = _slots[slot].table) t->statements.emplace(_slots[slot].key, st);
        send(slot);
    });
}

// An EXECUTE to a replica of the row's partition, tagged with its slot.
void engine::send(uint32_t slot) {
    write_op& op = _slots[slot];
    cql::execute_message m;
    m.id = op.st->id;
    m.result_metadata_id = op.st->result_metadata_id;
    m.params.cl = _o.consistency;
    m.params.values = client::bind_values(op.values, _storage);
    _body.clear();
    m.encode(_body, cql::effective_version(_target.version()));
    client::connection* c = _target.pick(std::string_view(op.routing_key));
    if (!c || !c->request(opcode::execute, _body, slot)) retry(slot, "no target connection can take a write");
}

void engine::on_reply(client::connection&, uint64_t tag, const client::reply& r) {
    const auto slot = static_cast<uint32_t>(tag);
    if (r.is_error()) {
        retry(slot, r.describe());
        return;
    }
    complete(slot, true);
}

// A failed write is sent again after a backoff (timeouts and overloaded nodes pass); after
// max_attempts its range is recorded as failed.
void engine::retry(uint32_t slot, const std::string& why) {
    write_op& op = _slots[slot];
    if (++op.attempts >= max_attempts) {
        if (_result.messages.size() < 100) _result.messages.push_back("write failed after " + std::to_string(max_attempts) + " attempts: " + why);
        complete(slot, false);
        return;
    }
    after(static_cast<uint64_t>(50 << op.attempts), [this, slot] { send(slot); });
}

void engine::complete(uint32_t slot, bool ok) {
    auto batch = std::move(_slots[slot].batch);
    _slots[slot].values.clear();
    _free_slots.push_back(slot);
    --_writes;
    if (!ok) {
        ++_result.errors;
        batch->ok = false;
    }
    if (--batch->outstanding == 0) batch->done(batch->ok);
    drain();
}

void engine::drain() {
    while (!_backlog.empty() && _writes < _o.writes_in_flight) {
        auto op = std::move(_backlog.front());
        _backlog.pop_front();
        submit(std::move(op));
    }
}

// Prepared once on every target node; writes that need it meanwhile wait.
void engine::with_statement(const std::string& text, std::function<void(const client::prepared_statement*, const std::string&)> fn) {
    auto [it, fresh] = _statements.try_emplace(text);
    statement& s = it->second;
    if (s.st || !s.error.empty()) {
        fn(s.st.get(), s.error);
        return;
    }
    s.waiting.push_back(std::move(fn));
    if (!fresh) return;
    _target.prepare(text, [this, text](std::shared_ptr<const client::prepared_statement> st, const std::string& err) {
        statement& s2 = _statements[text];
        s2.st = std::move(st);
        s2.error = err;
        auto waiting = std::move(s2.waiting);
        for (auto& f : waiting) f(s2.st.get(), s2.error);
    });
}

void engine::compare(std::shared_ptr<range_task> rt, std::vector<row> origin_rows, std::vector<row> target_rows) {
    table_task& t = *rt->table;
    const read_plan& plan = t.plan;
    t.stats.rows_read += origin_rows.size() + target_rows.size();
    std::unordered_map<std::string, const row*> on_target;
    for (const auto& r : target_rows) on_target.emplace(key_of(r, plan.key_columns), &r);
    auto batch = std::make_shared<write_batch>();
    batch->done = [this, rt](bool ok) { range_done(rt, ok); };
    for (const auto& r : origin_rows) {
        auto it = on_target.find(key_of(r, plan.key_columns));
        std::vector<std::string> differing;
        if (it == on_target.end()) {
            ++t.stats.missing;
            report_difference(t, r, "missing", {});
        } else {
            const row& other = *it->second;
            for (size_t i = 0; i < t.schema.cells.size(); ++i) {
                const auto& at = plan.cells[i];
                bool same = r[at.value] == other[at.value];
                if (same && _o.check_writetime && at.writetime >= 0) {
                    const auto wt = static_cast<size_t>(at.writetime), ttl = static_cast<size_t>(at.ttl);
                    same = r[wt] == other[wt] && std::llabs(static_cast<long long>(as_int(r[ttl])) - as_int(other[ttl])) <= ttl_tolerance_s;
                }
                if (!same) differing.push_back(t.schema.cells[i].name);
            }
            on_target.erase(it);
            if (!differing.empty()) {
                ++t.stats.mismatched;
                report_difference(t, r, "mismatched", differing);
            }
        }
        if (_o.kind == job_kind::repair && (it == on_target.end() || !differing.empty())) {
            write_row(t, r, true, batch);  // statics too: they may be what differs
        }
    }
    for (const auto& [k, r] : on_target) {
        ++t.stats.extra;  // reported, never deleted
        report_difference(t, *r, "extra", {});
    }
    if (--batch->outstanding == 0) batch->done(batch->ok);
}

void engine::report_difference(const table_task& t, const row& r, const char* kind, const std::vector<std::string>& columns) {
    if (!_diff || !_diff->is_open()) return;
    *_diff << diff_line(t.schema, kind, r, columns) << '\n';
}

void engine::range_done(std::shared_ptr<range_task> rt, bool ok) {
    table_task& t = *rt->table;
    if (ok) {
        if (_cp && !rt->key) _cp->record(t.stats.table, rt->range.index);
    } else {
        ++t.stats.ranges_failed;
        ++_result.errors;
    }
    if (--t.pending == 0) t.stats.seconds = std::chrono::duration<double>(clock_type::now() - t.started).count();
    --_active;
    // --rate: the next range starts once the rows read so far fit the rate since the start.
    if (_o.rate_rows_per_s > 0 && !_finished) {
        uint64_t rows = 0;
        for (const auto& tt : _tables) rows += tt.stats.rows_read;
        const double due_s = static_cast<double>(rows) / _o.rate_rows_per_s;
        const double elapsed_s = std::chrono::duration<double>(clock_type::now() - _started).count();
        if (due_s > elapsed_s) {
            after(static_cast<uint64_t>((due_s - elapsed_s) * 1000) + 1, [this] { next(); });
            return;
        }
    }
    next();
}

void engine::progress() {
    uint64_t rows = 0;
    size_t done = 0, total = 0;
    for (const auto& t : _tables) {
        rows += t.stats.rows_read;
        total += t.ranges.size() + t.keys.size();
        done += t.ranges.size() + t.keys.size() - t.pending;
    }
    const double dt = std::chrono::duration<double>(clock_type::now() - _last_progress).count();
    const double rate = dt > 0 ? static_cast<double>(rows - _last_rows) / dt : 0.0;
    if (_o.bar) {
        _o.bar(progress_bar(done, total, rows, rate, std::chrono::duration<double>(clock_type::now() - _started).count()));
        _last_rows = rows;
        _last_progress = clock_type::now();
        _w.timers().arm(_progress, 1000);
        return;
    }
    if (_o.log) {
        char line[160];
        std::snprintf(line, sizeof line, "%zu of %zu ranges done, %llu rows read, %.0f rows/s", done, total,
                      static_cast<unsigned long long>(rows), dt > 0 ? static_cast<double>(rows - _last_rows) / dt : 0.0);
        _o.log(line);
    }
    _last_rows = rows;
    _last_progress = clock_type::now();
    _w.timers().arm(_progress, 5000);
}

void engine::finish() {
    if (_finished) return;
    _finished = true;
    _progress.cancel();
    _origin.close();
    _target.close();
    _w.stop(1000);
}

// repair --from-diff: the missing and mismatched rows of a diff file, by table name (extra rows
// are never deleted); an error names the line.
std::map<std::string, std::vector<key_values>> read_diff_file(const job_options& o, std::string& error) {
    std::map<std::string, std::vector<key_values>> out;
    std::ifstream in(o.from_diff_path);
    if (!in) {
        error = "cannot read the diff file " + o.from_diff_path;
        return out;
    }
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        std::string why;
        auto d = parse_diff_line(line, why);
        const std::string at = o.from_diff_path + ":" + std::to_string(n) + ": ";
        if (!d) {
            error = at + why;
            return out;
        }
        if (d->kind == "extra") continue;
        const auto dot = d->table.find('.');
        if (dot == std::string::npos || d->table.substr(0, dot) != o.keyspace) {
            error = at + "table " + d->table + " is not in keyspace " + o.keyspace;
            return out;
        }
        std::string name = d->table.substr(dot + 1);
        if (!o.tables.empty() && std::find(o.tables.begin(), o.tables.end(), name) == o.tables.end()) continue;
        out[name].push_back(std::move(d->key));
    }
    return out;
}

// The tables to migrate, each checked against target's schema (through the blocking façade,
// whose connections close before the copy starts); `split` derived from origin's ring unless set.
std::vector<table_task> plan_tables(const job_options& o, job_result& result, size_t& split) {
    std::vector<table_task> tables;
    auto fail = [&](int code, const std::string& why) {
        result.exit_code = code;
        result.messages.push_back(why);
        return std::vector<table_task>{};
    };
    client::blocking_session origin(o.origin), target(o.target);
    if (auto err = origin.connect(); !err.empty()) return fail(1, "origin: " + err);
    if (auto err = target.connect(); !err.empty()) return fail(1, "target: " + err);
    std::string err;
    auto os = read_schema(origin, o.keyspace, err);
    if (!err.empty()) return fail(2, "origin: " + err);
    std::string err2;
    auto ts = read_schema(target, o.keyspace, err2);
    std::vector<std::string> names = o.tables;
    std::map<std::string, std::vector<key_values>> from_diff;
    if (!o.from_diff_path.empty()) {
        std::string why;
        from_diff = read_diff_file(o, why);
        if (!why.empty()) return fail(2, why);
        names.clear();
        for (const auto& entry : from_diff) names.push_back(entry.first);
    } else if (names.empty()) {
        for (const auto& [n, t] : os) names.push_back(n);
    }
    split = o.split ? o.split : std::max<size_t>(64, origin.view().ring().size() * 4);
    for (const auto& n : names) {
        auto it = os.find(n);
        if (it == os.end()) return fail(2, "table " + o.keyspace + "." + n + " does not exist on origin");
        auto t_it = ts.find(n);
        auto diffs = schema_differences(it->second, t_it == ts.end() ? nullptr : &t_it->second);
        if (!diffs.empty()) {
            result.exit_code = 2;
            for (auto& d : diffs) result.messages.push_back(d);
            continue;
        }
        table_task t;
        t.schema = it->second;
        t.first_plan = plan_read(t.schema, true);
        t.plan = plan_read(t.schema, false);
        t.key_plan = plan_key_read(t.schema);
        if (o.from_diff_path.empty()) {
            t.ranges = shard_slice(split_ring(split), o.shard, o.shards);
        } else {
            t.keys = std::move(from_diff[n]);
            const size_t columns = t.schema.partition_key.size() + t.schema.clustering.size();
            for (const auto& k : t.keys) {
                if (k.size() != columns) {
                    return fail(2, o.from_diff_path + ": a key of " + o.keyspace + "." + n + " has " + std::to_string(k.size()) +
                                       " columns, the table's primary key " + std::to_string(columns));
                }
            }
            if (o.log) o.log(o.keyspace + "." + n + ": " + std::to_string(t.keys.size()) + " rows to repair from " + o.from_diff_path);
        }
        t.stats.table = o.keyspace + "." + n;
        t.stats.ranges = t.ranges.size();
        tables.push_back(std::move(t));
    }
    return result.exit_code ? std::vector<table_task>{} : std::move(tables);
}

}  // namespace

job_result run_job(const job_options& o) {
    job_result result;
    const auto started = clock_type::now();
    auto fail = [&](int code, const std::string& why) {
        result.exit_code = code;
        result.messages.push_back(why);
        return result;
    };
    size_t split = 0;
    std::vector<table_task> tables = plan_tables(o, result, split);
    if (result.exit_code) return result;
    checkpoint cp;
    if (!o.checkpoint_path.empty()) {
        if (auto e = cp.open(o.checkpoint_path, split); !e.empty()) return fail(2, e);
        if (cp.size() && o.log) o.log("resuming: " + std::to_string(cp.size()) + " ranges already done (" + o.checkpoint_path + ")");
    }
    std::ofstream diff;
    if (!o.diff_path.empty()) {
        diff.open(o.diff_path, std::ios::trunc);
        if (!diff) return fail(2, "cannot write the diff file " + o.diff_path);
    }
    {
        net::worker w;
        engine e(w, o, tables, o.checkpoint_path.empty() ? nullptr : &cp, o.diff_path.empty() ? nullptr : &diff, result);
        w.run([&](net::worker&) { e.start(); });
    }
    for (auto& t : tables) {
        if (t.pending) t.stats.seconds = std::chrono::duration<double>(clock_type::now() - t.started).count();
        result.tables.push_back(t.stats);
    }
    result.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    if (result.exit_code == 0) {
        uint64_t differences = 0, failed = 0;
        for (const auto& t : result.tables) {
            differences += t.missing + t.mismatched + t.extra;
            failed += t.ranges_failed;
        }
        if (failed || result.errors) {
            result.exit_code = 1;
        } else if (o.kind == job_kind::validate && differences) {
            result.exit_code = 3;
        }
    }
    return result;
}

std::string progress_bar(size_t done, size_t total, uint64_t rows, double rows_per_s, double elapsed_s) {
    constexpr size_t width = 24;
    const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const auto filled = static_cast<size_t>(f * width);
    std::string eta = "--:--";
    if (done > 0 && done < total) {
        const auto s = static_cast<long long>(elapsed_s * (1 - f) / f);
        eta = s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
    } else if (done == total) {
        eta = "0:00";
    }
    return fmt::format("[{}{}] {:3.0f}%  {}/{} ranges  {} rows  {:.0f} rows/s  ETA {}", std::string(filled, '#'), std::string(width - filled, '.'),
                       f * 100, done, total, rows, rows_per_s, eta);
}

std::string summary_json(const job_options& o, const job_result& r) {
    table_stats sum;
    std::string tables;
    for (const auto& t : r.tables) {
        sum.ranges += t.ranges;
        sum.rows_read += t.rows_read;
        sum.rows_written += t.rows_written;
        sum.missing += t.missing;
        sum.mismatched += t.mismatched;
        sum.extra += t.extra;
        tables += fmt::format(
            "{}{{\"table\": {}, \"ranges\": {}, \"ranges_failed\": {}, \"rows_read\": {}, \"rows_written\": {}, \"missing\": {}, "
            "\"mismatched\": {}, \"extra\": {}, \"seconds\": {:.3f}}}",
            tables.empty() ? "" : ", ", json_string(t.table), t.ranges, t.ranges_failed, t.rows_read, t.rows_written, t.missing,
            t.mismatched, t.extra, t.seconds);
    }
    std::string messages;
    for (const auto& m : r.messages) messages += (messages.empty() ? "" : ", ") + json_string(m);
    const char* kind = o.kind == job_kind::copy ? "copy" : o.kind == job_kind::validate ? "validate" : "repair";
    return fmt::format(
        "{{\"command\": \"{}\", \"keyspace\": {}, \"ranges\": {}, \"rows_read\": {}, \"rows_written\": {}, \"missing\": {}, "
        "\"mismatched\": {}, \"extra\": {}, \"seconds\": {:.3f}, \"errors\": {}, \"interrupted\": {}, \"exit_code\": {}, "
        "\"tables\": [{}], \"messages\": [{}]}}",
        kind, json_string(o.keyspace), sum.ranges, sum.rows_read, sum.rows_written, sum.missing, sum.mismatched, sum.extra, r.seconds,
        r.errors, r.interrupted ? "true" : "false", r.exit_code, tables, messages);
}

}  // namespace tandem::core::migrate
