/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the PIN lockout (R-P1, R-P2) over a real state store, and of the PIN checks before a token. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"
#include "pin.h"
#include "store.h"

/* Every case gets its own state directory and store, as a fresh user would. */
struct fixture {
	char *dir;
	struct ukey_store *store;
};

/* A token stand-in: counts the calls that reach it and answers what the case scripts. */
struct fake_token {
	unsigned calls;
	int result;
};

static int fake_try(void *userdata)
{
	struct fake_token *f = userdata;

	f->calls++;
	return f->result;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || !(fx->dir = unit_mkdtemp())) {
		free(fx);
		return -1;
	}
	if (ukey_store_open(fx->dir, &fx->store) < 0) {
		unit_rm_rf(fx->dir);
		free(fx->dir);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	ukey_store_free(fx->store);
	unit_rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static struct ukey_token_info token_a(void)
{
	struct ukey_token_info t = {
		.slot_id = 1,
		.label = "Unit A",
		.manufacturer = "BJCA",
		.model = "UK-1",
		.serial = "A0000001",
		.initialized = true,
		.user_pin_initialized = true,
		.login_required = true,
		.min_pin_len = 4,
		.max_pin_len = 16,
	};

	return t;
}

static struct ukey_token_info token_b(void)
{
	struct ukey_token_info t = token_a();

	t.slot_id = 2;
	strcpy(t.label, "Unit B");
	strcpy(t.serial, "B0000002");
	return t;
}

/* One attempt whose token answers result; checks whether the token was reached. */
static int attempt(struct ukey_store *store, const struct ukey_token_info *t, int result, bool expect_called)
{
	struct fake_token f = { .result = result };
	bool called = !expect_called;
	int r;

	r = ukey_pin_attempt(store, t, UKEY_PIN_MAX_TRIES_DEFAULT, fake_try, &f, &called);
	assert_int_equal(called, expect_called);
	assert_int_equal(f.calls, expect_called ? 1 : 0);
	return r;
}

static void wrong_pins(struct ukey_store *store, const struct ukey_token_info *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(attempt(store, t, -UKEY_E_PIN_INCORRECT, true), -UKEY_E_PIN_INCORRECT);
}

static struct ukey_pin_state pin_state(struct ukey_store *store, const struct ukey_token_info *t)
{
	struct ukey_pin_state st;

	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(ukey_pin_state(store, t, UKEY_PIN_MAX_TRIES_DEFAULT, &st), 0);
	assert_int_equal(st.max_tries, UKEY_PIN_MAX_TRIES_DEFAULT);
	return st;
}

/* R-P1: each of the first nine wrong PINs costs exactly one try. */
static void first_nine_wrong_pins_leave_tries(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	assert_int_equal(UKEY_PIN_MAX_TRIES_DEFAULT, 10);
	for (unsigned n = 1; n <= 9; n++) {
		struct ukey_pin_state st;

		wrong_pins(fx->store, &t, 1);
		st = pin_state(fx->store, &t);
		assert_true(st.counted);
		assert_int_equal(st.failures, n);
		assert_int_equal(st.tries_left, 10 - n);
		assert_false(st.locked);
		assert_false(st.locked_by_token);
		assert_int_equal(st.final_try, n == 9);
	}
}

/* R-P1: the tenth consecutive wrong PIN still reaches the token, and then the token is locked. */
static void tenth_wrong_pin_locks(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	struct ukey_pin_state st;

	wrong_pins(fx->store, &t, 10);
	st = pin_state(fx->store, &t);
	assert_true(st.counted);
	assert_int_equal(st.failures, 10);
	assert_int_equal(st.tries_left, 0);
	assert_true(st.locked);
	assert_false(st.locked_by_token);
	assert_false(st.final_try);
	assert_int_equal(ukey_store_pin_failures(fx->store, t.manufacturer, t.serial), 10);
}

/* R-P1: after ten wrong PINs an eleventh is refused before the token sees it, and is not counted. */
static void eleventh_attempt_refused_without_token(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	wrong_pins(fx->store, &t, 10);
	assert_int_equal(attempt(fx->store, &t, -UKEY_E_PIN_INCORRECT, false), -UKEY_E_PIN_LOCKED);
	assert_int_equal(ukey_store_pin_failures(fx->store, t.manufacturer, t.serial), 10);
}

/* R-P2: once locked, the right PIN does not help: it never reaches the token, however often it is tried. */
static void right_pin_refused_when_locked(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	wrong_pins(fx->store, &t, 10);
	for (int i = 0; i < 3; i++)
		assert_int_equal(attempt(fx->store, &t, 0, false), -UKEY_E_PIN_LOCKED);
	assert_true(pin_state(fx->store, &t).locked);
	assert_int_equal(ukey_store_pin_failures(fx->store, t.manufacturer, t.serial), 10);
}

/* R-P1 "consecutive": a right PIN before the limit resets the count, so 9 + 9 wrong PINs do not lock. */
static void correct_pin_resets_count(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	struct ukey_pin_state st;

	wrong_pins(fx->store, &t, 9);
	assert_int_equal(attempt(fx->store, &t, 0, true), 0);
	st = pin_state(fx->store, &t);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.tries_left, 10);
	wrong_pins(fx->store, &t, 9);
	st = pin_state(fx->store, &t);
	assert_int_equal(st.failures, 9);
	assert_int_equal(st.tries_left, 1);
	assert_false(st.locked);
	assert_int_equal(attempt(fx->store, &t, 0, true), 0);
	assert_int_equal(pin_state(fx->store, &t).failures, 0);
}

/* The attempt is journalled and committed before the PIN reaches the token (a crash mid-call leaves it counted). */
static int try_checks_journal(void *userdata)
{
	const char *dir = userdata;
	struct ukey_store *other = NULL;
	int n;

	/* Another process's view: a second handle on the same database. */
	if (ukey_store_open(dir, &other) < 0)
		return -UKEY_E_INTERNAL;
	n = ukey_store_pin_failures(other, "BJCA", "A0000001");
	ukey_store_free(other);
	return n == 1 ? -UKEY_E_PIN_INCORRECT : -UKEY_E_INTERNAL;
}

static void attempt_committed_before_token_call(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	bool called = false;

	assert_int_equal(
		ukey_pin_attempt(fx->store, &t, UKEY_PIN_MAX_TRIES_DEFAULT, try_checks_journal, fx->dir, &called),
		-UKEY_E_PIN_INCORRECT);
	assert_true(called);
}

/* R-P2, stricter wins: a token that reports CKF_USER_PIN_LOCKED is not asked, even with no failure counted. */
static void token_locked_flag_refuses(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	struct ukey_pin_state st;

	t.pin_locked = true;
	assert_int_equal(attempt(fx->store, &t, 0, false), -UKEY_E_PIN_LOCKED);
	st = pin_state(fx->store, &t);
	assert_true(st.counted);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.tries_left, 0);
	assert_true(st.locked);
	assert_true(st.locked_by_token);
	assert_false(st.final_try);
	/* The refused attempt was not journalled. */
	assert_int_equal(ukey_store_pin_failures(fx->store, t.manufacturer, t.serial), 0);
}

/* Stricter wins: CKF_USER_PIN_FINAL_TRY caps the tries left at one, but the attempt is still allowed. */
static void token_final_try_flag_caps_tries(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	struct ukey_pin_state st;

	t.pin_final_try = true;
	st = pin_state(fx->store, &t);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.tries_left, 1);
	assert_true(st.final_try);
	assert_false(st.locked);
	wrong_pins(fx->store, &t, 9);
	st = pin_state(fx->store, &t);
	assert_int_equal(st.tries_left, 1);
	assert_true(st.final_try);
	assert_int_equal(attempt(fx->store, &t, 0, true), 0);
}

/* Fail closed: without a store no attempt is made, since it could not be counted. */
static void no_store_fails_closed(void **state)
{
	struct ukey_token_info t = token_a();
	struct ukey_pin_state st;

	(void)state;
	assert_int_equal(attempt(NULL, &t, 0, false), -UKEY_E_STATE_UNAVAILABLE);
	/* The state without a store speaks only from the token's flags. */
	assert_int_equal(ukey_pin_state(NULL, &t, UKEY_PIN_MAX_TRIES_DEFAULT, &st), 0);
	assert_false(st.counted);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.tries_left, 10);
	assert_false(st.locked);
	t.pin_locked = true;
	assert_int_equal(ukey_pin_state(NULL, &t, UKEY_PIN_MAX_TRIES_DEFAULT, &st), 0);
	assert_true(st.locked);
	assert_true(st.locked_by_token);
}

/* CKR_PIN_LEN_RANGE / CKR_PIN_INVALID: the token never compared the PIN, so the try is refunded. */
static void pin_invalid_from_token_refunded(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	wrong_pins(fx->store, &t, 3);
	assert_int_equal(attempt(fx->store, &t, -UKEY_E_PIN_INVALID, true), -UKEY_E_PIN_INVALID);
	assert_int_equal(pin_state(fx->store, &t).failures, 3);
}

/* A token pulled out mid-call may have checked the PIN: the attempt stays counted. */
static void token_removed_mid_call_counts(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	assert_int_equal(attempt(fx->store, &t, -UKEY_E_TOKEN_REMOVED, true), -UKEY_E_TOKEN_REMOVED);
	assert_int_equal(pin_state(fx->store, &t).failures, 1);
}

/* A device error mid-call may have followed the PIN check: the attempt stays counted. */
static void token_failed_mid_call_counts(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	assert_int_equal(attempt(fx->store, &t, -UKEY_E_TOKEN_FAILED, true), -UKEY_E_TOKEN_FAILED);
	assert_int_equal(pin_state(fx->store, &t).failures, 1);
}

/* CKR_PIN_LOCKED from the token answers a PIN that was sent: it counts like a wrong PIN. */
static void token_answers_locked_counts(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	assert_int_equal(attempt(fx->store, &t, -UKEY_E_PIN_LOCKED, true), -UKEY_E_PIN_LOCKED);
	assert_int_equal(pin_state(fx->store, &t).failures, 1);
}

/* An attempt begun but never ended (the process was killed with -9) counts, also after reopening the store. */
static void pending_attempt_counts(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	int64_t id = -1;
	struct ukey_pin_state st;

	assert_int_equal(ukey_store_pin_attempt_begin(fx->store, t.manufacturer, t.serial, t.label, t.model,
						      UKEY_PIN_MAX_TRIES_DEFAULT, &id),
			 1);
	assert_true(id > 0);
	fx->store = ukey_store_free(fx->store);
	assert_int_equal(ukey_store_open(fx->dir, &fx->store), 0);
	st = pin_state(fx->store, &t);
	assert_int_equal(st.failures, 1);
	assert_int_equal(st.tries_left, 9);
	/* Nine more, all pending: the tenth pending attempt locks like a tenth wrong PIN. */
	for (unsigned n = 2; n <= 10; n++)
		assert_int_equal(ukey_store_pin_attempt_begin(fx->store, t.manufacturer, t.serial, t.label, t.model,
							      UKEY_PIN_MAX_TRIES_DEFAULT, &id),
				 (int)n);
	assert_true(pin_state(fx->store, &t).locked);
	assert_int_equal(attempt(fx->store, &t, 0, false), -UKEY_E_PIN_LOCKED);
}

/* Two handles on one directory are two processes (CLI and ukeyd): they see and extend one count. */
static void two_handles_share_count(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	struct ukey_store *other = NULL;

	assert_int_equal(ukey_store_open(fx->dir, &other), 0);
	wrong_pins(fx->store, &t, 5);
	assert_int_equal(pin_state(other, &t).failures, 5);
	wrong_pins(other, &t, 5);
	assert_int_equal(pin_state(fx->store, &t).failures, 10);
	assert_true(pin_state(fx->store, &t).locked);
	assert_int_equal(attempt(fx->store, &t, 0, false), -UKEY_E_PIN_LOCKED);
	assert_int_equal(attempt(other, &t, 0, false), -UKEY_E_PIN_LOCKED);
	ukey_store_free(other);
}

/* A success clears only attempts up to its own: a wrong PIN begun concurrently after it stays counted. */
static void success_clears_only_earlier_attempts(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();
	int64_t a = -1, b = -1;

	wrong_pins(fx->store, &t, 2);
	assert_int_equal(ukey_store_pin_attempt_begin(fx->store, t.manufacturer, t.serial, t.label, t.model,
						      UKEY_PIN_MAX_TRIES_DEFAULT, &a),
			 3);
	assert_int_equal(ukey_store_pin_attempt_begin(fx->store, t.manufacturer, t.serial, t.label, t.model,
						      UKEY_PIN_MAX_TRIES_DEFAULT, &b),
			 4);
	assert_true(b > a);
	assert_int_equal(ukey_store_pin_attempt_end(fx->store, a, UKEY_ATTEMPT_SUCCESS), 0);
	assert_int_equal(ukey_store_pin_failures(fx->store, t.manufacturer, t.serial), 1);
	assert_int_equal(ukey_store_pin_attempt_end(fx->store, b, UKEY_ATTEMPT_WRONG), 0);
	assert_int_equal(pin_state(fx->store, &t).failures, 1);
	assert_int_equal(pin_state(fx->store, &t).tries_left, 9);
}

/* R-P3: after an unlock the journal of the token is cleared and PINs reach the token again. */
static void store_reset_clears(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info t = token_a();

	wrong_pins(fx->store, &t, 10);
	assert_true(pin_state(fx->store, &t).locked);
	assert_int_equal(ukey_store_pin_reset(fx->store, t.manufacturer, t.serial), 0);
	assert_int_equal(pin_state(fx->store, &t).failures, 0);
	assert_false(pin_state(fx->store, &t).locked);
	assert_int_equal(attempt(fx->store, &t, -UKEY_E_PIN_INCORRECT, true), -UKEY_E_PIN_INCORRECT);
	assert_int_equal(pin_state(fx->store, &t).failures, 1);
}

/* Counts are per token (manufacturer, serial): locking one key leaves another alone, even one with the same serial. */
static void count_is_per_token(void **state)
{
	struct fixture *fx = *state;
	struct ukey_token_info a = token_a(), b = token_b(), a_other_maker = token_a();

	strcpy(a_other_maker.manufacturer, "Other Maker");
	wrong_pins(fx->store, &a, 10);
	assert_true(pin_state(fx->store, &a).locked);
	assert_int_equal(pin_state(fx->store, &b).failures, 0);
	assert_int_equal(pin_state(fx->store, &a_other_maker).failures, 0);
	assert_int_equal(attempt(fx->store, &b, -UKEY_E_PIN_INCORRECT, true), -UKEY_E_PIN_INCORRECT);
	assert_int_equal(attempt(fx->store, &a_other_maker, 0, true), 0);
	assert_int_equal(pin_state(fx->store, &b).failures, 1);
	/* Resetting another token does not unlock this one. */
	assert_int_equal(ukey_store_pin_reset(fx->store, b.manufacturer, b.serial), 0);
	assert_int_equal(pin_state(fx->store, &a).failures, 10);
}

static void validate_empty_rejected(void **state)
{
	(void)state;
	assert_int_equal(ukey_pin_validate("", 0, 0), -UKEY_E_PIN_INVALID);
	assert_int_equal(ukey_pin_validate(NULL, 0, 0), -UKEY_E_PIN_INVALID);
}

/* UKEY_PIN_MAX_LEN bytes is the longest PIN from any source, whatever the token claims. */
static void validate_max_len_edge(void **state)
{
	char pin[UKEY_PIN_MAX_LEN + 2];

	(void)state;
	assert_int_equal(UKEY_PIN_MAX_LEN, 64);
	memset(pin, '7', UKEY_PIN_MAX_LEN);
	pin[UKEY_PIN_MAX_LEN] = '\0';
	assert_int_equal(ukey_pin_validate(pin, 0, 0), 0);
	assert_int_equal(ukey_pin_validate(pin, 4, 1000), 0);
	pin[UKEY_PIN_MAX_LEN] = '7';
	pin[UKEY_PIN_MAX_LEN + 1] = '\0';
	assert_int_equal(ukey_pin_validate(pin, 0, 0), -UKEY_E_PIN_INVALID);
	assert_int_equal(ukey_pin_validate(pin, 4, 1000), -UKEY_E_PIN_INVALID);
}

/* The token's ulMinPinLen / ulMaxPinLen (bytes) are inclusive bounds; 0 means no bound. */
static void validate_token_length_edges(void **state)
{
	(void)state;
	assert_int_equal(ukey_pin_validate("123", 4, 8), -UKEY_E_PIN_INVALID);
	assert_int_equal(ukey_pin_validate("1234", 4, 8), 0);
	assert_int_equal(ukey_pin_validate("12345678", 4, 8), 0);
	assert_int_equal(ukey_pin_validate("123456789", 4, 8), -UKEY_E_PIN_INVALID);
	assert_int_equal(ukey_pin_validate("1", 0, 8), 0);
	assert_int_equal(ukey_pin_validate("123456789", 4, 0), 0);
	/* Bounds count bytes: "密码" is six bytes. */
	assert_int_equal(ukey_pin_validate("密码", 6, 6), 0);
	assert_int_equal(ukey_pin_validate("密码", 7, 0), -UKEY_E_PIN_INVALID);
	assert_int_equal(ukey_pin_validate("密码", 0, 5), -UKEY_E_PIN_INVALID);
}

static void validate_invalid_utf8_rejected(void **state)
{
	static const char *const bad[] = {
		"1234\xff", /* a byte never used in UTF-8 */
		"\xff"
		"1234",
		"12\xc0\x80"
		"34", /* overlong NUL */
		"12\xc1\xbf"
		"34", /* overlong U+007F */
		"12\xe0\x80\xaf"
		"34", /* overlong '/' in three bytes */
		"12\xf0\x80\x80\xaf"
		"34", /* overlong '/' in four bytes */
		"12\xed\xa0\x80"
		"34", /* surrogate U+D800 */
		"12\xed\xbf\xbf"
		"34", /* surrogate U+DFFF */
		"12\xf8\x88\x80\x80\x80"
		"34", /* five-byte form */
		"12\xfc\x84\x80\x80\x80\x80"
		"34", /* six-byte form */
		"12\xf4\x90\x80\x80"
		"34", /* above U+10FFFF */
		"12\x80"
		"34", /* lone continuation byte */
		"1234\xe5\xaf", /* truncated at the end */
		"12\xe5"
		"34", /* truncated in the middle */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ukey_pin_validate(bad[i], 0, 0) != -UKEY_E_PIN_INVALID)
			fail_msg("invalid UTF-8 #%zu accepted", i);
	}
}

static void validate_control_chars_rejected(void **state)
{
	static const char *const bad[] = {
		"12\x01"
		"34",
		"1234\t",
		"12\n34",
		"1234\r",
		"\x1b[0m1234",
		"12\x7f"
		"34", /* DEL */
		"12\xc2\x85"
		"34", /* C1 NEL U+0085 */
		"12\xc2\x80"
		"34", /* C1 U+0080 */
		"12\xc2\x9f"
		"34", /* C1 U+009F */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ukey_pin_validate(bad[i], 0, 0) != -UKEY_E_PIN_INVALID)
			fail_msg("control character #%zu accepted", i);
	}
}

static void validate_utf8_text_accepted(void **state)
{
	(void)state;
	assert_int_equal(ukey_pin_validate("密码1234", 4, 16), 0);
	assert_int_equal(ukey_pin_validate("1234", 4, 16), 0);
	assert_int_equal(ukey_pin_validate("p@ss w0rd~", 0, 0), 0);
	assert_int_equal(ukey_pin_validate("12\xc2\xa0"
					   "34",
					   0, 0),
			 0); /* U+00A0, first after C1 */
	assert_int_equal(ukey_pin_validate("12\xf0\x9f\x94\x91"
					   "34",
					   0, 0),
			 0); /* U+1F511 */
	assert_int_equal(ukey_pin_validate("12\xf4\x8f\xbf\xbf"
					   "34",
					   0, 0),
			 0); /* U+10FFFF */
	assert_int_equal(ukey_pin_validate("12\xee\x80\x80"
					   "34",
					   0, 0),
			 0); /* U+E000, after the surrogates */
}

#define LOCKOUT(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		LOCKOUT(first_nine_wrong_pins_leave_tries),
		LOCKOUT(tenth_wrong_pin_locks),
		LOCKOUT(eleventh_attempt_refused_without_token),
		LOCKOUT(right_pin_refused_when_locked),
		LOCKOUT(correct_pin_resets_count),
		LOCKOUT(attempt_committed_before_token_call),
		LOCKOUT(token_locked_flag_refuses),
		LOCKOUT(token_final_try_flag_caps_tries),
		cmocka_unit_test(no_store_fails_closed),
		LOCKOUT(pin_invalid_from_token_refunded),
		LOCKOUT(token_removed_mid_call_counts),
		LOCKOUT(token_failed_mid_call_counts),
		LOCKOUT(token_answers_locked_counts),
		LOCKOUT(pending_attempt_counts),
		LOCKOUT(two_handles_share_count),
		LOCKOUT(success_clears_only_earlier_attempts),
		LOCKOUT(store_reset_clears),
		LOCKOUT(count_is_per_token),
		cmocka_unit_test(validate_empty_rejected),
		cmocka_unit_test(validate_max_len_edge),
		cmocka_unit_test(validate_token_length_edges),
		cmocka_unit_test(validate_invalid_utf8_rejected),
		cmocka_unit_test(validate_control_chars_rejected),
		cmocka_unit_test(validate_utf8_text_accepted),
	};

	return UNIT_MAIN("pin", tests);
}
