#pragma once
// Stream ids of one connection to a cluster node, and who waits for each (DESIGN.md data path,
// step 6). The proxy uses its own ids (R4.1): a FIFO of free ids (an id is reused as late as
// possible), and per id its owner: a pending slot and that slot's generation, or one of the
// reserved owners below. An id whose request was given up (timeout) stays taken, `abandoned`,
// until its late reply comes, so a late reply can never be matched to a new request (ZDM frees
// it at once, W5).
//
// The table starts small and doubles up to `max_ids` when every id is taken, so an idle
// connection costs little (a full table of 2048 ids is 2048 x 10 bytes). One thread.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace tandem::core {

class stream_ids {
public:
    // Reserved owners (slot values no pending slot can have).
    static constexpr uint32_t free_slot = UINT32_MAX;
    static constexpr uint32_t heartbeat = UINT32_MAX - 1;
    static constexpr uint32_t abandoned = UINT32_MAX - 2;
    static constexpr uint32_t async = UINT32_MAX - 3;
    static constexpr uint32_t async_heartbeat = UINT32_MAX - 4;

    struct owner {
        uint32_t slot = free_slot;
        uint32_t gen = 0;
        bool operator==(const owner&) const = default;
    };

    explicit stream_ids(size_t max_ids, size_t initial = 32) : _max(std::max<size_t>(max_ids, 1)) {
        grow(std::min(_max, std::max<size_t>(initial, 1)));
    }

    bool has_free() const { return _count > 0 || _owners.size() < _max; }
    size_t in_use() const { return _owners.size() - _count; }
    size_t capacity() const { return _owners.size(); }
    size_t limit() const { return _max; }  // max_ids

    // A free id for `o`, or -1 when all `max_ids` are taken.
    int take(owner o) {
        if (_count == 0) {
            if (_owners.size() >= _max) return -1;
            grow(std::min(_max, _owners.size() * 2));
        }
        int16_t id = _fifo[_head];
        _head = (_head + 1) % _fifo.size();
        --_count;
        _owners[static_cast<size_t>(id)] = o;
        return id;
    }

    // The owner a reply on `id` belongs to, freeing the id; nullopt for an id that was never
    // handed out or is free (a reply nobody asked for).
    std::optional<owner> finish(int16_t id) {
        if (id < 0 || static_cast<size_t>(id) >= _owners.size()) return std::nullopt;
        owner o = _owners[static_cast<size_t>(id)];
        if (o.slot == free_slot) return std::nullopt;
        release(id);
        return o;
    }

    // The request on `id` was given up: its late reply will be dropped.
    void abandon(int16_t id) {
        if (id >= 0 && static_cast<size_t>(id) < _owners.size() && _owners[static_cast<size_t>(id)].slot != free_slot) {
            _owners[static_cast<size_t>(id)].slot = abandoned;
        }
    }

private:
    void release(int16_t id) {
        _owners[static_cast<size_t>(id)] = {};
        _fifo[(_head + _count) % _fifo.size()] = id;
        ++_count;
    }
    // Called with the ring empty (_count == 0): it restarts at 0 with the new ids.
    void grow(size_t to) {
        size_t from = _owners.size();
        _owners.resize(to);
        _fifo.assign(to, 0);
        _head = 0;
        for (size_t i = from; i < to; ++i) _fifo[_count++] = static_cast<int16_t>(i);
    }

    std::vector<owner> _owners;
    std::vector<int16_t> _fifo;  // free ids, a ring
    size_t _head = 0, _count = 0;
    size_t _max;
};

}  // namespace tandem::core
