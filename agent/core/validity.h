/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificate validity as the CA's rules see it: days left, expiring (R-R2), expired (R-R1), renewal window. */
#ifndef UKEY_VALIDITY_H
#define UKEY_VALIDITY_H

#include <stdbool.h>
#include <time.h>

#include "cert.h"
#include "rules.h"

/* R-R2: online renewal opens when fewer than this many days are left … */
#define UKEY_RENEW_OPEN_DAYS UKEY_RULE_RENEW_OPEN_DAYS
/* … and stays open until the certificate has been expired for more than this many days (R-R2, R-R5). */
#define UKEY_RENEW_GRACE_DAYS UKEY_RULE_RENEW_GRACE_DAYS

enum ukey_validity_status {
	UKEY_VALIDITY_NOT_YET_VALID,
	UKEY_VALIDITY_VALID,
	UKEY_VALIDITY_EXPIRING, /* valid, fewer than 90 days left: renewal is open (R-R2) */
	UKEY_VALIDITY_EXPIRED, /* R-R1: must be renewed to be usable */
};

struct ukey_validity {
	enum ukey_validity_status status;
	/*
	 * Whole days from now to notAfter, rounded down: 89 days and 23 hours
	 * left is 89. Negative once expired: -1 during the first day after
	 * notAfter, -365 up to 365 whole days after.
	 */
	long days_left;
	/* Days since notAfter, started days (the first second after it is 1, 24 h after it still 1); 0 while not
	 * expired. For a certificate valid to 23:59:59 of its last day, the calendar days since that day. */
	long days_expired;
	/* R-R2: renewal online is open (expiring, or expired no more than 365 whole days). */
	bool renewal_open;
	/* R-R5: expired more than 365 days: documents and approval first. */
	bool needs_documents;
};

/*
 * ukey_validity_eval: evaluate a certificate's validity at now. A
 * certificate is valid through its notAfter second inclusive (RFC 5280).
 */
void ukey_validity_eval(time_t not_before, time_t not_after, time_t now, struct ukey_validity *ret);

/* ukey_validity_status_id: "valid", "expiring", "expired", "not-yet-valid": stable, for JSON. */
const char *ukey_validity_status_id(enum ukey_validity_status s);

/*
 * ukey_cert_identity: which of a key's certificates is the unit's identity
 * (sign's default key, the certificate renewal reads, R-R7): a readable one
 * whose key pair is on the key (key_match YES; with need_match false, one
 * with no public key object to compare with also counts), the latest to end,
 * then the lowest CKA_ID, so the answer never depends on the order a module
 * lists its objects in. Returns its index, or -1.
 */
int ukey_cert_identity(const struct ukey_cert_info *certs, int n, bool need_match);

#endif
