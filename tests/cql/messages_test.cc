// Every message: round trip, every prefix truncated, lengths that lie, and the malformed cases.
#include <gtest/gtest.h>

#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/event.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

namespace tandem::cql {
namespace {

constexpr uint8_t v3 = protocol_version::v3;
constexpr uint8_t v4 = protocol_version::v4;
constexpr uint8_t v5 = protocol_version::v5;

// Decodes, re-encodes and compares bytes; then checks that no proper prefix decodes.
template <typename M, typename Decode>
void exact_round_trip(const std::string& bytes, Decode decode) {
    auto m = decode(std::string_view(bytes));
    ASSERT_TRUE(m) << m.error();
    std::string again;
    if constexpr (requires { m->encode(again); }) {
        m->encode(again);
    }
    for (size_t n = 0; n < bytes.size(); ++n) {
        auto partial = decode(std::string_view(bytes).substr(0, n));
        EXPECT_FALSE(partial) << "prefix of " << n << " bytes decoded";
    }
    auto extra = decode(bytes + "x");
    EXPECT_FALSE(extra) << "trailing byte accepted";
}

TEST(messages, startup_and_supported) {
    startup_message s;
    s.options = {{"CQL_VERSION", "3.0.0"}, {"COMPRESSION", "lz4"}};
    std::string b;
    s.encode(b);
    auto d = startup_message::decode(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->option("COMPRESSION"), "lz4");
    std::string again;
    d->encode(again);
    EXPECT_EQ(again, b);
    exact_round_trip<startup_message>(b, [](std::string_view x) { return startup_message::decode(x); });

    startup_message no_version;
    no_version.options = {{"COMPRESSION", "lz4"}};
    std::string nb;
    no_version.encode(nb);
    EXPECT_EQ(startup_message::decode(nb).error(), "STARTUP without CQL_VERSION");

    supported_message sup;
    sup.options = {{"CQL_VERSION", {"3.4.5"}}, {"PROTOCOL_VERSIONS", {"3/v3", "4/v4", "5/v5"}}};
    std::string sb;
    sup.encode(sb);
    auto sd = supported_message::decode(sb);
    ASSERT_TRUE(sd);
    EXPECT_EQ(sd->option("PROTOCOL_VERSIONS")->size(), 3u);
    exact_round_trip<supported_message>(sb, [](std::string_view x) { return supported_message::decode(x); });
    EXPECT_TRUE(decode_empty_body(""));
    EXPECT_FALSE(decode_empty_body("x"));
}

TEST(messages, auth_and_register) {
    auto token = plain_sasl_token("cassandra", "secret");
    auth_token_message a{token};
    std::string b;
    a.encode(b);
    auto d = auth_token_message::decode(b);
    ASSERT_TRUE(d);
    auto creds = parse_plain_sasl_token(*d->token);
    ASSERT_TRUE(creds);
    EXPECT_EQ(creds->user, "cassandra");
    EXPECT_EQ(creds->password, "secret");
    EXPECT_FALSE(parse_plain_sasl_token("nouser"));
    exact_round_trip<auth_token_message>(b, [](std::string_view x) { return auth_token_message::decode(x); });
    std::string null_token;
    auth_token_message{}.encode(null_token);
    EXPECT_FALSE(auth_token_message::decode(null_token)->token.has_value());

    authenticate_message au{"org.apache.cassandra.auth.PasswordAuthenticator"};
    std::string ab;
    au.encode(ab);
    EXPECT_EQ(authenticate_message::decode(ab)->authenticator, au.authenticator);

    register_message r{{"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}};
    std::string rb;
    r.encode(rb);
    EXPECT_EQ(register_message::decode(rb)->event_types.size(), 3u);
    register_message bad{{"NOPE"}};
    std::string bb;
    bad.encode(bb);
    EXPECT_FALSE(register_message::decode(bb));
}

TEST(messages, query_with_every_flag_in_every_version) {
    std::string storage;
    bound_value vals[] = {{"a", value_ref::of(std::string_view("\0\0\0\1", 4))}, {"b", value_ref::null()}, {"c", value_ref::unset()}};
    for (uint8_t version : {v3, v4, v5}) {
        for (bool named : {false, true}) {
            query_message q;
            q.query = "SELECT * FROM ks.t WHERE a = ?";
            q.params.cl = consistency::local_quorum;
            q.params.values = value_list::build(vals, named, storage);
            q.params.skip_metadata = true;
            q.params.page_size = 5000;
            q.params.paging_state = "\x01\x02";
            q.params.serial_consistency = consistency::local_serial;
            q.params.timestamp = 1234567890123456;
            if (version == v5) {
                q.params.keyspace = "ks";
                q.params.now_in_seconds = 42;
            }
            std::string b;
            q.encode(b, version);
            auto d = query_message::decode(b, version);
            ASSERT_TRUE(d) << d.error();
            EXPECT_EQ(d->query, q.query);
            EXPECT_EQ(d->params.flags(), q.params.flags());
            EXPECT_EQ(d->params.values.count, 3);
            EXPECT_EQ(d->params.values.named, named);
            std::vector<bound_value> got(d->params.values.begin(), d->params.values.end());
            ASSERT_EQ(got.size(), 3u);
            EXPECT_EQ(got[0].value.bytes, std::string_view("\x00\x00\x00\x01", 4));
            EXPECT_EQ(got[0].name, named ? "a" : "");
            EXPECT_TRUE(got[1].value.is_null());
            EXPECT_TRUE(got[2].value.is_unset());
            std::string again;
            d->encode(again, version);
            EXPECT_EQ(again, b);
            for (size_t n = 0; n < b.size(); ++n) {
                EXPECT_FALSE(query_message::decode(std::string_view(b).substr(0, n), version)) << n;
            }
        }
    }
}

TEST(messages, query_malformed_cases) {
    query_message q;
    q.query = "SELECT 1";
    std::string b;
    q.encode(b, v4);
    auto bad_flags = b;
    bad_flags.back() = static_cast<char>(0x80);  // keyspace flag is v5 only
    EXPECT_EQ(query_message::decode(bad_flags, v4).error(), "unknown query flags");
    auto bad_cl = b;
    bad_cl[bad_cl.size() - 2] = 0x7F;
    EXPECT_FALSE(query_message::decode(bad_cl, v4));
    auto lying = b;
    store_be32(lying.data(), 1000);
    EXPECT_FALSE(query_message::decode(lying, v4));
    // Names flag without values.
    auto names_only = b;
    names_only.back() = 0x40;
    EXPECT_FALSE(query_message::decode(names_only, v4));
    // Serial consistency that is not serial.
    query_message s;
    s.query = "x";
    s.params.serial_consistency = consistency::one;
    std::string sb;
    s.encode(sb, v4);
    EXPECT_EQ(query_message::decode(sb, v4).error(), "serial consistency must be SERIAL or LOCAL_SERIAL");
}

TEST(messages, prepare_and_execute) {
    for (uint8_t version : {v3, v4, v5}) {
        prepare_message p{"INSERT INTO t (a) VALUES (?)", {}};
        if (version == v5) p.keyspace = "ks";
        std::string pb;
        p.encode(pb, version);
        auto pd = prepare_message::decode(pb, version);
        ASSERT_TRUE(pd);
        EXPECT_EQ(pd->keyspace, p.keyspace);

        std::string storage;
        bound_value vals[] = {{{}, value_ref::of("abcd")}};
        execute_message e;
        e.id = "\x12\x34\x56";
        if (version == v5) e.result_metadata_id = "meta";
        e.params.values = value_list::build(vals, false, storage);
        e.params.cl = consistency::quorum;
        std::string eb;
        e.encode(eb, version);
        auto ed = execute_message::decode(eb, version);
        ASSERT_TRUE(ed) << ed.error();
        EXPECT_EQ(ed->id, e.id);
        EXPECT_EQ(ed->result_metadata_id, e.result_metadata_id);
        EXPECT_EQ(ed->params.values.begin()->value.bytes, "abcd");
        std::string again;
        ed->encode(again, version);
        EXPECT_EQ(again, eb);
        for (size_t n = 0; n < eb.size(); ++n) EXPECT_FALSE(execute_message::decode(std::string_view(eb).substr(0, n), version));
    }
}

TEST(messages, batch_simple_and_prepared_children) {
    for (uint8_t version : {v3, v4, v5}) {
        std::string s1, s2, children_storage;
        bound_value a[] = {{{}, value_ref::of("1")}};
        bound_value b[] = {{{}, value_ref::null()}, {{}, value_ref::of("22")}};
        batch_child kids[] = {
            {false, "INSERT INTO t (a) VALUES (?)", value_list::build(a, false, s1)},
            {true, "\xAA\xBB", value_list::build(b, false, s2)},
        };
        batch_message m;
        m.type = batch_type::unlogged;
        m.children = batch_children::build(kids, children_storage);
        m.cl = consistency::local_one;
        m.serial_consistency = consistency::serial;
        m.timestamp = 99;
        if (version == v5) m.keyspace = "ks";
        std::string bytes;
        m.encode(bytes, version);
        auto d = batch_message::decode(bytes, version);
        ASSERT_TRUE(d) << d.error();
        EXPECT_EQ(d->type, batch_type::unlogged);
        EXPECT_EQ(d->children.count, 2);
        std::vector<batch_child> got(d->children.begin(), d->children.end());
        ASSERT_EQ(got.size(), 2u);
        EXPECT_FALSE(got[0].prepared);
        EXPECT_EQ(got[0].query_or_id, "INSERT INTO t (a) VALUES (?)");
        EXPECT_TRUE(got[1].prepared);
        EXPECT_EQ(got[1].values.count, 2);
        EXPECT_EQ(std::next(got[1].values.begin())->value.bytes, "22");
        EXPECT_EQ(d->timestamp, 99);
        std::string again;
        d->encode(again, version);
        EXPECT_EQ(again, bytes);
        for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(batch_message::decode(std::string_view(bytes).substr(0, n), version));
    }
    std::string bad = "\x05";
    bad += std::string("\x00\x00", 2);
    EXPECT_EQ(batch_message::decode(bad, v4).error(), "unknown BATCH type");
}

TEST(messages, results_of_every_kind) {
    for (uint8_t version : {v3, v4, v5}) {
        // Rows with full metadata and a paging state, written row by row.
        rows_metadata md;
        md.paging_state = std::string("\x00\x01", 2);
        md.columns = {{"ks", "t", "k", cql_type::simple(type_id::int_)},
                      {"ks", "t", "v", cql_type::list_of(cql_type::simple(type_id::varchar))}};
        md.column_count = 2;
        if (version == v5) md.new_metadata_id = "newid";
        std::string b;
        rows_writer w(b, md, version);
        for (int i = 0; i < 3; ++i) {
            ASSERT_TRUE(w.value(md.columns[0].type, i));
            w.cell(std::nullopt);
            EXPECT_EQ(w.cells_in_row(), w.columns());
            w.end_row();
        }
        w.finish();
        auto d = result_message::decode(b, version);
        ASSERT_TRUE(d) << d.error();
        EXPECT_EQ(d->kind, result_kind::rows);
        EXPECT_EQ(d->metadata, md);
        EXPECT_EQ(d->row_count, 3);
        auto rows = d->rows();
        ASSERT_TRUE(rows);
        EXPECT_EQ((*rows)[2][0], std::string_view("\0\0\0\2", 4));
        EXPECT_FALSE((*rows)[2][1].has_value());
        std::string again;
        d->encode(again, version);
        EXPECT_EQ(again, b);
        for (size_t n = 0; n < b.size(); ++n) EXPECT_FALSE(result_message::decode(std::string_view(b).substr(0, n), version));

        // No metadata: the column count still travels.
        rows_metadata none;
        none.no_metadata = true;
        none.column_count = 2;
        std::string nb;
        rows_writer nw(nb, none, version);
        nw.cell("a");
        nw.cell("b");
        nw.end_row();
        nw.finish();
        auto nd = result_message::decode(nb, version);
        ASSERT_TRUE(nd);
        EXPECT_TRUE(nd->metadata.no_metadata);
        EXPECT_EQ(nd->rows()->at(0).at(1), "b");

        // Prepared, with pk indexes (v4+) and a result metadata id (v5).
        result_message p;
        p.kind = result_kind::prepared;
        p.prepared_id = "0123456789abcdef";
        if (version == v5) p.result_metadata_id = "rmid";
        if (version >= v4) p.prepared.pk_indexes = {0};
        p.prepared.columns = {{"ks", "t", "k", cql_type::simple(type_id::int_)}};
        p.result_metadata.columns = {{"ks", "t", "v", cql_type::simple(type_id::varchar)}};
        p.result_metadata.column_count = 1;
        std::string pb;
        p.encode(pb, version);
        auto pd = result_message::decode(pb, version);
        ASSERT_TRUE(pd) << pd.error();
        EXPECT_EQ(pd->prepared, p.prepared);
        EXPECT_EQ(pd->result_metadata, p.result_metadata);
        EXPECT_EQ(pd->result_metadata_id, p.result_metadata_id);

        // Set_keyspace, Void, Schema_change for each target.
        result_message k;
        k.kind = result_kind::set_keyspace;
        k.keyspace = "ks";
        std::string kb;
        k.encode(kb, version);
        EXPECT_EQ(result_message::decode(kb, version)->keyspace, "ks");
        for (auto target : {"KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE"}) {
            result_message sc;
            sc.kind = result_kind::schema_change;
            sc.change = {"CREATED", target, "ks", std::string(target) == "KEYSPACE" ? "" : "obj", {}};
            if (std::string(target) == "FUNCTION") sc.change.arg_types = {"int", "text"};
            std::string sb;
            sc.encode(sb, version);
            auto sd = result_message::decode(sb, version);
            ASSERT_TRUE(sd) << target;
            EXPECT_EQ(sd->change, sc.change);
        }
    }
    std::string unknown_kind("\x00\x00\x00\x09", 4);
    EXPECT_EQ(result_message::decode(unknown_kind, v4).error(), "unknown RESULT kind");
    // Rows whose count lies.
    std::string lying;
    writer w(lying);
    w.write_int(2);
    w.write_int(rows_flags::no_metadata);
    w.write_int(1);
    w.write_int(1000000);
    EXPECT_FALSE(result_message::decode(lying, v4));
    // Found by messages_fuzz: rows of no columns, with a count nothing bounds.
    std::string empty_rows;
    writer e(empty_rows);
    e.write_int(2);
    e.write_int(0);
    e.write_int(0);
    e.write_int(150'000'000);
    EXPECT_EQ(result_message::decode(empty_rows, v4).error(), "rows without columns");
    // Found by messages_fuzz: no_metadata and a negative column count.
    std::string negative;
    writer n(negative);
    n.write_int(2);
    n.write_int(rows_flags::no_metadata);
    n.write_int(-5);
    n.write_int(0);
    EXPECT_EQ(result_message::decode(negative, v4).error(), "negative column count");
}

TEST(messages, every_error_code_round_trips) {
    std::vector<error_message> all;
    for (auto code : {error_code::server_error, error_code::protocol_error, error_code::bad_credentials,
                      error_code::overloaded, error_code::is_bootstrapping, error_code::truncate_error,
                      error_code::syntax_error, error_code::unauthorized, error_code::invalid, error_code::config_error,
                      error_code::cdc_write_failure}) {
        all.push_back(error_message::make(code, "msg"));
    }
    all.push_back(error_message::unavailable(consistency::quorum, 3, 1));
    all.push_back(error_message::write_timeout(consistency::one, 0, 1, "SIMPLE"));
    all.push_back(error_message::write_timeout(consistency::serial, 0, 1, "CAS"));
    all.back().contentions = 2;
    all.push_back(error_message::read_timeout(consistency::all, 1, 3, true));
    auto rf = error_message::make(error_code::read_failure, "rf");
    rf.block_for = 2;
    rf.data_present = true;
    all.push_back(rf);
    auto wf = error_message::make(error_code::write_failure, "wf");
    wf.write_type = "BATCH";
    all.push_back(wf);
    auto cas = error_message::make(error_code::cas_write_unknown, "cas");
    cas.received = 1;
    all.push_back(cas);
    auto ff = error_message::make(error_code::function_failure, "ff");
    ff.keyspace = "ks";
    ff.table = "fn";
    ff.arg_types = {"int"};
    all.push_back(ff);
    all.push_back(error_message::already_exists("ks", "t", "exists"));
    all.push_back(error_message::unprepared("\x01\x02", "unknown id"));
    for (uint8_t version : {v4, v5}) {
        for (auto e : all) {
            if (version == v5 && (e.code == error_code::read_failure || e.code == error_code::write_failure)) {
                e.reason_map = {{*inet_address::parse("127.0.0.1"), 1}};
                e.num_failures = 1;
            }
            if (version == v4 && e.code == error_code::write_timeout) e.contentions = 0;
            std::string b;
            e.encode(b, version);
            auto d = error_message::decode(b, version);
            ASSERT_TRUE(d) << to_string(e.code) << ": " << d.error();
            EXPECT_EQ(*d, e) << to_string(e.code);
            for (size_t n = 0; n < b.size(); ++n) {
                EXPECT_FALSE(error_message::decode(std::string_view(b).substr(0, n), version)) << to_string(e.code) << n;
            }
        }
    }
    auto unsupported = error_message::unsupported_version(6, "3/v3, 4/v4, 5/v5");
    EXPECT_EQ(unsupported.message, "Invalid or unsupported protocol version (6); supported versions are (3/v3, 4/v4, 5/v5)");
    std::string unknown("\x00\x00\x77\x77\x00\x00", 6);
    EXPECT_EQ(error_message::decode(unknown, v4).error(), "unknown error code");
}

TEST(messages, events) {
    event_message topo{"TOPOLOGY_CHANGE", "NEW_NODE", {*inet_address::parse("127.0.0.2"), 9042}, {}};
    event_message status{"STATUS_CHANGE", "DOWN", {*inet_address::parse("::1"), 9042}, {}};
    event_message schema{"SCHEMA_CHANGE", "", {}, {"DROPPED", "TABLE", "ks", "t", {}}};
    for (auto& e : {topo, status, schema}) {
        std::string b;
        e.encode(b);
        auto d = event_message::decode(b);
        ASSERT_TRUE(d) << d.error();
        EXPECT_EQ(*d, e);
        for (size_t n = 0; n < b.size(); ++n) EXPECT_FALSE(event_message::decode(std::string_view(b).substr(0, n)));
    }
    event_message bad{"TOPOLOGY_CHANGE", "EXPLODED", {*inet_address::parse("127.0.0.2"), 9042}, {}};
    std::string bb;
    bad.encode(bb);
    EXPECT_FALSE(event_message::decode(bb));
}

}  // namespace
}  // namespace tandem::cql
