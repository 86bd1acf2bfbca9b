#include "cql/startup.hh"

namespace tandem::cql {

namespace {
template <typename T>
result<T> finish(reader& r, T msg) {
    if (!r.ok()) return decode_error{r.error()};
    if (!r.at_end()) return decode_error{"bytes after the end of the message"};
    return msg;
}
}  // namespace

std::optional<std::string_view> startup_message::option(std::string_view key) const {
    for (auto& [k, v] : options) {
        if (k == key) return v;
    }
    return std::nullopt;
}

result<startup_message> startup_message::decode(std::string_view body) {
    reader r(body);
    startup_message m;
    m.options = r.read_string_map();
    auto done = finish(r, std::move(m));
    if (done && !done->option("CQL_VERSION")) return decode_error{"STARTUP without CQL_VERSION"};
    return done;
}

void startup_message::encode(std::string& out) const { writer(out).write_string_map(options); }

result<bool> decode_empty_body(std::string_view body) {
    if (!body.empty()) return decode_error{"body must be empty"};
    return true;
}

const std::vector<std::string_view>* supported_message::option(std::string_view key) const {
    for (auto& [k, v] : options) {
        if (k == key) return &v;
    }
    return nullptr;
}

result<supported_message> supported_message::decode(std::string_view body) {
    reader r(body);
    supported_message m;
    m.options = r.read_string_multimap();
    return finish(r, std::move(m));
}

void supported_message::encode(std::string& out) const { writer(out).write_string_multimap(options); }

result<authenticate_message> authenticate_message::decode(std::string_view body) {
    reader r(body);
    authenticate_message m;
    m.authenticator = r.read_string();
    return finish(r, m);
}

void authenticate_message::encode(std::string& out) const { writer(out).write_string(authenticator); }

result<auth_token_message> auth_token_message::decode(std::string_view body) {
    reader r(body);
    auth_token_message m;
    m.token = r.read_bytes();
    return finish(r, m);
}

void auth_token_message::encode(std::string& out) const { writer(out).write_bytes(token); }

result<register_message> register_message::decode(std::string_view body) {
    reader r(body);
    register_message m;
    m.event_types = r.read_string_list();
    auto done = finish(r, std::move(m));
    if (done) {
        for (auto t : done->event_types) {
            if (t != "TOPOLOGY_CHANGE" && t != "STATUS_CHANGE" && t != "SCHEMA_CHANGE") {
                return decode_error{"REGISTER names an unknown event type"};
            }
        }
    }
    return done;
}

void register_message::encode(std::string& out) const { writer(out).write_string_list(event_types); }

std::string plain_sasl_token(std::string_view user, std::string_view password) {
    std::string t;
    t.reserve(user.size() + password.size() + 2);
    t.push_back('\0');
    t.append(user);
    t.push_back('\0');
    t.append(password);
    return t;
}

std::optional<plain_credentials> parse_plain_sasl_token(std::string_view token) {
    auto a = token.find('\0');
    if (a == std::string_view::npos) return std::nullopt;
    auto b = token.find('\0', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    return plain_credentials{token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

}  // namespace tandem::cql
