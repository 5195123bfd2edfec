/*
 * Building RESP replies: a growable byte string (sbuf) and writers for each RESP type, RESP2 and
 * RESP3. Used for replies the proxy makes itself (PING, errors, merged replies); forwarded replies
 * never pass here.
 */
#ifndef PX_RESP_WRITE_H
#define PX_RESP_WRITE_H

#include <stddef.h>

struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
};

/* An empty buffer; nothing is allocated until the first append. */
void sbuf_init(struct sbuf *s);
/* Frees the bytes; s is left empty and may be used again. */
void sbuf_free(struct sbuf *s);
/* Frees the buffer when its capacity grew past keep (it is allocated again when next used). */
void sbuf_trim(struct sbuf *s, size_t keep);
/* Empties s but keeps its capacity for the next reply. */
static inline void sbuf_clear(struct sbuf *s)
{
    s->len = 0;
}
/* Append bytes, a C string, or printf-formatted text. They cannot fail (exhaustion aborts). The
 * buffer is not NUL-terminated: use len. */
void sbuf_put(struct sbuf *s, const void *data, size_t len);
void sbuf_puts(struct sbuf *s, const char *str);
void sbuf_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "+text\r\n". text must not contain CR or LF. */
void resp_write_simple(struct sbuf *s, const char *text);
/* "-text\r\n": text is the whole error line without '-' (e.g. "ERR unknown command ..."). CR and
 * LF in text become spaces, as Redis does. */
void resp_write_error(struct sbuf *s, const char *text, size_t len);
/* resp_write_error with printf formatting; the same CR and LF rule applies to the result. */
void resp_write_errorf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ":v\r\n". */
void resp_write_int(struct sbuf *s, long long v);
/* "$len\r\n" then the bytes and "\r\n"; binary-safe. */
void resp_write_bulk(struct sbuf *s, const void *data, size_t len);
/* "$-1\r\n", RESP2's null bulk string. */
void resp_write_null_bulk(struct sbuf *s);
/* "*n\r\n", the header of an array: the caller writes the n elements after it. */
void resp_write_array_len(struct sbuf *s, long long n);

/*
 * RESP3 types for a client speaking protocol resp (2 or 3): in RESP2 each is written as Redis
 * writes its RESP2 shape (a map as a flat array of 2n elements, a set or push as an array, null
 * as a null bulk or null array, a verbatim string as a bulk string, a boolean as 1 or 0).
 */
void resp_write_null(struct sbuf *s, int resp);       /* "_" or "$-1" */
void resp_write_null_array(struct sbuf *s, int resp); /* "_" or "*-1" */
void resp_write_map_len(struct sbuf *s, long long n, int resp);
void resp_write_set_len(struct sbuf *s, long long n, int resp);
void resp_write_push_len(struct sbuf *s, long long n, int resp);
/* A verbatim string with a three-character extension ("txt"), "=<len>\r\ntxt:<data>\r\n". */
void resp_write_verbatim(struct sbuf *s, const char *ext, const void *data, size_t len, int resp);
void resp_write_bool(struct sbuf *s, int v, int resp);

#endif
