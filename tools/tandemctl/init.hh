#pragma once
// tandemctl init: what ZDM Utility asks, as questions or flags; writes one settings file per
// instance and the Ansible inventory and group variables of deploy/ansible.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tandem::tandemctl {

struct cluster_answers {
    std::string contact_points, port = "9042", username, password, local_datacenter;
    std::string tls_server_ca_path, tls_client_cert_path, tls_client_key_path;
};

struct init_options {
    std::string output_dir = ".";
    std::string instances;  // the instances' addresses, comma-separated
    std::string proxy_port = "14002", metrics_port = "14001";
    std::string primary_cluster = "ORIGIN", read_mode = "PRIMARY_ONLY";
    std::string admin_token;  // empty: a random one
    cluster_answers origin, target;
    bool non_interactive = false;
};

void add_init_options(CLI::App& app, init_options& o);
int run_init(init_options o);

// The settings of instance `index` as YAML (pure; tested).
std::string instance_settings(const init_options& o, const std::vector<std::string>& addresses, size_t index);

}  // namespace tandem::tandemctl
