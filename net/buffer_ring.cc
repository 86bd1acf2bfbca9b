#include "net/buffer_ring.hh"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace tandem::net {

buffer_ring::buffer_ring(io_uring& ring, uint16_t group, uint32_t size, uint32_t count)
    : _ring(&ring), _size(size), _count(count), _group(group), _refs(count, 0) {
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
        throw std::runtime_error("buffer count must be a power of two between 1 and 32768, got " + std::to_string(count));
    }
    // Debian's liburing 2.3 has no io_uring_setup_buf_ring: map the ring memory ourselves
    // (page-aligned, as the kernel requires) and register it.
    size_t ring_bytes = sizeof(io_uring_buf) * count;
    void* mem = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) throw std::runtime_error("cannot map the buffer ring: " + std::string(std::strerror(errno)));
    _br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(_br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(_br);
    reg.ring_entries = count;
    reg.bgid = group;
    int rc = io_uring_register_buf_ring(_ring, &reg, 0);
    if (rc < 0) {
        munmap(_br, ring_bytes);
        throw std::runtime_error("io_uring_register_buf_ring failed: " + std::string(std::strerror(-rc)) +
                                 " (provided buffer rings need Linux 5.19 or later)");
    }
    // Populated up front: the kernel hands out buffers in ring order, so every buffer is used in
    // turn and each gets touched as deep as the largest receive it ever held. Mapped lazily, the
    // ring's resident size crept up for minutes (from 4 to 16 MiB after a backlog) and looked like
    // a leak; populated, a worker's memory is this fixed cost from its first second.
    size_t data_bytes = size_t{size} * count;
    void* data = mmap(nullptr, data_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
    if (data == MAP_FAILED) {
        io_uring_unregister_buf_ring(_ring, group);
        munmap(_br, ring_bytes);
        throw std::runtime_error("cannot map receive buffers: " + std::string(std::strerror(errno)));
    }
    _memory = static_cast<char*>(data);
    for (uint32_t i = 0; i < count; ++i) recycle(static_cast<uint16_t>(i));
    publish();
}

buffer_ring::buffer_ring(uint32_t size, uint32_t count) : _size(size), _count(count), _group(0), _refs(count, 0) {
    if (count == 0 || count > 32768) throw std::runtime_error("buffer count must be between 1 and 32768, got " + std::to_string(count));
    size_t data_bytes = size_t{size} * count;
    void* data = mmap(nullptr, data_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
    if (data == MAP_FAILED) throw std::runtime_error("cannot map receive buffers: " + std::string(std::strerror(errno)));
    _memory = static_cast<char*>(data);
    _spare.reserve(count);
    for (uint32_t i = count; i-- > 0;) recycle(static_cast<uint16_t>(i));
}

buffer_ring::~buffer_ring() {
    if (_br) {
        io_uring_unregister_buf_ring(_ring, _group);
        munmap(_br, sizeof(io_uring_buf) * _count);
    }
    munmap(_memory, size_t{_size} * _count);
}

int buffer_ring::take() {
    if (_br || _spare.empty()) return -1;
    uint16_t bid = _spare.back();
    _spare.pop_back();
    taken(bid);
    return bid;
}

void buffer_ring::recycle(uint16_t bid) {
    if (!_br) {
        _spare.push_back(bid);
        ++_free;
        return;
    }
    io_uring_buf_ring_add(_br, _memory + size_t{bid} * _size, _size, bid, io_uring_buf_ring_mask(_count),
                          static_cast<int>(_pending));
    ++_pending;
}

void buffer_ring::publish() {
    if (_pending == 0) return;
    io_uring_buf_ring_advance(_br, static_cast<int>(_pending));
    _free += _pending;
    _pending = 0;
}

}  // namespace tandem::net
