#pragma once
// tandemctl preflight's schema diff: everything of origin's schema that target lacks or defines
// differently (keyspaces, tables, columns, types, key layout, user-defined types) as errors, and
// replication and table option differences as warnings. Keyspaces of the databases themselves
// (system*, dse_*, solr_admin, OpsCenter, cqlsim) are left out.

#include <map>
#include <string>
#include <vector>

#include "core/client/blocking.hh"
#include "core/migrate/schema.hh"

namespace tandem::core::fleet {

struct keyspace_schema {
    std::string replication;  // "class=...,replication_factor=..." (sorted keys)
    std::map<std::string, migrate::table_schema> tables;
    std::map<std::string, std::string> udts;           // name -> "field type, field type"
    std::map<std::string, std::string> table_options;  // table -> "default_time_to_live=..., gc_grace_seconds=..."
};
using cluster_schema = std::map<std::string, keyspace_schema>;

// Reads system_schema (keyspaces, tables, columns, types); an error when it cannot.
cluster_schema read_cluster_schema(client::blocking_session& s, std::string& error);

struct schema_report {
    std::vector<std::string> errors;    // what keeps target from taking origin's writes
    std::vector<std::string> warnings;  // worth a look, not blocking
};
schema_report schema_diff(const cluster_schema& origin, const cluster_schema& target);

bool is_internal_keyspace(const std::string& name);

}  // namespace tandem::core::fleet
