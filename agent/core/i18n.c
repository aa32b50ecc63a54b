/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Locale setup: catalogues next to the binary (build/share/locale) win over the installed ones. */
#define _GNU_SOURCE
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"

#ifndef UKEY_LOCALEDIR
#define UKEY_LOCALEDIR "/usr/local/share/locale"
#endif

void ukey_i18n_setup(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	struct stat st;
	ssize_t n;
	char *slash;

	setlocale(LC_ALL, "");
	bindtextdomain("ukey", UKEY_LOCALEDIR);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%s/../share/locale", exe);
			if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
				bindtextdomain("ukey", dir);
		}
	}
	bind_textdomain_codeset("ukey", "UTF-8");
	textdomain("ukey");
}
