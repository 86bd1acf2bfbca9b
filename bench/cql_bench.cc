// Microbenchmarks of the protocol hot paths (issue targets on the 2-core dev machine):
// header parse+validate < 5 ns, classify a 150-byte INSERT < 150 ns, decode an EXECUTE with
// 5 values < 100 ns. Encode a 100-row ROWS result is tracked for cqlsim.
#include <benchmark/benchmark.h>

#include "cql/classifier.hh"
#include "cql/envelope.hh"
#include "cql/framing.hh"
#include "cql/murmur3.hh"
#include "cql/query.hh"
#include "cql/result.hh"

using namespace tandem::cql;

namespace {

void header_parse_validate(benchmark::State& state) {
    envelope_header h;
    h.version = protocol_version::v4;
    h.op = opcode::execute;
    h.stream = 1234;
    h.length = 120;
    char buf[9];
    write_header(h, buf);
    header_limits limits;
    limits.expect = header_limits::direction::requests;
    for (auto _ : state) {
        benchmark::DoNotOptimize(buf);
        auto p = parse_header(std::string_view(buf, 9), limits);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(header_parse_validate);

// 150 bytes, the shape drivers send for a simple (unprepared) insert.
const std::string insert_150 =
    "INSERT INTO shop.orders (order_id, customer_id, created_at, status, total, currency) "
    "VALUES (?, ?, ?, 'paid', ?, 'EUR') USING TTL 86400 AND TIMESTAMP ?";
const std::string select_120 = "SELECT order_id, status, total FROM shop.orders WHERE customer_id = ? AND created_at > ? LIMIT 100";
const std::string update_200 =
    "UPDATE shop.orders USING TTL 3600 SET status = 'shipped', shipped_at = toTimestamp(now()), "
    "tags = tags + {'express'} WHERE order_id = ? AND customer_id = ? IF status = 'paid'";

void classify_insert(benchmark::State& state) {
    for (auto _ : state) {
        auto info = classify(insert_150);
        benchmark::DoNotOptimize(info.kind);
    }
    state.counters["bytes"] = static_cast<double>(insert_150.size());
}
BENCHMARK(classify_insert);

void classify_select(benchmark::State& state) {
    for (auto _ : state) {
        auto info = classify(select_120);
        benchmark::DoNotOptimize(info.kind);
    }
    state.counters["bytes"] = static_cast<double>(select_120.size());
}
BENCHMARK(classify_select);

void classify_update(benchmark::State& state) {
    for (auto _ : state) {
        auto info = classify(update_200);
        benchmark::DoNotOptimize(info.kind);
    }
    state.counters["bytes"] = static_cast<double>(update_200.size());
}
BENCHMARK(classify_update);

void decode_execute_5_values(benchmark::State& state) {
    std::string storage;
    std::string v[5] = {std::string(16, 'u'), std::string(8, 'l'), std::string(4, 'i'), "shipped", std::string(8, 'd')};
    bound_value vals[5];
    for (int i = 0; i < 5; ++i) vals[i] = {{}, value_ref::of(v[i])};
    execute_message e;
    e.id = "0123456789abcdef";
    e.params.cl = consistency::local_quorum;
    e.params.values = value_list::build(vals, false, storage);
    e.params.timestamp = 1700000000000000;
    std::string body;
    e.encode(body, protocol_version::v4);
    for (auto _ : state) {
        auto d = execute_message::decode(body, protocol_version::v4);
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK(decode_execute_5_values);

void encode_rows_100(benchmark::State& state) {
    rows_metadata md;
    md.columns = {{"ks", "t", "k", cql_type::simple(type_id::int_)},
                  {"ks", "t", "name", cql_type::simple(type_id::varchar)},
                  {"ks", "t", "score", cql_type::simple(type_id::bigint)}};
    std::string out;
    char k[4], score[8];
    for (auto _ : state) {
        out.clear();
        rows_writer w(out, md, protocol_version::v4);
        for (int32_t i = 0; i < 100; ++i) {
            store_be32(k, static_cast<uint32_t>(i));
            store_be64(score, static_cast<uint64_t>(i) * 7);
            w.cell(std::string_view(k, 4));
            w.cell("some player name");
            w.cell(std::string_view(score, 8));
            w.end_row();
        }
        w.finish();
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(encode_rows_100);

void frame_decode_v5(benchmark::State& state) {
    envelope_header h;
    h.version = protocol_version::v5;
    h.op = opcode::execute;
    auto env = make_envelope(h, std::string(120, 'x'));
    std::string wire;
    frame_encoder enc(false);
    for (int i = 0; i < 16; ++i) enc.add_envelope(env, wire);
    enc.flush(wire);
    frame_decoder d(false);
    for (auto _ : state) {
        auto s = d.decode(wire);
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(frame_decode_v5);

void murmur3_16_bytes(benchmark::State& state) {
    std::string key(16, 'k');
    for (auto _ : state) {
        benchmark::DoNotOptimize(murmur3_token(key));
    }
}
BENCHMARK(murmur3_16_bytes);

}  // namespace

BENCHMARK_MAIN();
