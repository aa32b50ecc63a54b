/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ukeyd's JSON-RPC envelope check (rpc.c): what reaches a method, and what is refused before it. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"
#include "rpc.h"

/* Parse text; returns the error code (0: passed) and frees everything. */
static int code_of(const char *text, size_t len, double *ret_id)
{
	struct ukey_rpc_error err;
	cJSON *req = NULL;
	int r = ukey_rpc_parse(text, len, &req, &err);

	*ret_id = -1;
	if (r == 0) {
		cJSON_Delete(req);
		return 0;
	}
	assert_int_equal(r, -UKEY_E_USAGE);
	if (err.id && cJSON_IsNumber(err.id))
		*ret_id = err.id->valuedouble;
	cJSON_Delete(err.id);
	return err.code;
}

static int code(const char *text, double *ret_id)
{
	return code_of(text, strlen(text), ret_id);
}

static void request_passes_with_params_added(void **state)
{
	struct ukey_rpc_error err;
	cJSON *req = NULL;
	const char *text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\"} \r\n";

	(void)state;
	assert_int_equal(ukey_rpc_parse(text, strlen(text), &req, &err), 0);
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(req, "params")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(req, "method")->valuestring, "agent.info");
	cJSON_Delete(req);
}

/* Issue 12: "pin": "123456\u0000aaaa" was verified as 123456; "new_pin": "abcdef\u0000XYZ" set abcdef. */
static void nul_escape_in_any_string_refused(void **state)
{
	static const char *const texts[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"pin\":\"123456\\u0000aaaa\"}}",
		("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.change\",\"params\":{\"pin\":\"123456\","
		 "\"new_pin\":\"abcdef\\u0000XYZ\"}}"),
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.status\\u0000junk\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"cert.list\",\"params\":{\"token\":\"ukey-demo\\u0000x\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\",\"params\":{\"a\\u0000b\":1}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\",\"params\":{\"a\":[\"\\\\\\u0000\"]}}",
	};
	double id;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(code(texts[i], &id), UKEY_RPC_INVALID_REQUEST);
		assert_true(id == 1);
	}
	/* JSON has no \U escape: refused too, as not JSON. */
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"a\":\"\\U0000\"}}", &id),
			 UKEY_RPC_PARSE_ERROR);
	/* A string id may be the one cut short: the answer carries no id then. */
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"agent.info\"}", &id),
			 UKEY_RPC_INVALID_REQUEST);
	assert_true(id == -1);
}

/* An escaped backslash followed by "u0000" is the text \u0000, not a NUL: an even run of backslashes. */
static void escaped_backslash_before_u0000_passes(void **state)
{
	double id;

	(void)state;
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"guide\",\"params\":{\"s\":\"\\\\u0000\"}}", &id), 0);
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"guide\",\"params\":{\"s\":\"\\\\\\\\u0000\"}}", &id),
		0);
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"guide\",\"params\":{\"s\":\"\\u0001\"}}", &id), 0);
}

static void raw_nul_byte_is_parse_error(void **state)
{
	static const char text[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\",\"params\":{\"pin\":\"12\0\"}}";
	static const char trailing[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.info\"}\0junk";
	double id;

	(void)state;
	assert_int_equal(code_of(text, sizeof(text) - 1, &id), UKEY_RPC_PARSE_ERROR);
	assert_int_equal(code_of(trailing, sizeof(trailing) - 1, &id), UKEY_RPC_PARSE_ERROR);
	assert_int_equal(code_of("\0", 1, &id), UKEY_RPC_PARSE_ERROR);
}

static void invalid_utf8_is_parse_error(void **state)
{
	double id;

	(void)state;
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"pin\":\"\xff\"}}", &id),
		UKEY_RPC_PARSE_ERROR);
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin.verify\",\"params\":{\"pin\":\"\xc0\x80\"}}", &id),
		UKEY_RPC_PARSE_ERROR);
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"guide\",\"params\":{\"s\":\"证书\"}}", &id),
			 0);
}

static void depth_8_passes_9_refused(void **state)
{
	double id;

	(void)state;
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"a\":[[[[[[]]]]]]}}", &id),
			 0);
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"a\":[[[[[[[]]]]]]]}}", &id),
			 UKEY_RPC_PARSE_ERROR);
	/* Brackets inside strings are text, not nesting. */
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"a\":\"[[[[[[[[[[\\\"[[[\"}}", &id),
		0);
}

static void one_message_one_request(void **state)
{
	double id;

	(void)state;
	assert_int_equal(
		code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"a\"}",
		     &id),
		UKEY_RPC_PARSE_ERROR);
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"} x", &id), UKEY_RPC_PARSE_ERROR);
	assert_int_equal(code("", &id), UKEY_RPC_PARSE_ERROR);
}

static void shape_refused_with_id_when_usable(void **state)
{
	double id;

	(void)state;
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"pin.verify\",\"params\":[\"123456\"]}", &id),
			 UKEY_RPC_INVALID_REQUEST);
	assert_true(id == 5);
	assert_int_equal(code("{\"jsonrpc\":\"1.0\",\"id\":8,\"method\":\"a\"}", &id), UKEY_RPC_INVALID_REQUEST);
	assert_true(id == 8);
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"method\":\"a\"}", &id), UKEY_RPC_INVALID_REQUEST);
	assert_true(id == -1);
	assert_int_equal(code("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}]", &id), UKEY_RPC_INVALID_REQUEST);
	assert_int_equal(code("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"a\"}", &id), UKEY_RPC_INVALID_REQUEST);
	assert_true(id == -1);
}

static void size_cap(void **state)
{
	size_t n = UKEY_WS_MAX_MESSAGE + 1;
	char *big = malloc(n);
	double id;

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	assert_int_equal(code_of(big, n, &id), UKEY_RPC_PARSE_ERROR);
	free(big);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_passes_with_params_added),
		cmocka_unit_test(nul_escape_in_any_string_refused),
		cmocka_unit_test(escaped_backslash_before_u0000_passes),
		cmocka_unit_test(raw_nul_byte_is_parse_error),
		cmocka_unit_test(invalid_utf8_is_parse_error),
		cmocka_unit_test(depth_8_passes_9_refused),
		cmocka_unit_test(one_message_one_request),
		cmocka_unit_test(shape_refused_with_id_when_usable),
		cmocka_unit_test(size_cap),
	};

	ukey_rpc_setup();
	return UNIT_MAIN("rpc", tests);
}
