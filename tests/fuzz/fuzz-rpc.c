/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: one WebSocket text message, as a web page sends it, through ukeyd's JSON-RPC envelope check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A request that passed must be what every method relies on: an object, "2.0", a string method, object params. */
static void check_shape(const cJSON *req)
{
	const cJSON *jsonrpc = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");

	if (!cJSON_IsObject(req) || !cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0 ||
	    !cJSON_IsString(method) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(req, "params")) ||
	    !(cJSON_IsNumber(id) || cJSON_IsString(id)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int setup;
	struct ukey_rpc_error err;
	cJSON *req = NULL;

	if (!setup) {
		ukey_rpc_setup();
		setup = 1;
	}
	if (ukey_rpc_parse((const char *)data, size, &req, &err) == 0) {
		/* A NUL byte never gets through, raw or escaped. */
		if (memchr(data, 0, size))
			abort();
		check_shape(req);
		cJSON_Delete(req);
	} else {
		cJSON_Delete(err.id);
	}
	return 0;
}
