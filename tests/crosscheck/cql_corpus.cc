// Prints one line per case, "<name> <hex>": requests and frames as tandem encodes them, responses
// for the driver to decode, type values, and Murmur3 tokens. crosscheck.py builds the same cases
// with the DataStax Python driver and compares (see the table of cases there).
#include <cstdio>
#include <string>
#include <vector>

#include "cql/compression.hh"
#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/event.hh"
#include "cql/framing.hh"
#include "cql/murmur3.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"
#include "cql/values.hh"

using namespace tandem::cql;

namespace {

void emit(const std::string& name, std::string_view bytes) {
    std::printf("%s %s\n", name.c_str(), to_hex(bytes).c_str());
}

std::string frame(uint8_t version, opcode op, int16_t stream, std::string_view body, bool response = false,
                  uint8_t flags = 0) {
    envelope_header h;
    h.version = version;
    h.op = op;
    h.stream = stream;
    h.response = response;
    h.flags = flags;
    return make_envelope(h, body);
}

std::string vn(uint8_t v) { return "v" + std::to_string(v); }

template <typename M>
std::string body_of(const M& m, uint8_t v) {
    std::string b;
    m.encode(b, v);
    return b;
}
template <typename M>
std::string body_of(const M& m) {
    std::string b;
    m.encode(b);
    return b;
}

std::string int_bytes(int32_t i) {
    char b[4];
    store_be32(b, static_cast<uint32_t>(i));
    return std::string(b, 4);
}

void requests() {
    startup_message s;
    s.options = {{"COMPRESSION", "lz4"}, {"CQL_VERSION", "3.0.0"}};
    emit("req_startup_v4", frame(4, opcode::startup, 0, body_of(s)));
    emit("req_options_v4", frame(4, opcode::options, 1, ""));
    emit("req_options_v5", frame(5, opcode::options, 1, ""));
    register_message r{{"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}};
    emit("req_register_v4", frame(4, opcode::register_, 2, body_of(r)));
    auto token = plain_sasl_token("cassandra", "cassandra");
    emit("req_auth_response_v4", frame(4, opcode::auth_response, 3, body_of(auth_token_message{token})));

    for (uint8_t v : {3, 4, 5}) {
        query_message q;
        q.query = "SELECT * FROM ks.t";
        q.params.cl = consistency::one;
        emit("req_query_plain_" + vn(v), frame(v, opcode::query, 5, body_of(q, v)));

        std::string storage;
        std::string one = int_bytes(1);
        bound_value vals[] = {{{}, value_ref::of(one)}, {{}, value_ref::null()}, {{}, value_ref::of("abc")}};
        query_message full;
        full.query = "SELECT * FROM ks.t WHERE a = ? AND b = ? AND c = ?";
        full.params.cl = consistency::local_quorum;
        full.params.values = value_list::build(vals, false, storage);
        full.params.page_size = 5000;
        full.params.paging_state = "\x01\x02\x03";
        full.params.serial_consistency = consistency::local_serial;
        full.params.timestamp = 1700000000123456;
        emit("req_query_full_" + vn(v), frame(v, opcode::query, 6, body_of(full, v)));
        if (v == 5) {
            query_message ks = q;
            ks.params.keyspace = "ks";
            emit("req_query_keyspace_v5", frame(v, opcode::query, 7, body_of(ks, v)));
        }

        prepare_message p{"INSERT INTO ks.t (a, b) VALUES (?, ?)", {}};
        emit("req_prepare_" + vn(v), frame(v, opcode::prepare, 8, body_of(p, v)));
        if (v == 5) {
            prepare_message pk{"INSERT INTO t (a, b) VALUES (?, ?)", "ks"};
            emit("req_prepare_keyspace_v5", frame(v, opcode::prepare, 9, body_of(pk, v)));
        }

        std::string estorage;
        bound_value evals[] = {{{}, value_ref::of(one)}, {{}, value_ref::unset()}};
        execute_message e;
        e.id = "\xde\xad\xbe\xef";
        if (v == 5) e.result_metadata_id = "\xca\xfe";
        e.params.cl = consistency::quorum;
        e.params.values = value_list::build(evals, false, estorage);
        // skip_metadata stays unset: the driver (3.25) never writes that flag, so it cannot
        // produce the bytes to compare with; the unit tests cover the flag.
        e.params.page_size = 100;
        e.params.timestamp = 42;
        emit("req_execute_" + vn(v), frame(v, opcode::execute, 10, body_of(e, v)));

        std::string s1, s2, kids_storage;
        bound_value a[] = {{{}, value_ref::of(one)}};
        bound_value b[] = {{{}, value_ref::of("x")}, {{}, value_ref::null()}};
        batch_child kids[] = {
            {false, "INSERT INTO ks.t (a) VALUES (?)", value_list::build(a, false, s1)},
            {true, "\x01\x02\x03\x04", value_list::build(b, false, s2)},
        };
        for (auto [type, tname] : {std::pair{batch_type::logged, "logged"}, std::pair{batch_type::unlogged, "unlogged"},
                                   std::pair{batch_type::counter, "counter"}}) {
            batch_message m;
            m.type = type;
            m.children = batch_children::build(kids, kids_storage);
            m.cl = consistency::each_quorum;
            m.serial_consistency = consistency::serial;
            m.timestamp = 7;
            if (v == 5) m.keyspace = "ks";
            emit(std::string("req_batch_") + tname + "_" + vn(v), frame(v, opcode::batch, 11, body_of(m, v)));
        }
    }

    // v4 body compression, LZ4 and Snappy.
    query_message big;
    std::string text = "SELECT * FROM ks.t WHERE k IN (";
    for (int i = 0; i < 40; ++i) text += "'key" + std::to_string(i % 4) + "', ";
    text += "'end')";
    big.query = text;
    for (auto c : {compression::lz4, compression::snappy}) {
        std::string packed;
        compress_body(c, body_of(big, 4), packed);
        emit(std::string("req_query_compressed_") + std::string(to_string(c)) + "_v4",
             frame(4, opcode::query, 12, packed, false, envelope_flags::compression));
    }

    // v5 framing: one small envelope, uncompressed and LZ4; one envelope over 128 KiB.
    for (bool compressed : {false, true}) {
        std::string wire;
        frame_encoder enc(compressed);
        enc.add_envelope(frame(5, opcode::query, 13, body_of(big, 5)), wire);
        enc.flush(wire);
        emit(std::string("seg_query_") + (compressed ? "lz4" : "plain") + "_v5", wire);
    }
    query_message huge;
    std::string huge_text = "SELECT * FROM ks.t WHERE k = '" + std::string(140000, 'h') + "'";
    huge.query = huge_text;
    std::string wire;
    frame_encoder enc(false);
    enc.add_envelope(frame(5, opcode::query, 14, body_of(huge, 5)), wire);
    enc.flush(wire);
    emit("seg_query_large_v5", wire);
}

void responses() {
    for (uint8_t v : {4, 5}) {
        emit("resp_ready_" + vn(v), frame(v, opcode::ready, 0, "", true));
        emit("resp_authenticate_" + vn(v),
             frame(v, opcode::authenticate, 0, body_of(authenticate_message{"org.apache.cassandra.auth.PasswordAuthenticator"}), true));
        supported_message sup;
        sup.options = {{"CQL_VERSION", {"3.4.5"}}, {"COMPRESSION", {"lz4", "snappy"}}, {"PROTOCOL_VERSIONS", {"3/v3", "4/v4", "5/v5"}}};
        emit("resp_supported_" + vn(v), frame(v, opcode::supported, 0, body_of(sup), true));
        emit("resp_auth_challenge_" + vn(v), frame(v, opcode::auth_challenge, 0, body_of(auth_token_message{"chal"}), true));
        emit("resp_auth_success_" + vn(v), frame(v, opcode::auth_success, 0, body_of(auth_token_message{std::nullopt}), true));

        // Every error code.
        std::vector<std::pair<std::string, error_message>> errors = {
            {"server", error_message::server("boom")},
            {"protocol", error_message::unsupported_version(6, "3/v3, 4/v4, 5/v5")},
            {"bad_credentials", error_message::bad_credentials("Provided username x and/or password are incorrect")},
            {"unavailable", error_message::unavailable(consistency::quorum, 2, 1)},
            {"overloaded", error_message::overloaded("busy")},
            {"is_bootstrapping", error_message::make(error_code::is_bootstrapping, "boot")},
            {"truncate", error_message::make(error_code::truncate_error, "trunc")},
            {"write_timeout", error_message::write_timeout(consistency::local_quorum, 1, 2, "SIMPLE")},
            {"read_timeout", error_message::read_timeout(consistency::one, 0, 1, true)},
            {"syntax", error_message::syntax("line 1:0 no viable alternative")},
            {"unauthorized", error_message::make(error_code::unauthorized, "no")},
            {"invalid", error_message::invalid("unconfigured table peers_v2")},
            {"config", error_message::make(error_code::config_error, "cfg")},
            {"already_exists", error_message::already_exists("ks", "t", "Cannot add existing table")},
            {"unprepared", error_message::unprepared("\x01\x02\x03", "Prepared query with ID 010203 not found")},
        };
        auto rf = error_message::make(error_code::read_failure, "read failure");
        rf.cl = consistency::all;
        rf.received = 1;
        rf.block_for = 3;
        rf.data_present = false;
        rf.num_failures = 1;
        rf.reason_map = {{*inet_address::parse("127.0.0.2"), 1}};
        errors.emplace_back("read_failure", rf);
        auto wf = error_message::make(error_code::write_failure, "write failure");
        wf.cl = consistency::two;
        wf.received = 1;
        wf.block_for = 2;
        wf.num_failures = 1;
        wf.reason_map = {{*inet_address::parse("127.0.0.3"), 2}};
        wf.write_type = "BATCH";
        errors.emplace_back("write_failure", wf);
        auto ff = error_message::make(error_code::function_failure, "fn failed");
        ff.keyspace = "ks";
        ff.table = "f";
        ff.arg_types = {"int", "text"};
        errors.emplace_back("function_failure", ff);
        for (auto& [name, e] : errors) {
            emit("resp_error_" + name + "_" + vn(v), frame(v, opcode::error, 1, body_of(e, v), true));
        }

        // Results.
        result_message vd;
        emit("resp_result_void_" + vn(v), frame(v, opcode::result, 2, body_of(vd, v), true));
        result_message ks;
        ks.kind = result_kind::set_keyspace;
        ks.keyspace = "shop";
        emit("resp_result_set_keyspace_" + vn(v), frame(v, opcode::result, 2, body_of(ks, v), true));
        for (auto target : {"KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE"}) {
            result_message sc;
            sc.kind = result_kind::schema_change;
            sc.change = {"CREATED", target, "ks", std::string(target) == "KEYSPACE" ? "" : "obj", {}};
            if (std::string(target) == "FUNCTION" || std::string(target) == "AGGREGATE") sc.change.arg_types = {"int", "text"};
            emit(std::string("resp_result_schema_") + target + "_" + vn(v), frame(v, opcode::result, 2, body_of(sc, v), true));
        }
        result_message pr;
        pr.kind = result_kind::prepared;
        pr.prepared_id = "\x0a\x0b\x0c";
        if (v == 5) pr.result_metadata_id = "\x0d\x0e";
        pr.prepared.pk_indexes = {0};
        pr.prepared.columns = {{"ks", "t", "k", cql_type::simple(type_id::int_)},
                               {"ks", "t", "v", cql_type::simple(type_id::varchar)}};
        pr.result_metadata.columns = {{"ks", "t", "v", cql_type::simple(type_id::varchar)}};
        pr.result_metadata.column_count = 1;
        emit("resp_result_prepared_" + vn(v), frame(v, opcode::result, 2, body_of(pr, v), true));

        // Rows with one column of every type and a paging state.
        rows_metadata md;
        md.paging_state = std::string("\x00\x05", 2);
        auto udt = cql_type::udt_of("ks", "addr", {{"street", cql_type::simple(type_id::varchar)}, {"no", cql_type::simple(type_id::int_)}});
        std::vector<std::pair<cql_type, cql_value>> cols = {
            {cql_type::simple(type_id::ascii), "ascii"},
            {cql_type::simple(type_id::bigint), int64_t{-9000000000}},
            {cql_type::simple(type_id::blob), std::string("\x00\xff", 2)},
            {cql_type::simple(type_id::boolean), true},
            {cql_type::simple(type_id::counter), int64_t{12}},
            {cql_type::simple(type_id::decimal), decimal{3, varint::from_int64(-12345)}},
            {cql_type::simple(type_id::double_), 2.5},
            {cql_type::simple(type_id::float_), -0.5f},
            {cql_type::simple(type_id::int_), int64_t{-7}},
            {cql_type::simple(type_id::timestamp), int64_t{1700000000123}},
            {cql_type::simple(type_id::uuid), uuid_bytes{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}},
            {cql_type::simple(type_id::varchar), "héllo"},
            {cql_type::simple(type_id::varint), varint::from_int64(-128000000000000)},
            {cql_type::simple(type_id::timeuuid), uuid_bytes{0xe3, 0x5a, 0x9c, 0x60, 0x8a, 0x0d, 0x11, 0xee, 0xb9, 0xd1, 0x02, 0x42, 0xac, 0x12, 0x00, 0x02}},
            {cql_type::simple(type_id::inet), *inet_address::parse("2001:db8::1")},
            {cql_type::simple(type_id::date), int64_t{19000}},
            {cql_type::simple(type_id::time), int64_t{3723000000001}},
            {cql_type::simple(type_id::smallint), int64_t{-300}},
            {cql_type::simple(type_id::tinyint), int64_t{-3}},
            {cql_type::list_of(cql_type::simple(type_id::int_)), cql_list{1, 2, 3}},
            {cql_type::set_of(cql_type::simple(type_id::varchar)), cql_list{"a", "b"}},
            {cql_type::map_of(cql_type::simple(type_id::varchar), cql_type::simple(type_id::int_)), cql_map{{cql_value("k"), cql_value(1)}}},
            {udt, cql_list{"Main St", 5}},
            {cql_type::tuple_of({cql_type::simple(type_id::int_), cql_type::simple(type_id::varchar)}), cql_list{1, "x"}},
            {cql_type::custom_of("org.apache.cassandra.db.marshal.BytesType"), "raw"},
        };
        if (v == 5) cols.emplace_back(cql_type::simple(type_id::duration), duration{1, 2, 3000000000});
        int i = 0;
        for (auto& [t, val] : cols) {
            md.columns.push_back({"ks", "t", "c" + std::to_string(i++), t});
        }
        md.column_count = static_cast<int32_t>(md.columns.size());
        std::string rows;
        rows_writer w(rows, md, v);
        for (auto& [t, val] : cols) {
            if (!w.value(t, val)) {
                std::fprintf(stderr, "cannot encode a %s\n", to_cql_string(t).c_str());
                std::exit(1);
            }
        }
        w.end_row();
        for (size_t c = 0; c < cols.size(); ++c) w.cell(std::nullopt);  // a row of nulls
        w.end_row();
        w.finish();
        emit("resp_result_rows_" + vn(v), frame(v, opcode::result, 3, rows, true));

        // Events.
        event_message topo{"TOPOLOGY_CHANGE", "NEW_NODE", {*inet_address::parse("127.0.0.5"), 9042}, {}};
        event_message status{"STATUS_CHANGE", "DOWN", {*inet_address::parse("127.0.0.6"), 9043}, {}};
        event_message schema{"SCHEMA_CHANGE", "", {}, {"UPDATED", "TABLE", "ks", "t", {}}};
        emit("resp_event_topology_" + vn(v), frame(v, opcode::event, -1, body_of(topo), true));
        emit("resp_event_status_" + vn(v), frame(v, opcode::event, -1, body_of(status), true));
        emit("resp_event_schema_" + vn(v), frame(v, opcode::event, -1, body_of(schema), true));
    }
}

void values() {
    struct c {
        const char* name;
        cql_type type;
        cql_value value;
    };
    auto udt = cql_type::udt_of("ks", "addr", {{"street", cql_type::simple(type_id::varchar)}, {"no", cql_type::simple(type_id::int_)}});
    std::vector<c> cases = {
        {"ascii", cql_type::simple(type_id::ascii), "hello"},
        {"bigint", cql_type::simple(type_id::bigint), int64_t{-9000000000}},
        {"blob", cql_type::simple(type_id::blob), std::string("\x00\x01\xff", 3)},
        {"boolean", cql_type::simple(type_id::boolean), false},
        {"counter", cql_type::simple(type_id::counter), int64_t{99}},
        {"decimal", cql_type::simple(type_id::decimal), decimal{2, varint::from_int64(31415)}},
        {"decimal_negative", cql_type::simple(type_id::decimal), decimal{5, varint::from_int64(-1)}},
        {"double", cql_type::simple(type_id::double_), 3.141592653589793},
        {"float", cql_type::simple(type_id::float_), 0.25f},
        {"int", cql_type::simple(type_id::int_), int64_t{2147483647}},
        {"timestamp", cql_type::simple(type_id::timestamp), int64_t{1700000000123}},
        {"uuid", cql_type::simple(type_id::uuid), uuid_bytes{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}},
        {"varchar", cql_type::simple(type_id::varchar), "ünïcødé ✓"},
        {"varint_small", cql_type::simple(type_id::varint), varint::from_int64(127)},
        {"varint_128", cql_type::simple(type_id::varint), varint::from_int64(128)},
        {"varint_negative", cql_type::simple(type_id::varint), varint::from_int64(-32769)},
        {"varint_big", cql_type::simple(type_id::varint), varint{*from_hex("0100000000000000000000")}},
        {"timeuuid", cql_type::simple(type_id::timeuuid), uuid_bytes{0xe3, 0x5a, 0x9c, 0x60, 0x8a, 0x0d, 0x11, 0xee, 0xb9, 0xd1, 0x02, 0x42, 0xac, 0x12, 0x00, 0x02}},
        {"inet4", cql_type::simple(type_id::inet), *inet_address::parse("192.168.1.10")},
        {"inet6", cql_type::simple(type_id::inet), *inet_address::parse("fe80::1")},
        {"date", cql_type::simple(type_id::date), int64_t{19000}},
        {"date_before_epoch", cql_type::simple(type_id::date), int64_t{-1000}},
        {"time", cql_type::simple(type_id::time), int64_t{86399999999999}},
        {"smallint", cql_type::simple(type_id::smallint), int64_t{-32768}},
        {"tinyint", cql_type::simple(type_id::tinyint), int64_t{127}},
        {"duration", cql_type::simple(type_id::duration), duration{14, 3, 5000000000}},
        {"duration_negative", cql_type::simple(type_id::duration), duration{-1, -2, -3}},
        {"list_int", cql_type::list_of(cql_type::simple(type_id::int_)), cql_list{1, -2, 3}},
        {"set_text", cql_type::set_of(cql_type::simple(type_id::varchar)), cql_list{"a", "b", "c"}},
        {"map_text_bigint", cql_type::map_of(cql_type::simple(type_id::varchar), cql_type::simple(type_id::bigint)),
         cql_map{{cql_value("x"), cql_value(int64_t{1})}, {cql_value("y"), cql_value(int64_t{2})}}},
        {"list_of_map", cql_type::list_of(cql_type::map_of(cql_type::simple(type_id::int_), cql_type::simple(type_id::boolean))),
         cql_list{cql_map{{cql_value(1), cql_value(true)}}}},
        {"tuple", cql_type::tuple_of({cql_type::simple(type_id::int_), cql_type::simple(type_id::varchar), cql_type::simple(type_id::boolean)}),
         cql_list{1, "two", null_value{}}},
        {"udt", udt, cql_list{"Main St", 42}},
        {"custom", cql_type::custom_of("org.apache.cassandra.db.marshal.BytesType"), "opaque"},
    };
    for (auto& [name, type, value] : cases) {
        std::string out;
        if (!encode_value(type, value, out)) {
            std::fprintf(stderr, "cannot encode %s\n", name);
            std::exit(1);
        }
        emit(std::string("value_") + name, out);
        // Type descriptors too: the driver reads them in result metadata.
        std::string opt;
        writer w(opt);
        write_type(w, type);
        emit(std::string("type_") + name, opt);
    }
}

void tokens() {
    std::vector<std::string> keys = {"", "a", "ab", "abc", "hello", "\x80", "\xff\xfe\xfd",
                                     "0123456789abcdef", "0123456789abcdef0", "a somewhat longer partition key!!"};
    for (int len = 0; len < 40; ++len) {
        std::string k;
        for (int i = 0; i < len; ++i) k.push_back(static_cast<char>((i * 37 + 0x90) & 0xFF));
        keys.push_back(k);
    }
    std::string_view parts[] = {"user42", std::string_view("\x00\x00\x00\x07", 4)};
    keys.push_back(composite_partition_key(parts));
    for (auto& k : keys) {
        std::printf("token %s %lld\n", to_hex(k).c_str(), static_cast<long long>(murmur3_token(k)));
    }
}

}  // namespace

int main() {
    requests();
    responses();
    values();
    tokens();
    return 0;
}
