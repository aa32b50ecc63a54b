/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of certificate validity under R-R1, R-R2 and R-R5, at the edges of each window, with a fixed now. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "validity.h"

#define DAY 86400L
#define HOUR 3600L

/* 2023-11-14T22:13:20Z: any fixed instant will do; nothing here reads the clock. */
static const time_t NOW = 1700000000;

/* A one-year certificate (R-R1) ending at not_after, evaluated at NOW. */
static struct ukey_validity eval_ending(time_t not_after)
{
	struct ukey_validity v;

	memset(&v, 0xa5, sizeof(v));
	ukey_validity_eval(not_after - 365 * DAY, not_after, NOW, &v);
	return v;
}

static void assert_validity(struct ukey_validity v, enum ukey_validity_status status, long days_left, long days_expired,
			    bool renewal_open, bool needs_documents)
{
	if (v.status != status)
		fail_msg("status %s, expected %s", ukey_validity_status_id(v.status), ukey_validity_status_id(status));
	assert_int_equal(v.days_left, days_left);
	assert_int_equal(v.days_expired, days_expired);
	assert_int_equal(v.renewal_open, renewal_open);
	assert_int_equal(v.needs_documents, needs_documents);
}

/* R-R2: 90 days and a second left is not yet "less than 90 days". */
static void ninety_days_and_a_second_left_valid(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW + 90 * DAY + 1), UKEY_VALIDITY_VALID, 90, 0, false, false);
}

/* R-R2: exactly 90 days left is not less than 90 days. */
static void exactly_ninety_days_left_valid(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW + 90 * DAY), UKEY_VALIDITY_VALID, 90, 0, false, false);
}

/* R-R2: a second under 90 days opens renewal; whole days round down to 89. */
static void ninety_days_less_a_second_expiring(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW + 90 * DAY - 1), UKEY_VALIDITY_EXPIRING, 89, 0, true, false);
}

static void eighty_nine_days_left_expiring(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW + 89 * DAY), UKEY_VALIDITY_EXPIRING, 89, 0, true, false);
	assert_validity(eval_ending(NOW + 1), UKEY_VALIDITY_EXPIRING, 0, 0, true, false);
}

/* RFC 5280: the notAfter second itself is inside the validity period. */
static void not_after_second_still_valid(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW), UKEY_VALIDITY_EXPIRING, 0, 0, true, false);
}

/* R-R1, R-R2: one second after notAfter it is expired, its first day of expiry, and renewal online is open. */
static void one_second_after_not_after_expired(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW - 1), UKEY_VALIDITY_EXPIRED, -1, 1, true, false);
	assert_validity(eval_ending(NOW - DAY + 1), UKEY_VALIDITY_EXPIRED, -1, 1, true, false);
	assert_validity(eval_ending(NOW - DAY), UKEY_VALIDITY_EXPIRED, -1, 1, true, false);
	assert_validity(eval_ending(NOW - DAY - 1), UKEY_VALIDITY_EXPIRED, -2, 2, true, false);
}

/* R-R2: expired no more than 365 days (365 × 24 h after notAfter, to the second): renewable online (R-R8). */
static void expired_365_days_renewal_open(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW - 364 * DAY - 23 * HOUR), UKEY_VALIDITY_EXPIRED, -365, 365, true, false);
	assert_validity(eval_ending(NOW - 365 * DAY), UKEY_VALIDITY_EXPIRED, -365, 365, true, false);
}

/* R-R5: a second more than 365 days after notAfter: the 366th day, closed until documents are approved. */
static void expired_366_days_needs_documents(void **state)
{
	(void)state;
	assert_validity(eval_ending(NOW - 365 * DAY - 1), UKEY_VALIDITY_EXPIRED, -366, 366, false, true);
	assert_validity(eval_ending(NOW - 366 * DAY), UKEY_VALIDITY_EXPIRED, -366, 366, false, true);
	assert_validity(eval_ending(NOW - 3 * 365 * DAY), UKEY_VALIDITY_EXPIRED, -1095, 1095, false, true);
}

/* Before notBefore a certificate is not valid and there is nothing to renew; notBefore itself is valid. */
static void not_yet_valid(void **state)
{
	struct ukey_validity v;

	(void)state;
	ukey_validity_eval(NOW + 1, NOW + 365 * DAY + 1, NOW, &v);
	assert_validity(v, UKEY_VALIDITY_NOT_YET_VALID, 365, 0, false, false);
	ukey_validity_eval(NOW + 10 * DAY, NOW + 40 * DAY, NOW, &v);
	assert_int_equal(v.status, UKEY_VALIDITY_NOT_YET_VALID);
	assert_false(v.renewal_open);
	ukey_validity_eval(NOW, NOW + 365 * DAY, NOW, &v);
	assert_validity(v, UKEY_VALIDITY_VALID, 365, 0, false, false);
}

/* The ids are the JSON contract: stable strings. */
static void status_ids(void **state)
{
	(void)state;
	assert_string_equal(ukey_validity_status_id(UKEY_VALIDITY_NOT_YET_VALID), "not-yet-valid");
	assert_string_equal(ukey_validity_status_id(UKEY_VALIDITY_VALID), "valid");
	assert_string_equal(ukey_validity_status_id(UKEY_VALIDITY_EXPIRING), "expiring");
	assert_string_equal(ukey_validity_status_id(UKEY_VALIDITY_EXPIRED), "expired");
	assert_string_equal(ukey_validity_status_id((enum ukey_validity_status)42), "unknown");
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(ninety_days_and_a_second_left_valid),
		cmocka_unit_test(exactly_ninety_days_left_valid),
		cmocka_unit_test(ninety_days_less_a_second_expiring),
		cmocka_unit_test(eighty_nine_days_left_expiring),
		cmocka_unit_test(not_after_second_still_valid),
		cmocka_unit_test(one_second_after_not_after_expired),
		cmocka_unit_test(expired_365_days_renewal_open),
		cmocka_unit_test(expired_366_days_needs_documents),
		cmocka_unit_test(not_yet_valid),
		cmocka_unit_test(status_ids),
	};

	return UNIT_MAIN("validity", tests);
}
