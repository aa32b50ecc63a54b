/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: every JSON-RPC method of ukeyd with params a web page chose, run in-process on an empty SoftHSM2. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the method (PROTOCOL.md's list and a few names that
 * are none), the rest is the "params" object. The module is SoftHSM2 with no
 * token at all: every parameter check runs, and a request that passes them
 * ends at "no key" without a PIN ever reaching a token. The answer must be
 * one JSON-RPC response with either a result or an error with a code, an id
 * and a message; nothing else (a crash, a hang, a leak) is acceptable.
 */
static const char *const methods[] = {
	"agent.info",	 "token.list", "cert.list", "pin.status",  "pin.verify",  "pin.change", "sign", "session.open",
	"session.close", "guide",      "diagnose",  "renew.check", "renew.start", "no.such",	"",	"token.list2",
};

static void wake(void *userdata)
{
	(void)userdata;
}

/* A ukeyd API over SoftHSM2 with an empty token directory and its own state, made once. */
static struct ukey_api *api_once(void)
{
	static struct ukey_api *api;
	static int tried;
	static char dir[] = "/tmp/ukey-fuzz-methods.XXXXXX", state[256];
	char path[256];
	const char *module = getenv("UKEY_SOFTHSM_MODULE");
	struct ukey_api_config cfg = { .max_tries = 10, .poll_ms = 1000, .wake = wake };
	FILE *f;

	if (tried)
		return api;
	tried = 1;
	if (!module)
		module = "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so";
	if (access(module, R_OK) < 0 || !mkdtemp(dir)) {
		fprintf(stderr, "fuzz-methods: no SoftHSM2 module (%s) or no temporary directory: nothing run\n",
			module);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(path, 0700) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	if (!(f = fopen(path, "w")))
		return NULL;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	snprintf(state, sizeof(state), "%s/state", dir);
	cfg.module = module;
	cfg.state_dir = state;
	ukey_rpc_setup();
	if (ukey_api_start(&cfg, &api) < 0)
		api = NULL;
	return api;
}

static void check_reply(const char *text)
{
	cJSON *doc = text ? cJSON_Parse(text) : NULL, *e;

	if (!doc)
		abort();
	e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (!cJSON_GetObjectItemCaseSensitive(doc, "result") == !e)
		abort();
	if (e && (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "code")) ||
		  !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) ||
		  !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "data"))))
		abort();
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukey_api *api = api_once();
	cJSON *params, *req;
	char *reply;

	if (!api || size < 1 || memchr(data, 0, size))
		return 0;
	/* What the envelope lets through (ukey_rpc_parse): an object, no NUL, nested at most 8 deep. */
	params = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	if (!cJSON_IsObject(params)) {
		cJSON_Delete(params);
		return 0;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", 1);
	cJSON_AddStringToObject(req, "method", methods[data[0] % (sizeof(methods) / sizeof(methods[0]))]);
	cJSON_AddItemToObject(req, "params", params);
	reply = ukey_api_call(api, 1, data[0] & 0x80 ? "https://portal.example" : NULL, req);
	check_reply(reply);
	/* UKEY_FUZZ_PRINT=1: each answer on stderr, to see what a seed reaches. */
	if (getenv("UKEY_FUZZ_PRINT"))
		fprintf(stderr, "%s\n", reply);
	free(reply);
	return 0;
}
