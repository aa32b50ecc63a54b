/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging for every layer: levels, per-module debug switched by UKEY_DEBUG, and no secrets ever. */
#ifndef UKEY_LOG_H
#define UKEY_LOG_H

#include <stdbool.h>

enum ukey_log_level {
	UKEY_LOG_ERROR,
	UKEY_LOG_WARNING,
	UKEY_LOG_INFO,
	UKEY_LOG_DEBUG,
};

/*
 * Debug output is per module, like p11-kit's P11_DEBUG: UKEY_DEBUG=p11,store
 * or UKEY_DEBUG=all. Lower layers log only at debug level; the owner of the
 * context (a CLI command, an API handler) forms the user-facing message once.
 * Never pass a PIN, SO PIN, authorisation code or key material to these.
 */
enum ukey_log_module {
	UKEY_LOG_MOD_CORE = 1 << 0,
	UKEY_LOG_MOD_P11 = 1 << 1,
	UKEY_LOG_MOD_STORE = 1 << 2,
	UKEY_LOG_MOD_CLI = 1 << 3,
	UKEY_LOG_MOD_USB = 1 << 4,
	UKEY_LOG_MOD_PCSC = 1 << 5,
	UKEY_LOG_MOD_DEV = 1 << 6, /* the model database and the joined device view */
	UKEY_LOG_MOD_WS = 1 << 7, /* ukeyd: connections, the worker pool, signing sessions, the kept token state */
};

/* ukey_log_setup: read UKEY_DEBUG and set the program name shown before each line. */
void ukey_log_setup(const char *program);

/* ukey_log_enabled: whether a debug line of this module would be printed. */
bool ukey_log_enabled(enum ukey_log_level level, enum ukey_log_module module);

/* ukey_log: print one line to stderr; returns r unchanged so callers can write `return ukey_log(…, r, …)`. */
int ukey_log(enum ukey_log_level level, enum ukey_log_module module, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#ifndef UKEY_LOG_MODULE
#define UKEY_LOG_MODULE UKEY_LOG_MOD_CORE
#endif

#define log_debug(...) ukey_log(UKEY_LOG_DEBUG, UKEY_LOG_MODULE, 0, __VA_ARGS__)
#define log_info(...) ukey_log(UKEY_LOG_INFO, UKEY_LOG_MODULE, 0, __VA_ARGS__)
#define log_warning(...) ukey_log(UKEY_LOG_WARNING, UKEY_LOG_MODULE, 0, __VA_ARGS__)
#define log_error(...) ukey_log(UKEY_LOG_ERROR, UKEY_LOG_MODULE, 0, __VA_ARGS__)
#define log_debug_errno(r, ...) ukey_log(UKEY_LOG_DEBUG, UKEY_LOG_MODULE, (r), __VA_ARGS__)

#endif
