/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renewal rules R-R2..R-R5 of service-rules.md, computed on whole UTC days (the CA's own implementation). */
#ifndef REFCA_RULES_H
#define REFCA_RULES_H

#include <stdbool.h>

/* R-R2: the plain online flow opens when FEWER than this many days are left ... */
#define REFCA_RENEW_OPEN_DAYS_LEFT 90
/* ... and stays open until the certificate has been expired this many days (inclusive). */
#define REFCA_RENEW_EXPIRED_DAYS 365

enum refca_rule {
	REFCA_RULE_NOT_YET, /* R-R2: 90 days or more left, renewal not open yet */
	REFCA_RULE_R3, /* R-R3: not expired; new end = old end + 1 year */
	REFCA_RULE_R4, /* R-R4: expired <= 365 days; new end = day of download + 1 year */
	REFCA_RULE_R5, /* R-R5: expired > 365 days; documents and approval first, then as R-R4 */
};

struct refca_renewal {
	enum refca_rule rule;
	bool open; /* the plain flow (R-R2): R-R3 or R-R4 */
	long days_left; /* not_after - today; 0 on the last valid day, negative once expired */
	long opens_on; /* first date of the R-R2 window: not_after - 89 */
	long closes_on; /* last date of the R-R2 window: not_after + 365 */
	long new_not_before; /* if issued today: today */
	long new_not_after; /* if issued today: R-R3 / R-R4 (R-R5 as R-R4); unset for REFCA_RULE_NOT_YET */
};

/*
 * refca_rules_renewal: which rule applies to a certificate whose last valid
 * date is not_after, on the CA's date today, and the validity a renewal
 * issued today gets. Dates are day numbers (date.h).
 */
void refca_rules_renewal(long not_after, long today, struct refca_renewal *ret);

/*
 * refca_rules_issue_dates: the validity of a renewal certificate issued on
 * day today for an old certificate ending on not_after, whatever the window:
 * R-R3 when today <= not_after, otherwise R-R4 (also for approved R-R5 orders).
 */
void refca_rules_issue_dates(long not_after, long today, long *ret_not_before, long *ret_not_after);

/* refca_rule_id: "R-R2" (not open yet), "R-R3", "R-R4" or "R-R5". */
const char *refca_rule_id(enum refca_rule rule);

#endif
