#pragma once
// RESULT (v4.spec §4.2.5, v5.spec §4.2.5): Void, Rows, Set_keyspace, Prepared, Schema_change.
// Metadata is decoded into owned structures (results the proxy inspects are rare: PREPARE
// replies and system tables); the rows themselves stay a view of the body.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cql/primitives.hh"
#include "cql/types.hh"
#include "cql/values.hh"

namespace tandem::cql {

enum class result_kind : int32_t {
    void_ = 0x0001,
    rows = 0x0002,
    set_keyspace = 0x0003,
    prepared = 0x0004,
    schema_change = 0x0005,
};

namespace rows_flags {
inline constexpr int32_t global_tables_spec = 0x0001;
inline constexpr int32_t has_more_pages = 0x0002;
inline constexpr int32_t no_metadata = 0x0004;
inline constexpr int32_t metadata_changed = 0x0008;  // v5
}  // namespace rows_flags

struct column_spec {
    std::string keyspace;
    std::string table;
    std::string name;
    cql_type type;
    bool operator==(const column_spec&) const = default;
};

// <flags><columns_count>[<paging_state>][<new_metadata_id>][<global_table_spec>?<col_spec_1>...]
struct rows_metadata {
    int32_t column_count = 0;  // also set when no_metadata omits the specs
    bool no_metadata = false;
    std::optional<std::string> paging_state;     // has_more_pages
    std::optional<std::string> new_metadata_id;  // v5 metadata_changed
    std::vector<column_spec> columns;

    static rows_metadata read(reader& r, uint8_t version);
    void write(writer& w, uint8_t version) const;
    bool operator==(const rows_metadata&) const = default;
};

// <flags><columns_count><pk_count>[<pk_index_1>...][<global_table_spec>?<col_spec_1>...]
// (no pk_count in v3).
struct prepared_metadata {
    std::vector<uint16_t> pk_indexes;
    std::vector<column_spec> columns;

    static prepared_metadata read(reader& r, uint8_t version);
    void write(writer& w, uint8_t version) const;
    bool operator==(const prepared_metadata&) const = default;
};

// The body of a Schema_change result and of a SCHEMA_CHANGE event (§4.2.5.5).
struct schema_change {
    std::string change_type;  // CREATED, UPDATED, DROPPED
    std::string target;       // KEYSPACE, TABLE, TYPE, FUNCTION, AGGREGATE
    std::string keyspace;
    std::string name;                    // TABLE, TYPE, FUNCTION, AGGREGATE
    std::vector<std::string> arg_types;  // FUNCTION, AGGREGATE

    static schema_change read(reader& r);
    void write(writer& w) const;
    bool operator==(const schema_change&) const = default;
};

struct result_message {
    result_kind kind = result_kind::void_;
    // rows
    rows_metadata metadata;
    int32_t row_count = 0;
    std::string_view rows_raw;  // the rows content, a view of the decoded body
    // set_keyspace
    std::string keyspace;
    // prepared
    std::string prepared_id;
    std::string result_metadata_id;  // v5
    prepared_metadata prepared;
    rows_metadata result_metadata;
    // schema_change
    schema_change change;

    static result<result_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;

    // Splits rows_raw into cells: rows × columns, each null or a view.
    result<std::vector<std::vector<std::optional<std::string_view>>>> rows() const;
};

// Encodes a Rows result row by row without building an intermediate table:
//   rows_writer w(out, metadata, version); w.cell(...) ×columns; w.end_row(); ... w.finish();
class rows_writer {
    writer _w;
    size_t _count_pos;
    int32_t _columns;
    int32_t _rows = 0;
    int32_t _cells_in_row = 0;

public:
    rows_writer(std::string& out, const rows_metadata& md, uint8_t version);
    void cell(std::optional<std::string_view> bytes) {
        _w.write_bytes(bytes);
        ++_cells_in_row;
    }
    [[nodiscard]] result<bool> value(const cql_type& t, const cql_value& v) {
        ++_cells_in_row;
        return encode_value_with_length(t, v, _w.buffer());
    }
    void end_row() {
        ++_rows;
        _cells_in_row = 0;
    }
    void finish() { _w.patch_int(_count_pos, _rows); }
    int32_t rows() const { return _rows; }
    int32_t columns() const { return _columns; }
    // Cells written in the current row; equals columns() when a row is complete.
    int32_t cells_in_row() const { return _cells_in_row; }
};

}  // namespace tandem::cql
