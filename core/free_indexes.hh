#pragma once
// The free indexes of a table that grows one entry at a time and gives its tail back after a
// burst (pending_table, route_table). Up to `small` entries a stack: the last freed is taken
// first, with no ordering cost in the steady state. Past it a min-heap: the lowest free index is
// taken first, so once a burst drains the entries in use gather at the front and the table can
// drop its free tail. A table grows only when nothing is free, so the heap starts empty, and
// valid, the moment the table passes `small`.
//
// One thread.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace tandem::core {

class free_indexes {
public:
    explicit free_indexes(size_t small) : _small(small) {}

    bool empty() const { return _v.empty(); }
    size_t size() const { return _v.size(); }
    const std::vector<uint32_t>& indexes() const { return _v; }

    // The index to reuse (not empty()); `table_size`: the table's entries now.
    uint32_t take(size_t table_size) {
        if (table_size > _small) std::pop_heap(_v.begin(), _v.end(), std::greater<>());
        const uint32_t i = _v.back();
        _v.pop_back();
        return i;
    }
    void give(uint32_t i, size_t table_size) {
        _v.push_back(i);
        if (table_size > _small) std::push_heap(_v.begin(), _v.end(), std::greater<>());
    }
    // The table dropped its entries from `table_size` on: forget those indexes, and the memory
    // a burst left in the list.
    void cut(size_t table_size) {
        std::erase_if(_v, [&](uint32_t i) { return i >= table_size; });
        std::make_heap(_v.begin(), _v.end(), std::greater<>());
        if (_v.capacity() > 2 * _v.size() + _small) _v.shrink_to_fit();
    }

private:
    size_t _small;
    std::vector<uint32_t> _v;
};

}  // namespace tandem::core
