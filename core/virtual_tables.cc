#include "core/virtual_tables.hh"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/evp.h>

#include <cstring>

#include "cql/envelope.hh"
#include "cql/values.hh"

namespace tandem::core {

using cql::cql_type;
using cql::type_id;

system_table intercepted_table(const cql::statement_info& info, std::string_view current_keyspace) {
    if (info.kind != cql::statement_kind::select) return system_table::none;
    bool in_system = info.keyspace.empty() ? current_keyspace == "system" : info.keyspace.equals("system");
    if (!in_system) return system_table::none;
    if (info.table.equals("local")) return system_table::local;
    if (info.table.equals("peers")) return system_table::peers;
    if (info.table.equals("peers_v2")) return system_table::peers_v2;
    return system_table::none;
}

std::variant<proxy_topology, std::string> make_proxy_topology(const std::vector<std::string>& addresses, int64_t index,
                                                              int64_t num_tokens, const std::string& listen_address,
                                                              uint16_t port) {
    proxy_topology t;
    t.port = port;
    t.num_tokens = static_cast<int>(num_tokens);
    if (num_tokens < 1 || num_tokens > 256) {
        return "invalid proxy_topology_num_tokens (" + std::to_string(num_tokens) + "), it must be between 1 and 256";
    }
    if (!addresses.empty()) {
        for (const auto& a : addresses) {
            auto ip = cql::inet_address::parse(a);
            if (!ip) return "invalid proxy_topology_addresses: '" + a + "' is not an IP address";
            t.addresses.push_back(*ip);
        }
        if (index < 0 || static_cast<size_t>(index) >= t.addresses.size()) {
            return "invalid proxy_topology_index (" + std::to_string(index) + "): proxy_topology_addresses has " +
                   std::to_string(t.addresses.size()) + " entries";
        }
        t.index = static_cast<size_t>(index);
        return t;
    }
    if (index != 0) return "invalid proxy_topology_index (" + std::to_string(index) + ") without proxy_topology_addresses";
    // R6.1: the listen address resolved to its first IPv4 address, else 127.0.0.1.
    cql::inet_address a;
    if (auto ip = cql::inet_address::parse(listen_address)) {
        a = *ip;
        t.short_host_id_form = true;
    } else {
        addrinfo hints{};
        hints.ai_family = AF_INET;
        addrinfo* res = nullptr;
        if (getaddrinfo(listen_address.c_str(), nullptr, &hints, &res) == 0 && res) {
            auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
            a.size = 4;
            std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
            t.short_host_id_form = true;
            freeaddrinfo(res);
        } else {
            a = *cql::inet_address::parse("127.0.0.1");
        }
    }
    static const cql::inet_address any4 = *cql::inet_address::parse("0.0.0.0");
    static const cql::inet_address any6 = *cql::inet_address::parse("::");
    t.unspecified = a == any4 || a == any6;
    t.addresses.push_back(a);
    return t;
}

std::vector<std::string> virtual_tokens(size_t i, size_t n, int num_tokens) {
    std::vector<std::string> out;
    // floor(2^64 / d) without 128-bit arithmetic; with d = 1 the only token is t = i = 0.
    const uint64_t d = static_cast<uint64_t>(num_tokens) * n;
    const uint64_t span = d <= 1 ? 0 : UINT64_MAX / d + (UINT64_MAX % d + 1 == d ? 1 : 0);
    for (int t = 0; t < num_tokens; ++t) {
        uint64_t v = span * (static_cast<uint64_t>(t) * n + i);  // < 2^64: t·n + i < d
        // − 2^63, in two's complement: flip the top bit.
        auto token = static_cast<int64_t>(v ^ (uint64_t{1} << 63));
        out.push_back(std::to_string(token));
    }
    return out;
}

cql::uuid_bytes virtual_host_id(const cql::inet_address& a, bool short_form) {
    // UUID version 5: SHA-1 over namespace (all zero) + name, then version and variant bits.
    std::string name(16, '\0');
    std::string bytes;
    if (a.size == 4 && !short_form) {
        // Go's 16-byte form of an IPv4 address: ::ffff:a.b.c.d
        bytes.assign(10, '\0');
        bytes.append("\xff\xff", 2);
        bytes.append(reinterpret_cast<const char*>(a.bytes.data()), 4);
    } else {
        bytes.assign(reinterpret_cast<const char*>(a.bytes.data()), a.size);
    }
    std::string input(16, '\0');
    input += bytes;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
    cql::uuid_bytes u{};
    std::memcpy(u.data(), digest, 16);
    u[6] = static_cast<uint8_t>((u[6] & 0x0F) | 0x50);
    u[8] = static_cast<uint8_t>((u[8] & 0x3F) | 0x80);
    return u;
}

std::string intercepted_prepared_id(std::string_view query, std::string_view keyspace) {
    std::string input(query);
    input.append(keyspace);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), digest, &len, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<const char*>(digest), len);
}

namespace {

struct column {
    std::string name;
    cql_type type;
    std::optional<std::string> value;
};

std::string inet_bytes(const cql::inet_address& a) { return std::string(a.address()); }

std::string int_bytes(int32_t v) {
    std::string s(4, '\0');
    cql::store_be32(s.data(), static_cast<uint32_t>(v));
    return s;
}

std::string tokens_bytes(const std::vector<std::string>& tokens) {
    cql::cql_list l;
    for (const auto& t : tokens) l.emplace_back(t);
    std::string out;
    (void)cql::encode_value(cql_type::set_of(cql_type::simple(type_id::varchar)), cql::cql_value(std::move(l)), out);
    return out;
}

// Copies `name` from `row` when it has the column.
void copy(std::vector<column>& out, const system_row& row, std::string_view name) {
    if (auto* spec = row.spec(name)) out.push_back({std::string(name), spec->type, *row.cell(name)});
}

struct host_source {
    const system_row* backing;  // the real host this virtual host stands for
    std::string datacenter;
};

host_source backing_for(const cluster_view& view, size_t i) {
    const auto& h = view.hosts[i % view.hosts.size()];
    return {&h.row, h.datacenter};
}

std::optional<std::string> schema_version(const cluster_view& view) {
    auto* c = view.local.cell("schema_version");
    return c ? *c : std::nullopt;
}

std::vector<column> local_columns(const cluster_view& view, const proxy_topology& topo, const cql::inet_address& addr) {
    const auto& cc = view.local;
    auto src = backing_for(view, topo.index);
    const auto& b = *src.backing;
    auto inet = cql_type::simple(type_id::inet);
    std::vector<column> out;
    copy(out, cc, "key");
    copy(out, cc, "bootstrapped");
    out.push_back({"broadcast_address", inet, inet_bytes(addr)});
    copy(out, cc, "cluster_name");
    copy(out, cc, "cql_version");
    out.push_back({"data_center", cql_type::simple(type_id::varchar), src.datacenter});
    copy(out, b, "dse_version");
    copy(out, cc, "gossip_generation");
    copy(out, b, "graph");
    auto hid = virtual_host_id(topo.addresses[topo.index], topo.short_host_id_form);
    out.push_back({"host_id", cql_type::simple(type_id::uuid), std::string(reinterpret_cast<const char*>(hid.data()), 16)});
    copy(out, b, "jmx_port");
    copy(out, cc, "last_nodesync_checkpoint_time");
    out.push_back({"listen_address", inet, inet_bytes(addr)});
    copy(out, cc, "native_protocol_version");
    if (b.has("native_transport_port")) out.push_back({"native_transport_port", cql_type::simple(type_id::int_), int_bytes(topo.port)});
    if (b.has("native_transport_port_ssl")) out.push_back({"native_transport_port_ssl", cql_type::simple(type_id::int_), int_bytes(topo.port)});
    out.push_back({"partitioner", cql_type::simple(type_id::varchar), std::string("org.apache.cassandra.dht.Murmur3Partitioner")});
    if (b.has("native_transport_address")) out.push_back({"native_transport_address", inet, inet_bytes(addr)});
    out.push_back({"rack", cql_type::simple(type_id::varchar), std::string("rack0")});
    copy(out, b, "release_version");
    out.push_back({"rpc_address", inet, inet_bytes(addr)});
    out.push_back({"schema_version", cql_type::simple(type_id::uuid), schema_version(view)});
    copy(out, b, "server_id");
    copy(out, b, "storage_port");
    copy(out, b, "storage_port_ssl");
    copy(out, cc, "thrift_version");
    out.push_back({"tokens", cql_type::set_of(cql_type::simple(type_id::varchar)),
                   tokens_bytes(virtual_tokens(topo.index, topo.addresses.size(), topo.num_tokens))});
    out.push_back({"truncated_at", cql_type::map_of(cql_type::simple(type_id::uuid), cql_type::simple(type_id::blob)), std::nullopt});
    copy(out, b, "workload");
    copy(out, b, "workloads");
    return out;
}

// One row per other instance; `schema_only` gives the columns when there is no row (N = 1).
std::vector<std::vector<column>> peers_rows(const cluster_view& view, const proxy_topology& topo, std::vector<column>& shape) {
    std::vector<std::vector<column>> rows;
    auto inet = cql_type::simple(type_id::inet);
    // Optional columns exist when the real system.peers had them; with no peers rows there,
    // judge from the backing host's row (R6.5).
    auto has = [&](const system_row& b, std::string_view name) {
        if (view.peers_had_rows) {
            for (const auto& c : view.peers_columns) {
                if (c.name == name) return true;
            }
            return false;
        }
        return b.has(name);
    };
    auto type_of = [&](const system_row& b, std::string_view name) -> cql_type {
        for (const auto& c : view.peers_columns) {
            if (c.name == name) return c.type;
        }
        if (auto* s = b.spec(name)) return s->type;
        return cql_type::simple(type_id::varchar);
    };
    auto build = [&](size_t i, const cql::inet_address& addr) {
        auto src = backing_for(view, i);
        const auto& b = *src.backing;
        std::vector<column> out;
        auto opt = [&](std::string_view name) {
            if (!has(b, name)) return;
            auto* cell = b.cell(name);
            out.push_back({std::string(name), type_of(b, name), cell ? *cell : std::nullopt});
        };
        out.push_back({"peer", inet, inet_bytes(addr)});
        out.push_back({"data_center", cql_type::simple(type_id::varchar), src.datacenter});
        opt("dse_version");
        opt("graph");
        auto hid = virtual_host_id(addr, false);
        out.push_back({"host_id", cql_type::simple(type_id::uuid), std::string(reinterpret_cast<const char*>(hid.data()), 16)});
        opt("jmx_port");
        if (has(b, "native_transport_address")) out.push_back({"native_transport_address", inet, inet_bytes(addr)});
        if (has(b, "native_transport_port")) out.push_back({"native_transport_port", cql_type::simple(type_id::int_), int_bytes(topo.port)});
        if (has(b, "native_transport_port_ssl")) out.push_back({"native_transport_port_ssl", cql_type::simple(type_id::int_), int_bytes(topo.port)});
        out.push_back({"preferred_ip", inet, inet_bytes(addr)});
        out.push_back({"rack", cql_type::simple(type_id::varchar), std::string("rack0")});
        opt("release_version");
        if (!has(b, "release_version") && b.has("release_version")) {
            out.push_back({"release_version", b.spec("release_version")->type, *b.cell("release_version")});
        }
        out.push_back({"rpc_address", inet, inet_bytes(addr)});
        out.push_back({"schema_version", cql_type::simple(type_id::uuid), schema_version(view)});
        opt("server_id");
        opt("storage_port");
        opt("storage_port_ssl");
        out.push_back({"tokens", cql_type::set_of(cql_type::simple(type_id::varchar)),
                       tokens_bytes(virtual_tokens(i, topo.addresses.size(), topo.num_tokens))});
        opt("workload");
        opt("workloads");
        return out;
    };
    for (size_t i = 0; i < topo.addresses.size(); ++i) {
        if (i == topo.index) continue;
        rows.push_back(build(i, topo.addresses[i]));
    }
    shape = rows.empty() ? build(topo.index, topo.addresses[topo.index]) : rows.front();
    return rows;
}

}  // namespace

std::variant<system_answer, cql::error_message> answer_system_select(system_table table, std::string_view query,
                                                                     const cql::statement_info& info,
                                                                     const cluster_view& view, const proxy_topology& topo,
                                                                     const cql::inet_address& client_address, uint8_t version) {
    if (table == system_table::peers_v2) return cql::error_message::invalid("unconfigured table peers_v2");
    if (view.hosts.empty()) return cql::error_message::server("tandem has no topology for the system-queries cluster yet");
    cql::inet_address self = topo.unspecified ? client_address : topo.addresses[topo.index];
    std::vector<column> shape;
    std::vector<std::vector<column>> rows;
    std::string table_name = table == system_table::local ? "local" : "peers";
    if (table == system_table::local) {
        shape = local_columns(view, topo, self);
        rows.push_back(shape);
    } else {
        rows = peers_rows(view, topo, shape);
    }
    auto selectors = cql::parse_selectors(query, info);
    if (!selectors) return cql::error_message::syntax("cannot read the SELECT clause: " + std::string(selectors.error()));
    // Pick the output columns: (index into shape, or -1 for count), output name.
    struct pick {
        int index;
        std::string name;
    };
    std::vector<pick> picks;
    bool has_count = false;
    for (const auto& s : *selectors) {
        switch (s.k) {
            case cql::selector::kind::star:
                for (size_t i = 0; i < shape.size(); ++i) picks.push_back({static_cast<int>(i), shape[i].name});
                break;
            case cql::selector::kind::column: {
                std::string name = s.column.normalized();
                int found = -1;
                for (size_t i = 0; i < shape.size(); ++i) {
                    if (shape[i].name == name) found = static_cast<int>(i);
                }
                if (found < 0) return cql::error_message::invalid("Undefined column name " + name);
                picks.push_back({found, s.alias.empty() ? name : s.alias.normalized()});
                break;
            }
            case cql::selector::kind::count:
                has_count = true;
                picks.push_back({-1, s.alias.empty() ? "count" : s.alias.normalized()});
                break;
            default:
                return cql::error_message::invalid("tandem answers system." + table_name +
                                                   " itself and supports only columns, * and count(*) there, not '" +
                                                   std::string(s.text) + "'");
        }
    }
    system_answer a;
    a.metadata.columns.reserve(picks.size());
    for (const auto& p : picks) {
        cql::column_spec spec;
        spec.keyspace = "system";
        spec.table = table_name;
        spec.name = p.name;
        spec.type = p.index < 0 ? cql_type::simple(type_id::bigint) : shape[static_cast<size_t>(p.index)].type;
        a.metadata.columns.push_back(std::move(spec));
    }
    a.metadata.column_count = static_cast<int32_t>(picks.size());
    cql::rows_writer w(a.result_body, a.metadata, cql::effective_version(version));
    auto emit = [&](const std::vector<column>* row) {
        for (const auto& p : picks) {
            if (p.index < 0) {
                std::string b(8, '\0');
                cql::store_be64(b.data(), static_cast<uint64_t>(rows.size()));
                w.cell(b);
            } else if (row) {
                const auto& v = (*row)[static_cast<size_t>(p.index)].value;
                w.cell(v ? std::optional<std::string_view>(*v) : std::nullopt);
            } else {
                w.cell(std::nullopt);
            }
        }
        w.end_row();
    };
    if (has_count) {
        emit(rows.empty() ? nullptr : &rows.front());  // one row (R6.7)
    } else {
        for (const auto& r : rows) emit(&r);
    }
    w.finish();
    return a;
}

}  // namespace tandem::core
