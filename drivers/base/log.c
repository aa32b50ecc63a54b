/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging to stderr with per-module debug switches (UKEY_DEBUG=p11,store,core,cli,usb,pcsc,dev or all). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

static const char *log_program = "ukey";
static unsigned log_debug_mask;

static const struct {
	const char *name;
	enum ukey_log_module module;
} log_modules[] = {
	{ "core", UKEY_LOG_MOD_CORE }, { "p11", UKEY_LOG_MOD_P11 }, { "store", UKEY_LOG_MOD_STORE },
	{ "cli", UKEY_LOG_MOD_CLI },   { "usb", UKEY_LOG_MOD_USB }, { "pcsc", UKEY_LOG_MOD_PCSC },
	{ "dev", UKEY_LOG_MOD_DEV },   { "ws", UKEY_LOG_MOD_WS },
};

void ukey_log_setup(const char *program)
{
	const char *env = getenv("UKEY_DEBUG");

	if (program)
		log_program = program;
	log_debug_mask = 0;
	if (!env)
		return;
	for (const char *p = env; *p;) {
		size_t n = strcspn(p, ",: ");

		if (n == 3 && strncmp(p, "all", 3) == 0)
			log_debug_mask = ~0u;
		for (size_t i = 0; i < sizeof(log_modules) / sizeof(log_modules[0]); i++)
			if (strlen(log_modules[i].name) == n && strncmp(p, log_modules[i].name, n) == 0)
				log_debug_mask |= log_modules[i].module;
		p += n;
		p += strspn(p, ",: ");
	}
}

bool ukey_log_enabled(enum ukey_log_level level, enum ukey_log_module module)
{
	if (level != UKEY_LOG_DEBUG)
		return true;
	return (log_debug_mask & module) != 0;
}

int ukey_log(enum ukey_log_level level, enum ukey_log_module module, int r, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;

	if (!ukey_log_enabled(level, module))
		return r;
	fprintf(stderr, "%s: %s", log_program, prefix[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (r < 0)
		fprintf(stderr, ": %s", ukey_strerror(r));
	fputc('\n', stderr);
	return r;
}
