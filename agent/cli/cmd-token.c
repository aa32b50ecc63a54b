/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey list` and `ukey certs`: what keys are inserted and what certificates they hold. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "base/err.h"
#include "cli.h"
#include "i18n.h"
#include "objects.h"
#include "validity.h"

static int no_args(struct cli *c, int argc, char **argv)
{
	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	return 0;
}

/* Tries left in words, for the list and the status line. */
static void pin_words(const struct ukey_pin_state *st, char *buf, size_t size)
{
	if (st->locked)
		snprintf(buf, size, "%s", _("locked"));
	else if (!st->counted)
		snprintf(buf, size, _("? of %u tries left"), st->max_tries);
	else
		snprintf(buf, size, _("%u of %u tries left"), st->tries_left, st->max_tries);
}

/* Print s and pad it to width terminal columns: a Chinese character is three bytes but two columns. */
static void print_col(const char *s, int width)
{
	wchar_t w[128];
	size_t n = mbstowcs(w, s, sizeof(w) / sizeof(w[0]) - 1);
	int cols = -1;

	if (n != (size_t)-1) {
		w[n] = L'\0';
		cols = wcswidth(w, n);
	}
	if (cols < 0)
		cols = (int)strlen(s);
	fputs(s, stdout);
	for (; cols < width; cols++)
		putchar(' ');
	putchar(' ');
}

int cmd_list(struct cli *c, int argc, char **argv)
{
	struct ukey_token_overview *tokens = NULL;
	struct ukey_failure f = { 0 };
	struct ukey_core core;
	cJSON *doc = NULL, *arr = NULL;
	int n, r;

	if ((r = no_args(c, argc, argv)) < 0 || (r = cli_core(c, &core)) < 0)
		return r;
	n = ukey_core_overview(&core, &tokens, &f);
	if (n < 0)
		return cli_report(c, &f);
	/* Listing works without the store; only the tries left are then unknown. */
	if (core.store_error < 0 && !c->json)
		fprintf(stderr, _("ukey: warning: PIN tries unknown: %s (\"%s\").\n"),
			_(ukey_strerror(core.store_error)), c->cfg.state_dir ? c->cfg.state_dir : "");
	if (c->json) {
		doc = cJSON_CreateObject();
		arr = cJSON_AddArrayToObject(doc, "tokens");
	} else if (n == 0) {
		printf("%s\n", _("No USB key found: insert the key and run 'ukey list' again."));
	} else {
		print_col(_("LABEL"), 20);
		print_col(_("SERIAL"), 16);
		print_col(_("MODEL"), 16);
		print_col(_("PIN"), 20);
		printf("%s\n", _("CERTS"));
	}
	for (int i = 0; i < n; i++) {
		const struct ukey_token_info *t = &tokens[i].token;
		int ncerts = tokens[i].ncerts;
		char words[64];

		if (c->json) {
			cJSON_AddItemToArray(arr, ukey_json_token(t, &tokens[i].pin, ncerts));
			continue;
		}
		pin_words(&tokens[i].pin, words, sizeof(words));
		print_col(cli_safe(t->label), 20);
		print_col(cli_safe(t->serial), 16);
		print_col(cli_safe(t->model), 16);
		print_col(words, 20);
		if (ncerts >= 0)
			printf("%d\n", ncerts);
		else
			printf("?\n");
	}
	free(tokens);
	if (doc)
		cli_print_json(doc);
	return 0;
}

/* Why the revocation status is unknown, in a few words. */
static const char *why_words(enum ukey_revocation_why why)
{
	switch (why) {
	case UKEY_REVOCATION_WHY_NO_URL:
		return _("the certificate names no OCSP responder and no CRL");
	case UKEY_REVOCATION_WHY_NO_ISSUER:
		return _("the issuing CA's certificate is not in the CA trust (--ca-trust)");
	case UKEY_REVOCATION_WHY_OFFLINE:
		return _("offline, and no current CRL in the cache");
	case UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN:
		return _("the OCSP responder does not know this certificate");
	case UKEY_REVOCATION_WHY_UNREACHABLE:
		return _("the OCSP responder and the CRL cannot be reached");
	case UKEY_REVOCATION_WHY_STALE:
		return _("only out-of-date revocation information");
	default:
		return _("the answer could not be verified");
	}
}

static void revocation_text(const struct ukey_revocation_result *rv)
{
	char source[96], when[32], until[16];
	struct tm tm;

	if (rv->source == UKEY_REVOCATION_SOURCE_OCSP) {
		snprintf(source, sizeof(source), "%s", _("OCSP"));
	} else if (rv->cached && rv->next_update) {
		strftime(until, sizeof(until), "%Y-%m-%d", gmtime_r(&rv->next_update, &tm));
		snprintf(source, sizeof(source), _("cached CRL, next update %s"), until);
	} else {
		snprintf(source, sizeof(source), "%s", _("CRL"));
	}
	switch (rv->status) {
	case UKEY_REVOCATION_GOOD:
		printf(_("    Revocation: good (%s)\n"), source);
		break;
	case UKEY_REVOCATION_REVOKED:
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime_r(&rv->revoked_at, &tm));
		/* TRANSLATORS: date, the RFC 5280 reason name (kept in English) or "reason not given", the source. */
		printf(_("    Revocation: REVOKED on %s UTC (%s; %s): the certificate can no longer be used (R-V1)\n"),
		       when,
		       ukey_revocation_reason_id(rv->reason) ? ukey_revocation_reason_id(rv->reason)
							     : _("reason not given"),
		       source);
		break;
	default:
		printf(_("    Revocation: unknown (%s)\n"), why_words(rv->why));
		break;
	}
}

/* The revocation of a readable certificate; without a checker (the trust unreadable) it is unknown, never good. */
static void revocation_of(struct cli *c, const struct ukey_cert_info *ci, time_t now,
			  struct ukey_revocation_result *ret)
{
	*ret = (struct ukey_revocation_result){ .status = UKEY_REVOCATION_UNKNOWN,
						.why = UKEY_REVOCATION_WHY_NO_ISSUER,
						.reason = UKEY_REVOCATION_REASON_NONE,
						.checked_at = now };
	if (c->revocation && ukey_revocation_check(c->revocation, ci->der, ci->der_len, now, ret) < 0)
		ret->why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
}

static void cert_text(const struct ukey_cert_info *ci, time_t now, const struct ukey_revocation_result *rv)
{
	struct ukey_validity v;
	char id[2 * UKEY_P11_ID_MAX + 1], from[16], to[16];
	struct tm tm;

	ukey_json_hex(ci->id, ci->id_len, id, sizeof(id));
	if (!ci->readable) {
		/* R-D3 names this case: the key answers but its certificate cannot be recognised. */
		printf(_("  Certificate \"%s\" (id %s): unreadable, not a valid X.509 certificate.\n"),
		       cli_safe(ci->label), id);
		return;
	}
	ukey_validity_eval(ci->not_before, ci->not_after, now, &v);
	strftime(from, sizeof(from), "%Y-%m-%d", gmtime_r(&ci->not_before, &tm));
	strftime(to, sizeof(to), "%Y-%m-%d", gmtime_r(&ci->not_after, &tm));
	printf(_("  Certificate \"%s\" (id %s)\n"), cli_safe(ci->label), id);
	/* TRANSLATORS: the separator between a certificate's CN and O. */
	printf(_("    Subject:  %s%s%s\n"), cli_safe(ci->subject_cn ? ci->subject_cn : ci->subject),
	       ci->subject_o ? _(", ") : "", cli_safe(ci->subject_o));
	printf(_("    Issuer:   %s\n"), cli_safe(ci->issuer_cn ? ci->issuer_cn : ci->issuer));
	printf(_("    Serial:   %s\n"), ci->serial_hex);
	printf(_("    Valid:    %s to %s UTC\n"), from, to);
	switch (v.status) {
	case UKEY_VALIDITY_VALID:
		printf(_("    Status:   valid, %ld days left\n"), v.days_left);
		break;
	case UKEY_VALIDITY_EXPIRING:
		printf(_("    Status:   expiring, %ld days left: online renewal is open (R-R2)\n"), v.days_left);
		break;
	case UKEY_VALIDITY_EXPIRED:
		if (v.renewal_open)
			printf(_("    Status:   expired %ld days ago: renew online now (R-R2, R-R4)\n"),
			       v.days_expired);
		else
			printf(_("    Status:   expired %ld days ago: renewal needs documents and CA approval (R-R5)\n"),
			       v.days_expired);
		break;
	case UKEY_VALIDITY_NOT_YET_VALID:
		printf(_("    Status:   not valid yet\n"));
		break;
	}
	printf(_("    Key:      %s, %s\n"), ci->key_type,
	       ci->key_match == UKEY_KEY_MATCH_YES  ? _("matches the key pair on the key")
	       : ci->key_match == UKEY_KEY_MATCH_NO ? _("does NOT match the key pair on the key")
						    : _("no public key object to compare with"));
	revocation_text(rv);
}

/*
 * The shape `certs` and `keys` share: every key's objects, or only the
 * key --token names; one key failing (pulled, broken) does not hide the
 * others'. show() prints one key's objects (text) or adds them to arr
 * (--json) and returns 0 or a negative error.
 */
typedef int (*show_token_fn)(struct cli *c, struct ukey_p11 *p11, const struct ukey_token_info *t, cJSON *arr);

static int each_token(struct cli *c, int argc, char **argv, const char *json_key, show_token_fn show)
{
	struct ukey_token_info *tokens = NULL;
	struct ukey_p11 *p11 = NULL;
	cJSON *doc = NULL, *arr = NULL;
	int n, r = 0, q, sel = -1;

	if ((r = no_args(c, argc, argv)) < 0 || (r = cli_p11(c, &p11)) < 0)
		return r;
	n = ukey_p11_tokens(p11, &tokens);
	if (n < 0)
		return cli_fail_default(c, n);
	if (c->cfg.token || n == 0) {
		sel = ukey_p11_select(tokens, (size_t)n, c->cfg.token);
		if (sel < 0) {
			free(tokens);
			return cli_fail_default(c, sel);
		}
	}
	if (c->json) {
		doc = cJSON_CreateObject();
		arr = cJSON_AddArrayToObject(doc, json_key);
	}
	for (int i = 0; i < n; i++) {
		if (sel >= 0 && i != sel)
			continue;
		if (!c->json)
			printf(_("Key \"%s\" (serial %s):\n"), cli_safe(tokens[i].label), cli_safe(tokens[i].serial));
		q = show(c, p11, &tokens[i], arr);
		if (q < 0) {
			r = q;
			if (!c->json)
				fprintf(stderr, _("ukey: key \"%s\" (serial %s): %s.\n"), cli_safe(tokens[i].label),
					cli_safe(tokens[i].serial), _(ukey_strerror(q)));
		}
	}
	free(tokens);
	if (doc)
		cli_print_json(doc);
	return r;
}

static int show_certs(struct cli *c, struct ukey_p11 *p11, const struct ukey_token_info *t, cJSON *arr)
{
	struct ukey_cert_info *certs = NULL;
	time_t now = time(NULL);
	int k;

	k = ukey_p11_certs(p11, t->serial, &certs);
	if (k < 0)
		return k;
	if (!c->json && k == 0)
		printf("%s\n", _("  No certificate on this key."));
	for (int j = 0; j < k; j++) {
		struct ukey_revocation_result rv;
		bool checked = certs[j].readable; /* an unreadable one has nothing to ask about (R-D3) */

		if (checked)
			revocation_of(c, &certs[j], now, &rv);
		if (c->json) {
			cJSON *o = ukey_json_cert(t, &certs[j], now, false);

			cJSON_AddItemToObject(o, "revocation",
					      checked ? ukey_json_revocation(&rv) : cJSON_CreateNull());
			cJSON_AddItemToArray(arr, o);
		} else {
			cert_text(&certs[j], now, checked ? &rv : NULL);
		}
	}
	ukey_cert_info_free_array(certs, (size_t)k);
	return 0;
}

int cmd_certs(struct cli *c, int argc, char **argv)
{
	struct ukey_revocation_config cfg = { .trust_pem = c->cfg.ca_trust,
					      .state_dir = c->cfg.state_dir,
					      .offline = c->offline };
	int r;

	/* R-V: one checker for every certificate shown; the trust is read once. */
	r = ukey_revocation_new(&cfg, &c->revocation);
	if (r == -ENOMEM)
		return cli_fail_default(c, r);
	if (r < 0 && !c->json)
		fprintf(stderr, _("ukey: warning: the CA trust \"%s\" cannot be read: revocation is not checked.\n"),
			cli_safe(c->cfg.ca_trust ? c->cfg.ca_trust : _("(the system's)")));
	r = each_token(c, argc, argv, "certificates", show_certs);
	ukey_revocation_free(c->revocation);
	c->revocation = NULL;
	return r;
}

static int show_keys(struct cli *c, struct ukey_p11 *p11, const struct ukey_token_info *t, cJSON *arr)
{
	struct ukey_key_info *keys = NULL;
	char id[2 * UKEY_P11_ID_MAX + 1];
	int k;

	k = ukey_p11_keys(p11, t->serial, &keys);
	if (k < 0)
		return k;
	for (int j = 0; j < k; j++) {
		if (c->json) {
			cJSON_AddItemToArray(arr, ukey_json_key(t, &keys[j]));
			continue;
		}
		ukey_json_hex(keys[j].id, keys[j].id_len, id, sizeof(id));
		printf(_("  %-8s %-10s id %-6s \"%s\"\n"), keys[j].is_private ? _("private") : _("public"),
		       keys[j].key_type, id, cli_safe(keys[j].label));
	}
	if (!c->json)
		printf("%s\n", _("  (Private keys stay hidden until the PIN is given.)"));
	ukey_key_info_free_array(keys, (size_t)k);
	return 0;
}

int cmd_keys(struct cli *c, int argc, char **argv)
{
	return each_token(c, argc, argv, "keys", show_keys);
}
