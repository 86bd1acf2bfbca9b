#include "cql/error_body.hh"

#include "cql/envelope.hh"

namespace tandem::cql {

std::string_view to_string(error_code c) {
    switch (c) {
        case error_code::server_error: return "SERVER_ERROR";
        case error_code::protocol_error: return "PROTOCOL_ERROR";
        case error_code::bad_credentials: return "BAD_CREDENTIALS";
        case error_code::unavailable: return "UNAVAILABLE";
        case error_code::overloaded: return "OVERLOADED";
        case error_code::is_bootstrapping: return "IS_BOOTSTRAPPING";
        case error_code::truncate_error: return "TRUNCATE_ERROR";
        case error_code::write_timeout: return "WRITE_TIMEOUT";
        case error_code::read_timeout: return "READ_TIMEOUT";
        case error_code::read_failure: return "READ_FAILURE";
        case error_code::function_failure: return "FUNCTION_FAILURE";
        case error_code::write_failure: return "WRITE_FAILURE";
        case error_code::cdc_write_failure: return "CDC_WRITE_FAILURE";
        case error_code::cas_write_unknown: return "CAS_WRITE_UNKNOWN";
        case error_code::syntax_error: return "SYNTAX_ERROR";
        case error_code::unauthorized: return "UNAUTHORIZED";
        case error_code::invalid: return "INVALID";
        case error_code::config_error: return "CONFIG_ERROR";
        case error_code::already_exists: return "ALREADY_EXISTS";
        case error_code::unprepared: return "UNPREPARED";
    }
    return "UNKNOWN_ERROR";
}

namespace {

bool known(int32_t c) {
    switch (static_cast<error_code>(c)) {
        case error_code::server_error:
        case error_code::protocol_error:
        case error_code::bad_credentials:
        case error_code::unavailable:
        case error_code::overloaded:
        case error_code::is_bootstrapping:
        case error_code::truncate_error:
        case error_code::write_timeout:
        case error_code::read_timeout:
        case error_code::read_failure:
        case error_code::function_failure:
        case error_code::write_failure:
        case error_code::cdc_write_failure:
        case error_code::cas_write_unknown:
        case error_code::syntax_error:
        case error_code::unauthorized:
        case error_code::invalid:
        case error_code::config_error:
        case error_code::already_exists:
        case error_code::unprepared:
            return true;
    }
    return false;
}

bool is_v5(uint8_t version) { return effective_version(version) >= protocol_version::v5; }

// v5: <reasonmap> = <int n> then n × (<inetaddr><short failure code>); v4: <int numfailures>.
void read_failures(reader& r, error_message& m, uint8_t version) {
    if (is_v5(version)) {
        int32_t n = r.read_int();
        if (n < 0 || static_cast<size_t>(n) > r.remaining() / 7) {
            r.fail("reason map count exceeds the remaining bytes");
            return;
        }
        for (int32_t i = 0; i < n && r.ok(); ++i) {
            auto addr = r.read_inet_address();
            auto code = r.read_short();
            m.reason_map.emplace_back(addr, code);
        }
        m.num_failures = n;
    } else {
        m.num_failures = r.read_int();
    }
}

void write_failures(writer& w, const error_message& m, uint8_t version) {
    if (is_v5(version)) {
        w.write_int(static_cast<int32_t>(m.reason_map.size()));
        for (auto& [addr, code] : m.reason_map) {
            w.write_inet_address(addr);
            w.write_short(code);
        }
    } else {
        w.write_int(m.num_failures);
    }
}

}  // namespace

result<error_message> error_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    error_message m;
    int32_t code = r.read_int();
    m.message = std::string(r.read_string());
    if (!r.ok()) return decode_error{r.error()};
    if (!known(code)) return decode_error{"unknown error code"};
    m.code = static_cast<error_code>(code);
    switch (m.code) {
        case error_code::unavailable:
            m.cl = r.read_consistency();
            m.block_for = r.read_int();
            m.received = r.read_int();
            break;
        case error_code::write_timeout:
            m.cl = r.read_consistency();
            m.received = r.read_int();
            m.block_for = r.read_int();
            m.write_type = std::string(r.read_string());
            if (is_v5(version) && m.write_type == "CAS") m.contentions = static_cast<int16_t>(r.read_short());
            break;
        case error_code::read_timeout:
            m.cl = r.read_consistency();
            m.received = r.read_int();
            m.block_for = r.read_int();
            m.data_present = r.read_byte() != 0;
            break;
        case error_code::read_failure:
            m.cl = r.read_consistency();
            m.received = r.read_int();
            m.block_for = r.read_int();
            read_failures(r, m, version);
            m.data_present = r.read_byte() != 0;
            break;
        case error_code::write_failure:
            m.cl = r.read_consistency();
            m.received = r.read_int();
            m.block_for = r.read_int();
            read_failures(r, m, version);
            m.write_type = std::string(r.read_string());
            break;
        case error_code::cas_write_unknown:
            m.cl = r.read_consistency();
            m.received = r.read_int();
            m.block_for = r.read_int();
            break;
        case error_code::function_failure:
            m.keyspace = std::string(r.read_string());
            m.table = std::string(r.read_string());
            for (auto a : r.read_string_list()) m.arg_types.emplace_back(a);
            break;
        case error_code::already_exists:
            m.keyspace = std::string(r.read_string());
            m.table = std::string(r.read_string());
            break;
        case error_code::unprepared:
            m.unprepared_id = std::string(r.read_short_bytes());
            break;
        default:
            break;
    }
    if (!r.ok()) return decode_error{r.error()};
    if (!r.at_end()) return decode_error{"bytes after the end of the message"};
    return m;
}

void error_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_int(static_cast<int32_t>(code));
    w.write_string(message);
    switch (code) {
        case error_code::unavailable:
            w.write_consistency(cl);
            w.write_int(block_for);
            w.write_int(received);
            break;
        case error_code::write_timeout:
            w.write_consistency(cl);
            w.write_int(received);
            w.write_int(block_for);
            w.write_string(write_type);
            if (is_v5(version) && write_type == "CAS") w.write_short(static_cast<uint16_t>(contentions));
            break;
        case error_code::read_timeout:
            w.write_consistency(cl);
            w.write_int(received);
            w.write_int(block_for);
            w.write_byte(data_present ? 1 : 0);
            break;
        case error_code::read_failure:
            w.write_consistency(cl);
            w.write_int(received);
            w.write_int(block_for);
            write_failures(w, *this, version);
            w.write_byte(data_present ? 1 : 0);
            break;
        case error_code::write_failure:
            w.write_consistency(cl);
            w.write_int(received);
            w.write_int(block_for);
            write_failures(w, *this, version);
            w.write_string(write_type);
            break;
        case error_code::cas_write_unknown:
            w.write_consistency(cl);
            w.write_int(received);
            w.write_int(block_for);
            break;
        case error_code::function_failure: {
            w.write_string(keyspace);
            w.write_string(table);
            std::vector<std::string_view> args(arg_types.begin(), arg_types.end());
            w.write_string_list(args);
            break;
        }
        case error_code::already_exists:
            w.write_string(keyspace);
            w.write_string(table);
            break;
        case error_code::unprepared:
            w.write_short_bytes(unprepared_id);
            break;
        default:
            break;
    }
}

error_message error_message::make(error_code c, std::string message) {
    error_message m;
    m.code = c;
    m.message = std::move(message);
    return m;
}

error_message error_message::unprepared(std::string_view id, std::string message) {
    auto m = make(error_code::unprepared, std::move(message));
    m.unprepared_id = std::string(id);
    return m;
}

error_message error_message::already_exists(std::string keyspace, std::string table, std::string message) {
    auto m = make(error_code::already_exists, std::move(message));
    m.keyspace = std::move(keyspace);
    m.table = std::move(table);
    return m;
}

error_message error_message::unsupported_version(uint8_t version, std::string_view supported) {
    std::string text = "Invalid or unsupported protocol version (" + std::to_string(version) + ")";
    if (!supported.empty()) {
        text += "; supported versions are (";
        text += supported;
        text += ")";
    }
    return make(error_code::protocol_error, std::move(text));
}

error_message error_message::write_timeout(consistency cl, int32_t received, int32_t block_for, std::string write_type) {
    auto m = make(error_code::write_timeout, "Operation timed out - received only " + std::to_string(received) +
                                                  " responses.");
    m.cl = cl;
    m.received = received;
    m.block_for = block_for;
    m.write_type = std::move(write_type);
    return m;
}

error_message error_message::read_timeout(consistency cl, int32_t received, int32_t block_for, bool data_present) {
    auto m = make(error_code::read_timeout, "Operation timed out - received only " + std::to_string(received) +
                                                 " responses.");
    m.cl = cl;
    m.received = received;
    m.block_for = block_for;
    m.data_present = data_present;
    return m;
}

error_message error_message::unavailable(consistency cl, int32_t required, int32_t alive) {
    auto m = make(error_code::unavailable, "Cannot achieve consistency level " + std::string(to_string(cl)));
    m.cl = cl;
    m.block_for = required;
    m.received = alive;
    return m;
}

}  // namespace tandem::cql
