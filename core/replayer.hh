#pragma once
// Sends the journal's kept records (journal.hh) to the cluster that owes them: writes whose
// secondary copy failed, timed out or could not be sent, and, after a restart, every record
// found on disk. One thread with its own net::worker and one connection per cluster (the
// client library, core/client), opened with the settings' contact point, credentials and TLS,
// re-opened with backoff while the cluster is down. Records are re-encoded for that
// connection's protocol version; the prepared statements they name are prepared there again
// from the text the record carries (ids may differ after a cluster restart); the record's
// keyspace is set with USE before unqualified statements. Every record carries its write
// timestamp, so the order replays land in does not matter: the newest write wins on the
// secondary as it did on the primary.
//
// A record the cluster refuses for good (a syntax or schema error, three times) is moved to
// rejected.journal and logged with its statement; timeouts, unavailability and lost connections
// are retried, never dropped.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/config.hh"
#include "core/journal.hh"

namespace tandem::core {

class journal_replayer {
public:
    // Starts the thread; `cfg` gives each cluster's contact point, credentials and TLS.
    journal_replayer(write_journal& j, const config& cfg);
    ~journal_replayer();
    journal_replayer(const journal_replayer&) = delete;
    journal_replayer& operator=(const journal_replayer&) = delete;

    // Whether the replay connection to `r` is up (metrics, status).
    bool connected(cluster_role r) const { return _connected[r == cluster_role::origin ? 0 : 1].load(std::memory_order_relaxed); }

private:
    struct impl;
    std::unique_ptr<impl> _impl;
    std::atomic<bool> _connected[2] = {false, false};
    std::thread _thread;
};

}  // namespace tandem::core
