/* SHA-1 (FIPS 180-4), for naming Lua scripts the way Redis does (EVALSHA). */
#ifndef PX_SHA1_H
#define PX_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 40 lower-case hex digits of data's SHA-1 and a NUL into hex[41]. */
void sha1_hex(const void *data, size_t len, char hex[41]);

#endif
