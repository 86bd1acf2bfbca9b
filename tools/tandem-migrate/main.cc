// tandem-migrate: copy, validate and repair the rows that existed before dual writes began, from
// origin to target, token range by token range (core/migrate/). Usage:
//   tandem-migrate copy|validate|repair --origin HOST[:PORT] --target HOST[:PORT] --keyspace KS [--table T]...
// Exit codes: 0 done (validate: no difference), 3 validate found differences, 2 bad usage or a
// schema problem found before any work, 1 a cluster failed, 130 interrupted (checkpoint written).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>

#include "core/client/settings.hh"
#include "core/config.hh"
#include "core/migrate/job.hh"
#include "core/migrate/ranges.hh"

#ifndef TANDEM_VERSION
#define TANDEM_VERSION "0.0.0"
#endif

using namespace tandem;

namespace {

std::atomic<bool> interrupted{false};
void on_signal(int) { interrupted.store(true); }

bool parse_consistency(const std::string& name, cql::consistency& out) {
    for (uint16_t v = 0; v <= 0x000A; ++v) {
        auto c = static_cast<cql::consistency>(v);
        std::string n(cql::to_string(c));
        std::string upper;
        for (char ch : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
        if (n == upper) {
            out = c;
            return true;
        }
    }
    return false;
}

void print_table(const core::migrate::job_result& r) {
    std::fprintf(stderr, "%-32s %8s %12s %12s %9s %10s %9s %9s %9s\n", "table", "ranges", "rows read", "rows written", "seconds", "rows/s",
                 "missing", "mismatch", "extra");
    for (const auto& t : r.tables) {
        std::fprintf(stderr, "%-32s %8zu %12llu %12llu %9.2f %10.0f %9llu %9llu %9llu\n", t.table.c_str(), t.ranges,
                     static_cast<unsigned long long>(t.rows_read), static_cast<unsigned long long>(t.rows_written), t.seconds,
                     t.seconds > 0 ? static_cast<double>(t.rows_read) / t.seconds : 0.0, static_cast<unsigned long long>(t.missing),
                     static_cast<unsigned long long>(t.mismatched), static_cast<unsigned long long>(t.extra));
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tandem-migrate: copy, validate and repair the data that existed before dual writes began (origin -> target)"};
    app.set_version_flag("--version", std::string("tandem-migrate version ") + TANDEM_VERSION);
    std::string command, config_path, shard = "0/1", json_path, consistency = "LOCAL_QUORUM";
    core::client::cluster_overrides origin, target;
    core::migrate::job_options o;
    int64_t writetime_since = -1;
    app.add_option("command", command, "copy, validate or repair")->required()->check(CLI::IsMember({"copy", "validate", "repair"}));
    app.add_option("--origin", origin.address, "origin contact point, HOST[:PORT] (default port 9042)");
    app.add_option("--target", target.address, "target contact point, HOST[:PORT]");
    app.add_option("--config", config_path, "take both clusters' contact points, ports, credentials and TLS from a tandem settings file");
    app.add_option("--origin-username", origin.username, "origin username");
    app.add_option("--origin-password", origin.password, "origin password");
    app.add_option("--target-username", target.username, "target username");
    app.add_option("--target-password", target.password, "target password");
    app.add_option("--origin-tls-server-ca-path", origin.tls_server_ca_path, "origin: CA to verify the nodes (turns TLS on)");
    app.add_option("--origin-tls-client-cert-path", origin.tls_client_cert_path, "origin: client certificate");
    app.add_option("--origin-tls-client-key-path", origin.tls_client_key_path, "origin: client key");
    app.add_option("--target-tls-server-ca-path", target.tls_server_ca_path, "target: CA to verify the nodes (turns TLS on)");
    app.add_option("--target-tls-client-cert-path", target.tls_client_cert_path, "target: client certificate");
    app.add_option("--target-tls-client-key-path", target.tls_client_key_path, "target: client key");
    app.add_option("--keyspace", o.keyspace, "keyspace")->required();
    app.add_option("--table", o.tables, "a table (repeat for several; default: every table of the keyspace)");
    app.add_option("--parallel", o.parallel, "token ranges in flight")->check(CLI::Range(1, 1024))->capture_default_str();
    app.add_option("--split", o.split, "token ranges per table (default: 4 per token of origin's ring, at least 64)")->check(CLI::Range(1, 1000000));
    app.add_option("--shard", shard, "I/N: only the I-th of N equal slices of every table's ranges (run N of these on N machines)")
        ->capture_default_str();
    app.add_option("--rate", o.rate_rows_per_s, "at most this many rows per second (read from origin), to spare a busy cluster")
        ->check(CLI::PositiveNumber);
    app.add_option("--checkpoint", o.checkpoint_path, "file of the ranges done: an interrupted run resumes from it");
    app.add_option("--writetime-since", writetime_since, "copy only cells written at or after this time (microseconds since the epoch)");
    app.add_option("--consistency", consistency, "consistency of reads and writes")->capture_default_str();
    app.add_option("--diff-file", o.diff_path, "validate/repair: write each difference as a JSON line");
    app.add_option("--from-diff", o.from_diff_path, "repair: read again from origin and write only the missing and mismatched rows of this diff file (no scan)");
    app.add_flag("--check-writetime", o.check_writetime, "validate/repair: compare each cell's writetime and TTL too");
    app.add_option("--json", json_path, "write the summary as JSON to this file (- for standard output)");
    CLI11_PARSE(app, argc, argv);

    auto usage = [](const std::string& why) {
        std::fprintf(stderr, "tandem-migrate: %s\n", why.c_str());
        return 2;
    };
    o.kind = command == "copy" ? core::migrate::job_kind::copy : command == "validate" ? core::migrate::job_kind::validate : core::migrate::job_kind::repair;
    if (!core::migrate::parse_shard(shard, o.shard, o.shards)) return usage("--shard: expected I/N with 0 <= I < N, got '" + shard + "'");
    if (!parse_consistency(consistency, o.consistency)) return usage("--consistency: unknown consistency level '" + consistency + "'");
    if (writetime_since >= 0) {
        if (o.kind != core::migrate::job_kind::copy) return usage("--writetime-since applies to copy only");
        o.writetime_since = writetime_since;
    }
    if (!o.from_diff_path.empty()) {
        if (o.kind != core::migrate::job_kind::repair) return usage("--from-diff applies to repair only");
        if (!o.checkpoint_path.empty() || o.shards != 1 || !o.diff_path.empty()) {
            return usage("--from-diff repairs the rows of one diff file: --checkpoint, --shard and --diff-file do not apply");
        }
    }
    std::optional<core::config> cfg;
    if (!config_path.empty()) {
        auto c = core::load_yaml_file(config_path);
        if (auto* e = std::get_if<core::config_error>(&c)) return usage(config_path + ": " + e->message);
        cfg = std::get<core::config>(std::move(c));
    }
    for (auto* c : {&o.origin, &o.target}) {
        const bool is_origin = c == &o.origin;
        if (auto e = core::client::cluster_options_for(is_origin ? "origin" : "target", is_origin ? origin : target,
                                                       cfg ? (is_origin ? &cfg->origin : &cfg->target) : nullptr, *c);
            !e.empty()) {
            return usage(e);
        }
        // v4 for the bulk connections: v5 frames add a CRC32 per frame (a tenth of the copy's
        // CPU, measured with perf) and nothing a copy needs.
        c->connection.max_version = 4;
        c->connections_per_node = 2;
    }
    o.log = [](const std::string& line) { std::fprintf(stderr, "tandem-migrate: %s\n", line.c_str()); };
    if (isatty(STDERR_FILENO)) {
        o.bar = [](const std::string& line) {
            std::fprintf(stderr, "\r\033[K%s", line.c_str());
            std::fflush(stderr);
        };
        // A log line (a warning) starts on a line of its own, below the bar.
        o.log = [](const std::string& line) { std::fprintf(stderr, "\r\033[Ktandem-migrate: %s\n", line.c_str()); };
    }
    o.stop = &interrupted;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    auto r = core::migrate::run_job(o);
    if (o.bar) std::fprintf(stderr, "\r\033[K");
    for (const auto& m : r.messages) std::fprintf(stderr, "tandem-migrate: %s\n", m.c_str());
    if (!r.tables.empty()) print_table(r);
    if (r.interrupted) {
        std::fprintf(stderr, "tandem-migrate: interrupted%s\n",
                     o.checkpoint_path.empty() ? " (no --checkpoint: a new run starts over)" : ("; resume with --checkpoint " + o.checkpoint_path).c_str());
    }
    if (!json_path.empty()) {
        std::string json = core::migrate::summary_json(o, r);
        if (json_path == "-") {
            std::printf("%s\n", json.c_str());
        } else {
            std::ofstream(json_path) << json << "\n";
        }
    }
    if (r.interrupted && r.exit_code == 0) return 130;
    return r.exit_code;
}
