/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukey.conf and UKEY_* variables: a strict `key = value` reader, capped and fuzzed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "config.h"

int ukey_config_set(char **field, const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int ukey_config_override(struct ukey_config *cfg, const struct ukey_config_flags *flags)
{
	const struct {
		char **field;
		const char *value;
	} pairs[] = {
		{ &cfg->module, flags->module }, { &cfg->state_dir, flags->state_dir }, { &cfg->token, flags->token },
		{ &cfg->ca_url, flags->ca_url }, { &cfg->ca_trust, flags->ca_trust },
	};
	int r;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (pairs[i].value && (r = ukey_config_set(pairs[i].field, pairs[i].value)) < 0)
			return r;
	return 0;
}

void ukey_config_clear(struct ukey_config *cfg)
{
	free(cfg->module);
	free(cfg->state_dir);
	free(cfg->token);
	free(cfg->ca_url);
	free(cfg->ca_trust);
	free(cfg->source);
	memset(cfg, 0, sizeof(*cfg));
}

static const char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

int ukey_config_parse(const char *text, size_t len, struct ukey_config *cfg, unsigned *ret_line,
		      const char **ret_reason)
{
	char *copy, *line, *next;
	unsigned lineno = 0;
	int r = 0;

	if (len > UKEY_CONFIG_MAX_SIZE) {
		*ret_line = 0;
		*ret_reason = "file too large";
		return -UKEY_E_USAGE;
	}
	if (memchr(text, '\0', len)) {
		*ret_line = 0;
		*ret_reason = "contains a NUL byte";
		return -UKEY_E_USAGE;
	}
	/* Notepad saves UTF-8 with a byte-order mark; it is not part of the first key. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line; line = next) {
		char *eq, *end;
		const char *key, *value;
		char **field = NULL;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		end = line + strlen(line);
		key = trim(line, end);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			*ret_reason = "expected `key = value`";
			r = -UKEY_E_USAGE;
			break;
		}
		value = trim(eq + 1, eq + 1 + strlen(eq + 1));
		trim((char *)key, eq);
		if (*key == '\0' || *value == '\0') {
			*ret_reason = *key ? "empty value" : "empty key";
			r = -UKEY_E_USAGE;
			break;
		}
		if (strcmp(key, "module") == 0)
			field = &cfg->module;
		else if (strcmp(key, "state-dir") == 0)
			field = &cfg->state_dir;
		else if (strcmp(key, "token") == 0)
			field = &cfg->token;
		else if (strcmp(key, "ca-url") == 0)
			field = &cfg->ca_url;
		else if (strcmp(key, "ca-trust") == 0)
			field = &cfg->ca_trust;
		else if (strcmp(key, "session-idle") == 0) {
			char *num_end;
			unsigned long v;

			errno = 0;
			v = strtoul(value, &num_end, 10);
			if (errno || *num_end || v == 0 || v > 86400 || value[0] == '-') {
				*ret_reason = "session-idle wants seconds from 1 to 86400";
				r = -UKEY_E_USAGE;
				break;
			}
			cfg->session_idle_s = (unsigned)v;
		}
		if (field && (r = ukey_config_set(field, value)) < 0)
			break;
	}
	if (r == -UKEY_E_USAGE)
		*ret_line = lineno;
	free(copy);
	return r;
}

static int read_file(const char *path, char **ret_text, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(UKEY_CONFIG_MAX_SIZE + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, UKEY_CONFIG_MAX_SIZE + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -EIO;
	}
	fclose(f);
	*ret_text = buf;
	*ret_len = n;
	return 0;
}

static int default_dir(const char *xdg_var, const char *home_suffix, char **ret)
{
	const char *xdg = getenv(xdg_var), *home = getenv("HOME");

	/* XDG base directories must be absolute; a relative one is ignored (the spec says so). */
	if (xdg && xdg[0] == '/')
		return asprintf(ret, "%s/ukey", xdg) < 0 ? -ENOMEM : 0;
	if (!home || home[0] != '/')
		return -UKEY_E_STATE_UNAVAILABLE;
	return asprintf(ret, "%s/%s/ukey", home, home_suffix) < 0 ? -ENOMEM : 0;
}

int ukey_config_load(const char *path, struct ukey_config *cfg)
{
	char *conf_dir = NULL, *default_path = NULL, *text = NULL;
	const char *env, *reason = NULL;
	unsigned line = 0;
	size_t len = 0;
	int r;

	if (!path && default_dir("XDG_CONFIG_HOME", ".config", &conf_dir) == 0 &&
	    asprintf(&default_path, "%s/ukey.conf", conf_dir) < 0)
		default_path = NULL;
	r = read_file(path ? path : default_path ? default_path : "/nonexistent", &text, &len);
	if (r == 0) {
		r = ukey_config_parse(text, len, cfg, &line, &reason);
		if (r == -UKEY_E_USAGE)
			fprintf(stderr, "%s:%u: %s\n", path ? path : default_path, line, reason);
		if (r == 0)
			r = ukey_config_set(&cfg->source, path ? path : default_path);
	} else if (r == -ENOENT && !path) {
		r = 0;
	} else {
		fprintf(stderr, "%s: %s\n", path ? path : default_path, strerror(-r));
		r = -UKEY_E_USAGE;
	}
	free(text);
	free(conf_dir);
	free(default_path);
	if (r < 0)
		return r;

	/* The environment overrides the file. */
	if ((env = getenv("UKEY_MODULE")) && *env && (r = ukey_config_set(&cfg->module, env)) < 0)
		return r;
	if ((env = getenv("UKEY_STATE_DIR")) && *env && (r = ukey_config_set(&cfg->state_dir, env)) < 0)
		return r;
	if ((env = getenv("UKEY_TOKEN")) && *env && (r = ukey_config_set(&cfg->token, env)) < 0)
		return r;
	if ((env = getenv("UKEY_CA_URL")) && *env && (r = ukey_config_set(&cfg->ca_url, env)) < 0)
		return r;
	if ((env = getenv("UKEY_CA_TRUST")) && *env && (r = ukey_config_set(&cfg->ca_trust, env)) < 0)
		return r;
	if (!cfg->module && (r = ukey_config_set(&cfg->module, UKEY_DEFAULT_MODULE)) < 0)
		return r;
	if (!cfg->state_dir) {
		char *dir = NULL;

		r = default_dir("XDG_STATE_HOME", ".local/state", &dir);
		if (r == -ENOMEM)
			return r;
		/* No usable HOME: leave it unset; PIN commands then refuse with a clear message. */
		cfg->state_dir = dir;
	}
	return 0;
}
