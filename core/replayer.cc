#include "core/replayer.hh"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>

#include "core/client/connection.hh"
#include "core/client/settings.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "net/worker.hh"

namespace tandem::core {

namespace {

constexpr size_t window = 32;          // records in flight per cluster
constexpr uint32_t max_backoff_ms = 30000;
// A record the cluster refuses (syntax, schema: the table may not be created there yet) is
// tried again later, each time twice as late, and rejected only once it was refused this many
// times over at least this long.
constexpr int max_refusals = 5;
constexpr uint64_t refusal_span_ms = 60000;

bool definitive(cql::error_code c) {
    using E = cql::error_code;
    return c == E::syntax_error || c == E::unauthorized || c == E::invalid || c == E::config_error || c == E::already_exists ||
           c == E::protocol_error;
}

const char* name_of(int c) { return c == 0 ? "origin" : "target"; }

}  // namespace

struct journal_replayer::impl {
    write_journal& journal;
    net::worker w;
    std::atomic<bool>* connected;
    net::timer tick;

    struct item {
        uint64_t id;
        journal_record rec;
    };
    struct prepared_here {
        std::string id, result_metadata_id;
    };
    struct cluster {
        int index = 0;
        client::cluster_options opts;
        std::string setup_error;       // the settings cannot give a connection (logged once)
        client::connection* conn = nullptr;
        bool connecting = false;
        uint64_t retry_at_ms = 0;
        uint32_t backoff_ms = 0;
        uint64_t paused_until_ms = 0;  // after a retryable error
        std::string keyspace;          // the connection's, after USE
        bool step = false;             // a USE or PREPARE is out: nothing else is sent
        size_t inflight = 0;
        std::deque<item> queue;
        std::map<std::string, prepared_here> prepared;  // query + '\0' + keyspace
        struct refusal {
            int count = 0;
            uint64_t first_ms = 0, not_before_ms = 0;
        };
        std::map<uint64_t, refusal> refusals;
        std::deque<item> delayed;  // refused records waiting for their next attempt
        std::string last_error;
    } clusters[2];

    impl(write_journal& j, const config& cfg, std::atomic<bool>* c) : journal(j), connected(c) {
        for (int i = 0; i < 2; ++i) {
            clusters[i].index = i;
            client::cluster_options o;
            const auto* cs = i == 0 ? &cfg.origin : &cfg.target;
            clusters[i].setup_error = client::cluster_options_for(name_of(i), {}, cs, o);
            clusters[i].opts = std::move(o);
        }
    }

    uint64_t now_ms() const { return w.now_ms(); }

    void schedule() {
        tick.set_callback([this] {
            for (auto& c : clusters) pump(c);
            schedule();
        });
        w.timers().arm(tick, 100);
    }

    void back_off(cluster& c, const std::string& why) {
        c.backoff_ms = std::min<uint32_t>(max_backoff_ms, c.backoff_ms ? c.backoff_ms * 2 : 250);
        c.paused_until_ms = now_ms() + c.backoff_ms;
        if (why != c.last_error) spdlog::warn("write journal replay to {}: {}; retrying in {} ms", name_of(c.index), why, c.backoff_ms);
        c.last_error = why;
    }

    void connect(cluster& c) {
        if (!c.setup_error.empty()) {
            if (c.last_error != c.setup_error) spdlog::error("write journal replay to {}: {}", name_of(c.index), c.setup_error);
            c.last_error = c.setup_error;
            return;
        }
        c.connecting = true;
        client::connection::open(w, c.opts.host, c.opts.port, c.opts.connection, [this, &c](client::connection* conn, const std::string& err) {
            c.connecting = false;
            if (!conn) {
                c.retry_at_ms = now_ms() + std::max<uint32_t>(c.backoff_ms, 250);
                back_off(c, "cannot connect: " + err);
                return;
            }
            c.conn = conn;
            c.keyspace.clear();
            c.prepared.clear();
            c.step = false;
            c.inflight = 0;
            connected[c.index].store(true, std::memory_order_relaxed);
            spdlog::info("write journal replay: connected to {} ({}), {} records to send", name_of(c.index), conn->endpoint(),
                         journal.kept(c.index == 0 ? cluster_role::origin : cluster_role::target) + c.queue.size());
            conn->on_closed([this, &c](int) {
                c.conn = nullptr;
                connected[c.index].store(false, std::memory_order_relaxed);
                c.retry_at_ms = now_ms() + 250;
                // Records taken but not sent go back to the journal.
                for (auto& it : c.queue) journal.replayed(it.id, false);
                c.queue.clear();
            });
            pump(c);
        });
    }

    void pump(cluster& c) {
        const cluster_role role = c.index == 0 ? cluster_role::origin : cluster_role::target;
        if (!c.conn) {
            if (!c.connecting && now_ms() >= c.retry_at_ms && (journal.kept(role) > 0 || !c.queue.empty() || !c.delayed.empty())) connect(c);
            return;
        }
        if (!c.conn->usable() || now_ms() < c.paused_until_ms) return;
        for (auto it = c.delayed.begin(); it != c.delayed.end();) {
            if (c.refusals[it->id].not_before_ms <= now_ms()) {
                c.queue.push_back(std::move(*it));
                it = c.delayed.erase(it);
            } else {
                ++it;
            }
        }
        while (!c.step && c.inflight < window) {
            if (!c.queue.empty()) {
                auto r = c.refusals.find(c.queue.front().id);
                if (r != c.refusals.end() && r->second.not_before_ms > now_ms()) {
                    c.delayed.push_back(std::move(c.queue.front()));
                    c.queue.pop_front();
                    continue;
                }
            }
            if (c.queue.empty()) {
                for (auto& [id, rec] : journal.take_kept(role, 256)) c.queue.push_back({id, std::move(rec)});
                if (c.queue.empty()) return;
            }
            item& it = c.queue.front();
            // The statements the record names, prepared on this connection (each in its keyspace).
            bool waiting = false;
            for (const auto& p : it.rec.prepared) {
                if (c.prepared.count(p.query + '\0' + p.keyspace)) continue;
                if (!use(c, p.keyspace)) return;
                prepare(c, p);
                waiting = true;
                break;
            }
            if (waiting) return;
            if (!use(c, it.rec.keyspace)) return;
            send(c, std::move(it));
            c.queue.pop_front();
        }
    }

    // True when the connection is in `ks` (or none is needed); else a USE is sent once nothing
    // is in flight (requests already out keep the keyspace they were sent under).
    bool use(cluster& c, const std::string& ks) {
        if (ks.empty() || ks == c.keyspace) return true;
        if (c.inflight > 0) return false;
        c.step = true;
        std::string text = "USE \"" + ks + "\"";
        cql::query_message q;
        q.query = text;
        std::string body;
        q.encode(body, c.conn->version());
        c.conn->request(cql::opcode::query, body, [this, &c, ks](const client::reply& r) {
            c.step = false;
            if (r.is_error()) {
                fail_head(c, "USE " + ks + ": " + r.describe(), r);
                return;
            }
            c.keyspace = ks;
            pump(c);
        });
        return false;
    }

    void prepare(cluster& c, const journal_prepared& p) {
        c.step = true;
        cql::prepare_message pm;
        pm.query = p.query;
        std::string body;
        pm.encode(body, c.conn->version());
        const std::string key = p.query + '\0' + p.keyspace;
        c.conn->request(cql::opcode::prepare, body, [this, &c, key](const client::reply& r) {
            c.step = false;
            if (r.is_error()) {
                fail_head(c, "PREPARE: " + r.describe(), r);
                return;
            }
            auto m = cql::result_message::decode(r.body, cql::effective_version(r.header.version));
            if (!m || m->kind != cql::result_kind::prepared) {
                fail_head(c, "PREPARE: an unexpected reply", r);
                return;
            }
            c.prepared[key] = {std::string(m->prepared_id), std::string(m->result_metadata_id)};
            pump(c);
        });
    }

    // The head record could not be sent (its USE or PREPARE failed).
    void fail_head(cluster& c, const std::string& why, const client::reply& r) {
        if (c.queue.empty()) return;
        item it = std::move(c.queue.front());
        c.queue.pop_front();
        settle_failure(c, it, why, r);
    }

    void settle_failure(cluster& c, item& it, const std::string& why, const client::reply& r) {
        bool refused = false;
        if (r.is_error()) {
            auto e = cql::error_message::decode(r.body, cql::effective_version(r.header.version));
            refused = e && definitive(e->code);
        }
        if (!refused) {
            journal.replayed(it.id, false);
            back_off(c, why);
            return;
        }
        auto& f = c.refusals[it.id];
        if (f.count++ == 0) f.first_ms = now_ms();
        if (f.count >= max_refusals && now_ms() - f.first_ms >= refusal_span_ms) {
            c.refusals.erase(it.id);
            std::string statement = it.rec.prepared.empty() ? std::string(cql::to_string(it.rec.op)) : it.rec.prepared.front().query;
            if (it.rec.op == cql::opcode::query) {
                auto q = cql::query_message::decode(it.rec.message, it.rec.version);
                if (q) statement = std::string(q->query);
            }
            spdlog::error("write journal replay to {}: record {} refused {} times over {} s ({}); moved to {}/rejected.journal: {}",
                          name_of(c.index), it.id, max_refusals, refusal_span_ms / 1000, why, journal.dir(), statement);
            journal.replayed(it.id, false, true, &it.rec);
            return;
        }
        // Tried again later (the statement's table may not exist there yet); the others go on.
        f.not_before_ms = now_ms() + std::min<uint64_t>(max_backoff_ms, uint64_t{500} << std::min(f.count, 6));
        if (why != c.last_error) {
            spdlog::warn("write journal replay to {}: {}; the record is tried again in {} ms", name_of(c.index), why, f.not_before_ms - now_ms());
        }
        c.last_error = why;
        journal.note_replay_failure();  // the record stays the replayer's, in `delayed`
        c.delayed.push_back(std::move(it));
    }

    // The record for this connection: its protocol version, the ids prepared here.
    bool encode_for(cluster& c, const journal_record& rec, std::string& out) {
        const uint8_t to = c.conn->version();
        auto id_here = [&](std::string_view id, std::string* meta) -> std::optional<std::string> {
            for (const auto& p : rec.prepared) {
                if (p.id != id) continue;
                auto f = c.prepared.find(p.query + '\0' + p.keyspace);
                if (f == c.prepared.end()) return std::nullopt;
                if (meta) *meta = f->second.result_metadata_id;
                return f->second.id;
            }
            return std::nullopt;
        };
        switch (rec.op) {
            case cql::opcode::query: {
                auto m = cql::query_message::decode(rec.message, rec.version);
                if (!m) return false;
                m->encode(out, to);
                return true;
            }
            case cql::opcode::execute: {
                auto m = cql::execute_message::decode(rec.message, rec.version);
                if (!m) return false;
                std::string meta;
                auto id = id_here(m->id, &meta);
                if (!id) return false;
                m->id = *id;
                m->result_metadata_id = meta;
                m->encode(out, to);
                return true;
            }
            case cql::opcode::batch: {
                auto m = cql::batch_message::decode(rec.message, rec.version);
                if (!m) return false;
                std::vector<cql::batch_child> children;
                std::vector<std::string> ids;
                ids.reserve(m->children.count);
                for (const auto& ch : m->children) {
                    cql::batch_child x = ch;
                    if (ch.prepared) {
                        auto id = id_here(ch.query_or_id, nullptr);
                        if (!id) return false;
                        x.query_or_id = ids.emplace_back(std::move(*id));
                    }
                    children.push_back(x);
                }
                std::string storage;
                m->children = cql::batch_children::build(children, storage);
                m->encode(out, to);
                return true;
            }
            default: return false;
        }
    }

    void send(cluster& c, item&& it) {
        std::string body;
        if (!encode_for(c, it.rec, body)) {
            spdlog::error("write journal replay to {}: record {} does not decode as {}; moved to rejected.journal", name_of(c.index), it.id,
                          cql::to_string(it.rec.op));
            journal.replayed(it.id, false, true, &it.rec);
            return;
        }
        auto shared = std::make_shared<item>(std::move(it));
        ++c.inflight;
        const bool sent = c.conn->request(shared->rec.op, body, [this, &c, shared](const client::reply& r) {
            --c.inflight;
            if (!r.is_error()) {
                c.backoff_ms = 0;
                c.refusals.erase(shared->id);
                c.last_error.clear();
                journal.replayed(shared->id, true);
            } else {
                auto e = cql::error_message::decode(r.body, cql::effective_version(r.header.version));
                if (e && e->code == cql::error_code::unprepared) {
                    c.prepared.clear();  // prepared again before the next use
                    journal.replayed(shared->id, false);
                } else {
                    settle_failure(c, *shared, r.describe(), r);
                }
            }
            pump(c);
        });
        if (!sent) {
            --c.inflight;
            journal.replayed(shared->id, false);
        }
    }
};

journal_replayer::journal_replayer(write_journal& j, const config& cfg) : _impl(std::make_unique<impl>(j, cfg, _connected)) {
    _thread = std::thread([this] {
        try {
            _impl->w.run([this](net::worker&) { _impl->schedule(); });
        } catch (const std::exception& e) {
            spdlog::error("write journal replayer stopped: {}", e.what());
        }
    });
}

journal_replayer::~journal_replayer() {
    _impl->w.post([this] {
        _impl->tick.cancel();
        for (auto& c : _impl->clusters) {
            for (auto& it : c.queue) _impl->journal.replayed(it.id, false);
            for (auto& it : c.delayed) _impl->journal.replayed(it.id, false);
            c.queue.clear();
            c.delayed.clear();
            if (c.conn) c.conn->close();
        }
    });
    _impl->w.stop(200);
    if (_thread.joinable()) _thread.join();
}

}  // namespace tandem::core
