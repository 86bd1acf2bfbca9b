#include "tools/tandemctl/init.hh"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/config.hh"
#include "cql/primitives.hh"

namespace tandem::tandemctl {

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::string item;
    for (char c : s + ",") {
        if (c == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return out;
}

// A YAML scalar, quoted when it is not plainly safe.
std::string yaml(const std::string& v) {
    bool plain = !v.empty();
    for (char c : v) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/');
    if (plain) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

void ask(const std::string& question, std::string& value, bool secret = false) {
    std::printf("%s%s: ", question.c_str(), value.empty() ? "" : (" [" + (secret ? std::string("keep") : value) + "]").c_str());
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) return;
    if (!line.empty()) value = line;
}

void ask_cluster(const char* name, cluster_answers& c) {
    std::printf("\n%s cluster\n", name);
    ask(std::string("  contact points (comma-separated)"), c.contact_points);
    ask("  CQL port", c.port);
    ask("  local datacenter (empty: the contact point's)", c.local_datacenter);
    ask("  username (empty: no authentication)", c.username);
    if (!c.username.empty()) ask("  password", c.password, true);
    ask("  TLS: CA file to verify the nodes (empty: no TLS)", c.tls_server_ca_path);
    if (!c.tls_server_ca_path.empty()) {
        ask("  TLS: client certificate (empty: none)", c.tls_client_cert_path);
        if (!c.tls_client_cert_path.empty()) ask("  TLS: client key", c.tls_client_key_path);
    }
}

std::string cluster_settings(const char* p, const cluster_answers& c) {
    std::string out;
    auto put = [&](const std::string& k, const std::string& v) {
        if (!v.empty()) out += std::string(p) + "_" + k + ": " + yaml(v) + "\n";
    };
    put("contact_points", c.contact_points);
    put("port", c.port);
    put("local_datacenter", c.local_datacenter);
    put("username", c.username);
    put("password", c.password);
    put("tls_server_ca_path", c.tls_server_ca_path);
    put("tls_client_cert_path", c.tls_client_cert_path);
    put("tls_client_key_path", c.tls_client_key_path);
    return out;
}

std::string random_token() {
    unsigned char b[24];
    if (RAND_bytes(b, sizeof b) != 1) return {};
    return cql::to_hex(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
}

bool write_file(const std::filesystem::path& p, const std::string& text, std::string& error) {
    std::filesystem::create_directories(p.parent_path());
    {
        std::ofstream f(p, std::ios::trunc);
        f << text;
        if (!f) {
            error = "cannot write " + p.string();
            return false;
        }
    }
    ::chmod(p.c_str(), 0600);  // passwords and the admin token
    return true;
}

}  // namespace

void add_init_options(CLI::App& app, init_options& o) {
    app.add_option("--output-dir", o.output_dir, "where to write settings/, inventory.ini and group_vars/")->capture_default_str();
    app.add_option("--instances", o.instances, "the tandem instances' addresses, comma-separated (one settings file each)");
    app.add_option("--proxy-port", o.proxy_port, "proxy_listen_port of every instance")->capture_default_str();
    app.add_option("--metrics-port", o.metrics_port, "metrics_port (metrics, health, admin API)")->capture_default_str();
    app.add_option("--primary-cluster", o.primary_cluster, "ORIGIN or TARGET")->capture_default_str();
    app.add_option("--read-mode", o.read_mode, "PRIMARY_ONLY or DUAL_ASYNC_ON_SECONDARY")->capture_default_str();
    app.add_option("--admin-token", o.admin_token, "admin_token (default: a random one)");
    for (auto [name, c] : {std::pair<std::string, cluster_answers*>{"origin", &o.origin}, {"target", &o.target}}) {
        app.add_option("--" + name + "-contact-points", c->contact_points, name + " contact points, comma-separated");
        app.add_option("--" + name + "-port", c->port, name + " CQL port")->capture_default_str();
        app.add_option("--" + name + "-local-datacenter", c->local_datacenter, name + " local datacenter");
        app.add_option("--" + name + "-username", c->username, name + " username");
        app.add_option("--" + name + "-password", c->password, name + " password");
        app.add_option("--" + name + "-tls-server-ca-path", c->tls_server_ca_path, name + " CA file (turns TLS on)");
        app.add_option("--" + name + "-tls-client-cert-path", c->tls_client_cert_path, name + " client certificate");
        app.add_option("--" + name + "-tls-client-key-path", c->tls_client_key_path, name + " client key");
    }
    app.add_flag("--non-interactive", o.non_interactive, "ask nothing: every value from the flags (missing ones are an error)");
}

std::string instance_settings(const init_options& o, const std::vector<std::string>& addresses, size_t index) {
    std::string out = "# tandem instance " + std::to_string(index) + " of " + std::to_string(addresses.size()) + " (written by tandemctl init)\n";
    out += cluster_settings("origin", o.origin) + cluster_settings("target", o.target);
    out += "primary_cluster: " + yaml(o.primary_cluster) + "\nread_mode: " + yaml(o.read_mode) + "\n";
    out += "proxy_listen_address: " + yaml(addresses[index]) + "\nproxy_listen_port: " + yaml(o.proxy_port) + "\n";
    out += "metrics_address: " + yaml(addresses[index]) + "\nmetrics_port: " + yaml(o.metrics_port) + "\n";
    out += "proxy_topology_index: " + std::to_string(index) + "\nproxy_topology_addresses: ";
    for (size_t i = 0; i < addresses.size(); ++i) out += (i ? "," : "") + addresses[i];
    out += "\n";
    if (!o.admin_token.empty()) out += "admin_token: " + yaml(o.admin_token) + "\n";
    return out;
}

int run_init(init_options o) {
    auto fail = [](const std::string& why) {
        std::fprintf(stderr, "tandemctl init: %s\n", why.c_str());
        return 2;
    };
    if (!o.non_interactive) {
        std::printf("tandemctl init: the settings of a tandem fleet (Enter keeps the value in brackets)\n");
        ask_cluster("Origin", o.origin);
        ask_cluster("Target", o.target);
        std::printf("\ntandem instances\n");
        ask("  their addresses (comma-separated, e.g. 10.0.0.11,10.0.0.12,10.0.0.13)", o.instances);
        ask("  client port", o.proxy_port);
        ask("  metrics and admin port", o.metrics_port);
        ask("  where to write the files", o.output_dir);
    }
    if (o.origin.contact_points.empty()) return fail("the origin's contact points are needed (--origin-contact-points)");
    if (o.target.contact_points.empty()) return fail("the target's contact points are needed (--target-contact-points)");
    const auto addresses = split(o.instances);
    if (addresses.empty()) return fail("the instances' addresses are needed (--instances A,B,C)");
    if (o.admin_token.empty()) o.admin_token = random_token();
    if (o.admin_token.empty()) return fail("cannot draw a random admin token (OpenSSL RAND_bytes failed); give one with --admin-token");
    // Every file is checked by tandem's own settings loader before anything is written.
    for (size_t i = 0; i < addresses.size(); ++i) {
        auto c = core::load_yaml_text(instance_settings(o, addresses, i));
        if (auto* e = std::get_if<core::config_error>(&c)) return fail(e->message);
    }
    namespace fs = std::filesystem;
    const fs::path dir(o.output_dir);
    std::string error;
    for (size_t i = 0; i < addresses.size(); ++i) {
        if (!write_file(dir / "settings" / ("tandem-" + std::to_string(i) + ".yml"), instance_settings(o, addresses, i), error)) return fail(error);
    }
    std::string inventory = "# tandem fleet (written by tandemctl init); deploy with\n"
                            "#   ansible-playbook -i inventory.ini deploy/ansible/site.yml\n[tandem]\n";
    for (size_t i = 0; i < addresses.size(); ++i) {
        inventory += "tandem-" + std::to_string(i) + " ansible_host=" + addresses[i] + " tandem_address=" + addresses[i] + "\n";
    }
    if (!write_file(dir / "inventory.ini", inventory, error)) return fail(error);
    // The settings every instance shares; the role adds each one's address and topology index.
    std::string vars = "# Settings every tandem instance shares (written by tandemctl init); the tandem role adds\n"
                       "# proxy_listen_address, metrics_address and proxy_topology_* per instance.\n"
                       "tandem_proxy_port: " + o.proxy_port + "\ntandem_metrics_port: " + o.metrics_port + "\ntandem_settings:\n";
    std::string shared = cluster_settings("origin", o.origin) + cluster_settings("target", o.target) + "primary_cluster: " +
                         yaml(o.primary_cluster) + "\nread_mode: " + yaml(o.read_mode) + "\nadmin_token: " + yaml(o.admin_token) + "\n";
    size_t start = 0;
    while (start < shared.size()) {
        size_t end = shared.find('\n', start);
        vars += "  " + shared.substr(start, end - start) + "\n";
        start = end + 1;
    }
    if (!write_file(dir / "group_vars" / "tandem.yml", vars, error)) return fail(error);
    // Prometheus file service discovery (deploy/monitoring/prometheus.yml reads targets/*.json).
    std::string targets = "[{\"targets\": [";
    for (size_t i = 0; i < addresses.size(); ++i) targets += (i ? ", " : "") + std::string("\"") + addresses[i] + ":" + o.metrics_port + "\"";
    targets += "], \"labels\": {\"job\": \"tandem\"}}]\n";
    if (!write_file(dir / "prometheus" / "tandem.json", targets, error)) return fail(error);
    std::printf("wrote %zu settings files in %s, %s, %s and %s\n", addresses.size(), (dir / "settings").c_str(), (dir / "inventory.ini").c_str(),
                (dir / "group_vars" / "tandem.yml").c_str(), (dir / "prometheus" / "tandem.json").c_str());
    std::printf("next: tandemctl preflight --config %s\n", (dir / "settings" / "tandem-0.yml").c_str());
    return 0;
}

}  // namespace tandem::tandemctl
