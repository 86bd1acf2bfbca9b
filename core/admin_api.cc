#include "core/admin_api.hh"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/json.hh"
#include "core/proxy.hh"
#include "net/worker.hh"

namespace tandem::core {

namespace {

http_response json_reply(int status, std::string body) { return {status, "application/json", std::move(body)}; }

http_response error_reply(int status, const std::string& why) { return json_reply(status, "{\"error\": " + json_string(why) + "}"); }

constexpr const char* live_keys[] = {"primary_cluster", "read_mode", "write_mode", "log_level"};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

std::string describe_changes(const std::vector<std::pair<std::string, std::string>>& changed) {
    if (changed.empty()) return "no live setting changed";
    std::string out = "now";
    for (const auto& [key, value] : changed) out += " " + key + "=" + value;
    return out;
}

bool is_loopback(const std::string& address) {
    if (address == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

std::optional<http_response> authorize(const http_request& r, const std::string& token, bool loopback_listener) {
    if (!token.empty()) {
        const std::string expected = "Bearer " + token;
        const bool ok = r.authorization.size() == expected.size() &&
                        CRYPTO_memcmp(r.authorization.data(), expected.data(), expected.size()) == 0;
        if (!ok) return error_reply(401, "this endpoint needs the header 'Authorization: Bearer <admin_token>'");
        return std::nullopt;
    }
    if (r.method != "GET" && !loopback_listener) {
        return error_reply(403, "changes through the admin API need admin_token (ZDM_ADMIN_TOKEN) when metrics_address is not a "
                                "loopback address");
    }
    return std::nullopt;
}

std::variant<config, http_response> settings_from_json(const config& live, std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::dom::object doc;
    if (parser.parse(body.data(), body.size()).get(doc)) {
        return error_reply(400, "the body must be a JSON object, e.g. {\"primary_cluster\": \"TARGET\"}");
    }
    config next = live;
    for (auto field : doc) {
        const std::string key(field.key);
        if (std::find(std::begin(live_keys), std::end(live_keys), key) == std::end(live_keys)) {
            return error_reply(400, "'" + key + "' cannot be changed live; the live settings are primary_cluster, read_mode, write_mode and log_level");
        }
        std::string_view value;
        if (field.value.get(value)) return error_reply(400, "invalid value for " + key + ": a string is expected");
        if (auto err = set_setting(next, key, std::string(value))) return error_reply(400, *err);
    }
    return next;
}

admin_api::admin_api(proxy& p, options o, std::function<void(const std::string&)> on_log_level)
    : _proxy(p), _o(std::move(o)), _on_log_level(std::move(on_log_level)) {
    _window.add(_proxy.sample_status(now_s()));
    _sampler = std::thread([this] { sample(); });
}

admin_api::~admin_api() {
    {
        std::lock_guard g(_lock);
        _stop = true;
    }
    _cv.notify_all();
    _sampler.join();
}

void admin_api::sample() {
    std::unique_lock g(_lock);
    while (!_cv.wait_for(g, std::chrono::duration<double>(_o.sample_interval_s), [this] { return _stop; })) {
        _window.add(_proxy.sample_status(now_s()));
    }
}

http_response admin_api::handle(const http_request& r) {
    const std::string& path = r.path;
    if (path == "/health/liveness") return {200, "text/plain; charset=utf-8", "OK"};
    if (path == "/health/readiness") {
        auto [status, body] = _proxy.readiness();
        return json_reply(status, body);
    }
    if (path == "/metrics") {
        if (!_o.metrics_enabled) return {404, "text/plain; charset=utf-8", "Metrics are disabled on this proxy instance."};
        if (!_proxy.started()) return {503, "text/plain; charset=utf-8", "Proxy metrics haven't been initialized yet."};
        return {200, "text/plain; version=0.0.4; charset=utf-8", _proxy.metrics_text()};
    }
    if (path.rfind("/api/", 0) != 0) return {404, "text/plain; charset=utf-8", "404 page not found\n"};
    if (auto refused = authorize(r, _o.token, _o.loopback_listener)) {
        spdlog::warn("admin API: {} {} from {} refused ({})", r.method, path, r.remote, refused->status);
        return *refused;
    }
    if (path == "/api/v1/status") {
        if (r.method != "GET") return error_reply(405, "use GET");
        _window.add(_proxy.sample_status(now_s()));  // the newest counts, not up to 5 s old
        return json_reply(200, _proxy.status_json(_o.version, _window.summary()));
    }
    if (path == "/api/v1/settings") {
        if (r.method != "PUT") return error_reply(405, "use PUT with a JSON object of primary_cluster, read_mode, write_mode and log_level");
        return put_settings(r);
    }
    return error_reply(404, "no such endpoint; the admin API has GET /api/v1/status and PUT /api/v1/settings");
}

http_response admin_api::put_settings(const http_request& r) {
    auto next = settings_from_json(_proxy.live_settings(), r.body);
    if (auto* refused = std::get_if<http_response>(&next)) {
        spdlog::warn("admin API: PUT /api/v1/settings from {} refused: {}", r.remote, refused->body);
        return *refused;
    }
    const config& c = std::get<config>(next);
    if (c.write != _proxy.writes() && !_proxy.journal()) {
        spdlog::warn("admin API: PUT /api/v1/settings from {} refused: write_mode needs write_journal_dir at start", r.remote);
        return error_reply(400, "write_mode cannot change on this instance: write_journal_dir was not set when tandem started (set it, "
                                "restart, then switch live)");
    }
    const auto changed = _proxy.apply_live(c);
    std::string changed_json;
    for (const auto& [key, value] : changed) {
        if (key == "log_level") _on_log_level(value);
        changed_json += (changed_json.empty() ? "" : ", ") + json_string(key) + ": " + json_string(value);
    }
    spdlog::info("admin API: PUT /api/v1/settings from {}: {}", r.remote, describe_changes(changed));
    const config now = _proxy.live_settings();
    return json_reply(200, "{\"changed\": {" + changed_json + "}, \"primary_cluster\": " + json_string(get_setting(now, "primary_cluster")) +
                               ", \"read_mode\": " + json_string(get_setting(now, "read_mode")) + ", \"write_mode\": " +
                               json_string(get_setting(now, "write_mode")) + ", \"log_level\": " +
                               json_string(now.log_level) + "}");
}

}  // namespace tandem::core
