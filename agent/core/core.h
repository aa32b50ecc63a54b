/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core entry points: one per capability, called by every front end (the CLI, ukeyd's API) and by nothing else. */
#ifndef UKEY_CORE_H
#define UKEY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "est.h"
#include "p11.h"
#include "pin.h"
#include "renew.h"
#include "store.h"

/*
 * A front end parses its input, calls one of these, and prints what comes
 * back: the rules (R-P…, R-R…), the token selection, the pre-checks and the
 * error sentences live here, so the CLI and the API can never disagree.
 * Every function that can fail fills a struct ukey_failure, from which
 * ukey_failure_message() makes the one sentence both front ends show.
 *
 * Threads: a struct ukey_core is used by one thread at a time (ukeyd gives
 * each worker its own, sharing the module: PKCS#11 modules are initialised
 * with CKF_OS_LOCKING_OK).
 */

struct ukey_model_db;

struct ukey_core {
	struct ukey_p11 *p11; /* the loaded module (not owned) */
	struct ukey_store *store; /* NULL: unusable, store_error says why; PIN entry then fails closed (R-P1) */
	int store_error;
	unsigned max_tries; /* R-P1 */
	const char *module; /* the module's path, for messages */
	const char *state_dir; /* for messages */
	const char *ca_url, *ca_trust; /* the CA (EST base, trust PEM); ca_url NULL: not configured */
	struct ukey_model_db *models; /* NULL: not loaded */
	/*
	 * Make tokens that appeared since the module was loaded visible, when a
	 * key is not found (ukeyd: a module whose slot list is fixed at
	 * C_Initialize). NULL: the process is young enough (the CLI).
	 */
	int (*rescan)(void *userdata);
	void *rescan_userdata;
};

/* What the call was doing when it failed: it chooses the sentence's second half. */
enum ukey_during {
	UKEY_DURING_ANY,
	UKEY_DURING_PIN_CHANGE, /* a PIN the key refuses is the NEW one */
	UKEY_DURING_RENEW, /* the old certificate is still there: say so, and how to go on */
};

/* A failure as the user must hear it: the code, the rule it falls under, and the context of the sentence. */
struct ukey_failure {
	int r;
	const char *rule; /* "R-P1", … or NULL */
	enum ukey_during during;
	bool has_pin; /* pin is the key's PIN state after the call */
	struct ukey_pin_state pin;
	bool has_token;
	struct ukey_token_info token;
	bool pin_attempted; /* the PIN reached the key (and was counted) */
	char detail[256]; /* the selector, a path, an order id, the CA's own words; may be empty */
	char date[11]; /* YYYY-MM-DD: when renewal opens or closed */
	long days; /* days left, or days expired */
	time_t when; /* when to try again (a pending order) */
};

/* ukey_failure_set: record r (and rule, may be NULL) in f, keeping the context already there. Returns r. */
int ukey_failure_set(struct ukey_failure *f, int r, const char *rule);

/*
 * ukey_core_fail: record r in f with the context its sentence names: the
 * selector for a key not found, the module's path, the state database (and
 * R-P1, whose count it keeps). Only core's module and state_dir are read.
 * Returns r.
 */
int ukey_core_fail(const struct ukey_core *core, const char *selector, int r, struct ukey_failure *f);

/*
 * ukey_failure_message: the one sentence for f — what happened and what to
 * do — in the calling thread's locale (gettext, domain "ukey"; the API runs in
 * the C locale and answers in English). Returns buf.
 */
const char *ukey_failure_message(const struct ukey_failure *f, char *buf, size_t size);

/*
 * ukey_core_select: the key a call is about: the one whose serial (first)
 * or label is selector, or the only one inserted when selector is NULL.
 * -UKEY_E_NO_TOKEN, -UKEY_E_TOKEN_NOT_FOUND, -UKEY_E_TOKEN_AMBIGUOUS.
 */
int ukey_core_select(struct ukey_core *core, const char *selector, struct ukey_token_info *ret, struct ukey_failure *f);

/* One inserted key as every list shows it: the token, its PIN state (R-P1), how many certificates it holds. */
struct ukey_token_overview {
	struct ukey_token_info token;
	struct ukey_pin_state pin;
	int ncerts; /* < 0: the certificates could not be read */
};

/*
 * ukey_core_overview: every inserted key. Works without the store (the tries
 * are then unknown, pin.counted false). Returns the count and a malloc'ed
 * array in *ret (NULL when empty), or a negative error.
 */
int ukey_core_overview(struct ukey_core *core, struct ukey_token_overview **ret, struct ukey_failure *f);

/* ukey_core_pin_status: the selected key's PIN state; the store must be readable. */
int ukey_core_pin_status(struct ukey_core *core, const char *selector, struct ukey_token_info *ret_token,
			 struct ukey_pin_state *ret_state, struct ukey_failure *f);

/*
 * ukey_core_pin_prepare: everything before a PIN is asked: the key, a usable
 * store (fail closed, R-P1), and a locked key refused (R-P2) before anyone
 * types a PIN for nothing.
 */
int ukey_core_pin_prepare(struct ukey_core *core, const char *selector, struct ukey_token_info *ret_token,
			  struct ukey_pin_state *ret_state, struct ukey_failure *f);

/*
 * ukey_core_pin: the counted attempt (R-P1) on token: C_Login, or C_SetPIN
 * when new_pin is set (ukey_pin_run). On success with ret_session the
 * logged-in session is handed over. *ret_locked_now is set when this very
 * attempt locked the key (a front end tells everyone). f holds the PIN state
 * in every case.
 */
int ukey_core_pin(struct ukey_core *core, const struct ukey_token_info *token, const char *pin, const char *new_pin,
		  struct ukey_session **ret_session, bool *ret_locked_now, struct ukey_failure *f);

/* The key a signature is made with, chosen before the PIN is used. */
struct ukey_sign_key {
	uint8_t id[UKEY_P11_ID_MAX]; /* CKA_ID */
	size_t id_len;
	uint8_t *cert_der; /* its certificate (malloc'd), or NULL */
	size_t cert_len;
	enum ukey_key_kind kind; /* UKEY_KEY_UNKNOWN without a certificate */
};

void ukey_sign_key_clear(struct ukey_sign_key *k);

/* ukey_sign_key_copy: a deep copy (the certificate too). 0 or -ENOMEM. */
int ukey_sign_key_copy(const struct ukey_sign_key *k, struct ukey_sign_key *ret);

/* ukey_core_sign_key_check: whether a key chosen earlier can do mech (-UKEY_E_UNSUPPORTED otherwise). */
int ukey_core_sign_key_check(const struct ukey_sign_key *k, enum ukey_sign_mech mech, struct ukey_failure *f);

/*
 * ukey_core_sign_key: the private key for mech: key_id (hex CKA_ID), else
 * the first readable certificate's. A mechanism the key cannot do is refused
 * here, so it costs no PIN try (-UKEY_E_UNSUPPORTED). -UKEY_E_USAGE for a
 * malformed key_id, -UKEY_E_KEY_NOT_FOUND.
 */
int ukey_core_sign_key(struct ukey_core *core, const struct ukey_token_info *token, enum ukey_sign_mech mech,
		       const char *key_id, struct ukey_sign_key *ret, struct ukey_failure *f);

/*
 * ukey_core_sign: sign input (the data, or its SHA-256 when is_digest) in a
 * logged-in session with key. *ret_sig is malloc'd.
 */
int ukey_core_sign(struct ukey_core *core, struct ukey_session *s, const struct ukey_sign_key *key,
		   enum ukey_sign_mech mech, const uint8_t *input, size_t input_len, bool is_digest, uint8_t **ret_sig,
		   size_t *ret_len, struct ukey_failure *f);

/* ukey_sign_mech_parse / _id: "rsa-pkcs1-sha256" (also for NULL), "rsa-pss-sha256", "ecdsa-sha256". */
int ukey_sign_mech_parse(const char *name, enum ukey_sign_mech *ret);
const char *ukey_sign_mech_id(enum ukey_sign_mech mech);

/* The renewal window of the inserted key (R-R7) as ukey reads it, and as the CA confirms it. */
struct ukey_renew_check {
	struct ukey_renew_plan plan; /* ukey's own reading of R-R2…R-R5 */
	bool ca_asked; /* the CA answered about this certificate */
	bool ca_agrees; /* …and says what ukey says */
	bool ca_configured;
	int ca_error; /* why it could not be asked (0: it was, or no CA is configured) */
	struct ukey_ca_status ca;
	bool open; /* the answer: the CA's word where it gave one (it is the authority), else ukey's */
};

/*
 * ukey_core_renew_check: the same answer for `ukey renew --check` and
 * renew.check. Touches neither the key's objects nor its PIN.
 * -UKEY_E_CERT_UNREADABLE (R-D3), the selection errors.
 */
int ukey_core_renew_check(struct ukey_core *core, const char *selector, time_t now, struct ukey_renew_check *ret,
			  struct ukey_failure *f);

/* ukey_core_renew_window: 0 when R-R2 opens renewal for p; else -UKEY_E_RENEW_NOT_OPEN (R-R2 or R-R5) with the dates. */
int ukey_core_renew_window(const struct ukey_renew_plan *p, struct ukey_failure *f);

/*
 * ukey_core_renew_prepare: everything before a renewal asks for the PIN: a
 * CA configured (unless only aborting), the store (R-P1 and the journal),
 * the key and its plan, a locked key refused (R-P2), the window (R-R2; R-R5
 * needs documents) unless a renewal is under way or force is set.
 * -UKEY_E_RENEW_NOT_OPEN carries the dates in f.
 */
int ukey_core_renew_prepare(struct ukey_core *core, const char *selector, bool force, bool need_ca,
			    struct ukey_renew_plan *ret_plan, struct ukey_failure *f);

/*
 * ukey_core_renew_run: renew (or carry on with) the prepared key (ukey_renew_run):
 * progress reports each step. -UKEY_E_RENEW_PENDING with the order and when
 * to retry in f; the PIN errors with the PIN state.
 */
int ukey_core_renew_run(struct ukey_core *core, const struct ukey_renew_plan *plan, const char *pin, bool force,
			ukey_renew_progress_fn progress, void *userdata, struct ukey_renew_outcome *ret,
			struct ukey_failure *f);

/* ukey_core_renew_abort: drop the key's renewal before its certificate is written (-EBUSY after). */
int ukey_core_renew_abort(struct ukey_core *core, const struct ukey_renew_plan *plan, const char *pin,
			  struct ukey_failure *f);

#endif
