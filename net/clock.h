/* Monotonic and wall clocks in the units the proxy uses. */
#ifndef PX_CLOCK_H
#define PX_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in microseconds / milliseconds (CLOCK_MONOTONIC). */
uint64_t clock_now_us(void);
uint64_t clock_now_ms(void);
/* Wall-clock time in microseconds since the epoch (CLOCK_REALTIME). */
uint64_t clock_wall_us(void);
/* The CLOCK_REALTIME instant timeout_ms from now, for pthread_cond_timedwait. */
void clock_deadline_ts(uint64_t timeout_ms, struct timespec *ts);

#endif
