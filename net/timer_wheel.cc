#include "net/timer_wheel.hh"

#include <cassert>

namespace tandem::net {

void timer::cancel() {
    if (_wheel) _wheel->cancel(*this);
}

timer_wheel::timer_wheel(uint64_t now_ms) : _now_ms(now_ms) {
    for (auto& h : _heads) {
        h._prev = &h;
        h._next = &h;
    }
}

timer_wheel::~timer_wheel() {
    for (auto& h : _heads) {
        while (h._next != &h) cancel(*h._next);
        // Sentinels are never armed; reset them so their own destructors do nothing.
        h._prev = h._next = nullptr;
    }
}

void timer_wheel::link(timer& t) {
    timer& head = _heads[t._deadline_ms & (slots - 1)];
    t._next = &head;
    t._prev = head._prev;
    head._prev->_next = &t;
    head._prev = &t;
    t._wheel = this;
    ++_armed;
}

void timer_wheel::arm(timer& t, uint64_t delay_ms) {
    cancel(t);
    // The tick in progress counts as gone: the timer never fires early (and a deadline at `now`
    // would sit in the slot advance() already visited).
    const uint64_t now = _clock_ms > _now_ms ? _clock_ms : _now_ms;
    t._deadline_ms = now + (delay_ms == 0 ? 1 : delay_ms + 1);
    if (t._deadline_ms < _earliest_ms) _earliest_ms = t._deadline_ms;
    link(t);
}

void timer_wheel::cancel(timer& t) {
    if (t._wheel != this) return;
    t._prev->_next = t._next;
    t._next->_prev = t._prev;
    t._prev = t._next = nullptr;
    t._wheel = nullptr;
    assert(_armed > 0);
    --_armed;
}

size_t timer_wheel::advance(uint64_t now_ms) {
    size_t fired = 0;
    if (now_ms <= _now_ms) return 0;
    // Visit each slot between the old and the new time once (all of them after a long pause).
    uint64_t ticks = now_ms - _now_ms;
    uint64_t visit = ticks < slots ? ticks : slots;
    uint64_t start = _now_ms + 1;
    _now_ms = now_ms;
    for (uint64_t k = 0; k < visit; ++k) {
        timer& head = _heads[(start + k) & (slots - 1)];
        // Detach the due timers first: callbacks may re-arm into this very slot.
        timer due;
        due._prev = due._next = &due;
        for (timer* t = head._next; t != &head;) {
            timer* next = t->_next;
            if (t->_deadline_ms <= now_ms) {
                t->_prev->_next = t->_next;
                t->_next->_prev = t->_prev;
                t->_next = &due;
                t->_prev = due._prev;
                due._prev->_next = t;
                due._prev = t;
            }
            t = next;
        }
        while (due._next != &due) {
            timer* t = due._next;
            t->_prev->_next = t->_next;
            t->_next->_prev = t->_prev;
            t->_prev = t->_next = nullptr;
            t->_wheel = nullptr;
            --_armed;
            ++fired;
            if (t->_callback) t->_callback();
        }
        due._prev = due._next = nullptr;
    }
    return fired;
}

uint64_t timer_wheel::next_delay_ms(uint64_t limit_ms) const {
    if (_armed == 0) return limit_ms;
    if (_earliest_ms > _now_ms) {
        uint64_t d = _earliest_ms - _now_ms;
        return d < limit_ms ? d : limit_ms;
    }
    // The bound has passed: find the real earliest deadline within the limit.
    uint64_t span = limit_ms < slots ? limit_ms : slots;
    for (uint64_t d = 1; d <= span; ++d) {
        const timer& head = _heads[(_now_ms + d) & (slots - 1)];
        for (const timer* t = head._next; t != &head; t = t->_next) {
            if (t->_deadline_ms <= _now_ms + d) {
                _earliest_ms = _now_ms + d;
                return d;
            }
        }
    }
    // Nothing within one rotation: sleep that long at most, then look again (a timer more
    // than a rotation away sits in a slot whose other deadlines were all checked).
    _earliest_ms = _now_ms + span;
    return span;
}

}  // namespace tandem::net
