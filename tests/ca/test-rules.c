/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the reference CA's day arithmetic and renewal rules (date.c, rules.c), edge by edge. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "date.h"
#include "rules.h"

static long D(const char *s)
{
	long d = 0;

	assert_int_equal(refca_date_parse(s, &d), 0);
	return d;
}

static void assert_date(long date, const char *want)
{
	char buf[REFCA_DATE_STRLEN];

	refca_date_format(date, buf);
	assert_string_equal(buf, want);
}

static void date_parse_strict(void **state)
{
	long d = 42;

	(void)state;
	assert_int_equal(D("1970-01-01"), 0);
	assert_int_equal(D("2000-03-01") - D("2000-02-28"), 2); /* 2000 is a leap year */
	assert_int_equal(D("2100-03-01") - D("2100-02-28"), 1); /* 2100 is not */
	assert_int_equal(refca_date_parse("2023-02-29", &d), -EINVAL);
	assert_int_equal(refca_date_parse("2024-13-01", &d), -EINVAL);
	assert_int_equal(refca_date_parse("2024-1-01", &d), -EINVAL);
	assert_int_equal(refca_date_parse("2024-01-01x", &d), -EINVAL);
	assert_int_equal(refca_date_parse("+024-01-01", &d), -EINVAL);
	assert_int_equal(refca_date_parse("1969-12-31", &d), -EINVAL);
	assert_int_equal(refca_date_parse("", &d), -EINVAL);
	assert_int_equal(d, 42); /* untouched on failure */
	assert_date(D("2028-02-29"), "2028-02-29");
}

static void date_add_year_feb_29(void **state)
{
	(void)state;
	assert_date(refca_date_add_year(D("2028-02-29")), "2029-02-28");
	assert_date(refca_date_add_year(D("2027-02-28")), "2028-02-28");
	assert_date(refca_date_add_year(D("2027-03-01")), "2028-03-01");
	assert_date(refca_date_add_year(D("2030-12-31")), "2031-12-31");
}

static void date_of_seconds(void **state)
{
	(void)state;
	assert_int_equal(refca_date_of(refca_date_start(D("2030-06-15"))), D("2030-06-15"));
	assert_int_equal(refca_date_of(refca_date_end(D("2030-06-15"))), D("2030-06-15"));
	assert_int_equal(refca_date_of(refca_date_end(D("2030-06-15")) + 1), D("2030-06-16"));
	assert_int_equal(refca_date_of(-1), -1);
}

static void rules_r_r2_window_edges(void **state)
{
	struct refca_renewal r;
	long today = D("2030-06-15");

	(void)state;
	refca_rules_renewal(today + 90, today, &r);
	assert_int_equal(r.rule, REFCA_RULE_NOT_YET);
	assert_false(r.open);
	assert_int_equal(r.opens_on, today + 1);
	refca_rules_renewal(today + 89, today, &r);
	assert_int_equal(r.rule, REFCA_RULE_R3);
	assert_true(r.open);
	refca_rules_renewal(today, today, &r); /* last valid day: not expired */
	assert_int_equal(r.rule, REFCA_RULE_R3);
	refca_rules_renewal(today - 1, today, &r);
	assert_int_equal(r.rule, REFCA_RULE_R4);
	refca_rules_renewal(today - 365, today, &r);
	assert_int_equal(r.rule, REFCA_RULE_R4);
	assert_true(r.open);
	assert_int_equal(r.closes_on, today);
	refca_rules_renewal(today - 366, today, &r);
	assert_int_equal(r.rule, REFCA_RULE_R5);
	assert_false(r.open);
}

static void rules_new_validity(void **state)
{
	long nb, na;

	(void)state;
	/* R-R3: old end + 1 year, from today. */
	refca_rules_issue_dates(D("2030-07-15"), D("2030-06-15"), &nb, &na);
	assert_date(nb, "2030-06-15");
	assert_date(na, "2031-07-15");
	refca_rules_issue_dates(D("2028-02-29"), D("2027-12-15"), &nb, &na);
	assert_date(na, "2029-02-28");
	/* R-R4 (and approved R-R5): one year from the day of download. */
	refca_rules_issue_dates(D("2030-06-05"), D("2030-06-15"), &nb, &na);
	assert_date(nb, "2030-06-15");
	assert_date(na, "2031-06-15");
	refca_rules_issue_dates(D("2026-01-01"), D("2028-02-29"), &nb, &na);
	assert_date(na, "2029-02-28");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(date_parse_strict),  cmocka_unit_test(date_add_year_feb_29),
		cmocka_unit_test(date_of_seconds),    cmocka_unit_test(rules_r_r2_window_edges),
		cmocka_unit_test(rules_new_validity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
