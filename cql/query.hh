#pragma once
// The statement family (v4.spec §4.1.4-4.1.7, v5.spec §4.1.4-4.1.7): QUERY, PREPARE, EXECUTE,
// BATCH and their <query_parameters>. Decoding is allocation-free: bound values and batch
// children are kept as validated views of the body and iterated on demand, so forwarding or
// rewriting a request copies the bytes it does not change verbatim.

#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cql/primitives.hh"

namespace tandem::cql {

namespace query_flags {
inline constexpr uint32_t values = 0x01;
inline constexpr uint32_t skip_metadata = 0x02;
inline constexpr uint32_t page_size = 0x04;
inline constexpr uint32_t paging_state = 0x08;
inline constexpr uint32_t serial_consistency = 0x10;
inline constexpr uint32_t default_timestamp = 0x20;
inline constexpr uint32_t names_for_values = 0x40;
inline constexpr uint32_t keyspace = 0x80;        // v5
inline constexpr uint32_t now_in_seconds = 0x100;  // v5
}  // namespace query_flags

struct bound_value {
    std::string_view name;  // empty unless the list is named
    value_ref value;
};

// `<n><value_1>...<value_n>` or, named, `<n><name_1><value_1>...` (§4.1.4).
// `raw` holds the encoded entries after the [short] count.
class value_list {
public:
    bool present = false;  // the values flag was set (even with 0 values)
    bool named = false;
    uint16_t count = 0;
    std::string_view raw;

    class iterator {
        reader _r;
        bool _named;
        uint16_t _left;
        bound_value _cur;
        void load() {
            if (_left == 0) return;
            _cur.name = _named ? _r.read_string() : std::string_view{};
            _cur.value = _r.read_value();
        }

    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = bound_value;
        using difference_type = std::ptrdiff_t;
        using pointer = const bound_value*;
        using reference = const bound_value&;
        iterator(std::string_view raw, bool named, uint16_t left) : _r(raw), _named(named), _left(left) { load(); }
        const bound_value& operator*() const { return _cur; }
        const bound_value* operator->() const { return &_cur; }
        iterator& operator++() {
            --_left;
            load();
            return *this;
        }
        bool operator==(const iterator& o) const { return _left == o._left; }
    };
    iterator begin() const { return {raw, named, count}; }
    iterator end() const { return {{}, named, 0}; }

    // Reads the list after its [short] count, checking every entry.
    static value_list read(reader& r, bool named);
    void write(writer& w) const;
    // Encodes `values` into `storage` and returns a list viewing it.
    static value_list build(std::span<const bound_value> values, bool named, std::string& storage);
};

struct query_parameters {
    consistency cl = consistency::one;
    value_list values;
    bool skip_metadata = false;
    std::optional<int32_t> page_size;
    std::optional<std::string_view> paging_state;
    std::optional<consistency> serial_consistency;
    std::optional<int64_t> timestamp;             // microseconds, client-side
    std::optional<std::string_view> keyspace;     // v5
    std::optional<int32_t> now_in_seconds;        // v5

    uint32_t flags() const;
    static query_parameters read(reader& r, uint8_t version);
    void write(writer& w, uint8_t version) const;
};

struct query_message {
    std::string_view query;
    query_parameters params;
    static result<query_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;
};

struct prepare_message {
    std::string_view query;
    std::optional<std::string_view> keyspace;  // v5
    static result<prepare_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;
};

struct execute_message {
    std::string_view id;
    std::string_view result_metadata_id;  // v5
    query_parameters params;
    static result<execute_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;
};

enum class batch_type : uint8_t { logged = 0, unlogged = 1, counter = 2 };

struct batch_child {
    bool prepared = false;
    std::string_view query_or_id;  // query text, or prepared id
    value_list values;
};

// The <query_1>...<query_n> of a BATCH; `raw` starts after the [short] n.
class batch_children {
public:
    uint16_t count = 0;
    bool named = false;
    std::string_view raw;

    class iterator {
        reader _r;
        bool _named;
        uint16_t _left;
        batch_child _cur;
        void load();

    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = batch_child;
        using difference_type = std::ptrdiff_t;
        using pointer = const batch_child*;
        using reference = const batch_child&;
        iterator(std::string_view raw, bool named, uint16_t left) : _r(raw), _named(named), _left(left) { load(); }
        const batch_child& operator*() const { return _cur; }
        const batch_child* operator->() const { return &_cur; }
        iterator& operator++() {
            --_left;
            load();
            return *this;
        }
        bool operator==(const iterator& o) const { return _left == o._left; }
    };
    iterator begin() const { return {raw, named, count}; }
    iterator end() const { return {{}, named, 0}; }

    static batch_children build(std::span<const batch_child> children, std::string& storage);
};

struct batch_message {
    batch_type type = batch_type::logged;
    batch_children children;
    consistency cl = consistency::one;
    std::optional<consistency> serial_consistency;
    std::optional<int64_t> timestamp;
    std::optional<std::string_view> keyspace;  // v5
    std::optional<int32_t> now_in_seconds;     // v5

    uint32_t flags() const;
    static result<batch_message> decode(std::string_view body, uint8_t version);
    void encode(std::string& out, uint8_t version) const;
};

}  // namespace tandem::cql
