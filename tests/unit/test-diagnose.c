/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the diagnosis' pure parts: R-D4's warranty boundary, dates, the light's words, the stable ids. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"
#include "diagnose.h"

static void until_is(const char *first, const char *expected)
{
	char until[11];

	memset(until, 'x', sizeof(until));
	assert_int_equal(ukey_warranty_until(first, until), 0);
	assert_string_equal(until, expected);
}

/* R-D4: one year from the first issue; the anniversary is the first day out. */
static void anniversary_is_first_day_out(void **state)
{
	(void)state;
	until_is("2025-11-25", "2026-11-25");
	until_is("2025-01-01", "2026-01-01");
	until_is("2025-12-31", "2026-12-31");
}

/* R-D4: 29 February has no anniversary in a common year; the warranty then ends with 28 February. */
static void leap_day_first_issue_ends_with_february(void **state)
{
	(void)state;
	until_is("2024-02-29", "2025-03-01");
	until_is("2023-02-28", "2024-02-28");
}

static void dates_must_be_real_days(void **state)
{
	static const char *const bad[] = { "2025-02-29", "2025-13-01",	"2025-00-10",  "2025-04-31",
					   "25-01-01",	 "2025-1-01",	"2025-01-01x", "",
					   "2025/01/01", " 2025-01-01", "1969-12-31",  "2025-01-0a" };
	char until[11];

	(void)state;
	assert_true(ukey_date_valid("2024-02-29"));
	assert_true(ukey_date_valid("2000-02-29"));
	assert_false(ukey_date_valid("1900-02-29"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ukey_date_valid(bad[i]))
			fail_msg("'%s' accepted as a date", bad[i]);
		assert_int_equal(ukey_warranty_until(bad[i], until), -UKEY_E_USAGE);
	}
}

static void led_words(void **state)
{
	enum ukey_led led = UKEY_LED_UNKNOWN;

	(void)state;
	assert_int_equal(ukey_led_parse("off", &led), 0);
	assert_int_equal(led, UKEY_LED_OFF);
	assert_int_equal(ukey_led_parse("blinking", &led), 0);
	assert_int_equal(led, UKEY_LED_BLINKING);
	assert_int_equal(ukey_led_parse("steady", &led), 0);
	assert_int_equal(led, UKEY_LED_STEADY);
	assert_int_equal(ukey_led_parse("on", &led), 0);
	assert_int_equal(led, UKEY_LED_STEADY);
	led = UKEY_LED_OFF;
	assert_int_equal(ukey_led_parse("purple", &led), -UKEY_E_USAGE);
	assert_int_equal(ukey_led_parse("", &led), -UKEY_E_USAGE);
	assert_int_equal(ukey_led_parse("OFF ", &led), -UKEY_E_USAGE);
	assert_int_equal(led, UKEY_LED_OFF); /* untouched on failure */
}

/* The verdict codes are the JSON contract of issue 7. */
static void verdict_ids(void **state)
{
	(void)state;
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_HEALTHY), "HEALTHY");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_R_D1), "R-D1");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_R_D2), "R-D2");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_R_D3), "R-D3");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_ENVIRONMENT), "ENVIRONMENT");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_LOCKED), "LOCKED");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_EXPIRED), "EXPIRED");
	assert_string_equal(ukey_verdict_id(UKEY_VERDICT_REVOKED), "REVOKED");
	for (int v = UKEY_VERDICT_HEALTHY; v <= UKEY_VERDICT_REVOKED; v++) {
		assert_non_null(ukey_verdict_text((enum ukey_verdict)v)->en);
		assert_non_null(ukey_verdict_text((enum ukey_verdict)v)->zh);
	}
	assert_non_null(strstr(ukey_verdict_text(UKEY_VERDICT_R_D2)->en, "R-D2"));
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(anniversary_is_first_day_out),
		cmocka_unit_test(leap_day_first_issue_ends_with_february),
		cmocka_unit_test(dates_must_be_real_days),
		cmocka_unit_test(led_words),
		cmocka_unit_test(verdict_ids),
	};

	return UNIT_MAIN("diagnose", tests);
}
