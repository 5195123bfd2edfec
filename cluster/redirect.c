/*
 * Redirect parsing; see redirect.h. forward.c calls it when a node's reply is a -MOVED or -ASK
 * error (resp_reply_frame classified it): the slot and the address say where to send the request
 * again, and a MOVED also patches the worker's view and asks the topology thread for a new map.
 * Only the error's text is read; nothing is allocated. A text that does not parse is PX_EPROTO,
 * and the error then goes to the client as the node sent it rather than being followed.
 */
#include "redirect.h"

#include "px_errors.h"
#include "resp.h"

#include <stdio.h>
#include <string.h>

int redirect_parse(const char *text, size_t len, const char *from_ip, struct redirect *out)
{
    size_t skip;
    /* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". */
    if (len > 6 && memcmp(text, "MOVED ", 6) == 0)
        skip = 6;
    else if (len > 4 && memcmp(text, "ASK ", 4) == 0)
        skip = 4;
    else
        return PX_EPROTO;
    const char *p = text + skip, *end = text + len;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp) return PX_EPROTO;
    long long slot;
    if (!resp_str2ll(p, (size_t)(sp - p), &slot) || slot < 0 || slot >= CRC16_SLOTS)
        return PX_EPROTO;
    const char *hp = sp + 1;
    /* The port follows the last ':' (IPv6 addresses contain colons). */
    const char *colon = NULL;
    for (const char *q = end; q > hp; q--)
        if (q[-1] == ':') {
            colon = q - 1;
            break;
        }
    if (!colon) return PX_EPROTO;
    long long port;
    if (!resp_str2ll(colon + 1, (size_t)(end - colon - 1), &port) || port <= 0 || port > 65535)
        return PX_EPROTO;
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    if (hl >= sizeof(out->ip)) return PX_EPROTO;
    /* ":port": the node does not know the endpoint to announce, which means its own address. */
    if (hl == 0) {
        snprintf(out->ip, sizeof(out->ip), "%s", from_ip);
    } else {
        memcpy(out->ip, hp, hl);
        out->ip[hl] = '\0';
    }
    out->slot = (int)slot;
    out->port = (int)port;
    slotmap_format_addr(out->addr, sizeof(out->addr), out->ip, out->port);
    return 0;
}
