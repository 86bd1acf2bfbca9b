// The in-process request path of tandem, without sockets: a real client_session (the code a
// client connection runs in production) fed through net/'s memory transport by
// core::memory_harness, with two fake clusters answering. One iteration of `dual_write` is:
// a client EXECUTE copied into a receive buffer (as the kernel would), split, classified,
// its prepared id looked up and rewritten for target, a pending slot and its timeout timer,
// two frames queued to the clusters (the body forwarded from the receive buffer), the loop
// turn that flushes them, two RESULT replies copied into receive buffers and split, the merge,
// the client's reply queued and flushed. Target (issue 5): under 1 µs per dual write.
//
// What it does not include: the kernel's share (recv/send, io_uring), measured end to end by
// bench/e2e/compare.py. The fake clusters' work (splitting what they receive, patching the
// stream id into a prepared reply) is included, so the figure errs high.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "core/memory_harness.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

using namespace tandem;

namespace {

std::string envelope(cql::opcode op, int16_t stream, const std::string& body) {
    cql::envelope_header h;
    h.version = 4;
    h.op = op;
    h.stream = stream;
    return cql::make_envelope(h, body);
}

std::string prepare(std::string_view text) {
    cql::prepare_message m;
    m.query = text;
    std::string body;
    m.encode(body, 4);
    return envelope(cql::opcode::prepare, 1, body);
}

// An EXECUTE of a prepared statement with an int key and a 100-byte value.
std::string execute(std::string_view id, int16_t stream) {
    cql::execute_message m;
    m.id = id;
    m.params.cl = cql::consistency::local_quorum;
    std::string storage;
    std::vector<cql::bound_value> values;
    std::string k("\x00\x00\x00\x2a", 4), v(100, 'x');
    values.push_back({{}, cql::value_ref::of(k)});
    values.push_back({{}, cql::value_ref::of(v)});
    m.params.values = cql::value_list::build(values, false, storage);
    m.params.timestamp = 1700000000000000;
    std::string body;
    m.encode(body, 4);
    return envelope(cql::opcode::execute, stream, body);
}

// A ready session; returns the id the client got for `statement`.
std::string ready(core::memory_harness& h, std::string_view statement) {
    h.open_client();
    cql::startup_message st;
    st.options = {{"CQL_VERSION", "3.0.0"}};
    std::string body;
    st.encode(body);
    h.client_sends(envelope(cql::opcode::startup, 0, body));
    h.client_received();
    h.client_sends(prepare(statement));
    auto reply = h.client_received();
    auto sp = cql::split_envelope(reply);
    auto r = cql::result_message::decode(sp.envelope.body, 4);
    if (!r || r->kind != cql::result_kind::prepared) throw std::runtime_error("PREPARE failed in the harness");
    h.keep_history(false);
    return r->prepared_id;
}

core::config settings() {
    core::config c;
    c.origin.contact_points = {"127.0.1.1"};
    c.target.contact_points = {"127.0.2.1"};
    return c;
}

// `depth` EXECUTEs arrive together (one receive), as pipelined requests from a driver do.
void run(benchmark::State& state, std::string_view statement) {
    spdlog::set_level(spdlog::level::warn);
    core::memory_harness h(settings());
    std::string id = ready(h, statement);
    const int depth = static_cast<int>(state.range(0));
    std::string burst;
    for (int i = 0; i < depth; ++i) burst += execute(id, static_cast<int16_t>(100 + i));
    const size_t one_reply = 9 + 4;  // header + RESULT Void
    for (auto _ : state) {
        h.client_sends(burst);
        if (h.client_received_size() != one_reply * static_cast<size_t>(depth)) {
            state.SkipWithError("a request was not answered");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * depth);
    state.counters["ns_per_request"] =
        benchmark::Counter(static_cast<double>(state.iterations() * depth), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Prepared INSERT: to both clusters, target's id rewritten, replies merged.
void dual_write(benchmark::State& state) { run(state, "INSERT INTO ks.t (k, v) VALUES (?, ?)"); }
// Prepared SELECT: to the primary only.
void primary_read(benchmark::State& state) { run(state, "SELECT v FROM ks.t WHERE k = ?"); }

BENCHMARK(dual_write)->Arg(1)->Arg(16);
BENCHMARK(primary_read)->Arg(1)->Arg(16);

}  // namespace

BENCHMARK_MAIN();
