#pragma once
// The prepared-statement map (zdm-spec §5): origin prepared id → what the proxy needs to route
// and rewrite an EXECUTE (target id, kind of statement, the query for re-preparing).
//
// Proxy-wide, because drivers prepare once per host and execute on any connection to it. The
// store is shared by every worker and locked, but only touched when a PREPARE completes or a
// worker meets an id for the first time; each worker keeps a private cache in front of it, so an
// EXECUTE in the steady state takes no lock. Bounded (unlike ZDM): past `capacity` the oldest
// entries are evicted; an evicted id is answered with UNPREPARED, which drivers heal by
// preparing again.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/functions.hh"
#include "core/virtual_tables.hh"

namespace tandem::core {

enum class route : uint8_t {
    both,         // writes, DDL, USE, anything unknown
    primary,      // reads: the primary cluster (and the async connection in dual-read mode)
    system,       // reads of system_* / dse_* keyspaces: system_queries_mode's cluster
    intercepted,  // system.local / system.peers / system.peers_v2: answered by tandem
};

struct prepared_entry {
    std::string origin_id;
    std::string target_id;
    std::string query;
    std::string keyspace;
    route where = route::both;
    system_table table = system_table::none;  // intercepted statements
    bool write = false;                       // INSERT / UPDATE / DELETE / BATCH
    // Function replacement (R7.4): the markers tandem put in place of now() (and the other
    // volatile functions) in the statement it prepared; EXECUTE fills each with a fresh value.
    std::vector<generated_marker> generated;
    bool generated_named = false;  // the markers are :zdm__now, :zdm__uuid, ...
    // What the clusters were asked to prepare (the query with tandem's markers), for healing an
    // UNPREPARED by preparing again; the keyspace went in the v5 keyspace flag when set.
    std::string cluster_query;
    bool keyspace_flag = false;
    // A write the journal may replay later (write_mode DUAL_ASYNC_ON_SECONDARY): not a
    // lightweight transaction, not a counter or list update (journal_replayable).
    bool replayable = false;
    uint16_t table_index = 0xFFFF;  // its table for the per-table series (table_stats.hh)
    // The bound variables that make up the partition key, in key order (PREPARED metadata, v4+):
    // cluster_connections SHARED routes an EXECUTE to the owner of their token.
    std::vector<uint16_t> pk_indexes;
    bool needs_keyspace = false;  // an unqualified statement: prepared again in its keyspace
};

struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class prepared_store {
    mutable std::mutex _lock;
    std::unordered_map<std::string, std::shared_ptr<const prepared_entry>, string_hash, std::equal_to<>> _by_origin;
    std::unordered_map<std::string, std::string, string_hash, std::equal_to<>> _origin_by_target;
    std::deque<std::string> _order;  // insertion order, for eviction
    size_t _capacity;

public:
    explicit prepared_store(size_t capacity) : _capacity(capacity) {}
    void put(std::shared_ptr<const prepared_entry> e);
    std::shared_ptr<const prepared_entry> find(std::string_view origin_id) const;
    std::optional<std::string> origin_for_target(std::string_view target_id) const;
    size_t size() const;
};

// One worker's lock-free front of the store.
class prepared_cache {
    prepared_store& _store;
    std::unordered_map<std::string, std::shared_ptr<const prepared_entry>, string_hash, std::equal_to<>> _local;
    size_t _capacity;

public:
    prepared_cache(prepared_store& s, size_t capacity) : _store(s), _capacity(capacity) {}
    const prepared_entry* find(std::string_view origin_id);
    void put(std::shared_ptr<const prepared_entry> e);
    prepared_store& store() { return _store; }
};

}  // namespace tandem::core
