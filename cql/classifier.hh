#pragma once
// The statement classifier: a hand-written lexer over CQL text (no regex, no parser generator)
// and just enough grammar to route a statement. It reads comments (--, //, /* */), quoted
// identifiers ("a""b"), string literals ('it''s'), $$ strings $$, numbers, UUIDs, blobs and
// bind markers (? and :name), in any letter case.
//
// classify() is allocation-free: everything it reports is a view of, or an offset into, the
// text it was given. A statement it cannot lex is reported as `unlexable`, never as a read.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cql/primitives.hh"

namespace tandem::cql {

enum class statement_kind : uint8_t {
    empty,
    unlexable,
    other,  // lexed, but not a statement we know
    select,
    insert,
    update,
    delete_,
    batch,
    use,
    truncate,
    create_keyspace,
    alter_keyspace,
    drop_keyspace,
    create_table,
    alter_table,
    drop_table,
    create_index,
    drop_index,
    create_type,
    alter_type,
    drop_type,
    create_function,
    drop_function,
    create_aggregate,
    drop_aggregate,
    create_view,
    alter_view,
    drop_view,
    create_trigger,
    drop_trigger,
    create_role,  // also CREATE USER
    alter_role,   // also ALTER USER
    drop_role,    // also DROP USER
    grant,
    revoke,
    list,  // LIST ROLES / USERS / PERMISSIONS
    call,  // CALL (DSE insights)
};
std::string_view to_string(statement_kind k);

bool is_write(statement_kind k);  // INSERT, UPDATE, DELETE, BATCH
bool is_ddl(statement_kind k);    // schema statements, TRUNCATE included
bool is_auth(statement_kind k);   // roles, users, permissions

// An identifier as written: unquoted identifiers are case-insensitive, quoted ones exact.
struct identifier {
    std::string_view text;  // without the quotes, still with doubled "" inside
    bool quoted = false;
    bool empty() const { return text.empty(); }
    // Compares with a lower-case name the way Cassandra resolves names.
    bool equals(std::string_view lower) const;
    std::string normalized() const;  // lower-cased, or unquoted with "" folded
};

// Calls whose value differs between two evaluations: a write containing one would store
// different values on each cluster unless the proxy replaces it with one value.
enum class volatile_function : uint8_t {
    now,
    uuid,
    current_timestamp,
    current_date,
    current_time,
    current_timeuuid,
};
std::string_view to_string(volatile_function f);

// The arrays of these in statement_info are left uninitialized past their counts: zeroing
// them cost a tenth of classify() (no default member initializers on purpose).
struct function_call {
    volatile_function fn;
    uint32_t begin;  // offset of the name
    uint32_t end;    // offset just past the closing parenthesis (0 while unclosed)
    uint16_t markers_before;  // bind markers that precede the call (its marker index)
};

struct bind_marker {
    uint32_t begin;
    uint32_t end;
    bool named;  // :name (the name is text[begin+1, end))
};

inline constexpr size_t max_reported_calls = 16;
inline constexpr size_t max_reported_markers = 64;

struct statement_info {
    statement_kind kind = statement_kind::empty;
    identifier keyspace;
    identifier table;  // table, view, type, index, function or role named by the statement
    bool conditional = false;       // IF / IF EXISTS / IF NOT EXISTS on a write
    bool using_timestamp = false;   // USING TIMESTAMP on a write (any child of a batch)
    bool if_exists_clause = false;  // IF [NOT] EXISTS on a schema statement
    uint8_t batch_kind = 0;         // 0 logged, 1 unlogged, 2 counter (BATCH only)
    uint16_t batch_statements = 0;  // children of a BATCH

    // SELECT only: where the selector clause is, and its shape.
    uint32_t selectors_begin = 0;
    uint32_t selectors_end = 0;
    bool select_json = false;
    bool select_distinct = false;

    // Bind markers, in order; `marker_count` counts all of them even past the array.
    uint16_t marker_count = 0;
    bool named_markers = false;
    bool positional_markers = false;
    std::array<bind_marker, max_reported_markers> markers;  // valid up to marker_count
    // Volatile function calls in a write; `calls_overflow` when more than fit.
    uint8_t call_count = 0;
    bool calls_overflow = false;
    std::array<function_call, max_reported_calls> calls;  // valid up to call_count

    // unlexable only: what and where.
    std::string_view problem;
    uint32_t problem_offset = 0;

    bool is_read() const { return kind == statement_kind::select; }
    bool targets(std::string_view ks_lower, std::string_view table_lower) const {
        return keyspace.equals(ks_lower) && table.equals(table_lower);
    }
};

// Classifies one statement. `text` must outlive the result.
statement_info classify(std::string_view text);

// One item of a SELECT clause.
struct selector {
    enum class kind : uint8_t { star, column, count, function, other };
    kind k = kind::column;
    identifier column;      // column: its name; function: the function name
    identifier alias;       // AS alias, when given
    std::string_view text;  // the whole selector expression as written
};
// Splits the selector clause that classify() located. Allocates: meant for the rare paths
// (system tables answered by the proxy), not for every request.
[[nodiscard]] result<std::vector<selector>> parse_selectors(std::string_view text, const statement_info& info);

}  // namespace tandem::cql
