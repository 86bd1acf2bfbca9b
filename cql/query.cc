#include "cql/query.hh"

#include "cql/envelope.hh"

namespace tandem::cql {

namespace {

bool flags_are_int(uint8_t version) { return effective_version(version) >= protocol_version::v5; }

uint32_t read_flags(reader& r, uint8_t version) {
    return flags_are_int(version) ? static_cast<uint32_t>(r.read_int()) : r.read_byte();
}

void write_flags(writer& w, uint32_t flags, uint8_t version) {
    if (flags_are_int(version)) {
        w.write_int(static_cast<int32_t>(flags));
    } else {
        w.write_byte(static_cast<uint8_t>(flags));
    }
}

template <typename T>
result<T> finish(reader& r, T msg) {
    if (!r.ok()) return decode_error{r.error()};
    if (!r.at_end()) return decode_error{"bytes after the end of the message"};
    return msg;
}

// v3/v4 accept 0x01-0x40; v5 adds keyspace and now_in_seconds.
uint32_t known_query_flags(uint8_t version) {
    return flags_are_int(version) ? 0x1FF : 0x7F;
}

}  // namespace

value_list value_list::read(reader& r, bool named) {
    value_list l;
    l.present = true;
    l.named = named;
    l.count = r.read_short();
    const char* start = r.position();
    for (uint16_t i = 0; i < l.count && r.ok(); ++i) {
        if (named) (void)r.read_string();
        auto v = r.read_value();
        (void)v;
    }
    if (r.ok()) {
        l.raw = std::string_view(start, static_cast<size_t>(r.position() - start));
    }
    return l;
}

void value_list::write(writer& w) const {
    w.write_short(count);
    w.write_raw(raw);
}

value_list value_list::build(std::span<const bound_value> values, bool named, std::string& storage) {
    storage.clear();
    writer w(storage);
    for (const auto& v : values) {
        if (named) w.write_string(v.name);
        w.write_value(v.value);
    }
    value_list l;
    l.present = true;
    l.named = named;
    l.count = static_cast<uint16_t>(values.size());
    l.raw = storage;
    return l;
}

uint32_t query_parameters::flags() const {
    uint32_t f = 0;
    if (values.present) f |= query_flags::values;
    if (values.present && values.named) f |= query_flags::names_for_values;
    if (skip_metadata) f |= query_flags::skip_metadata;
    if (page_size) f |= query_flags::page_size;
    if (paging_state) f |= query_flags::paging_state;
    if (serial_consistency) f |= query_flags::serial_consistency;
    if (timestamp) f |= query_flags::default_timestamp;
    if (keyspace) f |= query_flags::keyspace;
    if (now_in_seconds) f |= query_flags::now_in_seconds;
    return f;
}

// <consistency><flags>[<n>[name_1]<value_1>...][<result_page_size>][<paging_state>]
// [<serial_consistency>][<timestamp>][<keyspace>][<now_in_seconds>]  (v5.spec §4.1.4)
query_parameters query_parameters::read(reader& r, uint8_t version) {
    query_parameters p;
    p.cl = r.read_consistency();
    uint32_t f = read_flags(r, version);
    if (f & ~known_query_flags(version)) {
        r.fail("unknown query flags");
        return p;
    }
    if (f & query_flags::values) {
        p.values = value_list::read(r, (f & query_flags::names_for_values) != 0);
    } else if (f & query_flags::names_for_values) {
        r.fail("names-for-values flag without values");
        return p;
    }
    p.skip_metadata = (f & query_flags::skip_metadata) != 0;
    if (f & query_flags::page_size) p.page_size = r.read_int();
    if (f & query_flags::paging_state) p.paging_state = r.read_bytes().value_or(std::string_view{});
    if (f & query_flags::serial_consistency) {
        auto s = r.read_consistency();
        if (r.ok() && s != consistency::serial && s != consistency::local_serial) {
            r.fail("serial consistency must be SERIAL or LOCAL_SERIAL");
        }
        p.serial_consistency = s;
    }
    if (f & query_flags::default_timestamp) p.timestamp = r.read_long();
    if (f & query_flags::keyspace) p.keyspace = r.read_string();
    if (f & query_flags::now_in_seconds) p.now_in_seconds = r.read_int();
    return p;
}

void query_parameters::write(writer& w, uint8_t version) const {
    w.write_consistency(cl);
    write_flags(w, flags(), version);
    if (values.present) values.write(w);
    if (page_size) w.write_int(*page_size);
    if (paging_state) w.write_bytes(*paging_state);
    if (serial_consistency) w.write_consistency(*serial_consistency);
    if (timestamp) w.write_long(*timestamp);
    if (keyspace) w.write_string(*keyspace);
    if (now_in_seconds) w.write_int(*now_in_seconds);
}

result<query_message> query_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    query_message m;
    m.query = r.read_long_string();
    m.params = query_parameters::read(r, version);
    return finish(r, m);
}

void query_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_long_string(query);
    params.write(w, version);
}

// v5: <query><flags>[<keyspace>]; v3/v4: <query>  (v5.spec §4.1.5)
result<prepare_message> prepare_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    prepare_message m;
    m.query = r.read_long_string();
    if (flags_are_int(version)) {
        auto f = static_cast<uint32_t>(r.read_int());
        if (f & ~0x01u) {
            r.fail("unknown PREPARE flags");
        } else if (f & 0x01) {
            m.keyspace = r.read_string();
        }
    }
    return finish(r, m);
}

void prepare_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_long_string(query);
    if (flags_are_int(version)) {
        w.write_int(keyspace ? 0x01 : 0);
        if (keyspace) w.write_string(*keyspace);
    }
}

// <id>[<result_metadata_id> (v5)]<query_parameters>  (v5.spec §4.1.6)
result<execute_message> execute_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    execute_message m;
    m.id = r.read_short_bytes();
    if (flags_are_int(version)) m.result_metadata_id = r.read_short_bytes();
    m.params = query_parameters::read(r, version);
    return finish(r, m);
}

void execute_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_short_bytes(id);
    if (flags_are_int(version)) w.write_short_bytes(result_metadata_id);
    params.write(w, version);
}

void batch_children::iterator::load() {
    if (_left == 0) return;
    uint8_t kind = _r.read_byte();
    _cur.prepared = kind == 1;
    _cur.query_or_id = _cur.prepared ? _r.read_short_bytes() : _r.read_long_string();
    _cur.values = value_list::read(_r, _named);
}

batch_children batch_children::build(std::span<const batch_child> children, std::string& storage) {
    storage.clear();
    writer w(storage);
    bool named = false;
    for (const auto& c : children) {
        w.write_byte(c.prepared ? 1 : 0);
        if (c.prepared) {
            w.write_short_bytes(c.query_or_id);
        } else {
            w.write_long_string(c.query_or_id);
        }
        if (c.values.present) {
            c.values.write(w);
        } else {
            w.write_short(0);
        }
        named = named || c.values.named;
    }
    batch_children b;
    b.count = static_cast<uint16_t>(children.size());
    b.named = named;
    b.raw = storage;
    return b;
}

uint32_t batch_message::flags() const {
    uint32_t f = 0;
    if (children.named) f |= query_flags::names_for_values;
    if (serial_consistency) f |= query_flags::serial_consistency;
    if (timestamp) f |= query_flags::default_timestamp;
    if (keyspace) f |= query_flags::keyspace;
    if (now_in_seconds) f |= query_flags::now_in_seconds;
    return f;
}

// <type><n><query_1>...<query_n><consistency><flags>[<serial_consistency>][<timestamp>]
// [<keyspace>][<now_in_seconds>]  (v5.spec §4.1.7). The flags follow the children, so the
// children are validated after the flags are known.
result<batch_message> batch_message::decode(std::string_view body, uint8_t version) {
    reader r(body);
    batch_message m;
    uint8_t type = r.read_byte();
    if (r.ok() && type > 2) return decode_error{"unknown BATCH type"};
    m.type = static_cast<batch_type>(type);
    m.children.count = r.read_short();
    const char* start = r.position();
    // First pass without knowing whether values are named: find where the children end by
    // trying unnamed, then named if the trailer does not parse.
    auto try_children = [&](bool named) -> std::optional<reader> {
        reader c(std::string_view(start, r.remaining()));
        for (uint16_t i = 0; i < m.children.count && c.ok(); ++i) {
            uint8_t kind = c.read_byte();
            if (kind > 1) {
                c.fail("unknown BATCH child kind");
                break;
            }
            if (kind == 1) {
                (void)c.read_short_bytes();
            } else {
                (void)c.read_long_string();
            }
            (void)value_list::read(c, named);
        }
        if (!c.ok()) return std::nullopt;
        return c;
    };
    for (bool named : {false, true}) {
        auto c = try_children(named);
        if (!c) continue;
        reader tail = *c;
        size_t children_bytes = static_cast<size_t>(tail.position() - start);
        m.cl = tail.read_consistency();
        uint32_t f = read_flags(tail, version);
        if (!tail.ok()) continue;
        if (((f & query_flags::names_for_values) != 0) != named) continue;
        uint32_t allowed = query_flags::serial_consistency | query_flags::default_timestamp |
                           query_flags::names_for_values;
        if (flags_are_int(version)) allowed |= query_flags::keyspace | query_flags::now_in_seconds;
        if (f & ~allowed) return decode_error{"unknown or disallowed BATCH flags"};
        if (f & query_flags::serial_consistency) m.serial_consistency = tail.read_consistency();
        if (f & query_flags::default_timestamp) m.timestamp = tail.read_long();
        if (f & query_flags::keyspace) m.keyspace = tail.read_string();
        if (f & query_flags::now_in_seconds) m.now_in_seconds = tail.read_int();
        m.children.named = named;
        m.children.raw = std::string_view(start, children_bytes);
        return finish(tail, m);
    }
    if (!r.ok()) return decode_error{r.error()};
    return decode_error{"BATCH children or trailer malformed"};
}

void batch_message::encode(std::string& out, uint8_t version) const {
    writer w(out);
    w.write_byte(static_cast<uint8_t>(type));
    w.write_short(children.count);
    w.write_raw(children.raw);
    w.write_consistency(cl);
    write_flags(w, flags(), version);
    if (serial_consistency) w.write_consistency(*serial_consistency);
    if (timestamp) w.write_long(*timestamp);
    if (keyspace) w.write_string(*keyspace);
    if (now_in_seconds) w.write_int(*now_in_seconds);
}

}  // namespace tandem::cql
