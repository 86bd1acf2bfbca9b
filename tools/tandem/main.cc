// tandem: the zero-downtime migration proxy, a drop-in for ZDM Proxy.
//
// Settings come from a YAML file (--config, or ZDM's -config) or, without one, from ZDM_*
// environment variables, exactly as ZDM Proxy reads them. SIGHUP re-reads the file and applies
// primary_cluster, read_mode, write_mode and log_level live; SIGINT/SIGTERM shut down gracefully.
#include <signal.h>
#include <sys/resource.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <mimalloc.h>

#include "core/admin.hh"
#include "core/admin_api.hh"
#include "core/config.hh"
#include "core/proxy.hh"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "0.1.0"
#endif

namespace {

using namespace tandem;

spdlog::level::level_enum level_of(const std::string& l) {
    if (l == "TRACE") return spdlog::level::trace;
    if (l == "DEBUG") return spdlog::level::debug;
    if (l == "WARN") return spdlog::level::warn;
    if (l == "ERROR") return spdlog::level::err;
    if (l == "FATAL" || l == "PANIC") return spdlog::level::critical;
    return spdlog::level::info;
}

std::variant<core::config, core::config_error> load(const std::string& path) {
    auto r = path.empty() ? core::load_environment([](const char* n) { return std::getenv(n); }) : core::load_yaml_file(path);
    if (auto* c = std::get_if<core::config>(&r)) {
        if (auto err = core::validate(*c)) return *err;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    // mimalloc gives a page's memory back to the kernel only after a delay and only when it next
    // looks (25 ms by default, and under steady traffic it rarely looks): after a cluster stalled
    // with thousands of requests in flight the memory they used stayed resident (RSS 32 -> 67
    // MiB, SHARED, a 2 s stall at 40k requests/s; 43 MiB with no delay). Give it back at once; no
    // CPU cost per request measured. MIMALLOC_DECOMMIT_DELAY still overrides.
    if (!std::getenv("MIMALLOC_DECOMMIT_DELAY")) mi_option_set(mi_option_decommit_delay, 0);
    // ZDM Proxy spells its flags with one dash (-config, -version): accept both.
    std::vector<std::string> args(argv, argv + argc);
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "-config") args[i] = "--config";
        if (args[i].rfind("-config=", 0) == 0) args[i] = "-" + args[i];
        if (args[i] == "-version") args[i] = "--version";
    }
    std::vector<char*> argp;
    for (auto& a : args) argp.push_back(a.data());

    CLI::App app{"tandem: a zero-downtime migration proxy for CQL clusters (a drop-in for ZDM Proxy).\n"
                 "Settings: a YAML file (--config) or, without one, the ZDM_* environment variables\n"
                 "(the same keys and defaults as ZDM Proxy; see README.md).\n"
                 "Signals: SIGHUP re-reads --config and applies primary_cluster, read_mode, write_mode and log_level\n"
                 "live (as PUT /api/v1/settings does); SIGINT/SIGTERM stop accepting, finish in-flight\n"
                 "requests, and exit 0."};
    std::string config_path;
    size_t workers = std::max(1u, std::thread::hardware_concurrency());
    bool show_version = false;
    app.add_option("--config", config_path, "YAML settings file (ZDM's -config)");
    app.add_option("--workers", workers, "worker threads, one io_uring ring each (default: one per core)")
        ->check(CLI::Range(1, 256));
    app.add_flag("--version", show_version, "print the version and exit");
    try {
        app.parse(static_cast<int>(argp.size()), argp.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (show_version) {
        std::printf("tandem version %s\n", TANDEM_VERSION);
        return 0;
    }
    auto logger = spdlog::stdout_color_mt("tandem");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");

    auto loaded = load(config_path);
    if (auto* err = std::get_if<core::config_error>(&loaded)) {
        spdlog::critical("Error loading configuration: {}. Aborting startup.", err->message);
        return 2;
    }
    auto cfg = std::get<core::config>(loaded);
    spdlog::set_level(level_of(cfg.log_level));
    spdlog::info("tandem {} starting with settings ({}):\n{}", TANDEM_VERSION,
                 config_path.empty() ? "ZDM_* environment variables" : config_path, core::describe(cfg));

    // Open files: the soft limit raised to the hard one (as Go programs, ZDM Proxy included, do
    // at start): each client connection holds one socket, or three with PER_CLIENT cluster
    // connections. Below what proxy_max_client_connections needs, a warning says so.
    if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        if (lim.rlim_cur < lim.rlim_max) {
            lim.rlim_cur = lim.rlim_max;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        const auto need = static_cast<rlim_t>(cfg.proxy_max_client_connections) * (cfg.cluster_connections_shared ? 1 : 3) + 256;
        if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
            spdlog::warn("open files limit {} is below the {} that proxy_max_client_connections {} needs with {} cluster connections: raise "
                         "LimitNOFILE (systemd) or ulimit -n",
                         lim.rlim_cur, need, cfg.proxy_max_client_connections, cfg.cluster_connections_shared ? "SHARED" : "PER_CLIENT");
        }
    }

    // Signals go to one thread (blocked everywhere else, inherited by every thread made later).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<core::proxy> proxy;
    try {
        core::proxy_options opts;
        opts.workers = workers;
        proxy = std::make_unique<core::proxy>(cfg, opts);
    } catch (const std::exception& e) {
        spdlog::critical("Error loading configuration: {}. Aborting startup.", e.what());
        return 2;
    }

    // The HTTP endpoint starts first (R1.3): readiness says STARTUP until the clusters answered.
    core::admin_api::options api_options;
    api_options.version = TANDEM_VERSION;
    api_options.token = cfg.admin_token;
    api_options.loopback_listener = core::is_loopback(cfg.metrics_address);
    api_options.metrics_enabled = cfg.metrics_enabled;
    core::admin_api api(*proxy, api_options, [](const std::string& level) { spdlog::set_level(level_of(level)); });
    core::admin_server admin([&](const core::http_request& req) { return api.handle(req); });
    if (auto err = admin.start(cfg.metrics_address, static_cast<uint16_t>(cfg.metrics_port)); !err.empty()) {
        spdlog::error("metrics and health endpoint not started: {}", err);
    } else {
        spdlog::info("metrics, health and admin API on http://{}:{}/ (/metrics, /health/liveness, /health/readiness, "
                     "/api/v1/status, /api/v1/settings; {})", cfg.metrics_address, admin.port(),
                     !cfg.admin_token.empty() ? "/api/* needs the admin token"
                     : api_options.loopback_listener ? "no admin_token: changes accepted from this machine only"
                                                     : "no admin_token: /api/* is read-only");
        std::printf("tandem: http on %s:%u\n", cfg.metrics_address.c_str(), admin.port());
        std::fflush(stdout);
    }

    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    std::thread signals([&] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGHUP) {
                if (config_path.empty()) {
                    spdlog::warn("SIGHUP: no --config file to re-read; settings unchanged");
                    continue;
                }
                auto next = load(config_path);
                if (auto* err = std::get_if<core::config_error>(&next)) {
                    spdlog::error("SIGHUP: {} is not valid, settings unchanged: {}", config_path, err->message);
                    continue;
                }
                auto& c = std::get<core::config>(next);
                const auto changed = proxy->apply_live(c);
                spdlog::set_level(level_of(c.log_level));
                spdlog::info("SIGHUP: re-read {}; {}", config_path, core::describe_changes(changed));
                continue;
            }
            spdlog::info("{} received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            proxy->request_stop();
            {
                std::lock_guard g(m);
                stop = true;
            }
            cv.notify_all();
            return;
        }
    });

    int rc = 0;
    try {
        proxy->start();
        std::printf("tandem: listening on %s:%u\n", cfg.proxy_listen_address.c_str(), proxy->port());
        std::fflush(stdout);
        std::unique_lock g(m);
        cv.wait(g, [&] { return stop; });
    } catch (const std::exception& e) {
        if (!proxy->stopping()) {
            spdlog::critical("cannot start: {}", e.what());
            rc = 1;
            pthread_kill(signals.native_handle(), SIGTERM);
        }
    }
    signals.join();
    proxy->shutdown(static_cast<uint32_t>(cfg.proxy_request_timeout_ms + 1000));
    admin.stop();
    auto t = proxy->totals();
    spdlog::info("tandem stopped: {} requests, {} timeouts, {} failed writes", t["requests"], t["timeouts"],
                 t["failed_writes_origin"] + t["failed_writes_target"] + t["failed_writes_both"]);
    return rc;
}
