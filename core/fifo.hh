#pragma once
// A first-in first-out queue on one vector, for what a client session holds back (requests read
// before the handshake finished, or while the shared pool has no room). Empty, it owns no memory
// (most sessions never queue anything). Taken from the front by an index; the taken prefix is
// dropped once it is at least half the vector, so a queue that never quite empties (a client
// held back for minutes, its queue topped up after every partial drain) stays the size of what
// it holds instead of growing with everything that ever passed through it.
//
// One thread.

#include <cstddef>
#include <utility>
#include <vector>

namespace tandem::core {

template <typename T>
class fifo {
    std::vector<T> _v;
    size_t _head = 0;

public:
    // The taken prefix is dropped from this length on (shorter, it waits for the queue to empty).
    static constexpr size_t compact_from = 64;

    bool empty() const { return _head == _v.size(); }
    size_t size() const { return _v.size() - _head; }
    size_t capacity() const { return _v.capacity(); }

    void push_back(T e) { _v.push_back(std::move(e)); }

    T pop_front() {
        T e = std::move(_v[_head++]);
        if (_head == _v.size()) {
            std::vector<T>().swap(_v);
            _head = 0;
        } else if (_head >= compact_from && _head * 2 >= _v.size()) {
            // Moves at most as many entries as were taken since the last drop: O(1) amortized.
            _v.erase(_v.begin(), _v.begin() + static_cast<std::ptrdiff_t>(_head));
            _head = 0;
            if (_v.capacity() > 4 * _v.size() + 4 * compact_from) _v.shrink_to_fit();  // after a burst
        }
        return e;
    }
};

}  // namespace tandem::core
