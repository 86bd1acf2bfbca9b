#pragma once
// What the HTTP endpoint answers (zdm-spec §10 and tandem's admin API): /metrics,
// /health/liveness, /health/readiness, GET /api/v1/status and PUT /api/v1/settings.
//
// The admin API changes the live settings exactly as SIGHUP does (proxy::apply_live: every
// worker, every open connection, at the next request). Access: with `admin_token` set, /api/*
// needs "Authorization: Bearer <token>" (401 otherwise); without one, GET is open and PUT is
// accepted only when the endpoint listens on a loopback address (403 otherwise). /metrics and
// /health/* stay open for Prometheus and probes. The token is never logged.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "core/admin.hh"
#include "core/config.hh"
#include "core/status.hh"

namespace tandem::core {

class proxy;

// Who may call /api/*: nullopt when allowed, else the refusal (401 or 403, with why).
std::optional<http_response> authorize(const http_request& r, const std::string& token, bool loopback_listener);

// A PUT /api/v1/settings body applied to a copy of the live settings: the new settings, or a
// 400 naming the key (nothing applied). Only primary_cluster, read_mode, write_mode (with a journal) and log_level are live.
std::variant<config, http_response> settings_from_json(const config& live, std::string_view body);

// What apply_live changed, for a log line: "now primary_cluster=TARGET read_mode=..." or
// "no live setting changed".
std::string describe_changes(const std::vector<std::pair<std::string, std::string>>& changed);

// Whether `address` (metrics_address) is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& address);

class admin_api {
public:
    struct options {
        std::string version;
        std::string token;
        bool loopback_listener = true;
        bool metrics_enabled = true;
        double sample_interval_s = 5;  // the status window's resolution
    };
    // `on_log_level` sets the process's log level (the proxy does not own the logger).
    admin_api(proxy& p, options o, std::function<void(const std::string&)> on_log_level);
    ~admin_api();
    admin_api(const admin_api&) = delete;
    admin_api& operator=(const admin_api&) = delete;

    http_response handle(const http_request& r);

private:
    http_response put_settings(const http_request& r);
    void sample();

    proxy& _proxy;
    options _o;
    std::function<void(const std::string&)> _on_log_level;
    status_window _window;
    std::mutex _lock;
    std::condition_variable _cv;
    bool _stop = false;
    std::thread _sampler;
};

}  // namespace tandem::core
