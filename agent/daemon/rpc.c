/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON-RPC envelope check of ukeyd, with no connection and no state, so unit tests and fuzzers call it as is. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "base/utf8.h"
#include "rpc.h"

/* What one pass over the raw text found. */
struct scan {
	bool raw_nul; /* a NUL byte anywhere */
	bool nul_escape; /* a \u0000 escape: cJSON decodes it into a NUL byte inside the string */
	unsigned depth; /* deepest nesting of objects and arrays, brackets inside strings not counted */
};

/*
 * cJSON ends a C string at the NUL a "\u0000" escape decodes to, so the
 * check must be on the raw text: a backslash escapes the one character
 * after it (inside a string, and outside one, where it is invalid JSON
 * anyway), so pairing them left to right is the same as "u0000 after an
 * odd run of backslashes".
 */
static void scan_text(const char *s, size_t len, struct scan *out)
{
	unsigned depth = 0;
	bool in_string = false;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\0') {
			out->raw_nul = true;
			return;
		}
		if (c == '\\') {
			if (len - i > 5 && (s[i + 1] == 'u' || s[i + 1] == 'U') && memcmp(s + i + 2, "0000", 4) == 0)
				out->nul_escape = true;
			i++; /* the escaped character is never a quote or a bracket */
			continue;
		}
		if (c == '"') {
			in_string = !in_string;
		} else if (!in_string && (c == '{' || c == '[')) {
			if (++depth > out->depth)
				out->depth = depth;
		} else if (!in_string && (c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
}

static int refuse(struct ukey_rpc_error *err, int code, const cJSON *id, const char *message)
{
	err->code = code;
	err->data_id = code == UKEY_RPC_PARSE_ERROR ? "parse-error" : "invalid-request";
	err->message = message;
	err->id = id ? cJSON_Duplicate(id, false) : NULL;
	return -UKEY_E_USAGE;
}

int ukey_rpc_parse(const char *msg, size_t len, cJSON **ret_req, struct ukey_rpc_error *err)
{
	static const char not_json[] = "Not valid JSON, or nested too deep.";
	const char *end = NULL;
	const cJSON *id, *method, *params, *jsonrpc;
	struct scan scan;
	cJSON *req;
	bool id_ok;

	memset(err, 0, sizeof(*err));
	if (len > UKEY_WS_MAX_MESSAGE)
		return refuse(err, UKEY_RPC_PARSE_ERROR, NULL, "The message is larger than 256 KiB.");
	scan_text(msg, len, &scan);
	/* A raw NUL is not JSON text; invalid UTF-8 never reaches a method (libwebsockets refuses it first). */
	if (scan.raw_nul || !ukey_utf8_valid(msg, len, false) || scan.depth > UKEY_WS_MAX_DEPTH)
		return refuse(err, UKEY_RPC_PARSE_ERROR, NULL, not_json);

	req = cJSON_ParseWithLengthOpts(msg, len, &end, false);
	if (!req)
		return refuse(err, UKEY_RPC_PARSE_ERROR, NULL, not_json);
	/* One message is one request: "{req1}{req2}" or "{req} junk" must not run req1. */
	for (size_t i = (size_t)(end - msg); i < len; i++)
		if (!strchr(" \t\r\n", msg[i])) {
			cJSON_Delete(req);
			return refuse(err, UKEY_RPC_PARSE_ERROR, NULL, not_json);
		}

	id = cJSON_GetObjectItemCaseSensitive(req, "id");
	method = cJSON_GetObjectItemCaseSensitive(req, "method");
	params = cJSON_GetObjectItemCaseSensitive(req, "params");
	jsonrpc = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
	id_ok = cJSON_IsObject(req) && (cJSON_IsNumber(id) || cJSON_IsString(id));
	if (scan.nul_escape) {
		int r;

		/* A string id may be the one cut short: answer with it only when it is a number. */
		r = refuse(err, UKEY_RPC_INVALID_REQUEST, id_ok && cJSON_IsNumber(id) ? id : NULL,
			   "A string holds a NUL character (\\u0000): nothing was run.");
		cJSON_Delete(req);
		return r;
	}
	if (!cJSON_IsObject(req) || !cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0 ||
	    !cJSON_IsString(method) || (params && !cJSON_IsObject(params)) || !id_ok) {
		int r = refuse(err, UKEY_RPC_INVALID_REQUEST, id_ok ? id : NULL,
			       "Not a JSON-RPC 2.0 request with an id, a method and object params.");

		cJSON_Delete(req);
		return r;
	}
	if (!params) {
		cJSON *empty = cJSON_CreateObject();

		if (!empty || !cJSON_AddItemToObject(req, "params", empty)) {
			cJSON_Delete(empty);
			cJSON_Delete(req);
			return -ENOMEM;
		}
	}
	*ret_req = req;
	return 0;
}

/* The whole block, not only up to a NUL: cJSON's strings and print buffers hold PINs and whole requests. */
static void wiping_free(void *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

void ukey_rpc_setup(void)
{
	cJSON_Hooks hooks = { .malloc_fn = malloc, .free_fn = wiping_free };

	/* With a free_fn of its own cJSON stops using realloc: a growing buffer is copied and the old one wiped. */
	cJSON_InitHooks(&hooks);
}
