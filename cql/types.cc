#include "cql/types.hh"

#include <cctype>

namespace tandem::cql {

namespace {
constexpr int max_type_depth = 64;
}

cql_type cql_type::list_of(cql_type e) {
    cql_type t = simple(type_id::list);
    t.params.push_back(std::move(e));
    return t;
}

cql_type cql_type::set_of(cql_type e) {
    cql_type t = simple(type_id::set);
    t.params.push_back(std::move(e));
    return t;
}

cql_type cql_type::map_of(cql_type k, cql_type v) {
    cql_type t = simple(type_id::map);
    t.params.push_back(std::move(k));
    t.params.push_back(std::move(v));
    return t;
}

cql_type cql_type::tuple_of(std::vector<cql_type> elements) {
    cql_type t = simple(type_id::tuple);
    t.params = std::move(elements);
    return t;
}

cql_type cql_type::udt_of(std::string keyspace, std::string name,
                          std::vector<std::pair<std::string, cql_type>> fields) {
    cql_type t = simple(type_id::udt);
    t.keyspace = std::move(keyspace);
    t.name = std::move(name);
    for (auto& [n, ft] : fields) {
        t.field_names.push_back(std::move(n));
        t.params.push_back(std::move(ft));
    }
    return t;
}

cql_type cql_type::custom_of(std::string class_name) {
    cql_type t = simple(type_id::custom);
    t.custom_class = std::move(class_name);
    return t;
}

namespace {

std::string_view simple_name(type_id id) {
    switch (id) {
        case type_id::ascii: return "ascii";
        case type_id::bigint: return "bigint";
        case type_id::blob: return "blob";
        case type_id::boolean: return "boolean";
        case type_id::counter: return "counter";
        case type_id::decimal: return "decimal";
        case type_id::double_: return "double";
        case type_id::float_: return "float";
        case type_id::int_: return "int";
        case type_id::text: return "text";
        case type_id::timestamp: return "timestamp";
        case type_id::uuid: return "uuid";
        case type_id::varchar: return "text";
        case type_id::varint: return "varint";
        case type_id::timeuuid: return "timeuuid";
        case type_id::inet: return "inet";
        case type_id::date: return "date";
        case type_id::time: return "time";
        case type_id::smallint: return "smallint";
        case type_id::tinyint: return "tinyint";
        case type_id::duration: return "duration";
        default: return {};
    }
}

void append_cql(std::string& out, const cql_type& t, bool in_collection) {
    switch (t.id) {
        case type_id::custom:
            out += '\'';
            out += t.custom_class;
            out += '\'';
            return;
        case type_id::list:
        case type_id::set:
            out += t.id == type_id::list ? "list<" : "set<";
            append_cql(out, t.params.at(0), true);
            out += '>';
            return;
        case type_id::map:
            out += "map<";
            append_cql(out, t.params.at(0), true);
            out += ", ";
            append_cql(out, t.params.at(1), true);
            out += '>';
            return;
        case type_id::tuple:
            out += "frozen<tuple<";
            for (size_t i = 0; i < t.params.size(); ++i) {
                if (i) out += ", ";
                append_cql(out, t.params[i], true);
            }
            out += ">>";
            return;
        case type_id::udt:
            out += "frozen<";
            out += t.name;
            out += '>';
            return;
        default:
            out += simple_name(t.id);
            (void)in_collection;
            return;
    }
}

struct type_parser {
    std::string_view s;
    size_t at = 0;

    void skip_ws() {
        while (at < s.size() && std::isspace(static_cast<unsigned char>(s[at]))) ++at;
    }
    std::string word() {
        skip_ws();
        std::string w;
        if (at < s.size() && s[at] == '"') {
            ++at;
            while (at < s.size()) {
                if (s[at] == '"') {
                    if (at + 1 < s.size() && s[at + 1] == '"') {
                        w += '"';
                        at += 2;
                        continue;
                    }
                    ++at;
                    return w;
                }
                w += s[at++];
            }
            return {};
        }
        while (at < s.size() && (std::isalnum(static_cast<unsigned char>(s[at])) || s[at] == '_' || s[at] == '.')) {
            w += static_cast<char>(std::tolower(static_cast<unsigned char>(s[at])));
            ++at;
        }
        return w;
    }
    bool eat(char c) {
        skip_ws();
        if (at < s.size() && s[at] == c) {
            ++at;
            return true;
        }
        return false;
    }

    std::optional<cql_type> parse(int depth) {
        if (depth > max_type_depth) return std::nullopt;
        skip_ws();
        if (at < s.size() && s[at] == '\'') {
            auto end = s.find('\'', at + 1);
            if (end == std::string_view::npos) return std::nullopt;
            auto t = cql_type::custom_of(std::string(s.substr(at + 1, end - at - 1)));
            at = end + 1;
            return t;
        }
        std::string w = word();
        if (w.empty()) return std::nullopt;
        static const std::pair<std::string_view, type_id> simple[] = {
            {"ascii", type_id::ascii},     {"bigint", type_id::bigint},     {"blob", type_id::blob},
            {"boolean", type_id::boolean}, {"counter", type_id::counter},   {"decimal", type_id::decimal},
            {"double", type_id::double_},  {"float", type_id::float_},      {"int", type_id::int_},
            {"text", type_id::varchar},    {"timestamp", type_id::timestamp}, {"uuid", type_id::uuid},
            {"varchar", type_id::varchar}, {"varint", type_id::varint},     {"timeuuid", type_id::timeuuid},
            {"inet", type_id::inet},       {"date", type_id::date},         {"time", type_id::time},
            {"smallint", type_id::smallint}, {"tinyint", type_id::tinyint}, {"duration", type_id::duration},
        };
        for (auto& [n, id] : simple) {
            if (w == n) return cql_type::simple(id);
        }
        if (w == "frozen") {
            if (!eat('<')) return std::nullopt;
            auto inner = parse(depth + 1);
            if (!inner || !eat('>')) return std::nullopt;
            return inner;
        }
        if (w == "list" || w == "set") {
            if (!eat('<')) return std::nullopt;
            auto e = parse(depth + 1);
            if (!e || !eat('>')) return std::nullopt;
            return w == "list" ? cql_type::list_of(std::move(*e)) : cql_type::set_of(std::move(*e));
        }
        if (w == "map") {
            if (!eat('<')) return std::nullopt;
            auto k = parse(depth + 1);
            if (!k || !eat(',')) return std::nullopt;
            auto v = parse(depth + 1);
            if (!v || !eat('>')) return std::nullopt;
            return cql_type::map_of(std::move(*k), std::move(*v));
        }
        if (w == "tuple") {
            if (!eat('<')) return std::nullopt;
            std::vector<cql_type> elems;
            do {
                auto e = parse(depth + 1);
                if (!e) return std::nullopt;
                elems.push_back(std::move(*e));
            } while (eat(','));
            if (!eat('>')) return std::nullopt;
            return cql_type::tuple_of(std::move(elems));
        }
        // A user-defined type, possibly keyspace-qualified.
        cql_type t = cql_type::simple(type_id::udt);
        auto dot = w.find('.');
        if (dot != std::string::npos) {
            t.keyspace = w.substr(0, dot);
            t.name = w.substr(dot + 1);
        } else {
            t.name = w;
        }
        return t;
    }
};

}  // namespace

std::string to_cql_string(const cql_type& t) {
    std::string out;
    append_cql(out, t, false);
    return out;
}

std::optional<cql_type> parse_cql_type(std::string_view text) {
    type_parser p{text};
    auto t = p.parse(0);
    p.skip_ws();
    if (!t || p.at != text.size()) return std::nullopt;
    return t;
}

cql_type read_type(reader& r, int depth) {
    cql_type t;
    if (depth > max_type_depth) {
        r.fail("type nesting too deep");
        return t;
    }
    t.id = static_cast<type_id>(r.read_short());
    switch (t.id) {
        case type_id::custom:
            t.custom_class = std::string(r.read_string());
            break;
        case type_id::ascii:
        case type_id::bigint:
        case type_id::blob:
        case type_id::boolean:
        case type_id::counter:
        case type_id::decimal:
        case type_id::double_:
        case type_id::float_:
        case type_id::int_:
        case type_id::timestamp:
        case type_id::uuid:
        case type_id::varchar:
        case type_id::varint:
        case type_id::timeuuid:
        case type_id::inet:
        case type_id::date:
        case type_id::time:
        case type_id::smallint:
        case type_id::tinyint:
        case type_id::duration:
            break;
        case type_id::text:
            t.id = type_id::varchar;
            break;
        case type_id::list:
        case type_id::set:
            t.params.push_back(read_type(r, depth + 1));
            break;
        case type_id::map:
            t.params.push_back(read_type(r, depth + 1));
            t.params.push_back(read_type(r, depth + 1));
            break;
        case type_id::udt: {
            t.keyspace = std::string(r.read_string());
            t.name = std::string(r.read_string());
            uint16_t n = r.read_short();
            if (n > r.remaining() / 4) {
                r.fail("UDT field count exceeds the remaining bytes");
                break;
            }
            for (uint16_t i = 0; i < n && r.ok(); ++i) {
                t.field_names.emplace_back(r.read_string());
                t.params.push_back(read_type(r, depth + 1));
            }
            break;
        }
        case type_id::tuple: {
            uint16_t n = r.read_short();
            if (n > r.remaining() / 2) {
                r.fail("tuple element count exceeds the remaining bytes");
                break;
            }
            for (uint16_t i = 0; i < n && r.ok(); ++i) {
                t.params.push_back(read_type(r, depth + 1));
            }
            break;
        }
        default:
            r.fail("unknown type id in [option]");
            break;
    }
    return t;
}

void write_type(writer& w, const cql_type& t) {
    w.write_short(static_cast<uint16_t>(t.id));
    switch (t.id) {
        case type_id::custom:
            w.write_string(t.custom_class);
            break;
        case type_id::list:
        case type_id::set:
            write_type(w, t.params.at(0));
            break;
        case type_id::map:
            write_type(w, t.params.at(0));
            write_type(w, t.params.at(1));
            break;
        case type_id::udt:
            w.write_string(t.keyspace);
            w.write_string(t.name);
            w.write_short(static_cast<uint16_t>(t.params.size()));
            for (size_t i = 0; i < t.params.size(); ++i) {
                w.write_string(i < t.field_names.size() ? std::string_view(t.field_names[i]) : "");
                write_type(w, t.params[i]);
            }
            break;
        case type_id::tuple:
            w.write_short(static_cast<uint16_t>(t.params.size()));
            for (auto& p : t.params) write_type(w, p);
            break;
        default:
            break;
    }
}

}  // namespace tandem::cql
