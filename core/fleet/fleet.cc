#include "core/fleet/fleet.hh"

#include <httplib.h>
#include <simdjson.h>

#include <future>
#include <map>

#include "core/client/settings.hh"

namespace tandem::core::fleet {

std::string instance::name() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port); }

std::optional<std::vector<instance>> parse_instances(const std::string& list, std::string& error) {
    std::vector<instance> out;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        std::string item = list.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty()) {
            instance i;
            if (!client::split_host_port(item, i.host, i.port) || i.host.empty()) {
                error = "cannot read '" + item + "' as HOST[:PORT]";
                return std::nullopt;
            }
            out.push_back(i);
        }
        start = end + 1;
    }
    if (out.empty()) {
        error = "no instance given";
        return std::nullopt;
    }
    return out;
}

std::vector<instance> instances_from_config(const config& c) {
    std::vector<instance> out;
    const auto port = static_cast<uint16_t>(c.metrics_port);
    if (c.proxy_topology_addresses.empty()) {
        out.push_back({c.metrics_address, port});
        return out;
    }
    for (const auto& a : c.proxy_topology_addresses) out.push_back({a, port});
    return out;
}

bool parse_status(const std::string& body, instance_status& s) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) {
        s.up = false;
        s.error = "the status is not JSON";
        return false;
    }
    auto text = [&](const char* a, const char* b = nullptr) {
        std::string_view v;
        auto e = b ? doc[a][b] : doc[a];
        return e.get(v) ? std::string() : std::string(v);
    };
    auto number = [&](auto e) {
        double d = 0;
        int64_t i = 0;
        if (!e.get(i)) return static_cast<double>(i);
        if (!e.get(d)) return d;
        return 0.0;
    };
    s.version = text("version");
    s.primary_cluster = text("primary_cluster");
    s.read_mode = text("read_mode");
    s.write_mode = text("write_mode");
    s.log_level = text("log_level");
    s.index = static_cast<int64_t>(number(doc["instance"]["index"]));
    s.topology.clear();
    simdjson::dom::array addresses;
    if (!doc["instance"]["addresses"].get(addresses)) {
        for (auto a : addresses) {
            std::string_view v;
            if (!a.get(v)) s.topology.emplace_back(v);
        }
    }
    s.client_connections = static_cast<int64_t>(number(doc["client_connections"]));
    s.requests = static_cast<int64_t>(number(doc["requests"]));
    s.errors = static_cast<int64_t>(number(doc["errors"]));
    s.requests_per_s = number(doc["last_minute"]["requests_per_s"]);
    s.p99_ms = number(doc["last_minute"]["p99_ms"]);
    s.uptime_s = number(doc["uptime_s"]);
    std::string_view state;
    s.origin_state = doc["clusters"]["origin"]["state"].get(state) ? "?" : std::string(state);
    s.target_state = doc["clusters"]["target"]["state"].get(state) ? "?" : std::string(state);
    if (s.primary_cluster.empty()) {
        s.up = false;
        s.error = "the status has no primary_cluster (not a tandem admin API?)";
        return false;
    }
    s.up = true;
    return true;
}

std::vector<std::string> disagreements(const std::vector<instance_status>& fleet) {
    std::vector<std::string> out;
    auto check = [&](const char* what, auto value_of) {
        std::map<std::string, std::string> by_value;  // value -> instances
        for (const auto& s : fleet) {
            if (!s.up) continue;
            auto& names = by_value[value_of(s)];
            names += (names.empty() ? "" : ", ") + s.where.name();
        }
        if (by_value.size() < 2) return;
        std::string line = std::string("instances disagree on ") + what + ":";
        for (const auto& [v, names] : by_value) line += " " + (v.empty() ? std::string("(none)") : v) + " (" + names + ");";
        line.pop_back();
        out.push_back(line);
    };
    check("the primary cluster", [](const instance_status& s) { return s.primary_cluster; });
    check("the read mode", [](const instance_status& s) { return s.read_mode; });
    check("the write mode", [](const instance_status& s) { return s.write_mode; });
    check("the topology (proxy_topology_addresses)", [](const instance_status& s) {
        std::string t;
        for (const auto& a : s.topology) t += (t.empty() ? "" : ",") + a;
        return t;
    });
    check("the version", [](const instance_status& s) { return s.version; });
    // Two instances claiming one topology index answer clients as the same node.
    std::map<int64_t, std::string> by_index;
    for (const auto& s : fleet) {
        if (!s.up) continue;
        auto& names = by_index[s.index];
        if (!names.empty()) out.push_back("instances " + names + " and " + s.where.name() + " both have proxy_topology_index " + std::to_string(s.index));
        names += (names.empty() ? "" : ", ") + s.where.name();
    }
    return out;
}

namespace {

http_result call(const instance& i, const std::string& method, const std::string& path, const std::string& body, const std::string& token) {
    httplib::Client c(i.host, i.port);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(5, 0);
    c.set_write_timeout(5, 0);
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto r = method == "PUT" ? c.Put(path, h, body, "application/json") : c.Get(path, h);
    if (!r) {
        switch (r.error()) {
            case httplib::Error::Connection: return {0, "cannot connect to " + i.name() + " (is tandem running, is metrics_port right?)"};
            case httplib::Error::ConnectionTimeout: return {0, "connecting to " + i.name() + " timed out"};
            case httplib::Error::Read: return {0, "no answer from " + i.name() + " within 5 s"};
            default: return {0, "HTTP to " + i.name() + " failed: " + httplib::to_string(r.error())};
        }
    }
    return {r->status, r->body};
}

}  // namespace

http_result http_get(const instance& i, const std::string& path, const std::string& token) { return call(i, "GET", path, "", token); }

http_result http_put(const instance& i, const std::string& path, const std::string& body, const std::string& token) {
    return call(i, "PUT", path, body, token);
}

std::vector<instance_status> fleet_status(const std::vector<instance>& instances, const std::string& token) {
    std::vector<std::future<instance_status>> asks;
    for (const auto& i : instances) {
        asks.push_back(std::async(std::launch::async, [i, token] {
            instance_status s;
            s.where = i;
            auto r = http_get(i, "/api/v1/status", token);
            if (r.status == 0) {
                s.error = r.body;
            } else if (r.status != 200) {
                s.error = "HTTP " + std::to_string(r.status) + ": " + r.body;
            } else {
                parse_status(r.body, s);
            }
            return s;
        }));
    }
    std::vector<instance_status> out;
    for (auto& a : asks) out.push_back(a.get());
    return out;
}

}  // namespace tandem::core::fleet
