/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificate validity under R-R1/R-R2/R-R5: whole days, computed one way for every front end. */
#include <string.h>

#include "validity.h"

#define DAY 86400L

/* Floor division: -1 s is day -1, not day 0. */
static long floor_days(long long seconds)
{
	return (long)(seconds >= 0 ? seconds / DAY : -((-seconds + DAY - 1) / DAY));
}

void ukey_validity_eval(time_t not_before, time_t not_after, time_t now, struct ukey_validity *ret)
{
	struct ukey_validity v = { 0 };

	v.days_left = floor_days((long long)not_after - (long long)now);
	if (now > not_after) {
		v.status = UKEY_VALIDITY_EXPIRED;
		/*
		 * Days expired count started days, like the calendar: the first second after notAfter is day 1,
		 * so "expired no more than 365 days" ends exactly 365 × 24 h after notAfter. For the CA's
		 * certificates (valid to 23:59:59 of their last day) this is the date difference the CA counts.
		 */
		v.days_expired = -floor_days((long long)not_after - (long long)now);
		/* R-R2: open while expired no more than 365 days; R-R5 beyond that. */
		v.renewal_open = v.days_expired <= UKEY_RENEW_GRACE_DAYS;
		v.needs_documents = !v.renewal_open;
	} else if (now < not_before) {
		v.status = UKEY_VALIDITY_NOT_YET_VALID;
	} else if (v.days_left < UKEY_RENEW_OPEN_DAYS) {
		/* R-R2: "less than 90 days left". */
		v.status = UKEY_VALIDITY_EXPIRING;
		v.renewal_open = true;
	} else {
		v.status = UKEY_VALIDITY_VALID;
	}
	*ret = v;
}

const char *ukey_validity_status_id(enum ukey_validity_status s)
{
	switch (s) {
	case UKEY_VALIDITY_NOT_YET_VALID:
		return "not-yet-valid";
	case UKEY_VALIDITY_VALID:
		return "valid";
	case UKEY_VALIDITY_EXPIRING:
		return "expiring";
	case UKEY_VALIDITY_EXPIRED:
		return "expired";
	}
	return "unknown";
}

/* a before b: a key pair known to match first, then the later end, then the lower CKA_ID. */
static bool identity_before(const struct ukey_cert_info *a, const struct ukey_cert_info *b)
{
	int c;

	if (a->key_match != b->key_match)
		return a->key_match == UKEY_KEY_MATCH_YES;
	if (a->not_after != b->not_after)
		return a->not_after > b->not_after;
	c = memcmp(a->id, b->id, a->id_len < b->id_len ? a->id_len : b->id_len);
	return c != 0 ? c < 0 : a->id_len < b->id_len;
}

int ukey_cert_identity(const struct ukey_cert_info *certs, int n, bool need_match)
{
	int best = -1;

	for (int i = 0; i < n; i++) {
		if (!certs[i].readable || certs[i].key_match == UKEY_KEY_MATCH_NO ||
		    (need_match && certs[i].key_match != UKEY_KEY_MATCH_YES))
			continue;
		if (best < 0 || identity_before(&certs[i], &certs[best]))
			best = i;
	}
	return best;
}
