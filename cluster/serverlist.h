/*
 * Parsers for the two server-list formats pool mode reads, from a buffer (the caller reads the
 * file; nothing here does I/O):
 *  - twemproxy's server lines, "host:port:weight [name]", one per line, as they appear under a
 *    pool's "servers:" in nutcracker.yml (a leading YAML "- " and quotes are allowed), read from
 *    the end as nutcracker reads them;
 *  - libketama's servers file as redis-router uses it, "host:port weight" (space or tab),
 *    including libketama's quirks (see serverlist_parse_ketama).
 * The result is the server array placement_create takes. Errors carry the line number.
 */
#ifndef PX_SERVERLIST_H
#define PX_SERVERLIST_H

#include "placement.h"

#include <stddef.h>

struct serverlist {
    struct placement_server *servers; /* n entries; host and name point into text */
    size_t n;
    char *text; /* owned storage for the strings */
};

struct serverlist_error {
    unsigned line; /* 1-based line of the error; 0 when it concerns the whole buffer */
    char msg[128];
};

/*
 * Parses twemproxy server lines from buf[0..len). Blank lines and lines starting with '#' are
 * skipped. Each line is "host:port:weight" optionally followed by a space and a name; as in
 * nutcracker, the name is what follows the last space, the weight what follows the last ':'
 * before it and the port what follows the ':' before that, so IPv6 hosts need no brackets.
 * The weight is a positive decimal (no sign), the port 1..65535. Unix-socket servers ("/path")
 * are refused. Returns 0 and fills *out (release it with serverlist_deinit), or PX_EINVAL with
 * *err describing the first bad line (out is then left empty).
 */
int serverlist_parse_twemproxy(const char *buf, size_t len, struct serverlist *out,
                               struct serverlist_error *err);

/*
 * Parses a libketama servers file from buf[0..len), as libketama's read_server_definitions
 * reads it: lines shorter than 2 bytes (counting the newline) and lines starting with '#' are
 * skipped; otherwise the first token (separated by spaces or tabs) is the address and the second
 * the weight, of which libketama drops the last byte, meant to be the newline. So a weight
 * followed directly by the newline reads as written, but one at the very end of a file with no
 * final newline, or followed by another token, loses its last digit ("100" reads as 10); we
 * reproduce that. A whitespace-only line is an error, as in libketama. We are stricter where
 * libketama would go wrong: the address must be "host:port" of at most
 * PLACEMENT_LIBKETAMA_ADDR_MAX bytes, a line at most 125 bytes before its newline, the weight a
 * positive number. Each server's name is set to its address token, which is exactly what
 * libketama hashes. Returns 0 and fills *out, or PX_EINVAL with *err.
 */
int serverlist_parse_ketama(const char *buf, size_t len, struct serverlist *out,
                            struct serverlist_error *err);

/* Frees what a successful parse stored in sl and empties it. */
void serverlist_deinit(struct serverlist *sl);

#endif
