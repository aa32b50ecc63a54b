/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The PIN lockout (R-P1, R-P2): an attempt is journalled before the token sees it, cleared only on success. */
#define _GNU_SOURCE
#include <string.h>

#include "base/err.h"
#include "base/utf8.h"
#include "base/log.h"
#include "pin.h"

int ukey_pin_state(struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		   struct ukey_pin_state *ret_state)
{
	struct ukey_pin_state st = { .max_tries = max_tries };
	int n = 0;

	if (store) {
		n = ukey_store_pin_failures(store, t->manufacturer, t->serial);
		st.counted = n >= 0;
	}
	if (st.counted)
		st.failures = (unsigned)n;
	st.tries_left = st.failures >= max_tries ? 0 : max_tries - st.failures;
	/* The token's own flags win where they are stricter. */
	st.locked_by_token = t->pin_locked;
	if (t->pin_locked)
		st.tries_left = 0;
	else if (t->pin_final_try && st.tries_left > 1)
		st.tries_left = 1;
	st.locked = st.tries_left == 0;
	st.final_try = st.tries_left == 1;
	*ret_state = st;
	return store && n < 0 ? n : 0;
}

int ukey_pin_validate(const char *pin, unsigned long min_len, unsigned long max_len)
{
	size_t len;

	if (!pin)
		return -UKEY_E_PIN_INVALID;
	len = strnlen(pin, UKEY_PIN_MAX_LEN + 1);
	if (len == 0 || len > UKEY_PIN_MAX_LEN)
		return -UKEY_E_PIN_INVALID;
	if ((min_len && len < min_len) || (max_len && len > max_len))
		return -UKEY_E_PIN_INVALID;
	if (!ukey_utf8_valid(pin, len, true))
		return -UKEY_E_PIN_INVALID;
	return 0;
}

static enum ukey_attempt_outcome outcome_of(int r)
{
	switch (r) {
	case 0:
		return UKEY_ATTEMPT_SUCCESS;
	case -UKEY_E_PIN_INCORRECT:
	case -UKEY_E_PIN_LOCKED:
		return UKEY_ATTEMPT_WRONG;
	case -UKEY_E_PIN_INVALID:
	case -UKEY_E_CANCELLED:
		/*
		 * CKR_PIN_LEN_RANGE / CKR_PIN_INVALID: refused before the PIN was
		 * compared; CKR_FUNCTION_CANCELED: the user cancelled on a PIN pad,
		 * so no PIN was entered at all.
		 */
		return UKEY_ATTEMPT_NOT_EVALUATED;
	default:
		/* Removed, device error, anything unexpected: it may have been checked, so it counts. */
		return UKEY_ATTEMPT_UNCERTAIN;
	}
}

int ukey_pin_attempt(struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		     ukey_pin_try_fn try_fn, void *userdata, bool *ret_called)
{
	int64_t attempt;
	int r, q;

	*ret_called = false;
	/* Fail closed: an attempt the journal cannot record must not happen. */
	if (!store)
		return -UKEY_E_STATE_UNAVAILABLE;
	/* R-P2: a token that reports itself locked is not asked at all. */
	if (t->pin_locked)
		return -UKEY_E_PIN_LOCKED;
	r = ukey_store_pin_attempt_begin(store, t->manufacturer, t->serial, t->label, t->model, max_tries, &attempt);
	if (r < 0)
		return r;
	log_debug("PIN attempt %d of %u for token '%s'", r, max_tries, t->serial);

	*ret_called = true;
	r = try_fn(userdata);

	q = ukey_store_pin_attempt_end(store, attempt, outcome_of(r));
	if (q < 0)
		/* The attempt stays counted as pending: strict, never a free try. */
		log_debug_errno(q, "recording the outcome of PIN attempt %lld", (long long)attempt);
	return r;
}

struct login_args {
	struct ukey_session *s;
	const char *pin;
	const char *new_pin;
};

static int try_login(void *userdata)
{
	struct login_args *a = userdata;

	return ukey_session_login(a->s, a->pin);
}

static int try_change(void *userdata)
{
	struct login_args *a = userdata;

	return ukey_session_change_pin(a->s, a->pin, a->new_pin);
}

static bool is_pin_answer(int r)
{
	return r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED || r == -UKEY_E_PIN_INVALID;
}

int ukey_pin_run(struct ukey_p11 *p11, struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		 const char *pin, const char *new_pin, struct ukey_session **ret_session, struct ukey_pin_result *ret)
{
	struct ukey_pin_result res = { .token = *t };
	struct ukey_session *s = NULL;
	bool called = false;
	int r, q;

	if ((r = ukey_pin_validate(pin, t->min_pin_len, t->max_pin_len)) < 0 ||
	    (new_pin && (r = ukey_pin_validate(new_pin, t->min_pin_len, t->max_pin_len)) < 0))
		goto out;
	if ((r = ukey_session_open(p11, t->serial, &s)) < 0 ||
	    (r = ukey_p11_token_info(p11, t->serial, &res.token)) < 0)
		goto out;
	if (new_pin) {
		struct login_args a = { .s = s, .pin = pin, .new_pin = new_pin };

		r = ukey_pin_attempt(store, &res.token, max_tries, try_change, &a, &called);
	} else {
		struct login_args a = { .s = s, .pin = pin };

		r = ukey_pin_attempt(store, &res.token, max_tries, try_login, &a, &called);
	}
	res.attempted = called;
out:
	q = ukey_p11_token_info(p11, t->serial, &res.token);
	res.removed = q == -UKEY_E_TOKEN_REMOVED;
	if (r < 0 && !is_pin_answer(r) && res.removed)
		r = -UKEY_E_TOKEN_REMOVED;
	ukey_pin_state(store, &res.token, max_tries, &res.state);
	if (r == 0 && ret_session)
		*ret_session = s;
	else
		ukey_session_free(s);
	*ret = res;
	return r;
}
