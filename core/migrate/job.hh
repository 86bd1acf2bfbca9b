#pragma once
// tandem-migrate's jobs: copy, validate and repair the rows of a keyspace's tables, token range
// by token range, from origin to target. One net/ worker drives both clusters through the shared
// client library (core/client/): `parallel` ranges in flight, each read from origin (and, to
// compare, from target) page by page, its rows written to target with each cell's own write
// time and TTL (cells grouped by the two, one INSERT ... USING TIMESTAMP ? AND TTL ? per group),
// token-aware, many writes in flight, retried with backoff.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/client/cluster.hh"

namespace tandem::core::migrate {

enum class job_kind : uint8_t { copy, validate, repair };

struct job_options {
    job_kind kind = job_kind::copy;
    client::cluster_options origin, target;
    std::string keyspace;
    std::vector<std::string> tables;  // empty: every table of the keyspace
    size_t parallel = 8;              // token ranges in flight
    size_t split = 0;                 // token ranges per table; 0: derived from origin's ring
    size_t shard = 0, shards = 1;     // --shard I/N
    std::string checkpoint_path;      // ranges done, for resuming
    std::string diff_path;            // validate/repair: differences as JSON lines
    std::string from_diff_path;       // repair: the rows of this diff file instead of a scan
    bool check_writetime = false;     // validate: compare writetime and TTL too
    cql::consistency consistency = cql::consistency::local_quorum;
    int64_t writetime_since = INT64_MIN;  // copy only cells written at or after (microseconds)
    size_t writes_in_flight = 2048;
    double rate_rows_per_s = 0;  // --rate: at most this many rows read per second (0: no limit)
    std::function<void(const std::string&)> log;  // progress (every 5 s) and warnings (stderr)
    // On a terminal: a progress bar redrawn every second instead of the progress log lines.
    std::function<void(const std::string&)> bar;
    const std::atomic<bool>* stop = nullptr;      // set by SIGINT: finish the ranges in flight, then end
};

struct table_stats {
    std::string table;  // keyspace.table
    size_t ranges = 0, ranges_failed = 0;
    uint64_t rows_read = 0, rows_written = 0, missing = 0, mismatched = 0, extra = 0;
    double seconds = 0;
};

struct job_result {
    int exit_code = 0;  // 0 done, 3 differences (validate), 2 usage or schema, 1 a cluster failed
    std::vector<table_stats> tables;
    uint64_t errors = 0;
    std::vector<std::string> messages;  // why it stopped, what failed
    double seconds = 0;
    bool interrupted = false;
};

job_result run_job(const job_options& opts);

// The progress bar: `done` of `total` ranges (or rows), rows read, rows/s, ETA from the ranges'
// pace, e.g. "[#######.............]  35%  45/128 ranges  1234567 rows  250000 rows/s  ETA 0:42".
std::string progress_bar(size_t done, size_t total, uint64_t rows, double rows_per_s, double elapsed_s);

// The summary as JSON (--json).
std::string summary_json(const job_options& opts, const job_result& r);

}  // namespace tandem::core::migrate
