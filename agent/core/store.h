/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state store: one SQLite database per user, shared safely by the CLI and ukeyd. */
#ifndef UKEY_STORE_H
#define UKEY_STORE_H

#include <stdint.h>

/*
 * The database lives in the state directory (default $XDG_STATE_HOME/ukey,
 * i.e. ~/.local/state/ukey) as state.db, in WAL mode with synchronous=FULL:
 * a committed PIN attempt survives kill -9 and power loss. Writers take the
 * lock up front (BEGIN IMMEDIATE) and wait up to UKEY_STORE_BUSY_MS for
 * another process. The schema carries its version in PRAGMA user_version and
 * is migrated forward on open.
 *
 * Errors: -UKEY_E_STATE_UNAVAILABLE (directory or file cannot be created,
 * opened or written: permissions, read-only file system, disk full),
 * -UKEY_E_STATE_CORRUPT (not a database, damaged, or a newer schema).
 */

#define UKEY_STORE_BUSY_MS 5000

struct ukey_store;

/* What became of one counted PIN attempt (see ukey_store_pin_attempt_end()). */
enum ukey_attempt_outcome {
	UKEY_ATTEMPT_SUCCESS, /* the PIN was right: clear this and every earlier attempt */
	UKEY_ATTEMPT_WRONG, /* the token said the PIN is wrong: stays counted */
	UKEY_ATTEMPT_UNCERTAIN, /* the token failed or vanished mid-call: stays counted */
	UKEY_ATTEMPT_NOT_EVALUATED, /* the token rejected the call before checking the PIN: refunded */
};

/*
 * ukey_store_open: open (creating, mode 0700/0600) the store in dir.
 * Returns 0 and *ret_store; free with ukey_store_free().
 */
int ukey_store_open(const char *dir, struct ukey_store **ret_store);

/* ukey_store_free: close the database. NULL-safe; returns NULL. */
struct ukey_store *ukey_store_free(struct ukey_store *store);

/* ukey_store_path: the database file's path. Owned by store. */
const char *ukey_store_path(const struct ukey_store *store);

/*
 * ukey_store_pin_failures: consecutive counted attempts of the token
 * (manufacturer, serial) that have not been cleared by a success: wrong,
 * uncertain and still-pending ones (a process killed mid-attempt).
 * Returns the count (>= 0) or a negative error.
 */
int ukey_store_pin_failures(struct ukey_store *store, const char *manufacturer, const char *serial);

/*
 * ukey_store_pin_attempt_begin: in one transaction, refuse when the token
 * already has limit or more counted failures (-UKEY_E_PIN_LOCKED), else
 * record a pending attempt and commit it before returning. Call this BEFORE
 * the PIN reaches the token: a crash afterwards leaves the attempt counted.
 * label and model are remembered for display. Returns the number of counted
 * attempts including this one (>= 1) and its id in *ret_attempt.
 */
int ukey_store_pin_attempt_begin(struct ukey_store *store, const char *manufacturer, const char *serial,
				 const char *label, const char *model, unsigned limit, int64_t *ret_attempt);

/* ukey_store_pin_attempt_end: record the outcome of the attempt id (see the enum). */
int ukey_store_pin_attempt_end(struct ukey_store *store, int64_t attempt, enum ukey_attempt_outcome outcome);

/* ukey_store_pin_reset: forget every counted attempt of the token (after an unlock, R-P3). */
int ukey_store_pin_reset(struct ukey_store *store, const char *manufacturer, const char *serial);

/*
 * Web origins the local API trusts (canonical form, see origin.h).
 * ukey_store_origin_add / _remove return 1 when the list changed, 0 when
 * it already was so; ukey_store_origin_allowed returns 1 or 0;
 * ukey_store_origin_list returns the count and a NULL-terminated malloc'ed
 * array of malloc'ed strings (NULL when empty). All: negative on error.
 */
int ukey_store_origin_add(struct ukey_store *store, const char *origin);
int ukey_store_origin_remove(struct ukey_store *store, const char *origin);
int ukey_store_origin_allowed(struct ukey_store *store, const char *origin);
int ukey_store_origin_list(struct ukey_store *store, char ***ret_origins);

/* ukey_store_schema_version: the schema version this build writes. */
int ukey_store_schema_version(void);

/*
 * The renewal journal (issue 6): each renewal is a row whose state is
 * committed before the step it names is taken, so that after kill -9 or a
 * pulled key `ukey renew --resume` knows which objects exist. States, in
 * order: keygen (new_id chosen, the key pair may or may not exist), keypair,
 * pending (the CA holds the order: order, retry_at), received (cert holds
 * the new certificate), written (it is on the key), done; or aborted.
 */
/* The renewal journal's steps (architecture.md): keygen → keypair → pending → received → written → done. */
enum ukey_renewal_state {
	UKEY_RENEWAL_KEYGEN, /* journaled; the new key pair may not exist yet */
	UKEY_RENEWAL_KEYPAIR, /* the new key pair is on the key */
	UKEY_RENEWAL_PENDING, /* the CA holds the order */
	UKEY_RENEWAL_RECEIVED, /* the new certificate arrived and verified; not yet on the key */
	UKEY_RENEWAL_WRITTEN, /* the new certificate is on the key; the old pair not yet removed */
	UKEY_RENEWAL_DONE,
	UKEY_RENEWAL_ABORTED,
};

/* ukey_renewal_state_id: "keygen", "keypair", "pending", "received", "written", "done", "aborted" (stored, shown). */
const char *ukey_renewal_state_id(enum ukey_renewal_state state);

struct ukey_renewal {
	int64_t id;
	char serial[17];
	enum ukey_renewal_state state;
	uint8_t old_id[64], new_id[64]; /* CKA_ID of the pair being replaced, and of the new pair */
	size_t old_id_len, new_id_len;
	char label[64]; /* CKA_LABEL for the new objects */
	int key_kind; /* enum ukey_key_kind */
	char order[64]; /* the CA's order id while pending; empty otherwise */
	int64_t retry_at; /* epoch seconds: not before this (Retry-After) */
	uint8_t *cert; /* the issued certificate once received (malloc'd) */
	size_t cert_len;
};

void ukey_renewal_clear(struct ukey_renewal *r);

/* ukey_store_renewal_begin: record a new renewal (r->id set). -EEXIST when the key has one not done or aborted. */
int ukey_store_renewal_begin(struct ukey_store *store, struct ukey_renewal *r);

/* ukey_store_renewal_update: state, order, retry_at and cert of r->id (committed durably before returning). */
int ukey_store_renewal_update(struct ukey_store *store, const struct ukey_renewal *r);

/* ukey_store_renewal_active: the key's renewal not done or aborted; -ENOENT when none. */
int ukey_store_renewal_active(struct ukey_store *store, const char *serial, struct ukey_renewal *ret);

/* ukey_store_renewal_list: every renewal not done or aborted (pending orders first of all); returns the count. */
int ukey_store_renewal_list(struct ukey_store *store, struct ukey_renewal **ret);

#endif
