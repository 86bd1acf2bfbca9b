// The user-space work tandem does for one dual write, composed from the functions the session
// calls, without sockets (the kernel's share is measured end to end by bench/e2e): a client
// EXECUTE envelope is split from its buffer and decoded, its prepared id is looked up in the
// worker's cache, two headers with the clusters' stream ids are written (the body is forwarded
// from the receive buffer, not copied), two RESULT replies are split, the merge rule picks one,
// and its header is rewritten with the client's stream id. Target: under 1 µs per dual write.
//
// What it does not include: the session's bookkeeping (pending slot, timer arm/cancel) and the
// net/ runtime's queueing, which are measured with the sockets by bench/e2e/tandem_overhead.py.
#include <benchmark/benchmark.h>

#include "core/prepared.hh"
#include "cql/envelope.hh"
#include "cql/query.hh"

using namespace tandem;

namespace {

std::string execute_envelope(const std::string& id) {
    cql::execute_message m;
    m.id = id;
    m.params.cl = cql::consistency::local_quorum;
    std::string storage;
    std::vector<cql::bound_value> values;
    std::string k = "\x00\x00\x00\x2a", v(100, 'x');
    values.push_back({{}, cql::value_ref::of(k)});
    values.push_back({{}, cql::value_ref::of(v)});
    m.params.values = cql::value_list::build(values, false, storage);
    m.params.timestamp = 1700000000000000;
    std::string body;
    m.encode(body, 4);
    cql::envelope_header h;
    h.version = 4;
    h.op = cql::opcode::execute;
    h.stream = 77;
    return cql::make_envelope(h, body);
}

std::string void_result(int16_t stream) {
    cql::envelope_header h;
    h.version = 4;
    h.response = true;
    h.op = cql::opcode::result;
    h.stream = stream;
    std::string body("\x00\x00\x00\x01", 4);
    return cql::make_envelope(h, body);
}

void dual_write_path(benchmark::State& state) {
    core::prepared_store store(1000);
    core::prepared_cache cache(store, 1000);
    std::string origin_id(16, '\x11'), target_id(16, '\x22');
    for (int i = 0; i < 100; ++i) {
        auto e = std::make_shared<core::prepared_entry>();
        e->origin_id = i == 0 ? origin_id : std::string(16, static_cast<char>(i + 40));
        e->target_id = i == 0 ? target_id : e->origin_id;
        e->write = true;
        cache.put(std::move(e));
    }
    const std::string request = execute_envelope(origin_id);
    const std::string reply_origin = void_result(3), reply_target = void_result(9);
    cql::header_limits req_limits, resp_limits;
    req_limits.expect = cql::header_limits::direction::requests;
    resp_limits.expect = cql::header_limits::direction::responses;
    std::string out_origin, out_target, out_client, target_body;
    out_origin.reserve(64);
    out_target.reserve(64);
    out_client.reserve(64);
    target_body.reserve(256);
    for (auto _ : state) {
        // Request: split, decode, look up, route, rewrite the target's id, two headers.
        auto sp = cql::split_envelope(request, req_limits);
        auto m = cql::execute_message::decode(sp.envelope.body, 4);
        const core::prepared_entry* e = cache.find(m->id);
        target_body.clear();
        cql::writer w(target_body);
        w.write_short_bytes(e->target_id);
        target_body.append(sp.envelope.body.substr(2 + m->id.size()));
        cql::envelope_header h = sp.envelope.header;
        out_origin.clear();
        out_target.clear();
        h.stream = 3;
        cql::append_header(h, out_origin);
        h.stream = 9;
        h.length = static_cast<uint32_t>(target_body.size());
        cql::append_header(h, out_target);
        // Replies: split both, merge (both succeeded: the primary's), client header.
        auto ro = cql::split_envelope(reply_origin, resp_limits);
        auto rt = cql::split_envelope(reply_target, resp_limits);
        bool origin_err = ro.envelope.header.op == cql::opcode::error;
        bool target_err = rt.envelope.header.op == cql::opcode::error;
        const auto& chosen = (origin_err || !target_err) ? ro : rt;
        cql::envelope_header ch = chosen.envelope.header;
        ch.stream = sp.envelope.header.stream;
        out_client.clear();
        cql::append_header(ch, out_client);
        benchmark::DoNotOptimize(out_origin);
        benchmark::DoNotOptimize(out_target);
        benchmark::DoNotOptimize(out_client);
    }
}
BENCHMARK(dual_write_path);

}  // namespace

BENCHMARK_MAIN();
