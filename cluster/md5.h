/*
 * MD5 (RFC 1321) over a buffer in one call. Pool mode needs it because the consistent-hashing
 * continuums of nutcracker (ketama) and last.fm's libketama are built from MD5 digests of the
 * servers' names, and nutcracker's "md5" key hash and libketama's key hash are MD5 too. Not used
 * for anything that needs a secure hash.
 */
#ifndef PX_MD5_H
#define PX_MD5_H

#include <stddef.h>

#define MD5_DIGEST_LEN 16

/* Writes the 16-byte MD5 digest of data[0..len) into out. Allocates nothing; never fails. */
void md5_digest(const void *data, size_t len, unsigned char out[MD5_DIGEST_LEN]);

#endif
