#pragma once
// Turning statement terms into serialized values of a column's type, and comparing
// serialized values as Cassandra orders them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cql/primitives.hh"
#include "cql/types.hh"
#include "tools/cqlsim/statement.hh"

namespace tandem::cqlsim {

struct eval_context {
    const std::vector<cql::value_ref>* bound = nullptr;  // by marker index
    int64_t now_us = 0;
};

// A value: bytes, null (nullopt), or unset (the bound marker was unset).
struct evaluated {
    std::optional<std::string> bytes;
    bool unset = false;
};

// Fails with Cassandra's INVALID wording ("Invalid INTEGER constant (x) for "c" of type text").
std::optional<evaluated> evaluate(const term& t, const cql::cql_type& type, const std::string& column,
                                  const eval_context& ctx, std::string& error);

int compare_values(const cql::cql_type& type, std::string_view a, std::string_view b);

cql::uuid_bytes random_uuid();
cql::uuid_bytes time_uuid(int64_t now_us);
std::string uuid_to_string(const cql::uuid_bytes& u);
std::string md5(std::string_view data);

}  // namespace tandem::cqlsim
