// cqlsim's store in-process: prepared single-row INSERT and SELECT by key (target: 150,000 per
// second on one core, so cqlsim never limits a tandem benchmark).
#include <benchmark/benchmark.h>

#include "cql/result.hh"
#include "tools/cqlsim/cluster.hh"

using namespace tandem;

namespace {

struct fixture {
    cqlsim::cluster c{[] {
        cqlsim::cluster_config cfg;
        cfg.nodes.push_back(cqlsim::node_info{"127.0.0.1", 9042, "dc1", "r1", {}, {1}});
        return cfg;
    }()};
    cqlsim::session s;
    std::string insert_id, select_id;

    fixture() {
        s.version = 4;
        cql::query_parameters none;
        (void)c.query(s, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}", none);
        (void)c.query(s, "CREATE TABLE ks.kv (k bigint PRIMARY KEY, v text)", none);
        insert_id = id_of(c.prepare(s, "INSERT INTO ks.kv (k, v) VALUES (?, ?)", std::nullopt));
        select_id = id_of(c.prepare(s, "SELECT v FROM ks.kv WHERE k = ?", std::nullopt));
    }
    static std::string id_of(const cqlsim::execution& e) {
        auto r = cql::result_message::decode(e.body, 4);
        return r->prepared_id;
    }
};

void prepared_insert(benchmark::State& state) {
    fixture f;
    std::string value(100, 'v');
    char key[8];
    int64_t i = 0;
    std::string storage;
    for (auto _ : state) {
        cql::store_be64(key, static_cast<uint64_t>(i++ % 100000));
        cql::bound_value vals[] = {{{}, cql::value_ref::of(std::string_view(key, 8))}, {{}, cql::value_ref::of(value)}};
        cql::query_parameters p;
        p.values = cql::value_list::build(vals, false, storage);
        auto e = f.c.execute(f.s, f.insert_id, p);
        benchmark::DoNotOptimize(e.body.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(prepared_insert);

void prepared_select_by_key(benchmark::State& state) {
    fixture f;
    std::string value(100, 'v');
    char key[8];
    std::string storage;
    for (int64_t i = 0; i < 100000; ++i) {
        cql::store_be64(key, static_cast<uint64_t>(i));
        cql::bound_value vals[] = {{{}, cql::value_ref::of(std::string_view(key, 8))}, {{}, cql::value_ref::of(value)}};
        cql::query_parameters p;
        p.values = cql::value_list::build(vals, false, storage);
        (void)f.c.execute(f.s, f.insert_id, p);
    }
    int64_t i = 0;
    for (auto _ : state) {
        cql::store_be64(key, static_cast<uint64_t>(i++ % 100000));
        cql::bound_value vals[] = {{{}, cql::value_ref::of(std::string_view(key, 8))}};
        cql::query_parameters p;
        p.values = cql::value_list::build(vals, false, storage);
        auto e = f.c.execute(f.s, f.select_id, p);
        benchmark::DoNotOptimize(e.body.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(prepared_select_by_key);

}  // namespace

BENCHMARK_MAIN();
