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

/* The sentence after a PIN the key rejected, with what is left (R-P1). */
static int fail_wrong_pin(struct cli *c, int r, const struct ukey_pin_state *st)
{
	if (st->locked)
		return cli_fail(c, r, "R-P1", st,
				_("Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is "
				  "free, online or at the service point (R-P3)."));
	if (st->tries_left == 1)
		return cli_fail(c, r, "R-P1", st, _("Wrong PIN: 1 try left; one more wrong PIN locks the key (R-P1)."));
	return cli_fail(c, r, "R-P1", st, _("Wrong PIN: %u tries left before the key locks."), st->tries_left);
}

static int fail_locked(struct cli *c, int r, const struct ukey_token_info *t, const struct ukey_pin_state *st)
{
	if (st->locked_by_token)
		return cli_fail(c, r, "R-P2", st,
				_("The key \"%s\" reports itself locked: even the right PIN is refused (R-P2) until "
				  "it is unlocked, which is free, online or at the service point (R-P3)."),
				t->label);
	return cli_fail(c, r, "R-P2", st,
			_("The key \"%s\" is locked after %u consecutive wrong PINs: even the right PIN is refused "
			  "(R-P2) until it is unlocked, which is free, online or at the service point (R-P3)."),
			t->label, st->failures);
}

/*
 * Everything before a PIN is asked: the token, the store (fail closed), and
 * a locked key is refused here, before anyone types a PIN for nothing.
 */
static int pin_prepare(struct cli *c, struct ukey_token_info *t, struct ukey_store **ret_store,
		       struct ukey_pin_state *ret_state)
{
	int r;

	if ((r = cli_token(c, t)) < 0)
		return r;
	if ((r = cli_store(c, ret_store)) < 0)
		return cli_fail_default(c, r);
	if ((r = ukey_pin_state(*ret_store, t, c->max_tries, ret_state)) < 0)
		return cli_fail_default(c, r);
	if (ret_state->locked)
		return fail_locked(c, -UKEY_E_PIN_LOCKED, t, ret_state);
	return 0;
}

int cli_fail_pin(struct cli *c, int r, const struct ukey_token_info *t, const struct ukey_pin_state *st)
{
	if (r == -UKEY_E_PIN_INCORRECT)
		return fail_wrong_pin(c, r, st);
	if (r == -UKEY_E_PIN_LOCKED)
		return fail_locked(c, r, t, st);
	return cli_fail_default(c, r);
}

/* Tell what ukey_pin_run() did. */
static int report_result(struct cli *c, int r, const struct ukey_pin_result *res, const char *ok_result)
{
	if (r == -UKEY_E_TOKEN_REMOVED && res->attempted)
		return cli_fail(c, r, "R-P1", &res->state,
				_("The key was removed during the PIN check: the try counts (%u left); insert the key "
				  "again and retry."),
				res->state.tries_left);
	switch (-r) {
	case 0:
		print_pin_state(c, &res->token, &res->state, ok_result);
		return 0;
	case UKEY_E_PIN_INCORRECT:
		return fail_wrong_pin(c, r, &res->state);
	case UKEY_E_PIN_LOCKED:
		return fail_locked(c, r, &res->token, &res->state);
	default:
		return cli_fail_default(c, r);
	}
}

static int pin_verify(struct cli *c)
{
	struct ukey_token_info t;
	struct ukey_store *store = NULL;
	struct ukey_pin_result res;
	struct ukey_pin_state st;
	char pin[UKEY_PIN_BUF], prompt[256];
	int r;

	if ((r = pin_prepare(c, &t, &store, &st)) < 0)
		return r;
	snprintf(prompt, sizeof(prompt), _("PIN for \"%s\" (%u tries left): "), cli_safe(t.label), st.tries_left);
	if ((r = ukey_pin_read(prompt, pin, sizeof(pin))) < 0 ||
	    (r = ukey_pin_validate(pin, t.min_pin_len, t.max_pin_len)) < 0) {
		r = cli_fail_default(c, r);
		goto out;
	}
	r = ukey_pin_run(c->p11, store, &t, c->max_tries, pin, NULL, NULL, &res);
	OPENSSL_cleanse(pin, sizeof(pin));
	r = report_result(c, r, &res, "verified");
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

static int pin_change(struct cli *c)
{
	struct ukey_token_info t;
	struct ukey_store *store = NULL;
	struct ukey_pin_result res;
	struct ukey_pin_state st;
	char old_pin[UKEY_PIN_BUF], new_pin[UKEY_PIN_BUF], again[UKEY_PIN_BUF], prompt[256];
	bool tty = isatty(0);
	int r;

	memset(again, 0, sizeof(again));
	memset(new_pin, 0, sizeof(new_pin));
	if ((r = pin_prepare(c, &t, &store, &st)) < 0)
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
		r = cli_fail(c, -UKEY_E_PIN_MISMATCH, NULL, NULL,
			     _("The two new PINs differ: nothing was changed and no try was used."));
		goto out;
	}
	r = ukey_pin_run(c->p11, store, &t, c->max_tries, old_pin, new_pin, NULL, &res);
	if (r == -UKEY_E_PIN_INVALID)
		r = cli_fail(c, r, NULL, NULL,
			     _("The key refused the new PIN (length or characters): the PIN is unchanged."));
	else
		r = report_result(c, r, &res, "changed");
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
	struct ukey_token_info t;
	struct ukey_store *store = NULL;
	struct ukey_pin_state st;
	int r;

	if ((r = cli_token(c, &t)) < 0)
		return r;
	if ((r = cli_store(c, &store)) < 0)
		return cli_fail_default(c, r);
	if ((r = ukey_pin_state(store, &t, c->max_tries, &st)) < 0)
		return cli_fail_default(c, r);
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
