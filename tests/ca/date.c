/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Civil date arithmetic for the reference CA (days since the epoch, Gregorian calendar, UTC). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "date.h"

/*
 * Howard Hinnant's days_from_civil / civil_from_days: exact for every
 * proleptic Gregorian date, no time zone and no libc involved.
 */
long refca_date_from_civil(int year, unsigned month, unsigned day)
{
	long y = (long)year - (month <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (long)doe - 719468;
}

void refca_date_to_civil(long date, int *ret_year, unsigned *ret_month, unsigned *ret_day)
{
	long z = date + 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	*ret_year = (int)(y + (m <= 2));
	*ret_month = m;
	*ret_day = d;
}

static bool leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned month_days(int year, unsigned month)
{
	static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return month == 2 && leap(year) ? 29 : days[month - 1];
}

int refca_date_parse(const char *s, long *ret_date)
{
	unsigned v[3] = { 0, 0, 0 };
	static const unsigned widths[3] = { 4, 2, 2 };
	size_t pos = 0;

	if (!s || strlen(s) != 10)
		return -EINVAL;
	for (int f = 0; f < 3; f++) {
		for (unsigned i = 0; i < widths[f]; i++, pos++) {
			if (s[pos] < '0' || s[pos] > '9')
				return -EINVAL;
			v[f] = v[f] * 10 + (unsigned)(s[pos] - '0');
		}
		if (f < 2 && s[pos++] != '-')
			return -EINVAL;
	}
	if (v[0] < REFCA_DATE_MIN_YEAR || v[0] > REFCA_DATE_MAX_YEAR || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
	    v[2] > month_days((int)v[0], v[1]))
		return -EINVAL;
	*ret_date = refca_date_from_civil((int)v[0], v[1], v[2]);
	return 0;
}

void refca_date_format(long date, char buf[REFCA_DATE_STRLEN])
{
	int y;
	unsigned m, d;

	refca_date_to_civil(date, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0; /* unreachable for parsed or clamped dates; keeps the output ten characters */
	snprintf(buf, REFCA_DATE_STRLEN, "%04d-%02u-%02u", y, m, d);
}

long refca_date_add_year(long date)
{
	int y;
	unsigned m, d;

	refca_date_to_civil(date, &y, &m, &d);
	y++;
	/* 29 February + 1 year = 28 February (the last day of February that exists). */
	if (m == 2 && d == 29 && !leap(y))
		d = 28;
	return refca_date_from_civil(y, m, d);
}

long refca_date_today_utc(void)
{
	return refca_date_of((int64_t)time(NULL));
}

int64_t refca_date_start(long date)
{
	return (int64_t)date * 86400;
}

int64_t refca_date_end(long date)
{
	return (int64_t)date * 86400 + 86399;
}

long refca_date_of(int64_t t)
{
	/* Floor division: a second before the epoch belongs to 1969-12-31. */
	return (long)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
}
