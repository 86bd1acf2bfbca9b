// The proxy, assembled: settings and TLS contexts, control connections, workers, live
// settings, shutdown. What happens to a request is in client_session (core/README.md).
#include "core/proxy.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <stdexcept>

#include "core/client_session.hh"
#include "core/journal.hh"
#include "core/json.hh"
#include "core/replayer.hh"
#include "core/worker_state.hh"

namespace tandem::core {

proxy::proxy(config cfg, proxy_options opts)
    : _cfg(std::move(cfg)),
      _opts(opts),
      _prepared(opts.prepared_capacity),
      _primary(static_cast<uint8_t>(_cfg.primary_cluster)),
      _read_mode(static_cast<uint8_t>(_cfg.read)),
      _write_mode(static_cast<uint8_t>(_cfg.write)),
      _log_level(_cfg.log_level) {
    auto t = make_proxy_topology(_cfg.proxy_topology_addresses, _cfg.proxy_topology_index, _cfg.proxy_topology_num_tokens,
                                 _cfg.proxy_listen_address, static_cast<uint16_t>(_cfg.proxy_listen_port));
    if (auto* err = std::get_if<std::string>(&t)) throw std::runtime_error(*err);
    _topology = std::get<proxy_topology>(t);
    // R1.27: client-facing TLS when the CA, certificate and key are all set (validate() refuses
    // a partial set). R1.26: cluster TLS when the cluster's CA is set.
    if (!_cfg.proxy_tls_cert_path.empty()) {
        auto c = net::tls_context::make_server(_cfg.proxy_tls_cert_path, _cfg.proxy_tls_key_path, _cfg.proxy_tls_ca_path,
                                          _cfg.proxy_tls_require_client_auth);
        if (auto* err = std::get_if<std::string>(&c)) throw std::runtime_error("proxy TLS: " + *err);
        _client_tls = std::get<std::shared_ptr<net::tls_context>>(c);
    }
    for (int i = 0; i < 2; ++i) {
        const auto& cs = i == 0 ? _cfg.origin : _cfg.target;
        if (!cs.secure_connect_bundle_path.empty()) {
            // R1.25: the bundle holds the TLS material; the metadata service is asked in start().
            auto b = read_secure_bundle(cs.secure_connect_bundle_path);
            if (auto* err = std::get_if<std::string>(&b)) throw std::runtime_error(*err);
            _bundle[i] = std::get<secure_bundle>(std::move(b));
            auto c = net::tls_context::make_client_pem(_bundle[i]->ca_pem, _bundle[i]->cert_pem, _bundle[i]->key_pem);
            if (auto* err = std::get_if<std::string>(&c)) {
                throw std::runtime_error("secure connect bundle " + cs.secure_connect_bundle_path + ": " + *err);
            }
            _cluster_tls[i] = std::get<std::shared_ptr<net::tls_context>>(c);
            continue;
        }
        if (cs.tls_server_ca_path.empty()) continue;
        auto c = net::tls_context::make_client(cs.tls_server_ca_path, cs.tls_client_cert_path, cs.tls_client_key_path);
        if (auto* err = std::get_if<std::string>(&c)) throw std::runtime_error(std::string(i == 0 ? "origin" : "target") + " TLS: " + *err);
        _cluster_tls[i] = std::get<std::shared_ptr<net::tls_context>>(c);
    }
}

proxy::~proxy() { shutdown(0); }

std::shared_ptr<const cluster_view> proxy::view(cluster_role r) const {
    int i = r == cluster_role::origin ? 0 : 1;
    if (_fixed_view[i]) return _fixed_view[i];
    return _cc[i] ? _cc[i]->view() : nullptr;
}

uint64_t proxy::views_published() const {
    uint64_t n = 0;
    for (const auto& cc : _cc) n += cc ? cc->published() : 0;
    return n;
}

uint8_t proxy::lower_cluster_version() const {
    uint8_t v = 0;
    for (auto r : {cluster_role::origin, cluster_role::target}) {
        auto view = this->view(r);
        if (!view) continue;
        uint8_t cv = view->version;
        if (v == 0 || version_rank(cv) < version_rank(v)) v = cv;
    }
    return v ? v : 4;
}

std::vector<const worker_metrics*> proxy::worker_metrics_list() const {
    std::vector<const worker_metrics*> out;
    for (const auto& c : _ctx) out.push_back(&c->metrics);
    return out;
}

proxy_gauges proxy::gauges() const {
    return {_clients.load(), static_cast<int64_t>(_prepared.size())};
}

std::map<std::string, int64_t> proxy::totals() const { return metric_totals(worker_metrics_list(), gauges()); }

// ZDM's series, then tandem's proxy-wide gauges: each control connection's state, the client
// connection limit, the live settings (for alerts and dashboards).
std::string proxy::metrics_text() const {
    std::string out = prometheus_text(_cfg.metrics_prefix, worker_metrics_list(), gauges());
    const std::string p = _cfg.metrics_prefix + "_tandem_";
    out += "# HELP " + p + "control_connection_up 1 when the cluster's control connection is up (readiness counts it), else 0\n";
    out += "# TYPE " + p + "control_connection_up gauge\n";
    for (int i = 0; i < 2; ++i) {
        const bool up = _cc[i] && _cc[i]->view() && _cc[i]->failures() < _cfg.heartbeat_failure_threshold;
        out += p + "control_connection_up{cluster=\"" + (i == 0 ? "origin" : "target") + "\"} " + (up ? "1" : "0") + "\n";
    }
    out += "# HELP " + p + "max_client_connections proxy_max_client_connections\n# TYPE " + p + "max_client_connections gauge\n";
    out += p + "max_client_connections " + std::to_string(_cfg.proxy_max_client_connections) + "\n";
    out += "# HELP " + p + "live_settings_info The live primary cluster and read mode (value 1)\n# TYPE " + p + "live_settings_info gauge\n";
    out += p + "live_settings_info{primary_cluster=\"" + (primary() == cluster_role::origin ? "ORIGIN" : "TARGET") + "\",read_mode=\"" +
           (mode() == read_mode::primary_only ? "PRIMARY_ONLY" : "DUAL_ASYNC_ON_SECONDARY") + "\"} 1\n";
    out += journal_metrics();
    std::vector<const table_metrics*> tables;
    for (const auto& c : _ctx) tables.push_back(&c->tables);
    out += table_series(_cfg.metrics_prefix, _tables, tables);
    return out;
}

// The journal at a glance for /api/v1/status: null without one.
std::string proxy::journal_json() const {
    if (!_journal) return "null";
    const auto c = _journal->counts();
    const bool replaying = c.kept > 0;
    return fmt::format("{{\"dir\": {}, \"state\": \"{}\", \"pending_records\": {}, \"pending_bytes\": {}, \"max_bytes\": {}, "
                       "\"replay_queue\": {}, \"oldest_pending_s\": {:.1f}, \"replayed\": {}, \"rejected\": {}}}",
                       json_string(_journal->dir()), c.io_errors ? "failed" : replaying ? "replaying" : "idle", c.pending_records,
                       c.pending_bytes, _cfg.write_journal_max_bytes, c.kept, c.oldest_pending_s, c.replayed, c.rejected);
}

// The write journal's series (write_mode DUAL_ASYNC_ON_SECONDARY), when there is one.
std::string proxy::journal_metrics() const {
    if (!_journal) return {};
    const auto c = _journal->counts();
    const std::string p = _cfg.metrics_prefix + "_tandem_journal_";
    std::string out;
    auto series = [&](const char* name, const char* type, const char* help, double v, const std::string& labels = {}) {
        out += fmt::format("# HELP {}{} {}\n# TYPE {}{} {}\n{}{}{} {}\n", p, name, help, p, name, type, p, name, labels, v);
    };
    series("pending_records", "gauge", "Records the cluster that owes them has not acknowledged yet", static_cast<double>(c.pending_records));
    series("pending_bytes", "gauge", "Bytes of journal segments on disk", static_cast<double>(c.pending_bytes));
    series("max_bytes", "gauge", "write_journal_max_bytes", static_cast<double>(_cfg.write_journal_max_bytes));
    series("oldest_pending_seconds", "gauge", "Age of the oldest record not yet acknowledged", c.oldest_pending_s);
    series("replay_queue_records", "gauge", "Records waiting for the replayer", static_cast<double>(c.kept));
    series("appended_total", "counter", "Records appended", static_cast<double>(c.appended));
    series("replayed_total", "counter", "Records the replayer delivered", static_cast<double>(c.replayed));
    series("replay_failures_total", "counter", "Replay attempts that failed (the record stays)", static_cast<double>(c.replay_failures));
    series("rejected_total", "counter", "Records refused for good, moved to rejected.journal", static_cast<double>(c.rejected));
    series("full_total", "counter", "Appends refused because the journal was full (written as DUAL_SYNC)", static_cast<double>(c.full));
    series("syncs_total", "counter", "Group commits (write and fdatasync)", static_cast<double>(c.syncs));
    series("io_errors_total", "counter", "Journal writes that failed (the journal then stops taking records)", static_cast<double>(c.io_errors));
    series("recovered_records", "gauge", "Records found on disk at start-up", static_cast<double>(c.recovered));
    out += fmt::format("# HELP {0}replay_connected 1 while the replayer's connection to the cluster is up\n# TYPE {0}replay_connected gauge\n", p);
    for (auto r : {cluster_role::origin, cluster_role::target}) {
        out += fmt::format("{}replay_connected{{cluster=\"{}\"}} {}\n", p, r == cluster_role::origin ? "origin" : "target",
                           _replayer && _replayer->connected(r) ? 1 : 0);
    }
    return out;
}

// R10.3: Go-style field names, UP only when both control connections are.
std::pair<int, std::string> proxy::readiness() const {
    if (!_started.load()) return {503, "{\"OriginStatus\":null,\"TargetStatus\":null,\"Status\":\"STARTUP\"}"};
    bool up = true;
    // write_mode DUAL_ASYNC_ON_SECONDARY: the primary serves while the secondary is down (its
    // writes wait in the journal), so only the primary counts.
    const int secondary = primary() == cluster_role::origin ? 1 : 0;
    const bool secondary_optional = _journal && writes() == write_mode::dual_async_on_secondary;
    auto status = [&](int i) {
        auto v = _cc[i]->view();
        int64_t failures = _cc[i]->failures();
        bool ok = failures < _cfg.heartbeat_failure_threshold;
        up = up && (ok || (secondary_optional && i == secondary));
        std::string addr = v && failures == 0 ? v->connected : "NOT_CONNECTED";
        return "{\"Addr\":\"" + addr + "\",\"CurrentFailureCount\":" + std::to_string(failures) +
               ",\"FailureCountThreshold\":" + std::to_string(_cfg.heartbeat_failure_threshold) + ",\"Status\":\"" +
               (ok ? "UP" : "DOWN") + "\"}";
    };
    std::string o = status(0), t = status(1);
    return {up ? 200 : 503, "{\"OriginStatus\":" + o + ",\"TargetStatus\":" + t + ",\"Status\":\"" + (up ? "UP" : "DOWN") + "\"}"};
}

void proxy::start() {
    auto log = [](int level, const std::string& line) {
        switch (level) {
            case 0: spdlog::debug("{}", line); break;
            case 1: spdlog::info("{}", line); break;
            case 2: spdlog::warn("{}", line); break;
            default: spdlog::error("{}", line); break;
        }
    };
    uint8_t max_version = parse_version_name(_cfg.control_conn_max_protocol_version);
    for (int i = 0; i < 2; ++i) {
        control_settings s;
        s.name = i == 0 ? "origin" : "target";
        s.cluster = i == 0 ? _cfg.origin : _cfg.target;
        if (_bundle[i]) {
            // R1.25: the metadata service names the SNI proxy, the local datacenter (taken once,
            // as ZDM) and the contact points' host ids.
            auto m = fetch_astra_metadata(*_bundle[i], 30000);
            if (auto* err = std::get_if<std::string>(&m)) throw std::runtime_error(s.name + " cluster: " + *err);
            auto& md = std::get<astra_metadata>(m);
            std::string error;
            const std::string ip = net::resolve_name(md.sni_host, error);
            if (ip.empty()) throw std::runtime_error(s.name + " cluster: the SNI proxy: " + error);
            s.sni = control_settings::sni_proxy{ip, md.sni_port, md.host_ids};
            s.cluster.local_datacenter = md.local_dc;
            spdlog::info("{} cluster (Astra bundle {}): SNI proxy {}:{} ({}), local datacenter {}, {} contact points", s.name,
                         _bundle[i]->path, md.sni_host, md.sni_port, ip, md.local_dc, md.host_ids.size());
            _bundle[i].reset();  // the TLS context holds the key now; no copy stays in memory
        }
        s.max_version = max_version ? max_version : cql::protocol_version::dse_v2;
        s.heartbeat_interval_ms = _cfg.heartbeat_interval_ms;
        s.retry_min_ms = _cfg.heartbeat_retry_interval_min_ms;
        s.retry_max_ms = _cfg.heartbeat_retry_interval_max_ms;
        s.retry_factor = _cfg.heartbeat_retry_backoff_factor;
        s.tls = _cluster_tls[i];
        _cc[i] = std::make_unique<control_connection>(s, log);
        _cc[i]->start();
    }
    // R1.4: wait for both clusters (forever, as ZDM), logging while waiting.
    for (int i = 0; i < 2; ++i) {
        while (!_cc[i]->wait_ready(5000)) {
            if (_stopping.load()) throw std::runtime_error("stopped before the clusters answered");
            if (_cc[i]->failed()) throw std::runtime_error(std::string(i == 0 ? "origin" : "target") + " control connection: " + _cc[i]->last_error());
            spdlog::warn("waiting for the {} cluster: {}", i == 0 ? "origin" : "target", _cc[i]->last_error());
        }
    }
    if (!_cfg.write_journal_dir.empty()) {
        journal_options jo;
        jo.dir = _cfg.write_journal_dir;
        jo.max_bytes = static_cast<uint64_t>(_cfg.write_journal_max_bytes);
        jo.sync_ms = static_cast<uint32_t>(_cfg.write_journal_sync_ms);
        _journal = std::make_unique<write_journal>(jo);
        _replayer = std::make_unique<journal_replayer>(*_journal, _cfg);
        spdlog::info("write journal in {} (at most {} bytes, group commit {} ms); write mode {}", jo.dir, jo.max_bytes, jo.sync_ms,
                     get_setting(_cfg, "write_mode"));
    }
    // Workers: the first binds (port 0 picks one), the others share its port (SO_REUSEPORT).
    for (size_t i = 0; i < std::max<size_t>(_opts.workers, 1); ++i) {
        net::worker_config wc;
        wc.busy_poll_us = static_cast<uint32_t>(_cfg.proxy_busy_poll_us);
        auto w = std::make_unique<net::worker>(wc);
        auto* wp = w.get();
        _workers.push_back(std::move(w));
        _ctx.push_back(std::make_unique<worker_state>(*this, *wp));
        auto* ctx = _ctx.back().get();
        if (_journal) {
            ctx->journal = _journal.get();
            ctx->journal_listener = _journal->add_listener([wp, ctx](uint64_t upto) { wp->post([ctx, upto] { ctx->on_journal_durable(upto); }); });
        }
        auto bound = std::make_shared<std::promise<std::string>>();
        auto fut = bound->get_future();
        _threads.emplace_back([this, wp, ctx, bound] {
            try {
                wp->run([&, ctx](net::worker& self) {
                    // v5 frames queued during the turn leave once, at its end.
                    self.set_turn_hook([ctx]() -> uint64_t {
                        ctx->flush_writers();
                        return UINT64_MAX;
                    });
                    if (_cfg.cluster_connections_shared) {
                        ctx->pool = std::make_unique<shared_pool>(*ctx);
                        ctx->pool->start();
                    }
                    uint16_t port = self.listen(_cfg.proxy_listen_address, _port ? _port : static_cast<uint16_t>(_cfg.proxy_listen_port),
                                                [this, ctx](net::connection& c) -> std::unique_ptr<net::connection_handler> {
                                                    // R1.21: over the limit, close without a reply.
                                                    if (_clients.fetch_add(1) >= _cfg.proxy_max_client_connections) {
                                                        _clients.fetch_sub(1);
                                                        spdlog::warn("refusing a client connection: proxy_max_client_connections ({}) reached",
                                                                     _cfg.proxy_max_client_connections);
                                                        return nullptr;
                                                    }
                                                    return new_session(*ctx, c);
                                                });
                    if (_port == 0) _port = port;
                    bound->set_value({});
                });
            } catch (const std::exception& e) {
                try {
                    bound->set_value(e.what());
                } catch (...) {
                }
            }
        });
        std::string err = fut.get();
        if (!err.empty()) throw std::runtime_error(err);
    }
    _started.store(true);
    spdlog::info("tandem listening on {}:{} with {} worker(s); primary cluster {}, read mode {}", _cfg.proxy_listen_address, _port,
                 _workers.size(), primary() == cluster_role::origin ? "ORIGIN" : "TARGET",
                 mode() == read_mode::primary_only ? "PRIMARY_ONLY" : "DUAL_ASYNC_ON_SECONDARY");
}

std::unique_ptr<net::connection_handler> proxy::new_session(worker_state& ctx, net::connection& c) {
    auto s = std::make_unique<client_session>(ctx, c);
    auto* raw = s.get();
    ctx.w.post([raw, alive = raw->alive()] {
        if (!alive.expired()) raw->start();
    });
    return s;
}

void proxy::start_memory(net::worker& w, std::shared_ptr<const cluster_view> origin, std::shared_ptr<const cluster_view> target) {
    _fixed_view[0] = std::move(origin);
    _fixed_view[1] = std::move(target);
    _ctx.push_back(std::make_unique<worker_state>(*this, w));
    auto* ctx = _ctx.back().get();
    w.set_turn_hook([ctx]() -> uint64_t {
        ctx->flush_writers();
        return UINT64_MAX;
    });
    _started.store(true);
}

net::connection& proxy::open_memory_client() {
    auto& ctx = *_ctx.back();
    auto& c = ctx.w.open_memory(nullptr);
    _clients.fetch_add(1);
    c.set_handler(new_session(ctx, c));
    return c;
}

void proxy::request_stop() {
    if (_stopping.exchange(true)) return;
    if (_threads.empty()) {
        // Still waiting for the clusters: stop the control connections so start() returns.
        for (auto& cc : _cc) {
            if (cc) cc->stop();
        }
    }
}

void proxy::shutdown(uint32_t deadline_ms) {
    _stopping.store(true);
    if (_threads.empty()) {
        for (auto& cc : _cc) {
            if (cc) cc->stop();
        }
        return;
    }
    _started.store(false);
    // R11.1: stop accepting, answer new requests OVERLOADED, let in-flight ones finish.
    for (size_t i = 0; i < _workers.size(); ++i) {
        auto* ctx = _ctx[i].get();
        _workers[i]->post([ctx] { ctx->begin_drain(); });
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
    while (std::chrono::steady_clock::now() < until) {
        int64_t inflight = 0;
        for (auto& c : _ctx) inflight += c->counters.inflight.load();
        if (inflight == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& w : _workers) w->stop(500);
    for (auto& t : _threads) t.join();
    _threads.clear();
    // The journal last: what the workers settled is in it; a clean stop with nothing owed
    // leaves no segment behind.
    _replayer.reset();
    _journal.reset();
    for (auto& cc : _cc) {
        if (cc) cc->stop();
    }
}

proxy::setting_changes proxy::apply_live(const config& c) {
    std::lock_guard g(_live_lock);
    setting_changes changed;
    if (c.primary_cluster != primary()) {
        _primary.store(static_cast<uint8_t>(c.primary_cluster));
        changed.emplace_back("primary_cluster", get_setting(c, "primary_cluster"));
    }
    if (c.read != mode()) {
        _read_mode.store(static_cast<uint8_t>(c.read));
        changed.emplace_back("read_mode", get_setting(c, "read_mode"));
    }
    if (c.write != writes()) {
        if (!_journal) {
            spdlog::warn("write_mode {} needs write_journal_dir, set when tandem starts: restart tandem to change it", get_setting(c, "write_mode"));
        } else {
            _write_mode.store(static_cast<uint8_t>(c.write));
            changed.emplace_back("write_mode", get_setting(c, "write_mode"));
        }
    }
    if (c.log_level != _log_level) {
        _log_level = c.log_level;
        changed.emplace_back("log_level", c.log_level);
    }
    return changed;
}

config proxy::live_settings() const {
    config c = _cfg;
    c.primary_cluster = primary();
    c.read = mode();
    c.write = writes();
    std::lock_guard g(_live_lock);
    c.log_level = _log_level;
    return c;
}

status_sample proxy::sample_status(double at_s) const {
    status_sample s;
    s.at_s = at_s;
    for (const auto& c : _ctx) {
        const auto& k = c->metrics.counters;
        s.requests += k.requests.load(std::memory_order_relaxed);
        for (const auto* e : {&k.reads_failed_origin, &k.reads_failed_target, &k.writes_failed_origin, &k.writes_failed_target,
                              &k.writes_failed_both, &k.timeouts}) {
            s.errors += e->load(std::memory_order_relaxed);
        }
        s.add(k.recent);
    }
    return s;
}

// GET /api/v1/status: what an operator (and tandemctl) needs to see one instance at a glance.
std::string proxy::status_json(const std::string& version, const window_summary& w) const {
    const config live = live_settings();
    std::string addresses;
    for (const auto& a : _cfg.proxy_topology_addresses) addresses += (addresses.empty() ? "" : ", ") + json_string(a);
    std::string clusters;
    for (int i = 0; i < 2; ++i) {
        const char* name = i == 0 ? "origin" : "target";
        auto v = view(i == 0 ? cluster_role::origin : cluster_role::target);
        const int64_t failures = _cc[i] ? _cc[i]->failures() : 0;
        const char* state = !v ? "CONNECTING" : failures >= _cfg.heartbeat_failure_threshold ? "DOWN" : "UP";
        std::string nodes;
        if (v) {
            for (const auto& h : v->hosts) {
                nodes += fmt::format("{}{{\"endpoint\": {}, \"datacenter\": {}, \"rack\": {}, \"host_id\": {}, \"up\": {}}}",
                                     nodes.empty() ? "" : ", ", json_string(h.endpoint()), json_string(h.datacenter), json_string(h.rack),
                                     json_string(h.host_id), h.up ? "true" : "false");
            }
        }
        clusters += fmt::format(
            "{}{}: {{\"state\": \"{}\", \"connected\": {}, \"failures\": {}, \"last_error\": {}, \"protocol_version\": {}, "
            "\"local_datacenter\": {}, \"nodes\": [{}]}}",
            i ? ", " : "", json_string(name), state, json_string(v ? v->connected : ""), failures,
            json_string(_cc[i] ? _cc[i]->last_error() : ""), v ? v->version & 0x7f : 0, json_string(v ? v->local_datacenter : ""), nodes);
    }
    const auto t = totals();
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - _created).count();
    return fmt::format(
        "{{\"version\": {}, \"instance\": {{\"index\": {}, \"addresses\": [{}], \"listen\": {}, \"workers\": {}}}, "
        "\"primary_cluster\": \"{}\", \"read_mode\": \"{}\", \"write_mode\": \"{}\", \"journal\": {}, \"log_level\": {}, "
        "\"cluster_connections\": \"{}\", "
        "\"uptime_s\": {:.1f}, \"started\": {}, "
        "\"client_connections\": {}, \"max_client_connections\": {}, \"inflight\": {}, \"held\": {}, \"clusters\": {{{}}}, "
        "\"requests\": {}, \"errors\": {}, \"last_minute\": {{\"seconds\": {:.1f}, \"requests\": {}, \"errors\": {}, "
        "\"requests_per_s\": {:.1f}, \"errors_per_s\": {:.2f}, \"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}}}}}",
        json_string(version), _cfg.proxy_topology_index, addresses,
        json_string(_cfg.proxy_listen_address + ":" + std::to_string(_port ? _port : _cfg.proxy_listen_port)), _opts.workers,
        get_setting(live, "primary_cluster"), get_setting(live, "read_mode"), get_setting(live, "write_mode"), journal_json(),
        json_string(live.log_level), get_setting(_cfg, "cluster_connections"), uptime,
        _started.load() ? "true" : "false", _clients.load(), _cfg.proxy_max_client_connections, t.at("inflight"), t.at("held"), clusters,
        t.at("requests"),
        t.at("failed_reads_origin") + t.at("failed_reads_target") + t.at("failed_writes_origin") + t.at("failed_writes_target") +
            t.at("failed_writes_both") + t.at("timeouts"),
        w.seconds, w.requests, w.errors, w.requests_per_s, w.errors_per_s, w.p50_ms, w.p99_ms);
}

}  // namespace tandem::core
