#include "cql/result.hh"

#include "cql/envelope.hh"

namespace tandem::cql {

namespace {

bool is_v5(uint8_t version) { return effective_version(version) >= protocol_version::v5; }

// Reads column specs, global or per column (§4.2.5.2).
std::vector<column_spec> read_columns(reader& r, bool global, int32_t count) {
    std::vector<column_spec> cols;
    if (count < 0 || static_cast<size_t>(count) > r.remaining() / 4) {
        r.fail("column count exceeds the remaining bytes");
        return cols;
    }
    std::string ks, table;
    if (global) {
        ks = std::string(r.read_string());
        table = std::string(r.read_string());
    }
    cols.reserve(static_cast<size_t>(count));
    for (int32_t i = 0; i < count && r.ok(); ++i) {
        column_spec c;
        if (global) {
            c.keyspace = ks;
            c.table = table;
        } else {
            c.keyspace = std::string(r.read_string());
            c.table = std::string(r.read_string());
        }
        c.name = std::string(r.read_string());
        c.type = read_type(r);
        cols.push_back(std::move(c));
    }
    return cols;
}

bool all_same_table(const std::vector<column_spec>& cols) {
    if (cols.empty()) return false;
    for (auto& c : cols) {
        if (c.keyspace != cols[0].keyspace || c.table != cols[0].table) return false;
    }
    return true;
}

void write_columns(writer& w, const std::vector<column_spec>& cols, bool global) {
    if (global) {
        w.write_string(cols[0].keyspace);
        w.write_string(cols[0].table);
    }
    for (auto& c : cols) {
        if (!global) {
            w.write_string(c.keyspace);
            w.write_string(c.table);
        }
        w.write_string(c.name);
        write_type(w, c.type);
    }
}

}  // namespace

rows_metadata rows_metadata::read(reader& r, uint8_t version) {
    rows_metadata m;
    int32_t flags = r.read_int();
    m.column_count = r.read_int();
    if (!r.ok()) return m;
    if (m.column_count < 0) {
        // Found by messages_fuzz: with no_metadata nothing else checks the count.
        r.fail("negative column count");
        return m;
    }
    if (flags & ~0x0F) {
        r.fail("unknown rows metadata flags");
        return m;
    }
    if (flags & rows_flags::has_more_pages) {
        auto ps = r.read_bytes();
        m.paging_state = std::string(ps.value_or(std::string_view{}));
    }
    if (flags & rows_flags::metadata_changed) {
        if (!is_v5(version)) {
            r.fail("metadata_changed flag before v5");
            return m;
        }
        m.new_metadata_id = std::string(r.read_short_bytes());
    }
    m.no_metadata = (flags & rows_flags::no_metadata) != 0;
    if (!m.no_metadata) {
        m.columns = read_columns(r, (flags & rows_flags::global_tables_spec) != 0, m.column_count);
    }
    return m;
}

void rows_metadata::write(writer& w, uint8_t version) const {
    (void)version;
    bool global = !no_metadata && all_same_table(columns);
    int32_t flags = 0;
    if (global) flags |= rows_flags::global_tables_spec;
    if (paging_state) flags |= rows_flags::has_more_pages;
    if (no_metadata) flags |= rows_flags::no_metadata;
    if (new_metadata_id) flags |= rows_flags::metadata_changed;
    w.write_int(flags);
    w.write_int(no_metadata ? column_count : static_cast<int32_t>(columns.size()));
    if (paging_state) w.write_bytes(*paging_state);
    if (new_metadata_id) w.write_short_bytes(*new_metadata_id);
    if (!no_metadata) write_columns(w, columns, global);
}

prepared_metadata prepared_metadata::read(reader& r, uint8_t version) {
    prepared_metadata m;
    int32_t flags = r.read_int();
    int32_t count = r.read_int();
    if (!r.ok()) return m;
    if (flags & ~rows_flags::global_tables_spec) {
        r.fail("unknown prepared metadata flags");
        return m;
    }
    if (effective_version(version) >= protocol_version::v4) {
        int32_t pk = r.read_int();
        if (pk < 0 || static_cast<size_t>(pk) > r.remaining() / 2) {
            r.fail("pk count exceeds the remaining bytes");
            return m;
        }
        m.pk_indexes.reserve(static_cast<size_t>(pk));
        for (int32_t i = 0; i < pk; ++i) m.pk_indexes.push_back(r.read_short());
    }
    m.columns = read_columns(r, (flags & rows_flags::global_tables_spec) != 0, count);
    return m;
}

void prepared_metadata::write(writer& w, uint8_t version) const {
    bool global = all_same_table(columns);
    w.write_int(global ? rows_flags::global_tables_spec : 0);
    w.write_int(static_cast<int32_t>(columns.size()));
    if (effective_version(version) >= protocol_version::v4) {
        w.write_int(static_cast<int32_t>(pk_indexes.size()));
        for (auto i : pk_indexes) w.write_short(i);
    }
    write_columns(w, columns, global);
}

schema_change schema_change::read(reader& r) {
    schema_change c;
    c.change_type = std::string(r.read_string());
    c.target = std::string(r.read_string());
    if (!r.ok()) return c;
    if (c.change_type != "CREATED" && c.change_type != "UPDATED" && c.change_type != "DROPPED") {
        r.fail("unknown schema change type");
        return c;
    }
    c.keyspace = std::string(r.read_string());
    if (c.target == "KEYSPACE") return c;
    if (c.target == "TABLE" || c.target == "TYPE") {
        c.name = std::string(r.read_string());
        return c;
    }
    if (c.target == "FUNCTION" || c.target == "AGGREGATE") {
        c.name = std::string(r.read_string());
        for (auto a : r.read_string_list()) c.arg_types.emplace_back(a);
        return c;
    }
    r.fail("unknown schema change target");
    return c;
}

void schema_change::write(writer& w) const {
    w.write_string(change_type);
    w.write_string(target);
    w.write_string(keyspace);
    if (target == "KEYSPACE") return;
    w.write_string(name);
    if (target == "FUNCTION" || target == "AGGREGATE") {
        std::vector<std::string_view> args(arg_types.begin(), arg_types.end());
        w.write_string_list(args);
    }
}

result<result_message> result_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    result_message m;
    m.kind = static_cast<result_kind>(r.read_int());
    if (!r.ok()) return decode_error{r.error()};
    switch (m.kind) {
        case result_kind::void_:
            break;
        case result_kind::rows: {
            m.metadata = rows_metadata::read(r, version);
            m.row_count = r.read_int();
            if (r.ok() && m.row_count < 0) return decode_error{"negative row count"};
            // Rows of zero columns take zero bytes, so nothing would bound a lying count (found
            // by messages_fuzz: 150 million empty rows in 17 bytes). No SELECT returns them.
            if (r.ok() && m.metadata.column_count == 0 && m.row_count > 0) {
                return decode_error{"rows without columns"};
            }
            const char* start = r.position();
            // Walk the cells once so a result that lies about its shape is refused here.
            int64_t cells = int64_t{m.row_count} * m.metadata.column_count;
            if (r.ok() && cells > static_cast<int64_t>(r.remaining() / 4)) {
                return decode_error{"row count exceeds the remaining bytes"};
            }
            for (int64_t i = 0; i < cells && r.ok(); ++i) (void)r.read_bytes();
            if (r.ok()) m.rows_raw = std::string_view(start, static_cast<size_t>(r.position() - start));
            break;
        }
        case result_kind::set_keyspace:
            m.keyspace = std::string(r.read_string());
            break;
        case result_kind::prepared:
            m.prepared_id = std::string(r.read_short_bytes());
            if (is_v5(version)) m.result_metadata_id = std::string(r.read_short_bytes());
            m.prepared = prepared_metadata::read(r, version);
            m.result_metadata = rows_metadata::read(r, version);
            break;
        case result_kind::schema_change:
            m.change = schema_change::read(r);
            break;
        default:
            return decode_error{"unknown RESULT kind"};
    }
    if (!r.ok()) return decode_error{r.error()};
    if (!r.at_end()) return decode_error{"bytes after the end of the message"};
    return m;
}

void result_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_int(static_cast<int32_t>(kind));
    switch (kind) {
        case result_kind::void_:
            break;
        case result_kind::rows:
            metadata.write(w, version);
            w.write_int(row_count);
            w.write_raw(rows_raw);
            break;
        case result_kind::set_keyspace:
            w.write_string(keyspace);
            break;
        case result_kind::prepared:
            w.write_short_bytes(prepared_id);
            if (is_v5(version)) w.write_short_bytes(result_metadata_id);
            prepared.write(w, version);
            result_metadata.write(w, version);
            break;
        case result_kind::schema_change:
            change.write(w);
            break;
    }
}

result<std::vector<std::vector<std::optional<std::string_view>>>> result_message::rows() const {
    std::vector<std::vector<std::optional<std::string_view>>> out;
    reader r(rows_raw);
    out.reserve(static_cast<size_t>(row_count));
    for (int32_t i = 0; i < row_count; ++i) {
        auto& row = out.emplace_back();
        row.reserve(static_cast<size_t>(metadata.column_count));
        for (int32_t c = 0; c < metadata.column_count; ++c) row.push_back(r.read_bytes());
    }
    if (!r.ok()) return decode_error{r.error()};
    return out;
}

rows_writer::rows_writer(std::string& out, const rows_metadata& md, uint8_t version)
    : _w(out), _columns(md.no_metadata ? md.column_count : static_cast<int32_t>(md.columns.size())) {
    _w.write_int(static_cast<int32_t>(result_kind::rows));
    md.write(_w, version);
    _count_pos = _w.size();
    _w.write_int(0);
}

}  // namespace tandem::cql
