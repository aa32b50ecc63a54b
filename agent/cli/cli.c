/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the ukey commands share: the loaded module and store, the core context, and the one way failures are told. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_CLI
#include "base/err.h"
#include "base/log.h"
#include "cli.h"
#include "i18n.h"
#include "objects.h"

const char *cli_safe(const char *s)
{
	static char bufs[8][512];
	static unsigned next;
	char *out = bufs[next++ % 8];
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 1 < sizeof(bufs[0]); p++) {
		/* U+0080..U+009F are C1 controls (CSI is U+009B): two bytes, C2 80..C2 9F. */
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			out[o++] = '?';
			p++;
		} else if (*p < 0x20 || *p == 0x7f)
			out[o++] = '?';
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
	return out;
}

void cli_print_json(cJSON *doc)
{
	char *s = cJSON_Print(doc);

	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	cJSON_Delete(doc);
}

int cli_fail(struct cli *c, int r, const char *rule, const struct ukey_pin_state *pin, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->json) {
		cJSON *doc = cJSON_CreateObject(), *e = ukey_json_error_data(r, rule, pin);

		cJSON_AddStringToObject(e, "message", msg);
		cJSON_AddNumberToObject(e, "exit_code", ukey_err_exit_code(r));
		cJSON_AddItemToObject(doc, "error", e);
		cli_print_json(doc);
	} else {
		fprintf(stderr, "ukey: %s\n", cli_safe(msg));
	}
	return r;
}

int cli_report(struct cli *c, const struct ukey_failure *f)
{
	char msg[1024];

	ukey_failure_message(f, msg, sizeof(msg));
	return cli_fail(c, f->r, f->rule, f->has_pin ? &f->pin : NULL, "%s", msg);
}

int cli_fail_default(struct cli *c, int r)
{
	/* Only the settings: this may run before the module is loaded. */
	const struct ukey_core settings = { .module = c->cfg.module, .state_dir = c->cfg.state_dir };
	struct ukey_failure f = { 0 };

	ukey_core_fail(&settings, c->cfg.token, r, &f);
	return cli_report(c, &f);
}

int cli_p11(struct cli *c, struct ukey_p11 **ret)
{
	int r;

	if (!c->p11) {
		r = ukey_p11_load(c->cfg.module, &c->p11);
		if (r < 0)
			return cli_fail_default(c, r);
	}
	*ret = c->p11;
	return 0;
}

int cli_store(struct cli *c, struct ukey_store **ret)
{
	if (!c->store_tried) {
		c->store_tried = true;
		c->store_error =
			c->cfg.state_dir ? ukey_store_open(c->cfg.state_dir, &c->store) : -UKEY_E_STATE_UNAVAILABLE;
	}
	if (!c->store)
		return c->store_error;
	*ret = c->store;
	return 0;
}

int cli_core(struct cli *c, struct ukey_core *ret)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_store *store = NULL;
	int r;

	if ((r = cli_p11(c, &p11)) < 0)
		return r;
	*ret = (struct ukey_core){
		.p11 = p11,
		.max_tries = c->max_tries,
		.module = c->cfg.module,
		.state_dir = c->cfg.state_dir,
		.ca_url = c->cfg.ca_url,
		.ca_trust = c->cfg.ca_trust,
	};
	ret->store_error = cli_store(c, &store);
	ret->store = store;
	return 0;
}

int cli_token(struct cli *c, struct ukey_token_info *ret)
{
	struct ukey_failure f = { 0 };
	struct ukey_core core;
	int r;

	if ((r = cli_core(c, &core)) < 0)
		return r;
	if ((r = ukey_core_select(&core, c->cfg.token, ret, &f)) < 0)
		return cli_report(c, &f);
	return 0;
}
