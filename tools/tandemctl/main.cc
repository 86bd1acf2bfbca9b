// tandemctl: the operator's view of a tandem fleet (each instance's admin API on its metrics
// port) and the checks before a migration starts.
//   tandemctl status    [--instances H:P,...] [--config tandem.yml]
//   tandemctl set       primary-cluster ORIGIN|TARGET | read-mode MODE | write-mode MODE | log-level LEVEL [--dry-run]
//   tandemctl preflight --config tandem.yml
//   tandemctl init      [--non-interactive] [...]
// Exit codes: 0 fine, 1 an instance or cluster failed (named), 2 bad usage, 3 preflight found
// schema differences.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "core/client/blocking.hh"
#include "core/client/settings.hh"
#include "core/fleet/fleet.hh"
#include "core/fleet/preflight.hh"
#include "core/json.hh"
#include "tools/tandemctl/init.hh"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "0.0.0"
#endif

using namespace tandem;
using core::fleet::instance_status;

namespace {

struct fleet_args {
    std::string instances, config_path, token;
};

int usage(const std::string& why) {
    std::fprintf(stderr, "tandemctl: %s\n", why.c_str());
    return 2;
}

std::optional<core::config> load_config(const std::string& path, std::string& error) {
    auto c = core::load_yaml_file(path);
    if (auto* e = std::get_if<core::config_error>(&c)) {
        error = path + ": " + e->message;
        return std::nullopt;
    }
    return std::get<core::config>(std::move(c));
}

// The instances and token: --instances, else the settings file's topology; --token, else
// TANDEM_ADMIN_TOKEN, else the settings file's admin_token.
bool resolve(fleet_args& a, std::vector<core::fleet::instance>& out, std::string& error) {
    std::optional<core::config> cfg;
    if (!a.config_path.empty() && !(cfg = load_config(a.config_path, error))) return false;
    if (a.token.empty()) {
        if (const char* t = std::getenv("TANDEM_ADMIN_TOKEN")) a.token = t;
        else if (cfg) a.token = cfg->admin_token;
    }
    if (!a.instances.empty()) {
        auto parsed = core::fleet::parse_instances(a.instances, error);
        if (!parsed) {
            error = "--instances: " + error;
            return false;
        }
        out = *parsed;
        return true;
    }
    if (!cfg) {
        error = "say which instances: --instances H:P,... or --config tandem.yml (its proxy_topology_addresses and metrics_port)";
        return false;
    }
    out = core::fleet::instances_from_config(*cfg);
    return true;
}

std::string fixed(double v, int digits) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

int run_status(fleet_args a, bool json) {
    std::vector<core::fleet::instance> instances;
    std::string error;
    if (!resolve(a, instances, error)) return usage(error);
    auto fleet = core::fleet::fleet_status(instances, a.token);
    auto warnings = core::fleet::disagreements(fleet);
    int down = 0;
    for (const auto& s : fleet) down += !s.up;
    if (json) {
        std::string out = "{\"instances\": [";
        for (size_t i = 0; i < fleet.size(); ++i) {
            const auto& s = fleet[i];
            out += (i ? ", " : "") + std::string("{\"instance\": ") + core::json_string(s.where.name()) + ", \"up\": " + (s.up ? "true" : "false");
            if (s.up) {
                out += ", \"version\": " + core::json_string(s.version) + ", \"index\": " + std::to_string(s.index) +
                       ", \"primary_cluster\": " + core::json_string(s.primary_cluster) + ", \"read_mode\": " + core::json_string(s.read_mode) +
                       ", \"client_connections\": " + std::to_string(s.client_connections) + ", \"requests_per_s\": " + fixed(s.requests_per_s, 1) +
                       ", \"errors\": " + std::to_string(s.errors) + ", \"p99_ms\": " + fixed(s.p99_ms, 3) +
                       ", \"origin\": " + core::json_string(s.origin_state) + ", \"target\": " + core::json_string(s.target_state);
            } else {
                out += ", \"error\": " + core::json_string(s.error);
            }
            out += "}";
        }
        out += "], \"warnings\": [";
        for (size_t i = 0; i < warnings.size(); ++i) out += (i ? ", " : "") + core::json_string(warnings[i]);
        std::printf("%s]}\n", out.c_str());
    } else {
        std::printf("%-22s %-5s %-8s %5s %-8s %-24s %7s %9s %7s %8s %-10s %-10s\n", "INSTANCE", "STATE", "VERSION", "INDEX", "PRIMARY",
                    "READ MODE", "CLIENTS", "REQ/S", "ERRORS", "P99 MS", "ORIGIN", "TARGET");
        for (const auto& s : fleet) {
            if (!s.up) {
                std::printf("%-22s %-5s %s\n", s.where.name().c_str(), "down", s.error.c_str());
                continue;
            }
            std::printf("%-22s %-5s %-8s %5lld %-8s %-24s %7lld %9s %7lld %8s %-10s %-10s\n", s.where.name().c_str(), "up", s.version.c_str(),
                        static_cast<long long>(s.index), s.primary_cluster.c_str(), s.read_mode.c_str(),
                        static_cast<long long>(s.client_connections), fixed(s.requests_per_s, 1).c_str(), static_cast<long long>(s.errors),
                        fixed(s.p99_ms, 3).c_str(), s.origin_state.c_str(), s.target_state.c_str());
        }
        for (const auto& w : warnings) std::printf("warning: %s\n", w.c_str());
        if (down) std::printf("%d of %zu instances down\n", down, fleet.size());
    }
    return down || !warnings.empty() ? 1 : 0;
}

// A live setting as an instance's status reports it.
std::string setting_of(const core::fleet::instance_status& s, const std::string& key) {
    if (key == "primary_cluster") return s.primary_cluster;
    if (key == "read_mode") return s.read_mode;
    if (key == "write_mode") return s.write_mode;
    return s.log_level;
}

// `tandemctl set KEY VALUE`: PUT on every instance, then read each status back to verify.
int run_set(fleet_args a, const std::string& what, const std::string& value, bool dry_run) {
    static const std::map<std::string, std::string> keys = {
        {"primary-cluster", "primary_cluster"}, {"read-mode", "read_mode"}, {"write-mode", "write_mode"}, {"log-level", "log_level"}};
    auto k = keys.find(what);
    if (k == keys.end()) return usage("set: '" + what + "' is not a live setting; use primary-cluster, read-mode, write-mode or log-level");
    const std::string& key = k->second;
    core::config probe;
    if (auto err = core::set_setting(probe, key, value)) return usage("set " + what + ": " + *err);
    const std::string normalized = core::get_setting(probe, key);  // as tandem spells it (TARGET, not target)
    std::vector<core::fleet::instance> instances;
    std::string error;
    if (!resolve(a, instances, error)) return usage(error);
    int failed = 0;
    for (const auto& i : instances) {
        if (dry_run) {
            core::fleet::instance_status s;
            auto r = core::fleet::http_get(i, "/api/v1/status", a.token);
            if (r.status != 200 || !core::fleet::parse_status(r.body, s)) {
                std::printf("%-22s cannot read its status: %s\n", i.name().c_str(), r.status ? ("HTTP " + std::to_string(r.status) + " " + r.body).c_str() : r.body.c_str());
                ++failed;
                continue;
            }
            const std::string now = setting_of(s, key);
            std::printf("%-22s %s: %s -> %s%s\n", i.name().c_str(), key.c_str(), now.c_str(), normalized.c_str(), now == normalized ? " (unchanged)" : "");
            continue;
        }
        auto r = core::fleet::http_put(i, "/api/v1/settings", "{" + core::json_string(key) + ": " + core::json_string(value) + "}", a.token);
        if (r.status != 200) {
            std::printf("%-22s FAILED: %s\n", i.name().c_str(), r.status ? ("HTTP " + std::to_string(r.status) + " " + r.body).c_str() : r.body.c_str());
            ++failed;
            continue;
        }
        core::fleet::instance_status s;
        auto back = core::fleet::http_get(i, "/api/v1/status", a.token);
        const bool read = back.status == 200 && core::fleet::parse_status(back.body, s);
        const std::string now = !read ? "" : setting_of(s, key);
        if (now != normalized) {
            std::printf("%-22s FAILED: applied, but its status says %s = '%s'\n", i.name().c_str(), key.c_str(), now.c_str());
            ++failed;
            continue;
        }
        std::printf("%-22s %s = %s\n", i.name().c_str(), key.c_str(), now.c_str());
    }
    if (failed) {
        std::fprintf(stderr, "tandemctl: %d of %zu instances did not %s %s = %s (named above)%s\n", failed, instances.size(),
                     dry_run ? "answer; would not" : "apply", key.c_str(), normalized.c_str(),
                     dry_run ? "" : "; the others did: run `tandemctl status` to see the fleet");
        return 1;
    }
    if (!dry_run) {
        std::printf("Applied live on %zu instances. To keep it after a restart, set `%s: %s` in each instance's settings file "
                    "(/etc/tandem/<instance>.yml; ZDM_%s in the environment), or run the Ansible playbook with tandem_%s=%s.\n",
                    instances.size(), key.c_str(), normalized.c_str(), [&] {
                        std::string u;
                        for (char c : key) u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
                        return u;
                    }().c_str(), key.c_str(), normalized.c_str());
    }
    return 0;
}

// One cluster: reachable with the configured credentials and TLS, the protocol versions it
// accepts, its local-datacenter nodes. Returns its schema through `schema`.
bool check_cluster(const char* name, const core::config::cluster_settings& cs, core::fleet::cluster_schema& schema) {
    core::client::cluster_options o;
    if (auto e = core::client::cluster_options_for(name, {}, &cs, o); !e.empty()) {
        std::printf("%s: %s\n", name, e.c_str());
        return false;
    }
    core::client::blocking_session s(o, 10000);
    if (auto err = s.connect(); !err.empty()) {
        std::printf("%s: FAILED: %s\n", name, err.c_str());
        return false;
    }
    std::string versions;
    for (uint8_t v : {5, 4, 3}) {
        auto probe = o;
        probe.discover = false;
        probe.connection.max_version = v;
        core::client::blocking_session p(probe, 10000);
        if (p.connect().empty() && (p.view().version() & 0x7f) == v) versions += (versions.empty() ? "v" : ", v") + std::to_string(v);
    }
    std::string nodes;
    size_t up = 0;
    for (const auto& n : s.view().nodes()) {
        nodes += (nodes.empty() ? "" : ", ") + n.address + (n.up ? "" : " (down)");
        up += n.up;
    }
    std::printf("%s: reachable at %s:%u%s; protocol versions %s; datacenter %s: %zu of %zu nodes up (%s)\n", name, o.host.c_str(), o.port,
                o.connection.username.empty() ? "" : (" as " + o.connection.username).c_str(), versions.empty() ? "?" : versions.c_str(),
                s.view().local_datacenter().c_str(), up, s.view().nodes().size(), nodes.c_str());
    std::string error;
    schema = core::fleet::read_cluster_schema(s, error);
    if (!error.empty()) {
        std::printf("%s: FAILED: %s\n", name, error.c_str());
        return false;
    }
    return true;
}

int run_preflight(const std::string& config_path) {
    if (config_path.empty()) return usage("preflight needs --config tandem.yml");
    std::string error;
    auto cfg = load_config(config_path, error);
    if (!cfg) return usage(error);
    if (auto v = core::validate(*cfg)) return usage(config_path + ": " + v->message);
    std::printf("settings: %s is valid\n", config_path.c_str());
    core::fleet::cluster_schema origin, target;
    const bool o_ok = check_cluster("origin", cfg->origin, origin);
    const bool t_ok = check_cluster("target", cfg->target, target);
    if (!o_ok || !t_ok) return 1;
    auto report = core::fleet::schema_diff(origin, target);
    size_t tables = 0;
    for (const auto& [ks, k] : origin) tables += k.tables.size();
    for (const auto& w : report.warnings) std::printf("warning: %s\n", w.c_str());
    for (const auto& e : report.errors) std::printf("schema: %s\n", e.c_str());
    if (!report.errors.empty()) {
        std::printf("preflight: %zu schema differences: create what target lacks before dual writes start\n", report.errors.size());
        return 3;
    }
    std::printf("preflight: target has every keyspace, table, column and type of origin (%zu keyspaces, %zu tables)\n", origin.size(), tables);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tandemctl: see and change a fleet of tandem instances, check clusters before a migration, write settings"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("tandemctl version ") + TANDEM_VERSION);
    fleet_args fa;
    auto add_fleet = [&](CLI::App* sub) {
        sub->add_option("--instances", fa.instances, "the instances' admin endpoints, HOST[:PORT],... (their metrics_port; default 14001)");
        sub->add_option("--config", fa.config_path, "a tandem settings file: its proxy_topology_addresses and metrics_port name the instances");
        sub->add_option("--token", fa.token, "the admin token (default: $TANDEM_ADMIN_TOKEN, else the settings file's admin_token)");
    };
    auto* status = app.add_subcommand("status", "one line per instance, and a warning when they disagree (exit 1 when one is down or they disagree)");
    add_fleet(status);
    bool json = false;
    status->add_flag("--json", json, "print JSON instead of a table");

    auto* set = app.add_subcommand("set", "change a live setting on every instance and verify it: primary-cluster, read-mode, write-mode, log-level");
    add_fleet(set);
    std::string what, value;
    bool dry_run = false;
    set->add_option("setting", what, "primary-cluster, read-mode, write-mode or log-level")->required();
    set->add_option("value", value, "ORIGIN|TARGET; PRIMARY_ONLY|DUAL_ASYNC_ON_SECONDARY; INFO, DEBUG, ...")->required();
    set->add_flag("--dry-run", dry_run, "show what would change on each instance; change nothing");

    auto* preflight = app.add_subcommand("preflight", "before Phase 1: both clusters reachable, protocol versions, nodes, and the schema diff (exit 3)");
    std::string preflight_config;
    preflight->add_option("--config", preflight_config, "the tandem settings file to check")->required();

    auto* init = app.add_subcommand("init", "write one settings file per instance and an Ansible inventory (asks, or takes flags)");
    tandemctl::init_options io;
    tandemctl::add_init_options(*init, io);

    CLI11_PARSE(app, argc, argv);
    if (*status) return run_status(fa, json);
    if (*set) return run_set(fa, what, value, dry_run);
    if (*preflight) return run_preflight(preflight_config);
    return tandemctl::run_init(io);
}
