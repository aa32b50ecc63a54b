/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Civil dates of the reference CA: whole UTC days since 1970-01-01, strict parsing, printing, "plus one year". */
#ifndef REFCA_DATE_H
#define REFCA_DATE_H

#include <stdint.h>

/*
 * A date is a long: the number of whole days since 1970-01-01 in UTC
 * (negative before it). Every rule of the CA counts in these days, never
 * in seconds, so "89 days left" means exactly one thing (README.md).
 */

/* The earliest and latest dates the CA accepts anywhere (input, database rows, certificates). */
#define REFCA_DATE_MIN_YEAR 1970
#define REFCA_DATE_MAX_YEAR 9998

/* Length of "YYYY-MM-DD" plus the terminating NUL. */
#define REFCA_DATE_STRLEN 11

/* refca_date_from_civil: the day number of year-month-day (proleptic Gregorian; the fields must be valid). */
long refca_date_from_civil(int year, unsigned month, unsigned day);

/* refca_date_to_civil: the year, month (1-12) and day (1-31) of a day number. */
void refca_date_to_civil(long date, int *ret_year, unsigned *ret_month, unsigned *ret_day);

/*
 * refca_date_parse: strict "YYYY-MM-DD" (exactly ten characters, a real
 * calendar day, year in [REFCA_DATE_MIN_YEAR, REFCA_DATE_MAX_YEAR]).
 * Returns 0 and writes *ret_date, or -EINVAL.
 */
int refca_date_parse(const char *s, long *ret_date);

/* refca_date_format: "YYYY-MM-DD" into buf (REFCA_DATE_STRLEN bytes). */
void refca_date_format(long date, char buf[REFCA_DATE_STRLEN]);

/*
 * refca_date_add_year: the same month and day one year later. 29 February
 * has no twin in a common year: it becomes 28 February (README.md, "Dates").
 */
long refca_date_add_year(long date);

/* refca_date_today_utc: the real date today in UTC. */
long refca_date_today_utc(void);

/* refca_date_start / refca_date_end: the first (00:00:00Z) and last (23:59:59Z) second of a date, as time_t. */
int64_t refca_date_start(long date);
int64_t refca_date_end(long date);

/* refca_date_of: the UTC date that contains the second t. */
long refca_date_of(int64_t t);

#endif
