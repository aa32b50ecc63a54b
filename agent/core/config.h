/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Settings: command-line flags over UKEY_* environment variables over ukey.conf over built-in defaults. */
#ifndef UKEY_CONFIG_H
#define UKEY_CONFIG_H

/* The module used when nothing else is configured: p11-kit's proxy, which loads every registered module. */
#define UKEY_DEFAULT_MODULE "p11-kit-proxy.so"

/* Cap on ukey.conf: it is a handful of lines. */
#define UKEY_CONFIG_MAX_SIZE (64 * 1024)

struct ukey_config {
	char *module; /* PKCS#11 module path */
	char *state_dir; /* directory of state.db */
	char *token; /* default --token selector, may be NULL */
	char *ca_url; /* the CA's EST base URL (https://host:port/.well-known/est), may be NULL */
	char *ca_trust; /* PEM file of the CA trust anchors for its TLS certificate; NULL: the system's */
	unsigned session_idle_s; /* ukeyd: a signing session's idle timeout; 0: the default */
	char *source; /* the file read, or NULL */
};

/*
 * ukey_config_parse: parse ukey.conf text (`key = value` lines, `#`
 * comments, keys module, state-dir, token, ca-url, ca-trust, session-idle). On a malformed line returns
 * -UKEY_E_USAGE with the 1-based line number in *ret_line and a static
 * reason in *ret_reason. Known keys fill cfg (replacing earlier values);
 * unknown keys are skipped for forward compatibility.
 */
int ukey_config_parse(const char *text, size_t len, struct ukey_config *cfg, unsigned *ret_line,
		      const char **ret_reason);

/*
 * ukey_config_load: fill cfg from the environment and the config file
 * (path, or $XDG_CONFIG_HOME/ukey/ukey.conf when NULL; a missing default
 * file is fine). Flags are applied by the caller afterwards. On a malformed
 * file returns -UKEY_E_USAGE after printing "file:line: reason" to stderr.
 */
int ukey_config_load(const char *path, struct ukey_config *cfg);

/* Settings given on the command line; NULL: not given. */
struct ukey_config_flags {
	const char *module, *state_dir, *token, *ca_url, *ca_trust;
};

/* ukey_config_override: the flags given replace what the environment and the file said. Returns 0 or -ENOMEM. */
int ukey_config_override(struct ukey_config *cfg, const struct ukey_config_flags *flags);

/* ukey_config_set: replace a string field (strdup); value NULL clears it. Returns 0 or -ENOMEM. */
int ukey_config_set(char **field, const char *value);

/* ukey_config_clear: free the fields. */
void ukey_config_clear(struct ukey_config *cfg);

#endif
