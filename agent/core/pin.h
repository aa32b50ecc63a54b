/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PIN policy: the 10-try lockout (R-P1, R-P2) over any token, and PIN checks before a token sees it. */
#ifndef UKEY_PIN_H
#define UKEY_PIN_H

#include <stdbool.h>
#include <stddef.h>

#include "p11.h"
#include "rules.h"
#include "store.h"

/* R-P1: the token locks after 10 consecutive wrong PINs. Per-model limits come from the model database later. */
#define UKEY_PIN_MAX_TRIES_DEFAULT UKEY_RULE_PIN_MAX_TRIES

/* Longest PIN ukey accepts from any source, in bytes, whatever the token claims. */
#define UKEY_PIN_MAX_LEN 64

/* A buffer for one PIN as read (a byte more than allowed, to detect "too long", and the NUL). */
#define UKEY_PIN_BUF (UKEY_PIN_MAX_LEN + 2)

/* The PIN state of one token: ukey's own journal and the token's flags, the stricter of the two. */
struct ukey_pin_state {
	unsigned max_tries;
	unsigned failures; /* counted by ukey; 0 when counted is false */
	unsigned tries_left; /* 0 when locked */
	bool counted; /* the store could be read: failures is known */
	bool locked; /* R-P2: no attempt will be made */
	bool locked_by_token; /* the token itself reports CKF_USER_PIN_LOCKED */
	bool final_try; /* one try left (either side says so) */
};

/*
 * ukey_pin_state: compute the state of token t. store may be NULL (not
 * available): then counted is false and only the token's flags speak.
 * Returns 0 or a negative store error (state still filled from the flags).
 */
int ukey_pin_state(struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		   struct ukey_pin_state *ret_state);

/*
 * ukey_pin_validate: check a PIN before any token sees it: not empty, valid
 * UTF-8 without control characters, and within both UKEY_PIN_MAX_LEN and the
 * token's [min_len, max_len] (0 = no bound from the token).
 * Returns 0 or -UKEY_E_PIN_INVALID.
 */
int ukey_pin_validate(const char *pin, unsigned long min_len, unsigned long max_len);

/*
 * The call that hands the PIN to the token, for ukey_pin_attempt(). Returns
 * 0 or a token-layer error (-UKEY_E_PIN_INCORRECT, -UKEY_E_PIN_LOCKED, …).
 */
typedef int (*ukey_pin_try_fn)(void *userdata);

/*
 * ukey_pin_attempt: the lockout around one PIN attempt (R-P1, R-P2):
 *  1. refuse, without calling try_fn, when the store is unavailable (fail
 *     closed: no uncounted attempt), when the token reports itself locked,
 *     or when the journal holds max_tries counted failures;
 *  2. record the attempt and commit it;
 *  3. call try_fn exactly once (never a retry);
 *  4. record the outcome: success clears the count; a wrong PIN, or a token
 *     that fails or vanishes mid-call, stays counted; an answer that shows
 *     the token never checked the PIN (length out of range) is refunded.
 * Returns try_fn's result, or -UKEY_E_PIN_LOCKED / -UKEY_E_STATE_* from
 * step 1 or 2. *ret_called tells whether try_fn ran.
 */
int ukey_pin_attempt(struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		     ukey_pin_try_fn try_fn, void *userdata, bool *ret_called);

/* What one PIN operation did, for a front end to tell the user. */
struct ukey_pin_result {
	struct ukey_token_info token; /* the token as read after the attempt (or before, if it vanished) */
	struct ukey_pin_state state; /* the PIN state after the attempt */
	bool attempted; /* the PIN reached the token (and was counted) */
	bool removed; /* the token is gone now: pulled before or during the attempt */
};

/*
 * ukey_pin_run: the whole PIN flow both front ends use, so the CLI and the
 * API can never disagree: validate the PIN(s) against t's limits, find the
 * token afresh by serial (it may have been pulled while the PIN was typed),
 * open a session, make the counted attempt (C_Login, or C_SetPIN when
 * new_pin is not NULL, through ukey_pin_attempt()), then read the token and the
 * PIN state again into *ret.
 *
 * A key pulled mid-login often answers a device error rather than
 * CKR_DEVICE_REMOVED; when the token is gone from the list afterwards the
 * result is -UKEY_E_TOKEN_REMOVED (the try stays counted).
 *
 * On success with ret_session non-NULL the logged-in session is handed to
 * the caller (free it with ukey_session_free()); otherwise it is closed.
 * Returns 0 or a negative error; *ret is filled in both cases.
 */
int ukey_pin_run(struct ukey_p11 *p11, struct ukey_store *store, const struct ukey_token_info *t, unsigned max_tries,
		 const char *pin, const char *new_pin, struct ukey_session **ret_session, struct ukey_pin_result *ret);

#endif
