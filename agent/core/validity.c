/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificate validity under R-R1/R-R2/R-R5: whole days, computed one way for every front end. */
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
