/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* R-R2..R-R5 on whole days: the renewal window and the validity of the renewed certificate. */
#define _GNU_SOURCE
#include "date.h"
#include "rules.h"

void refca_rules_issue_dates(long not_after, long today, long *ret_not_before, long *ret_not_after)
{
	*ret_not_before = today;
	if (today <= not_after)
		*ret_not_after = refca_date_add_year(not_after); /* R-R3: 顺延一年 from the OLD end */
	else
		*ret_not_after = refca_date_add_year(today); /* R-R4: one year from the day of download */
}

void refca_rules_renewal(long not_after, long today, struct refca_renewal *ret)
{
	struct refca_renewal r = { 0 };

	r.days_left = not_after - today;
	r.opens_on = not_after - (REFCA_RENEW_OPEN_DAYS_LEFT - 1);
	r.closes_on = not_after + REFCA_RENEW_EXPIRED_DAYS;
	if (r.days_left >= REFCA_RENEW_OPEN_DAYS_LEFT)
		r.rule = REFCA_RULE_NOT_YET; /* R-R2: 90 days left is still closed, 89 is open */
	else if (r.days_left >= 0)
		r.rule = REFCA_RULE_R3;
	else if (-r.days_left <= REFCA_RENEW_EXPIRED_DAYS)
		r.rule = REFCA_RULE_R4; /* R-R2: expired 365 days is still open */
	else
		r.rule = REFCA_RULE_R5;
	r.open = r.rule == REFCA_RULE_R3 || r.rule == REFCA_RULE_R4;
	if (r.rule != REFCA_RULE_NOT_YET)
		refca_rules_issue_dates(not_after, today, &r.new_not_before, &r.new_not_after);
	*ret = r;
}

const char *refca_rule_id(enum refca_rule rule)
{
	switch (rule) {
	case REFCA_RULE_NOT_YET:
		return "R-R2";
	case REFCA_RULE_R3:
		return "R-R3";
	case REFCA_RULE_R4:
		return "R-R4";
	case REFCA_RULE_R5:
		return "R-R5";
	}
	return "R-R2";
}
