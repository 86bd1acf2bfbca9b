#pragma once
// CQL type descriptors, the [option] of v4.spec §4.2.5.2 ("col_type"): an id, and for custom,
// collection, UDT and tuple types their parameters.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cql/primitives.hh"

namespace tandem::cql {

enum class type_id : uint16_t {
    custom = 0x0000,
    ascii = 0x0001,
    bigint = 0x0002,
    blob = 0x0003,
    boolean = 0x0004,
    counter = 0x0005,
    decimal = 0x0006,
    double_ = 0x0007,
    float_ = 0x0008,
    int_ = 0x0009,
    text = 0x000A,  // removed in v3, still accepted on decode as varchar
    timestamp = 0x000B,
    uuid = 0x000C,
    varchar = 0x000D,
    varint = 0x000E,
    timeuuid = 0x000F,
    inet = 0x0010,
    date = 0x0011,
    time = 0x0012,
    smallint = 0x0013,
    tinyint = 0x0014,
    duration = 0x0015,
    list = 0x0020,
    map = 0x0021,
    set = 0x0022,
    udt = 0x0030,
    tuple = 0x0031,
};

// A type tree. Value semantics; children are held by value.
struct cql_type {
    type_id id = type_id::blob;
    std::string custom_class;               // custom
    std::string keyspace;                   // udt
    std::string name;                       // udt
    std::vector<std::string> field_names;   // udt
    std::vector<cql_type> params;           // list/set: 1, map: 2, udt: fields, tuple: elements

    static cql_type simple(type_id id) { return cql_type{id, {}, {}, {}, {}, {}}; }
    static cql_type list_of(cql_type e);
    static cql_type set_of(cql_type e);
    static cql_type map_of(cql_type k, cql_type v);
    static cql_type tuple_of(std::vector<cql_type> elements);
    static cql_type udt_of(std::string keyspace, std::string name,
                           std::vector<std::pair<std::string, cql_type>> fields);
    static cql_type custom_of(std::string class_name);

    bool is_collection() const { return id == type_id::list || id == type_id::set || id == type_id::map; }
    bool operator==(const cql_type&) const = default;
};

// The CQL spelling: "int", "map<text, frozen<list<int>>>", "frozen<address>" for UDTs,
// "'class.Name'" for custom types.
std::string to_cql_string(const cql_type& t);
// Parses a CQL type name as written in DDL ("map<text,int>", "frozen<tuple<int,text>>",
// "varchar"). UDT references resolve to a udt with only keyspace/name set; nullopt on error.
std::optional<cql_type> parse_cql_type(std::string_view text);

// [option] decode (depth-limited: nesting beyond 64 levels is malformed) and encode.
cql_type read_type(reader& r, int depth = 0);
void write_type(writer& w, const cql_type& t);

}  // namespace tandem::cql
