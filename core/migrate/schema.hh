#pragma once
// A table as tandem-migrate sees it (from system_schema.columns), the check that target can take
// origin's rows, and the statements that read a token range and write a row back with each
// cell's own write time and TTL. Pure functions except read_schema.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/client/blocking.hh"

namespace tandem::core::migrate {

enum class column_kind : uint8_t { partition_key, clustering, static_, regular };

struct column {
    std::string name;
    std::string type;  // as system_schema.columns spells it
    column_kind kind = column_kind::regular;
    int position = 0;
    bool descending = false;
    bool multi_cell = false;  // a non-frozen collection or UDT: no writetime()/ttl() on it (Cassandra < 5)
    bool counter = false;
};

struct table_schema {
    std::string keyspace, name;
    std::vector<column> partition_key, clustering;  // in key order
    std::vector<column> cells;                      // static and regular, by name
    bool counters() const;
    std::string qualified() const;  // "ks"."t"
};

// Every table of `keyspace`, by name; an error when the keyspace has none or cannot be read.
std::map<std::string, table_schema> read_schema(client::blocking_session& s, const std::string& keyspace, std::string& error);
// Every table of every keyspace, by keyspace then table (tandemctl preflight).
std::map<std::string, std::map<std::string, table_schema>> read_all_schemas(client::blocking_session& s, std::string& error);

// What keeps origin's rows from fitting target's table: a missing table or column, another
// type, another key layout. Empty when they fit. Each line names the table and column.
std::vector<std::string> schema_differences(const table_schema& origin, const table_schema* target);

// The read of one token range: key columns, then for each cell column its value and, unless it
// is multi-cell or a counter, writetime() and ttl(). Two bind markers: the range's bounds.
// `first` ranges include their start (token >= ?), the others exclude it (token > ?).
struct read_plan {
    std::string text;
    // Per cell column, its position in the row: value, writetime (-1: none), ttl (-1: none).
    struct cell_at {
        size_t value;
        int writetime = -1, ttl = -1;
    };
    std::vector<cell_at> cells;
    size_t key_columns = 0;  // pk + ck, first in the row
};
read_plan plan_read(const table_schema& t, bool first);
// The read of one row by its primary key (repair --from-diff): the same columns as plan_read,
// one bind marker per key column, in key order.
read_plan plan_key_read(const table_schema& t);

// The write of a row's key with `columns` (indexes into t.cells): INSERT ... USING TIMESTAMP ?
// AND TTL ? (`with_timestamp`), or for counters UPDATE ... SET c = c + ? WHERE key.
// `with_clustering` false: a static-only write (partition key and static columns).
std::string insert_text(const table_schema& t, const std::vector<size_t>& columns, bool with_clustering, bool with_timestamp);
std::string counter_update_text(const table_schema& t, const std::vector<size_t>& columns);

// A cell or key value as text for diff files: numbers, text, UUIDs and booleans as such,
// everything else as 0x hex.
std::string display_value(const std::string& type, const std::optional<std::string>& bytes);

}  // namespace tandem::core::migrate
