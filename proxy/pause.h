/*
 * CLIENT PAUSE for the proxy's clients, as Redis pauses its own: while a pause lasts, the
 * commands it covers (every command in ALL mode; in WRITE mode those that write or may
 * replicate: writes, PUBLISH, PFCOUNT, scripts not declared no-writes, EXEC of a transaction
 * holding any of them) wait in the proxy, counted as blocked clients, and run in order when the
 * pause ends (CLIENT UNPAUSE, or its timeout). One state for the whole process, in atomics.
 */
#ifndef PX_PAUSE_H
#define PX_PAUSE_H

#include "request.h"
#include "scripts.h"

#include <stdint.h>

enum pause_mode { PAUSE_OFF = 0, PAUSE_WRITE, PAUSE_ALL };

/* Pauses until end_ms (clock_now_ms time) in mode, as Redis 7.0 adds a pause to one in force
 * at now_ms: the later end and the stricter mode win (a shorter or WRITE pause does not cut an
 * ALL pause short). With no pause in force, an end_ms not after now_ms pauses nothing. Any
 * thread. */
void pause_start(uint64_t now_ms, uint64_t end_ms, enum pause_mode mode);
/* Ends the pause. Any thread. */
void pause_stop(void);
/* The pause in force at now_ms (PAUSE_OFF once its end has passed), and its end. Any thread. */
enum pause_mode pause_current(uint64_t now_ms, uint64_t *end_ms);

/* Whether r (routed, its command known) may write or replicate, as Redis decides it for CLIENT
 * PAUSE WRITE: the command's flags, a script's shebang flags (EVAL, EVALSHA of a body in
 * scripts), a function's no-writes flag (FCALL of one pause_note_functions saw), or, for EXEC,
 * tx_writes (the transaction queued such a command). */
int pause_is_write(const struct request *r, struct script_local *scripts, int tx_writes);

/* A FUNCTION LOAD body went to the nodes: its functions registered with the no-writes flag
 * (register_function{function_name=..., flags={'no-writes'}}) are read-only from now on, the
 * others not. Any thread. */
void pause_note_functions(const char *body, size_t len);
/* FUNCTION FLUSH, DELETE or RESTORE: no function is known read-only any more. Any thread. */
void pause_forget_functions(void);

#endif
