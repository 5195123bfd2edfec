/* Commands answered by the proxy itself; see local.h. */
#include "local.h"

#include "request.h"
#include "resp_write.h"
#include "session.h"
#include "worker.h"

void local_handle(struct worker *w, struct request *r)
{
    struct sbuf *sb = &w->scratch;
    sbuf_clear(sb);
    switch (r->cmd->local_id) {
    case LOCAL_PING:
        if (r->argc == 1)
            resp_write_simple(sb, "PONG");
        else if (r->argc == 2)
            resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len);
        else
            resp_write_errorf(sb, "ERR wrong number of arguments for 'ping' command");
        break;
    case LOCAL_ECHO: resp_write_bulk(sb, request_arg(r, 1), r->argv[1].len); break;
    case LOCAL_QUIT:
        resp_write_simple(sb, "OK");
        if (r->sess) r->sess->flags |= SESS_CLOSE_AFTER;
        break;
    default:
        resp_write_errorf(sb, "ERR internal error: no handler for '%s'", r->cmd->cmd->name);
        break;
    }
    request_reply_bytes(w, r, sb->buf, sb->len);
}
