#include "core/migrate/diff.hh"

#include <simdjson.h>

#include "cql/primitives.hh"


namespace tandem::core::migrate {


std::string diff_line(const table_schema& t, const std::string& kind, const key_values& row, const std::vector<std::string>& columns) {
    std::string line = "{\"table\": " + json_string(t.keyspace + "." + t.name) + ", \"kind\": " + json_string(kind) + ", \"key\": {";
    std::string bytes;
    size_t i = 0;
    for (const auto* keys : {&t.partition_key, &t.clustering}) {
        for (const auto& c : *keys) {
            const std::optional<std::string> v = i < row.size() ? row[i] : std::nullopt;
            line += (i ? ", " : "") + json_string(c.name) + ": " + json_string(display_value(c.type, v));
            bytes += (i ? ", " : "") + (v ? "\"" + cql::to_hex(*v) + "\"" : std::string("null"));
            ++i;
        }
    }
    line += "}, \"key_bytes\": [" + bytes + "], \"columns\": [";
    for (size_t j = 0; j < columns.size(); ++j) line += (j ? ", " : "") + json_string(columns[j]);
    return line + "]}";
}

std::optional<difference> parse_diff_line(std::string_view line, std::string& error) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto e = parser.parse(line.data(), line.size()).get(doc)) {
        error = std::string("not JSON: ") + simdjson::error_message(e);
        return std::nullopt;
    }
    difference d;
    std::string_view table, kind;
    simdjson::dom::array key_bytes;
    if (doc["table"].get(table) || doc["kind"].get(kind)) {
        error = "no \"table\" or \"kind\"";
        return std::nullopt;
    }
    if (doc["key_bytes"].get(key_bytes)) {
        error = "no \"key_bytes\" (a diff file from an older tandem-migrate: run validate again)";
        return std::nullopt;
    }
    d.table = table;
    d.kind = kind;
    for (auto v : key_bytes) {
        if (v.is_null()) {
            d.key.emplace_back();
            continue;
        }
        std::string_view hex;
        std::optional<std::string> bytes;
        if (v.get(hex) || !(bytes = cql::from_hex(hex))) {
            error = "\"key_bytes\" holds something other than hex strings and nulls";
            return std::nullopt;
        }
        d.key.push_back(std::move(bytes));
    }
    simdjson::dom::array columns;
    if (!doc["columns"].get(columns)) {
        for (auto c : columns) {
            std::string_view name;
            if (!c.get(name)) d.columns.emplace_back(name);
        }
    }
    return d;
}

}  // namespace tandem::core::migrate
