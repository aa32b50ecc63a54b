/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the error table: every code has its sentence, id, exit code and JSON-RPC code, and they are stable. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"

/* No row of the table may be missing: a code without one would print as "internal". */
static void every_code_complete(void **state)
{
	(void)state;
	for (int code = UKEY_E_BASE; code < _UKEY_E_END; code++) {
		const char *id = ukey_err_id(-code), *text = ukey_strerror(-code);
		int exit_code = ukey_err_exit_code(-code), rpc = ukey_err_rpc_code(-code);

		if (!id || !*id || !text || !*text)
			fail_msg("code %d has no id or text", code);
		if (code != UKEY_E_INTERNAL && strcmp(id, "internal") == 0)
			fail_msg("code %d has no row of its own", code);
		if (exit_code <= UKEY_EXIT_OK || exit_code > UKEY_EXIT_RENEW_PENDING)
			fail_msg("code %d (%s) has exit code %d", code, id, exit_code);
		/* JSON-RPC 2.0: -32000 … -32099 is the server range; -32602 is "invalid params". */
		if ((rpc > -32000 || rpc < -32099) && rpc != -32602)
			fail_msg("code %d (%s) has JSON-RPC code %d", code, id, rpc);
		/* The server's own errors (PROTOCOL.md): busy and rate-limited never come from this table. */
		if (rpc == -32080 || rpc == -32081)
			fail_msg("code %d (%s) takes the server's JSON-RPC code %d", code, id, rpc);
	}
}

/* Ids are the JSON contract: one per code. */
static void ids_unique(void **state)
{
	(void)state;
	for (int a = UKEY_E_BASE; a < _UKEY_E_END; a++)
		for (int b = a + 1; b < _UKEY_E_END; b++)
			if (strcmp(ukey_err_id(-a), ukey_err_id(-b)) == 0)
				fail_msg("codes %d and %d share the id %s", a, b, ukey_err_id(-a));
}

/* A client tells failures apart by JSON-RPC code too, so those are unique as well. */
static void rpc_codes_unique(void **state)
{
	(void)state;
	for (int a = UKEY_E_BASE; a < _UKEY_E_END; a++)
		for (int b = a + 1; b < _UKEY_E_END; b++)
			if (ukey_err_rpc_code(-a) == ukey_err_rpc_code(-b))
				fail_msg("codes %s and %s share the JSON-RPC code %d", ukey_err_id(-a), ukey_err_id(-b),
					 ukey_err_rpc_code(-a));
}

/* The exit codes scripts rely on (README). */
static void documented_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(ukey_err_exit_code(-UKEY_E_PIN_INCORRECT), 3);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_PIN_LOCKED), 4);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_NO_TOKEN), 5);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_TOKEN_NOT_FOUND), 5);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_USAGE), 2);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_INTERNAL), 1);
	assert_int_equal(ukey_err_exit_code(-EIO), 1);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_CA_UNREACHABLE), 6);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_CA_UNTRUSTED), 6);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_RENEW_NOT_OPEN), 7);
	assert_int_equal(ukey_err_exit_code(-UKEY_E_RENEW_PENDING), 8);
}

static void stable_ids(void **state)
{
	(void)state;
	assert_string_equal(ukey_err_id(-UKEY_E_PIN_INCORRECT), "pin-incorrect");
	assert_string_equal(ukey_err_id(-UKEY_E_PIN_LOCKED), "pin-locked");
	assert_string_equal(ukey_err_id(-UKEY_E_NO_TOKEN), "no-token");
	assert_string_equal(ukey_err_id(-UKEY_E_STATE_UNAVAILABLE), "state-unavailable");
}

/* An OS failure keeps its errno name as id and the C library's sentence. */
static void errno_id(void **state)
{
	(void)state;
	assert_string_equal(ukey_err_id(-ENOENT), "errno-ENOENT");
	assert_string_equal(ukey_err_id(-EACCES), "errno-EACCES");
	assert_string_equal(ukey_strerror(-ENOENT), strerror(ENOENT));
	assert_int_equal(ukey_err_rpc_code(-ENOENT), -32000);
}

/* Success is success in every form. */
static void success_is_zero(void **state)
{
	(void)state;
	for (int r = 0; r <= 2; r++) {
		assert_int_equal(ukey_err_exit_code(r), 0);
		assert_int_equal(ukey_err_rpc_code(r), 0);
		assert_string_equal(ukey_err_id(r), "ok");
	}
}

/* A code past the end of the table (a newer peer) degrades to "internal", never out of bounds. */
static void unknown_code_is_internal(void **state)
{
	(void)state;
	assert_string_equal(ukey_err_id(-_UKEY_E_END), "internal");
	assert_string_equal(ukey_err_id(-(_UKEY_E_END + 100)), "internal");
	assert_string_equal(ukey_strerror(-_UKEY_E_END), ukey_strerror(-UKEY_E_INTERNAL));
	assert_int_equal(ukey_err_exit_code(-_UKEY_E_END), 1);
	assert_int_equal(ukey_err_rpc_code(-_UKEY_E_END), -32000);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_complete), cmocka_unit_test(ids_unique),
		cmocka_unit_test(rpc_codes_unique),    cmocka_unit_test(documented_exit_codes),
		cmocka_unit_test(stable_ids),	       cmocka_unit_test(errno_id),
		cmocka_unit_test(success_is_zero),     cmocka_unit_test(unknown_code_is_internal),
	};

	return UNIT_MAIN("err", tests);
}
