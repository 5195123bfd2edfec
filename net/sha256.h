/* SHA-256 (FIPS 180-4), for ACL passwords: Redis keeps each password as the lower-case hex of
 * its SHA-256, and ACL LIST, GETUSER and the ACL file show that hash. */
#ifndef PX_SHA256_H
#define PX_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 64 lower-case hex digits of data's SHA-256 and a NUL into hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
