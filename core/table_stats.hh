#pragma once
// Per-table series: requests, failures by cluster and latency by keyspace and table, and the
// dual-read comparison's outcomes (read_mode DUAL_ASYNC_ON_SECONDARY). Label sets are bounded:
// the first `table_registry::limit` tables seen get their own, the rest share table="other".
// The registry is proxy-wide (locked, off the request path: workers cache what it answered);
// the counters are per worker, one writer each, like every other series (metrics.hh).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hh"

namespace tandem::core {

constexpr uint16_t no_table = 0xFFFF;

class table_registry {
public:
    static constexpr uint16_t limit = 100;  // index `limit` is table="other"
    // The index of keyspace.table (lower-case names as the classifier normalized them).
    uint16_t index_of(std::string_view keyspace, std::string_view table);
    // The names of indexes 0..size()-1, then "other".
    std::vector<std::pair<std::string, std::string>> names() const;

private:
    mutable std::mutex _lock;
    std::map<std::string, uint16_t, std::less<>> _index;
    std::vector<std::pair<std::string, std::string>> _names;
};

enum class dual_read_outcome : uint8_t { match, mismatch, secondary_error, not_compared };
constexpr size_t dual_read_outcomes = 4;
const char* to_string(dual_read_outcome o);

struct table_counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failed[2] = {};  // by cluster: the error the client got came from it
    latency_histogram latency;
    std::atomic<uint64_t> dual_reads[dual_read_outcomes] = {};
};

// One worker's table counters (limit + 1 of them).
struct table_metrics {
    explicit table_metrics(const std::vector<double>& bounds_ms);
    std::unique_ptr<table_counters[]> tables;
    table_counters& at(uint16_t i) { return tables[i]; }
};

// The Prometheus text of the table series, summed over workers; only tables with traffic.
std::string table_series(const std::string& prefix, const table_registry& registry, const std::vector<const table_metrics*>& workers);

// A RESULT body's rows, one hash each, in order: what the dual-read comparison keeps of a
// reply instead of a copy. An empty list for a RESULT that is not Rows (a write's Void);
// nullopt for a body that does not decode. `raw` gets the rows' bytes when asked.
std::optional<std::vector<uint64_t>> row_hashes(std::string_view plain_result, uint8_t version, std::string* raw = nullptr);

}  // namespace tandem::core
