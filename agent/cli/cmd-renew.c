/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey renew` and `ukey orders`: online renewal onto the key (R-R) with progress, resume and abort; pending orders. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "cli.h"
#include "i18n.h"
#include "objects.h"
#include "pin-input.h"
#include "renew.h"

static const char *step_words(enum ukey_renew_step step)
{
	switch (step) {
	case UKEY_RENEW_STEP_LOGIN:
		return _("checking the PIN");
	case UKEY_RENEW_STEP_KEYGEN:
		return _("generating a new key pair on the key");
	case UKEY_RENEW_STEP_REQUEST:
		return _("asking the CA for the new certificate");
	case UKEY_RENEW_STEP_VERIFY:
		return _("checking the new certificate");
	case UKEY_RENEW_STEP_WRITE:
		return _("writing the new certificate onto the key");
	case UKEY_RENEW_STEP_REMOVE_OLD:
		return _("removing the old certificate and key");
	default:
		return _("done");
	}
}

/* Progress: a numbered line per step on stderr (stdout stays the result, or the JSON). */
static void on_progress(void *userdata, enum ukey_renew_step step, const char *detail)
{
	struct cli *c = userdata;

	(void)c;
	fprintf(stderr, "[%d/%d] %s%s%s\n", (int)step + 1, (int)UKEY_RENEW_STEP_DONE + 1, step_words(step),
		detail && *detail ? ": " : "", detail && *detail ? cli_safe(detail) : "");
}

static int setup(struct cli *c, struct ukey_renew_ctx *ctx, bool need_ca)
{
	struct ukey_store *store = NULL;
	int r;

	memset(ctx, 0, sizeof(*ctx));
	if ((r = cli_p11(c, &ctx->p11)) < 0)
		return r;
	if ((r = cli_store(c, &store)) < 0)
		return cli_fail_default(c, r);
	ctx->store = store;
	ctx->max_tries = c->max_tries;
	ctx->token = c->cfg.token;
	ctx->now = time(NULL);
	ctx->force = c->renew_force;
	ctx->est.base_url = c->cfg.ca_url;
	ctx->est.trust_pem = c->cfg.ca_trust;
	ctx->progress = c->json ? NULL : on_progress;
	ctx->userdata = c;
	if (need_ca && !c->cfg.ca_url)
		return cli_fail(
			c, -UKEY_E_USAGE, NULL, NULL,
			_("No CA is configured: give --ca-url https://HOST:PORT/.well-known/est (and --ca-trust "
			  "CA.pem), or set ca-url in ukey.conf."));
	return 0;
}

static int fail_plan(struct cli *c, int r)
{
	if (r == -UKEY_E_CERT_UNREADABLE)
		return cli_fail(c, r, "R-D3", NULL,
				_("The key holds no readable certificate for its key pair: nothing to renew; see 'ukey "
				  "diagnose'."));
	if (r == -UKEY_E_TOKEN_AMBIGUOUS)
		return cli_fail(c, r, "R-R7", NULL, _("Several keys are inserted: choose one with --token SERIAL."));
	return cli_fail_default(c, r);
}

static void not_open_text(struct cli *c, const struct ukey_renew_plan *p)
{
	if (p->validity.needs_documents)
		cli_fail(c, -UKEY_E_RENEW_NOT_OPEN, "R-R5", NULL,
			 _("The certificate expired %ld days ago: online renewal closed on %s; renewal now needs "
			   "documents and the CA's approval (R-R5)."),
			 p->validity.days_expired, p->closes_on);
	else
		cli_fail(
			c, -UKEY_E_RENEW_NOT_OPEN, "R-R2", NULL,
			_("Online renewal opens on %s, when fewer than 90 days are left (R-R2); %ld days are left now."),
			p->opens_on, p->validity.days_left);
}

static bool ca_agrees(const struct ukey_renew_plan *plan, const struct ukey_ca_status *cs)
{
	return cs->open == plan->open && (!plan->open || strcmp(cs->rule, plan->rule) == 0);
}

/* The CA's word on the plan, when it is configured and has a status API; the CA is the authority. */
static cJSON *ca_confirmation(const struct ukey_renew_ctx *ctx, const struct ukey_renew_plan *plan,
			      struct ukey_ca_status *cs, bool *ret_asked)
{
	cJSON *o = cJSON_CreateObject();
	int r;

	*ret_asked = false;
	memset(cs, 0, sizeof(*cs));
	if (!ctx->est.base_url) {
		cJSON_AddBoolToObject(o, "confirmed", false);
		cJSON_AddStringToObject(o, "why", "no CA configured");
		return o;
	}
	r = ukey_ca_cert_status(&ctx->est, plan->serial_hex, cs);
	*ret_asked = r == 0 && cs->known;
	/* Confirmed: the same answer, and when open the same rule (closed, the CA names R-R2 where ukey names the rule
	 * a renewal would follow). */
	cJSON_AddBoolToObject(o, "confirmed", *ret_asked && ca_agrees(plan, cs));
	if (r < 0) {
		cJSON_AddStringToObject(o, "why", ukey_err_id(r));
		return o;
	}
	if (!cs->known) {
		cJSON_AddStringToObject(o, "why", "the CA has no status for this certificate");
		return o;
	}
	cJSON_AddNullToObject(o, "why");
	cJSON_AddBoolToObject(o, "open", cs->open);
	cJSON_AddStringToObject(o, "rule", cs->rule);
	cJSON_AddStringToObject(o, "opens_on", cs->opens_on);
	if (cs->new_not_after[0])
		cJSON_AddStringToObject(o, "new_not_after", cs->new_not_after);
	else
		cJSON_AddNullToObject(o, "new_not_after");
	cJSON_AddBoolToObject(o, "revoked", cs->revoked);
	return o;
}

static int renew_check(struct cli *c)
{
	struct ukey_renew_ctx ctx;
	struct ukey_renew_plan plan;
	struct ukey_ca_status cs;
	bool asked, open;
	cJSON *ca;
	int r;

	if ((r = setup(c, &ctx, false)) < 0)
		return r;
	if ((r = ukey_renew_plan(&ctx, &plan)) < 0)
		return fail_plan(c, r);
	ca = ca_confirmation(&ctx, &plan, &cs, &asked);
	/* Computed here, confirmed by the CA when it answers; where the two differ the CA decides. */
	open = asked ? cs.open : plan.open;
	if (c->json) {
		cJSON *o = ukey_json_renew_plan(&plan);

		cJSON_AddItemToObject(o, "ca", ca);
		cli_print_json(o);
		return open ? 0 : -UKEY_E_RENEW_NOT_OPEN;
	}
	cJSON_Delete(ca);
	printf(_("Certificate on \"%s\" (serial %s): %s\n"), cli_safe(plan.token.label), cli_safe(plan.token.serial),
	       cli_safe(plan.subject_cn[0] ? plan.subject_cn : plan.subject));
	if (plan.in_progress)
		printf(_("A renewal of this key is under way (%s): 'ukey renew --resume' carries it on.\n"),
		       plan.journal_state);
	if (asked && !ca_agrees(&plan, &cs))
		printf(_("The CA's clock or records differ: it says renewal is %s (%s); its word counts.\n"),
		       cs.open ? _("open") : _("not open"), cs.rule);
	else if (asked)
		printf("%s\n", _("The CA confirms it."));
	else if (ctx.est.base_url)
		printf("%s\n", _("The CA could not confirm it: this is ukey's own reading of the rules."));
	if (!open) {
		not_open_text(c, &plan);
		return -UKEY_E_RENEW_NOT_OPEN;
	}
	if (asked && cs.new_not_after[0] && !ca_agrees(&plan, &cs))
		printf(_("The CA would issue a certificate ending on %s (%s).\n"), cs.new_not_after, cs.rule);
	else if (plan.validity.status == UKEY_VALIDITY_EXPIRED)
		printf(_("Expired %ld days ago: renewal is open until %s (R-R2); the new certificate will run one year "
			 "from the download, to about %s (%s).\n"),
		       plan.validity.days_expired, plan.closes_on, plan.expected_not_after, plan.rule);
	else
		printf(_("%ld days left: renewal is open (R-R2); the new certificate will end on %s, one year after the "
			 "current one (%s).\n"),
		       plan.validity.days_left, plan.expected_not_after, plan.rule);
	return 0;
}

static int renew_run(struct cli *c)
{
	struct ukey_renew_ctx ctx;
	struct ukey_renew_plan plan;
	struct ukey_renew_outcome out;
	char pin[UKEY_PIN_BUF], prompt[256];
	int r;

	if ((r = setup(c, &ctx, true)) < 0)
		return r;
	if ((r = ukey_renew_plan(&ctx, &plan)) < 0)
		return fail_plan(c, r);
	if (c->renew_mode == CLI_RENEW_RESUME && !plan.in_progress) {
		if (c->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "result", "nothing-to-resume");
			cli_print_json(o);
		} else {
			printf(_("No renewal of \"%s\" is under way: nothing to resume.\n"),
			       cli_safe(plan.token.label));
		}
		return 0;
	}
	if (!plan.in_progress && !plan.open && !ctx.force) {
		not_open_text(c, &plan);
		return -UKEY_E_RENEW_NOT_OPEN;
	}
	if (!plan.open && ctx.force && !c->json)
		printf(_("Renewing outside the online window (--force): the CA decides whether it issues.\n"));
	if (!c->json)
		printf(_("Renewing \"%s\" on \"%s\" (serial %s); the PIN stays the same (R-P4).\n"),
		       cli_safe(plan.subject_cn[0] ? plan.subject_cn : plan.subject), cli_safe(plan.token.label),
		       cli_safe(plan.token.serial));
	snprintf(prompt, sizeof(prompt), _("PIN for \"%s\": "), cli_safe(plan.token.label));
	if ((r = ukey_pin_read(prompt, pin, sizeof(pin))) < 0 ||
	    (r = ukey_pin_validate(pin, plan.token.min_pin_len, plan.token.max_pin_len)) < 0) {
		OPENSSL_cleanse(pin, sizeof(pin));
		return cli_fail_default(c, r);
	}
	r = ukey_renew_run(&ctx, pin, &out);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED)
		return cli_fail_pin(c, r, &plan.token, &out.pin);
	if (r == -UKEY_E_RENEW_PENDING) {
		char when[32];
		struct tm tm;

		localtime_r(&out.retry_at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		return cli_fail(c, r, "R-R6", NULL,
				_("The CA holds the order%s%s (payment, or documents and approval): run 'ukey renew "
				  "--resume' after %s."),
				out.order[0] ? " " : "", cli_safe(out.order), when);
	}
	if (r == -UKEY_E_CA_REFUSED && out.warning[0])
		return cli_fail(
			c, r, NULL, NULL,
			_("The CA refused the renewal: %s. The old certificate still works; 'ukey renew --abort' drops this "
			  "renewal."),
			cli_safe(out.warning));
	if (r < 0)
		return cli_fail(c, r, NULL, NULL,
				_("%s. The old certificate is still on the key; 'ukey renew --resume' "
				  "carries on from here."),
				_(ukey_strerror(r)));
	if (c->json) {
		cJSON *o = ukey_json_renew_plan(&plan);

		cJSON_AddStringToObject(o, "result", "renewed");
		cJSON_AddStringToObject(o, "new_not_after", out.new_not_after);
		if (out.warning[0])
			cJSON_AddStringToObject(o, "warning", out.warning);
		else
			cJSON_AddNullToObject(o, "warning");
		cli_print_json(o);
	} else {
		if (out.warning[0])
			printf(_("Warning: %s\n"), cli_safe(out.warning));
		printf(_("Renewed: the new certificate is on the key and ends on %s.\n"), out.new_not_after);
	}
	return 0;
}

static int renew_abort(struct cli *c)
{
	struct ukey_renew_ctx ctx;
	struct ukey_renew_plan plan;
	struct ukey_pin_state st = { 0 };
	char pin[UKEY_PIN_BUF];
	int r;

	if ((r = setup(c, &ctx, false)) < 0)
		return r;
	if ((r = ukey_renew_plan(&ctx, &plan)) < 0)
		return fail_plan(c, r);
	if (!plan.in_progress)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("No renewal of this key is under way."));
	if ((r = ukey_pin_read(_("PIN: "), pin, sizeof(pin))) < 0) {
		OPENSSL_cleanse(pin, sizeof(pin));
		return cli_fail_default(c, r);
	}
	r = ukey_renew_abort(&ctx, pin, &st);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (r == -EBUSY)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("The new certificate is already on the key: finish with 'ukey renew --resume'."));
	if (r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED)
		return cli_fail_pin(c, r, &plan.token, &st);
	if (r < 0)
		return cli_fail_default(c, r);
	printf(_("Renewal abandoned: the new key pair is removed, the old certificate stays.\n"));
	return 0;
}

int cmd_renew(struct cli *c, int argc, char **argv)
{
	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	switch (c->renew_mode) {
	case CLI_RENEW_CHECK:
		return renew_check(c);
	case CLI_RENEW_ABORT:
		return renew_abort(c);
	default:
		return renew_run(c);
	}
}

int cmd_orders(struct cli *c, int argc, char **argv)
{
	struct ukey_store *store = NULL;
	struct ukey_renewal *list = NULL;
	cJSON *doc = NULL, *arr = NULL;
	int n, r;

	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	if ((r = cli_store(c, &store)) < 0)
		return cli_fail_default(c, r);
	if ((n = ukey_store_renewal_list(store, &list)) < 0)
		return cli_fail_default(c, n);
	if (c->json) {
		doc = cJSON_CreateObject();
		arr = cJSON_AddArrayToObject(doc, "renewals");
	} else if (n == 0) {
		printf("%s\n", _("No renewal is under way and no order waits at the CA."));
	}
	for (int i = 0; i < n; i++) {
		char when[32] = "";
		time_t t = (time_t)list[i].retry_at;

		if (list[i].retry_at) {
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		if (c->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "token_serial", list[i].serial);
			cJSON_AddStringToObject(o, "state", list[i].state);
			if (list[i].order[0])
				cJSON_AddStringToObject(o, "order", list[i].order);
			else
				cJSON_AddNullToObject(o, "order");
			if (when[0])
				cJSON_AddStringToObject(o, "retry_after", when);
			else
				cJSON_AddNullToObject(o, "retry_after");
			cJSON_AddItemToArray(arr, o);
		} else {
			printf(_("key %s: %s%s%s%s%s\n"), list[i].serial, list[i].state,
			       list[i].order[0] ? _(", order ") : "", cli_safe(list[i].order),
			       when[0] ? _(", try again after ") : "", when);
		}
		ukey_renewal_clear(&list[i]);
	}
	free(list);
	if (doc)
		cli_print_json(doc);
	return 0;
}
