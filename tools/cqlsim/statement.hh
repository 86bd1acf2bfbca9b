#pragma once
// cqlsim's CQL statement parser: text → a statement tree. A recursive-descent parser over
// cql/lexer.hh tokens, covering the statements cqlsim executes. Errors name what was expected
// and where, like Cassandra's "line 1:14 no viable alternative at input ..." messages do.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cql/types.hh"

namespace tandem::cqlsim {

// A term: a literal (kept as text and kind, typed later against a column), a bind marker, a
// function call, or a collection literal.
struct term {
    enum class kind : uint8_t { null, string, number, uuid, blob, boolean, duration, marker, function, list, set, map, tuple };
    kind k = kind::null;
    std::string text;          // literal text (unquoted for strings); function name
    bool negative = false;     // number preceded by '-'
    int marker_index = -1;     // marker: position among all bind markers
    std::string marker_name;   // :name markers
    std::vector<term> items;   // function arguments, collection items (map: key, value, key, value…)
};

struct relation {
    enum class op : uint8_t { eq, lt, le, gt, ge, in, ne, contains, contains_key };
    std::vector<std::string> columns;  // one column, or several for a token() relation / tuple
    bool token = false;                // token(pk...) op term
    op o = op::eq;
    std::vector<term> values;          // IN: several (or one marker); others: one
};

struct assignment {
    std::string column;
    enum class op : uint8_t { set, add, subtract, prepend, set_element } o = op::set;
    term value;
    std::optional<term> element;  // m[k] = v, l[i] = v
};

struct selector {
    enum class kind : uint8_t { column, star, count, writetime, ttl, function } k = kind::column;
    std::string column;  // column, writetime/ttl argument, function name
    std::string alias;
    std::vector<std::string> args;  // function arguments (column names)
};

struct column_def {
    std::string name;
    cql::cql_type type;
    bool is_static = false;
};

struct create_keyspace {
    std::string name;
    bool if_not_exists = false;
    std::vector<std::pair<std::string, std::string>> replication;
    bool durable_writes = true;
};
struct create_table {
    std::string keyspace, name;
    bool if_not_exists = false;
    std::vector<column_def> columns;
    std::vector<std::string> partition_key, clustering_key;
    std::vector<std::pair<std::string, bool>> clustering_order;  // column, descending
};
struct create_type {
    std::string keyspace, name;
    bool if_not_exists = false;
    std::vector<std::pair<std::string, cql::cql_type>> fields;
};
struct drop {
    enum class what : uint8_t { keyspace, table, type } w = what::table;
    std::string keyspace, name;
    bool if_exists = false;
};
struct alter_table {
    std::string keyspace, name;
    std::vector<column_def> add;
    std::vector<std::string> drop;
    bool with_only = false;  // ALTER TABLE ... WITH options: accepted, ignored
};
struct use_keyspace {
    std::string name;
};
struct truncate_table {
    std::string keyspace, name;
};
struct using_clause {
    std::optional<term> ttl, timestamp;
};
struct insert {
    std::string keyspace, table;
    std::vector<std::string> columns;
    std::vector<term> values;
    bool if_not_exists = false;
    using_clause u;
    std::optional<term> json;  // INSERT ... JSON '...'
};
struct update {
    std::string keyspace, table;
    std::vector<assignment> set;
    std::vector<relation> where;
    using_clause u;
    bool if_exists = false;
    std::vector<relation> conditions;  // IF col = v
};
struct delete_ {
    std::string keyspace, table;
    std::vector<std::string> columns;  // empty: the whole row
    std::vector<relation> where;
    using_clause u;
    bool if_exists = false;
    std::vector<relation> conditions;
};
struct select {
    std::string keyspace, table;
    bool json = false, distinct = false;
    std::vector<selector> selectors;
    std::vector<relation> where;
    std::vector<std::pair<std::string, bool>> order_by;  // column, descending
    std::optional<term> limit, per_partition_limit;
    bool allow_filtering = false;
};
struct statement;
struct batch {
    uint8_t type = 0;  // 0 logged, 1 unlogged, 2 counter
    using_clause u;
    std::vector<std::variant<insert, update, delete_>> statements;
};

struct statement {
    std::variant<create_keyspace, create_table, create_type, drop, alter_table, use_keyspace, truncate_table, insert,
                 update, delete_, select, batch>
        s;
    int marker_count = 0;
    std::vector<std::string> marker_names;  // by index; empty for positional markers
};

struct parse_error {
    std::string message;  // Cassandra-style: "line 1:COL ..."
};

// Parses one statement (a trailing ';' is allowed).
std::variant<statement, parse_error> parse_statement(std::string_view text);

// Identifier normalization: unquoted → lower case; quoted → as written, "" folded.
std::string normalize_identifier(std::string_view raw, bool quoted);

}  // namespace tandem::cqlsim
