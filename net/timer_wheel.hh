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
    uint64_t _now_ms;        // the time advance() reached
    uint64_t _clock_ms = 0;  // the caller's clock (set_clock): what arm() counts from
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

    // The current time, for arm(), without running timers: the worker sets it when it wakes,
    // before its handlers run and arm timers (advance() comes after them, at the end of the
    // turn; counting from the previous advance() would fire early by the time slept).
    void set_clock(uint64_t now_ms) {
        if (now_ms > _clock_ms) _clock_ms = now_ms;
    }
    // Fires at the first advance() at or past now + delay + 1 (now: the later of set_clock and
    // advance): never before delay_ms have passed, whatever part of the current millisecond had
    // already gone. A delay of 0 fires on the next tick.
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
