#pragma once
// A single-level hashed timer wheel with millisecond ticks (Varghese & Lauck, scheme 6):
// arm and cancel are O(1); advancing visits one slot per elapsed tick. Timers further away than
// the wheel's span wait in their slot for whole rotations (each timer keeps its absolute
// deadline). Used for request timeouts, heartbeats and reconnect backoff, on one worker thread.
//
// Timers are intrusive: the owner embeds a `timer` and keeps it alive while armed. A timer
// destroyed while armed unlinks itself.

#include <cstdint>
#include <functional>

namespace tandem::net {

class timer_wheel;

class timer {
    friend class timer_wheel;
    timer* _prev = nullptr;
    timer* _next = nullptr;
    timer_wheel* _wheel = nullptr;
    uint64_t _deadline_ms = 0;
    std::function<void()> _callback;

public:
    timer() = default;
    explicit timer(std::function<void()> cb) : _callback(std::move(cb)) {}
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { cancel(); }

    void set_callback(std::function<void()> cb) { _callback = std::move(cb); }
    bool armed() const { return _wheel != nullptr; }
    uint64_t deadline_ms() const { return _deadline_ms; }
    void cancel();
};

class timer_wheel {
    static constexpr uint64_t slots = 4096;  // a power of two: 4.096 s per rotation
    timer _heads[slots];                     // sentinels of circular lists
    uint64_t _now_ms;
    size_t _armed = 0;
    // A lower bound on the earliest deadline (cancels leave it low: at worst one early wake-up),
    // so the loop does not scan the wheel on every turn.
    mutable uint64_t _earliest_ms = UINT64_MAX;

    void link(timer& t);

public:
    explicit timer_wheel(uint64_t now_ms);
    timer_wheel(const timer_wheel&) = delete;
    timer_wheel& operator=(const timer_wheel&) = delete;
    ~timer_wheel();

    uint64_t now_ms() const { return _now_ms; }
    size_t armed() const { return _armed; }

    // Fires at the first advance() at or past now + delay + 1: never before delay_ms have passed,
    // whatever part of the current tick had already gone (the clock is whole milliseconds, so a
    // deadline of now + delay could come up to 1 ms early). A delay of 0 fires on the next tick.
    void arm(timer& t, uint64_t delay_ms);
    void cancel(timer& t);
    // Moves time forward and runs every timer due; returns how many ran. A callback may arm or
    // cancel any timer, itself included.
    size_t advance(uint64_t now_ms);
    // Milliseconds until the earliest deadline, scanning at most `limit_ms` ticks; `limit_ms`
    // when nothing is due sooner (the caller sleeps at most that long).
    uint64_t next_delay_ms(uint64_t limit_ms) const;
};

}  // namespace tandem::net
