#pragma once
// The client library's blocking façade, for start-up code and tools (tandemctl, the migrator's
// schema reads, tests): a cluster (cluster.hh) on its own worker thread, and calls that wait
// for their answer. Each call posts to the worker and waits on a future; the worker keeps
// serving other requests meanwhile. Not for hot loops: use cluster and connection directly.

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/client/cluster.hh"

namespace tandem::core::client {

class blocking_session {
public:
    // Starts the worker thread; connect() opens the cluster.
    explicit blocking_session(cluster_options opts, uint32_t timeout_ms = 30000);
    ~blocking_session();
    blocking_session(const blocking_session&) = delete;
    blocking_session& operator=(const blocking_session&) = delete;

    // Empty on success, else why not (also when the worker could not start: every call then
    // answers with that reason at once).
    std::string connect();

    struct result {
        std::string error;  // empty on success
        rows_result rows;   // every page of a read
        bool ok() const { return error.empty(); }
    };
    // A statement with values (each serialized, or null), every page read.
    result query(const std::string& text, const std::vector<std::optional<std::string>>& values = {},
                 cql::consistency cl = cql::consistency::local_one, int32_t page_size = 5000);
    // Prepared on every node.
    std::shared_ptr<const prepared_statement> prepare(const std::string& text, std::string& error);
    // One EXECUTE (routed by the statement's partition key when the values hold it); rows of
    // the first page only.
    result execute(const prepared_statement& st, const std::vector<std::optional<std::string>>& values,
                   cql::consistency cl = cql::consistency::local_one);

    // The cluster, for reading its nodes and ring between calls (not thread-safe during one).
    const cluster& view() const { return *_cluster; }

private:
    template <class T>
    T wait(std::future<T>& f, const T& on_timeout);

    net::worker _w;
    std::unique_ptr<cluster> _cluster;
    std::thread _thread;
    std::string _failed;  // why the worker did not start, set before the constructor returns
    std::chrono::milliseconds _timeout;
};

}  // namespace tandem::core::client
