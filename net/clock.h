/* Monotonic and wall clocks in the units the proxy uses. */
#ifndef PX_CLOCK_H
#define PX_CLOCK_H

#include <stdint.h>

/* Monotonic time in microseconds / milliseconds (CLOCK_MONOTONIC). */
uint64_t clock_now_us(void);
uint64_t clock_now_ms(void);
/* Wall-clock time in microseconds since the epoch (CLOCK_REALTIME). */
uint64_t clock_wall_us(void);

#endif
