#pragma once
// EVENT (v4.spec §4.2.6): TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE.

#include <string>
#include <string_view>

#include "cql/primitives.hh"
#include "cql/result.hh"

namespace tandem::cql {

struct event_message {
    std::string type;    // TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE
    std::string change;  // NEW_NODE/REMOVED_NODE, UP/DOWN (topology and status)
    inet_endpoint address;
    schema_change schema;

    static result<event_message> decode(std::string_view body);
    void encode(std::string& out) const;
    bool operator==(const event_message&) const = default;
};

}  // namespace tandem::cql
