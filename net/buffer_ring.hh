#pragma once
// Provided buffers for multishot recv (io_uring "buffer rings"), one set per worker, and the
// handle that owns a received slice.
//
// Ownership: the kernel picks a free buffer for each received chunk. The worker wraps it in an
// `rx_buffer`; every copy made with share() holds a reference; when the last reference goes,
// the buffer returns to the ring (batched: the ring's tail moves once per loop turn). Handles
// live on the worker's thread only; moving one to another thread is a bug.

#include <liburing.h>

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::net {

class buffer_ring {
    io_uring* _ring = nullptr;
    io_uring_buf_ring* _br = nullptr;
    char* _memory = nullptr;
    uint32_t _size;
    uint32_t _count;
    uint16_t _group;
    std::vector<uint16_t> _refs;  // references per buffer id; 0 while the kernel owns it
    std::vector<uint16_t> _spare;  // memory-only rings: the free buffer ids
    uint32_t _pending = 0;        // buffers added since the last publish()
    uint32_t _free = 0;           // buffers the kernel may fill right now

public:
    // `count` must be a power of two (at most 32768); throws std::runtime_error on failure.
    buffer_ring(io_uring& ring, uint16_t group, uint32_t size, uint32_t count);
    // A ring the kernel never sees, for the in-memory transport (worker::start_memory): buffers
    // are handed out by take() and come back to a free list.
    buffer_ring(uint32_t size, uint32_t count);
    ~buffer_ring();
    buffer_ring(const buffer_ring&) = delete;
    buffer_ring& operator=(const buffer_ring&) = delete;

    uint16_t group() const { return _group; }
    uint32_t buffer_size() const { return _size; }
    uint32_t count() const { return _count; }
    uint32_t available() const { return _free + _pending; }
    const char* data(uint16_t bid) const { return _memory + size_t{bid} * _size; }

    // The kernel filled `bid`: the first reference is the caller's.
    void taken(uint16_t bid) {
        _refs[bid] = 1;
        --_free;
    }
    void ref(uint16_t bid) { ++_refs[bid]; }
    void unref(uint16_t bid) {
        if (--_refs[bid] == 0) recycle(bid);
    }
    void recycle(uint16_t bid);
    // Makes recycled buffers visible to the kernel (once per loop turn).
    void publish();
    // Memory-only rings: a free buffer, now owned by the caller (refs 1), or -1 when none is free.
    int take();
};

class rx_buffer {
    buffer_ring* _ring = nullptr;
    const char* _data = nullptr;
    uint32_t _size = 0;
    uint16_t _bid = 0;  // last: 24 bytes in all (held per request in flight, in slots and send queues)

public:
    rx_buffer() = default;
    rx_buffer(buffer_ring& ring, uint16_t bid, uint32_t size) : _ring(&ring), _data(ring.data(bid)), _size(size), _bid(bid) {}
    rx_buffer(rx_buffer&& o) noexcept : _ring(std::exchange(o._ring, nullptr)), _data(o._data), _size(o._size), _bid(o._bid) {}
    rx_buffer& operator=(rx_buffer&& o) noexcept {
        if (this != &o) {
            release();
            _ring = std::exchange(o._ring, nullptr);
            _bid = o._bid;
            _data = o._data;
            _size = o._size;
        }
        return *this;
    }
    rx_buffer(const rx_buffer&) = delete;
    rx_buffer& operator=(const rx_buffer&) = delete;
    ~rx_buffer() { release(); }

    std::string_view view() const { return {_data, _size}; }
    size_t size() const { return _size; }
    bool empty() const { return _size == 0; }
    // Another reference to `len` bytes from `offset` (zero-copy; the buffer stays out of the
    // ring until every reference is gone).
    rx_buffer share(size_t offset, size_t len) const {
        rx_buffer b;
        if (_ring) {
            _ring->ref(_bid);
            b._ring = _ring;
            b._bid = _bid;
            b._data = _data + offset;
            b._size = static_cast<uint32_t>(len);
        }
        return b;
    }
    rx_buffer share() const { return share(0, _size); }
    void remove_prefix(size_t n) {
        _data += n;
        _size -= static_cast<uint32_t>(n);
    }
    void release() {
        if (_ring) {
            std::exchange(_ring, nullptr)->unref(_bid);
        }
    }
};

}  // namespace tandem::net
