/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey pin status|verify|change`: the PIN under the 10-try lockout (R-P1, R-P2). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "cli.h"
#include "i18n.h"
#include "objects.h"
#include "pin-input.h"

static void print_pin_state(struct cli *c, const struct ukey_token_info *t, const struct ukey_pin_state *st,
			    const char *result)
{
	if (c->json) {
		cJSON *o = ukey_json_pin_state(t, st);

		if (result)
			cJSON_AddStringToObject(o, "result", result);
		cli_print_json(o);
		return;
	}
	if (result && strcmp(result, "verified") == 0)
		printf(_("PIN correct for \"%s\" (serial %s): %u of %u tries left.\n"), cli_safe(t->label),
		       cli_safe(t->serial), st->tries_left, st->max_tries);
	else if (st->locked)
		printf(_("PIN of \"%s\" (serial %s): locked (R-P2); unlocking is free, online or at the service "
			 "point (R-P3).\n"),
		       cli_safe(t->label), cli_safe(t->serial));
	else
		printf(_("PIN of \"%s\" (serial %s): %u of %u tries left.\n"), cli_safe(t->label), cli_safe(t->serial),
		       st->tries_left, st->max_tries);
}

/* Everything before a PIN is asked (the key, the store, R-P2), through the core. Reports failures. */
static int pin_prepare(struct cli *c, struct ukey_core *core, struct ukey_token_info *t, struct ukey_pin_state *st)
{
	struct ukey_failure f = { 0 };
	int r;

	if ((r = cli_core(c, core)) < 0)
		return r;
	if ((r = ukey_core_pin_prepare(core, c->cfg.token, t, st, &f)) < 0)
		return cli_report(c, &f);
	return 0;
}

static int pin_verify(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_token_info t;
	struct ukey_core core;
	struct ukey_pin_state st;
	char pin[UKEY_PIN_BUF], prompt[256];
	int r;

	if ((r = pin_prepare(c, &core, &t, &st)) < 0)
		return r;
	snprintf(prompt, sizeof(prompt), _("PIN for \"%s\" (%u tries left): "), cli_safe(t.label), st.tries_left);
	if ((r = ukey_pin_read(prompt, pin, sizeof(pin))) < 0 ||
	    (r = ukey_pin_validate(pin, t.min_pin_len, t.max_pin_len)) < 0) {
		r = cli_fail_default(c, r);
		goto out;
	}
	r = ukey_core_pin(&core, &t, pin, NULL, NULL, NULL, &f);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (r < 0)
		r = cli_report(c, &f);
	else
		print_pin_state(c, &f.token, &f.pin, "verified");
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

static int pin_change(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_token_info t;
	struct ukey_core core;
	struct ukey_pin_state st;
	char old_pin[UKEY_PIN_BUF], new_pin[UKEY_PIN_BUF], again[UKEY_PIN_BUF], prompt[256];
	bool tty = isatty(0);
	int r;

	memset(again, 0, sizeof(again));
	memset(new_pin, 0, sizeof(new_pin));
	if ((r = pin_prepare(c, &core, &t, &st)) < 0)
		return r;
	snprintf(prompt, sizeof(prompt), _("Current PIN for \"%s\" (%u tries left): "), cli_safe(t.label),
		 st.tries_left);
	if ((r = ukey_pin_read(prompt, old_pin, sizeof(old_pin))) < 0 ||
	    (r = ukey_pin_validate(old_pin, t.min_pin_len, t.max_pin_len)) < 0 ||
	    (r = ukey_pin_read(_("New PIN: "), new_pin, sizeof(new_pin))) < 0 ||
	    (r = ukey_pin_validate(new_pin, t.min_pin_len, t.max_pin_len)) < 0 ||
	    (tty && (r = ukey_pin_read(_("New PIN again: "), again, sizeof(again))) < 0)) {
		r = cli_fail_default(c, r);
		goto out;
	}
	if (tty && strcmp(new_pin, again) != 0) {
		r = cli_fail_default(c, -UKEY_E_PIN_MISMATCH);
		goto out;
	}
	r = ukey_core_pin(&core, &t, old_pin, new_pin, NULL, NULL, &f);
	if (r < 0)
		r = cli_report(c, &f);
	else
		print_pin_state(c, &f.token, &f.pin, "changed");
	if (r == 0 && !c->json)
		printf("%s\n", _("PIN changed; an online certificate renewal keeps it (R-P4)."));
out:
	OPENSSL_cleanse(old_pin, sizeof(old_pin));
	OPENSSL_cleanse(new_pin, sizeof(new_pin));
	OPENSSL_cleanse(again, sizeof(again));
	return r;
}

static int pin_status(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_token_info t;
	struct ukey_core core;
	struct ukey_pin_state st;
	int r;

	if ((r = cli_core(c, &core)) < 0)
		return r;
	if ((r = ukey_core_pin_status(&core, c->cfg.token, &t, &st, &f)) < 0)
		return cli_report(c, &f);
	print_pin_state(c, &t, &st, NULL);
	return 0;
}

int cmd_pin(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("Use 'ukey pin status', 'ukey pin verify' or 'ukey pin change'."));
	if (strcmp(argv[1], "status") == 0)
		return pin_status(c);
	if (strcmp(argv[1], "verify") == 0)
		return pin_verify(c);
	if (strcmp(argv[1], "change") == 0)
		return pin_change(c);
	return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("Unknown 'pin' command \"%s\": use status, verify or change."),
			argv[1]);
}
