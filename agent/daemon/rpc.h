/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON-RPC envelope of one WebSocket message: every check a request passes before a method sees it. */
#ifndef UKEY_RPC_H
#define UKEY_RPC_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Limits (PROTOCOL.md lists them for clients). */
#define UKEY_WS_MAX_MESSAGE (256 * 1024)
#define UKEY_WS_MAX_DEPTH 8

/* JSON-RPC error codes of the envelope (PROTOCOL.md). */
#define UKEY_RPC_PARSE_ERROR (-32700)
#define UKEY_RPC_INVALID_REQUEST (-32600)

/* Why a message was refused: what the error reply says. */
struct ukey_rpc_error {
	int code; /* UKEY_RPC_PARSE_ERROR or UKEY_RPC_INVALID_REQUEST */
	const char *data_id; /* "parse-error" or "invalid-request" (static) */
	const char *message; /* one sentence (static) */
	cJSON *id; /* the request's id to answer with (a copy the caller frees), or NULL: answer with null */
};

/*
 * ukey_rpc_parse: check one whole text message and parse it.
 *
 * Refused, in this order: more than UKEY_WS_MAX_MESSAGE bytes, a raw NUL
 * byte or invalid UTF-8 (parse-error); nesting deeper than
 * UKEY_WS_MAX_DEPTH, text that is not exactly one JSON value, or one
 * followed by more than white space (parse-error); a "\u0000" escape in
 * any string (invalid-request: cJSON would decode it to a NUL byte and
 * every C string after it — a PIN, a new PIN, a method, a token selector —
 * would silently end there); not a JSON-RPC 2.0 request object with
 * "jsonrpc": "2.0", a string "method", a number or string "id" and object
 * "params" when present (invalid-request).
 *
 * Returns 0 with *ret_req the request (an empty "params" object added when
 * absent; free it with ukey_api_request_free() or cJSON_Delete()), or
 * -UKEY_E_USAGE with *err filled in (err->id to be freed with
 * cJSON_Delete()), or -ENOMEM. Never touches msg; no state, no I/O.
 */
int ukey_rpc_parse(const char *msg, size_t len, cJSON **ret_req, struct ukey_rpc_error *err);

/*
 * ukey_rpc_setup: make cJSON wipe every block it frees (requests hold PINs,
 * and cJSON copies each string it parses). Process-wide; call once before
 * the first parse, from the thread that starts the server.
 */
void ukey_rpc_setup(void);

#endif
