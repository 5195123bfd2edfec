/*
 * Monotonic and wall clocks; see clock.h. Durations, deadlines and timers use CLOCK_MONOTONIC,
 * which a change of the system time cannot move; the wall clock is only for what people read
 * (log timestamps, "last refresh" figures on the debug port). Worker threads seldom call these
 * directly: the event loop reads the clock once per turn and hands out that time (loop_now_ms).
 */
#include "clock.h"

#include <time.h>

uint64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_now_ms(void)
{
    return clock_now_us() / 1000u;
}

uint64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* pthread_cond_timedwait takes an absolute CLOCK_REALTIME time (the condition variables are made
 * with default attributes), so this one deadline is on the wall clock. */
void clock_deadline_ts(uint64_t timeout_ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (timeout_ms % 1000) * 1000000u;
    /* Carry whole seconds out of the nanoseconds, which must stay below 10^9. */
    ts->tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}
