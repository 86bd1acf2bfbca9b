#pragma once
// The diff file of `validate` and `repair` (--diff-file): one JSON object per line per
// difference, for people and for `repair --from-diff`:
//   {"table": "ks.t", "kind": "missing|mismatched|extra", "key": {"id": "42", ...},
//    "key_bytes": ["000000000000002a", ...], "columns": ["v", ...]}
// `key` is for reading (display_value); `key_bytes` is each primary-key column's value as it
// travels on the wire, in hex (null for a null), in key order: what repair binds to read the row
// again from origin. Pure functions.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hh"
#include "core/migrate/schema.hh"

namespace tandem::core::migrate {

using key_values = std::vector<std::optional<std::string>>;

struct difference {
    std::string table;  // keyspace.table
    std::string kind;   // missing, mismatched, extra
    key_values key;     // primary key columns' bytes, in key order
    std::vector<std::string> columns;
};

// One line (without its newline). `row` starts with the primary key columns.
std::string diff_line(const table_schema& t, const std::string& kind, const key_values& row, const std::vector<std::string>& columns);

// Reads one line back; nullopt with `error` set when it is not such a line.
std::optional<difference> parse_diff_line(std::string_view line, std::string& error);

using core::json_string;

}  // namespace tandem::core::migrate
