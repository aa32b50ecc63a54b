/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LeakSanitizer suppressions compiled into sanitizer builds: only allocations that are not ours. */

const char *__lsan_default_suppressions(void);

/*
 * glibc's gettext keeps the parsed LANGUAGE list (argz_add_sep) for the
 * life of the process; it is allocated once and never freed by design.
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:argz_add_sep\n";
}
