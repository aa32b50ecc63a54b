/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Online renewal onto the token (R-R): eligibility, then keygen → CSR → EST → verify → write → remove, journaled. */
#ifndef UKEY_RENEW_H
#define UKEY_RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "est.h"
#include "p11.h"
#include "pin.h"
#include "store.h"
#include "validity.h"

/* The steps the user sees, in order (progress lines and the API's renew.progress). */
enum ukey_renew_step {
	UKEY_RENEW_STEP_LOGIN,
	UKEY_RENEW_STEP_KEYGEN,
	UKEY_RENEW_STEP_REQUEST,
	UKEY_RENEW_STEP_VERIFY,
	UKEY_RENEW_STEP_WRITE,
	UKEY_RENEW_STEP_REMOVE_OLD,
	UKEY_RENEW_STEP_DONE,
};

typedef void (*ukey_renew_progress_fn)(void *userdata, enum ukey_renew_step step, const char *detail);

struct ukey_renew_ctx {
	struct ukey_p11 *p11;
	struct ukey_store *store; /* required: the journal (and the PIN count, R-P1) live there */
	unsigned max_tries;
	const char *token; /* the inserted key to renew (serial or label); NULL: the only one (R-R7) */
	struct ukey_est est; /* base_url and trust_pem; the client key is filled in here */
	time_t now;
	bool force; /* a technician renews outside R-R2's window */
	ukey_renew_progress_fn progress;
	void *userdata;
};

/* What ukey_renew_plan sees: the key, its current certificate, and what R-R says about it now. */
struct ukey_renew_plan {
	struct ukey_token_info token;
	char subject[256]; /* the certificate's name read from the key (R-R7) */
	char subject_cn[128];
	char serial_hex[80];
	char label[64];
	uint8_t id[64]; /* CKA_ID of the current pair */
	size_t id_len;
	enum ukey_key_kind key_kind;
	time_t not_after;
	struct ukey_validity validity;
	bool open; /* R-R2 */
	char opens_on[11], closes_on[11]; /* YYYY-MM-DD (UTC): first day open, last day open online */
	const char *rule; /* "R-R3" (not expired), "R-R4" (expired, ≤ 365 days), "R-R5" (documents first) */
	char expected_not_after[11]; /* what the rule gives the new certificate (UTC date) */
	bool in_progress; /* a renewal of this key is journaled and not finished */
	enum ukey_renewal_state journal_state; /* when in_progress */
};

/*
 * ukey_renew_plan: find the key and its current certificate (readable, for
 * the key pair on the key) and evaluate R-R2…R-R5 at ctx->now. Touches
 * neither the key nor the CA. -UKEY_E_NO_TOKEN, -UKEY_E_TOKEN_AMBIGUOUS,
 * -UKEY_E_CERT_UNREADABLE (no usable certificate on the key).
 */
int ukey_renew_plan(const struct ukey_renew_ctx *ctx, struct ukey_renew_plan *ret);

struct ukey_renew_outcome {
	bool done;
	bool pending; /* the CA holds the order */
	char order[64];
	time_t retry_at;
	char new_not_after[11];
	char warning[256]; /* e.g. validity not as R-R3/R-R4 expects: the CA stays the authority */
	struct ukey_pin_state pin; /* after a wrong PIN */
};

/*
 * ukey_renew_run: renew the key, or carry on with its journaled renewal.
 * pin is used for the login (counted, R-P1) and never kept. Each step is
 * committed to the journal before it is taken; the old certificate and key
 * are removed only after the new certificate is on the key, so an
 * interruption at any point leaves the old or the new pair usable, and
 * running again finishes the job without orphans. R-P4: the PIN is not
 * changed. Errors: -UKEY_E_RENEW_NOT_OPEN (outside R-R2 without force),
 * -UKEY_E_RENEW_PENDING (the CA holds the order: outcome says until when),
 * the PIN errors, -UKEY_E_CA_*, -UKEY_E_TOKEN_REMOVED.
 */
int ukey_renew_run(const struct ukey_renew_ctx *ctx, const char *pin, struct ukey_renew_outcome *ret);

/*
 * ukey_renew_abort: give up the key's journaled renewal before its new
 * certificate is on the key: the new key pair is removed (needs the PIN),
 * the old pair stays. -ENOENT when there is none; -EBUSY once written
 * (then only going forward is safe).
 */
int ukey_renew_abort(const struct ukey_renew_ctx *ctx, const char *pin, struct ukey_pin_state *ret_pin);

/* ukey_renew_step_id: "login", "keygen", "request", "verify", "write", "remove-old", "done". */
const char *ukey_renew_step_id(enum ukey_renew_step step);

/* ukey_date_plus_year: YYYY-MM-DD one year after t (UTC); 29 February → 28 February. */
void ukey_date_plus_year(time_t t, char out[static 11]);

#endif
