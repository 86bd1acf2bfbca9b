#include "core/client/settings.hh"

#include "net/tls.hh"

namespace tandem::core::client {

bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
    if (s.empty()) return false;
    if (s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string::npos) return false;
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') return false;
            try {
                port = static_cast<uint16_t>(std::stoul(s.substr(close + 2)));
            } catch (const std::exception&) {
                return false;
            }
        }
        return true;
    }
    auto colon = s.rfind(':');
    if (colon != std::string::npos && s.find(':') == colon) {
        host = s.substr(0, colon);
        try {
            port = static_cast<uint16_t>(std::stoul(s.substr(colon + 1)));
        } catch (const std::exception&) {
            return false;
        }
        return true;
    }
    host = s;
    return true;
}

std::string cluster_options_for(const char* name, const cluster_overrides& a, const config::cluster_settings* from_config,
                                cluster_options& out) {
    std::string address = a.address;
    out.port = 9042;
    if (from_config) {
        if (!from_config->secure_connect_bundle_path.empty()) return std::string(name) + ": secure connect bundles are not supported by tandem-migrate yet";
        if (address.empty() && !from_config->contact_points.empty()) address = from_config->contact_points.front();
        out.port = static_cast<uint16_t>(from_config->port);
        out.connection.username = from_config->username;
        out.connection.password = from_config->password;
        out.local_datacenter = from_config->local_datacenter;
    }
    if (address.empty()) return std::string("--") + name + " (or --config with " + name + "_contact_points) is required";
    if (!split_host_port(address, out.host, out.port)) return std::string("--") + name + ": cannot read '" + address + "' as HOST[:PORT]";
    if (!a.username.empty()) out.connection.username = a.username;
    if (!a.password.empty()) out.connection.password = a.password;
    out.connection.username_setting = std::string("--") + name + "-username";
    std::string ca = a.tls_server_ca_path, cert = a.tls_client_cert_path, key = a.tls_client_key_path;
    if (from_config) {
        if (ca.empty()) ca = from_config->tls_server_ca_path;
        if (cert.empty()) cert = from_config->tls_client_cert_path;
        if (key.empty()) key = from_config->tls_client_key_path;
    }
    if (!ca.empty()) {
        auto t = net::tls_context::make_client(ca, cert, key);
        if (auto* err = std::get_if<std::string>(&t)) return std::string(name) + " TLS: " + *err;
        out.connection.tls = std::get<std::shared_ptr<net::tls_context>>(t);
    }
    return {};
}

}  // namespace tandem::core::client
