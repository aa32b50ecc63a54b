/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference CA's state in DIR/state.db (SQLite): settings, issued certificates, revocations, orders. */
#ifndef REFCA_STATE_H
#define REFCA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A serial as the CA writes it: lowercase hex, no separators; ours are 16 bytes (32 digits). */
#define REFCA_SERIAL_HEX_MAX 40
/* An order id: 16 lowercase hex digits. */
#define REFCA_ORDER_ID_LEN 16

struct refca_state;

struct refca_cert {
	char serial[REFCA_SERIAL_HEX_MAX + 1];
	char *subject; /* RFC 2253 text, UTF-8 */
	long not_before, not_after, first_issued; /* dates (date.h); first_issued carries over on renewal (R-D4) */
	int64_t issued_at; /* the CA's clock (refca_state_now) when issued */
	char via[16]; /* "admin", "simpleenroll" or "simplereenroll" */
	char renewed_from[REFCA_SERIAL_HEX_MAX + 1]; /* the old certificate's serial, or "" */
	bool revoked;
	int64_t revoked_at; /* the CA's clock at revocation; 0 unless revoked */
	unsigned char *der;
	size_t der_len;
};

struct refca_order {
	char id[REFCA_ORDER_ID_LEN + 1];
	char serial[REFCA_SERIAL_HEX_MAX + 1]; /* the OLD certificate the order renews */
	char rule[8]; /* the rule when the order was made: "R-R3", "R-R4" or "R-R5" */
	bool needs_documents; /* R-R5 */
	bool approved; /* R-R5 documents approved (admin approve) */
	bool paid; /* R-R6 (admin pay, or --autopay) */
	int64_t created; /* the CA's clock */
	long retry_after; /* seconds, as sent in Retry-After */
	char issued_serial[REFCA_SERIAL_HEX_MAX + 1]; /* the renewal certificate, "" until issued */
};

/*
 * refca_state_open: open DIR/state.db; create (the schema) must be true
 * only for `init`, otherwise a missing database is -ENOENT. Returns 0,
 * -ENOENT, -ENOMEM or -EIO (the database cannot be opened or is not ours).
 */
int refca_state_open(const char *dir, bool create, struct refca_state **ret);
struct refca_state *refca_state_free(struct refca_state *st);

/*
 * refca_state_today: the CA's notion of today: the persisted override if
 * one is set, else the real UTC date. Read from the database every call,
 * so a running server follows `admin today`.
 */
int refca_state_today(struct refca_state *st, long *ret_today, bool *ret_overridden);
/* refca_state_set_today: set (date >= 0 is not required; any parsed date) or clear (clear = true) the override. */
int refca_state_set_today(struct refca_state *st, long date, bool clear);
/* refca_state_now: the CA's clock: its today at the real time of day (UTC seconds). */
int refca_state_now(struct refca_state *st, int64_t *ret_now);

/* Settings: a string value for a key; -ENOENT if unset. ret is malloc'd. */
int refca_state_get_setting(struct refca_state *st, const char *key, char **ret);
int refca_state_set_setting(struct refca_state *st, const char *key, const char *value);
/* refca_state_next_number: increment and return the counter named key (CRL numbers). */
int refca_state_next_number(struct refca_state *st, const char *key, long *ret);

/* Certificates. A cert from refca_state_cert_get is owned by the caller: refca_cert_free. */
void refca_cert_free(struct refca_cert *c);
int refca_state_cert_add(struct refca_state *st, const struct refca_cert *c);
int refca_state_cert_get(struct refca_state *st, const char *serial, struct refca_cert **ret);
/* refca_state_cert_revoke: -ENOENT unknown serial, -EALREADY already revoked. */
int refca_state_cert_revoke(struct refca_state *st, const char *serial, int64_t when);
/* refca_state_cert_each: call fn for every certificate (revoked_only: only the revoked), oldest first; stops on fn < 0. */
int refca_state_cert_each(struct refca_state *st, bool revoked_only, int (*fn)(const struct refca_cert *c, void *u),
			  void *u);

/* Orders. -ENOENT when there is none; one order per old serial (refca_state_order_add: -EEXIST). */
int refca_state_order_add(struct refca_state *st, const struct refca_order *o);
int refca_state_order_get(struct refca_state *st, const char *id, struct refca_order *ret);
int refca_state_order_by_serial(struct refca_state *st, const char *serial, struct refca_order *ret);
/* refca_state_order_update: writes approved, paid and issued_serial of the order o->id. */
int refca_state_order_update(struct refca_state *st, const struct refca_order *o);
/* refca_state_order_each: every order (serial NULL) or those renewing serial, oldest first. */
int refca_state_order_each(struct refca_state *st, const char *serial, int (*fn)(const struct refca_order *o, void *u),
			   void *u);

/*
 * refca_order_state: the order's state, one of "documents-required",
 * "payment-required", "approved" (R-R5, documents approved and paid),
 * "paid" (R-R3/R-R4, paid) or "issued" (API.md).
 */
const char *refca_order_state(const struct refca_order *o);

/* refca_serial_normalize: hex (any case, 1..REFCA_SERIAL_HEX_MAX digits) to lowercase without leading zeros; -EINVAL. */
int refca_serial_normalize(const char *in, char out[REFCA_SERIAL_HEX_MAX + 1]);

#endif
