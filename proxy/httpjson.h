/*
 * The HTTP front's translations, as pure functions (no I/O, no threads; tests/unit/test_httpjson.c
 * checks them): a request's body (a form's command and arguments fields, as redis-router takes
 * them, or a JSON object) into the arguments of one Redis command and its RESP bytes, a RESP
 * reply into the JSON answer, and an Authorization header into Basic credentials.
 *
 * Answers look like Python's json.dumps (redis-router's): {"response": 2}, {"response": ["a",
 * "b"]}, {"error": "ERR ..."}. RESP types map as: integers to numbers; simple and bulk strings to
 * strings when they are valid UTF-8, and otherwise to {"base64": "<standard base64>"}; arrays,
 * sets and pushes to arrays; nil (RESP2 null bulk or array, RESP3 null) to null; errors to
 * {"error": "..."} (an error nested in an array too); RESP3 booleans to true/false; doubles to
 * numbers (inf, -inf and nan, which JSON has no number for, to the strings Redis writes); big
 * numbers to strings (a JSON number that long loses digits in most parsers); verbatim strings to
 * their text without the "txt:" prefix; maps to objects when every key is a UTF-8 string or an
 * integer, and otherwise to arrays of [key, value] pairs; attributes are left out.
 *
 * Arguments: in a form, arguments are split at every comma (a value with a comma needs JSON) and
 * their bytes are whatever the form's percent-encoding says (binary-safe); an empty or missing
 * arguments field means none. In JSON, an argument is a string (its UTF-8 bytes; "\u0000" allowed),
 * an integer or a real (its decimal text), or {"base64": "..."} for arbitrary bytes.
 */
#ifndef PX_HTTPJSON_H
#define PX_HTTPJSON_H

#include "errors.h"
#include "resp_write.h"

#include <stddef.h>
#include <stdint.h>

/* A command's arguments (the command name first), their bytes back to back in bytes. */
struct http_args {
    struct sbuf bytes;
    uint32_t *off, *len;
    uint32_t n, cap;
    int resp; /* the protocol the command runs in: 2 (default) or 3 */
};

void http_args_init(struct http_args *a);
void http_args_free(struct http_args *a);
/* Appends one argument of len bytes. */
void http_args_add(struct http_args *a, const char *p, size_t len);

/*
 * Reads a JSON body: {"command": "set", "arguments": ["k", "v"], "resp": 3} ("arguments" and
 * "resp" optional, no other field). Returns 0, or the enum px_http_err that refuses it with a
 * detail (NUL-terminated, what and where) in detail.
 */
int httpjson_parse_json(const char *body, size_t len, struct http_args *out, char *detail,
                        size_t dlen);
/*
 * The arguments from a form's fields: command (clen bytes), arguments (alen bytes, split at
 * commas; NULL or empty: none) and resp (NULL: 2). Returns 0 or an enum px_http_err.
 */
int httpjson_from_form(const char *command, size_t clen, const char *arguments, size_t alen,
                       const char *resp, size_t rlen, struct http_args *out);
/* The RESP multibulk request of a's arguments, appended to out. */
void httpjson_request(const struct http_args *a, struct sbuf *out);

/*
 * Renders the complete RESP reply (len bytes) as the JSON answer, appended to out, and returns
 * the HTTP status: 200, or for an error reply errors_http_status's (400 for the request's fault,
 * 401 NOAUTH/WRONGPASS, 403 NOPERM, 502 when the cluster could not be reached); 502 also for
 * bytes that are not one RESP reply.
 */
unsigned httpjson_reply(const char *reply, size_t len, struct sbuf *out);
/* {"error": "<text>"} of len bytes of text, appended to out. */
void httpjson_error(struct sbuf *out, const char *text, size_t len);

/* 1 when p (len bytes) is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). */
int httpjson_utf8_valid(const char *p, size_t len);
/* Standard base64 with padding, appended to out. */
void httpjson_base64(struct sbuf *out, const unsigned char *p, size_t len);
/* Decodes standard base64 (padding required, no whitespace) into out. Returns 0, or -1 when the
 * text is not base64. */
int httpjson_unbase64(const char *p, size_t len, struct sbuf *out);
/* An Authorization header's value (len bytes, NULs included) read as HTTP Basic credentials
 * (RFC 7617): the scheme in any case, spaces or tabs around, base64 of user:password, the user
 * up to the first colon, no NUL in either. Returns 0 with the user and the password appended
 * to user and pass, -1 when it is not that (they are then left empty). */
int httpjson_basic_auth(const char *value, size_t len, struct sbuf *user, struct sbuf *pass);

#endif
