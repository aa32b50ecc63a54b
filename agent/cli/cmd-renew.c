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

/* What the CA said, in words: open or when it opens, and the end date it would give. */
static void ca_words(const struct ukey_renew_check *chk)
{
	const struct ukey_ca_status *cs = &chk->ca;

	if (cs->open && cs->new_not_after[0])
		printf(_("The CA says renewal is open (%s): the new certificate would end on %s.\n"), cs->rule,
		       cs->new_not_after);
	else if (cs->open)
		printf(_("The CA says renewal is open (%s).\n"), cs->rule);
	else if (cs->opens_on[0])
		printf(_("The CA says renewal is not open (%s): it opens on %s.\n"), cs->rule, cs->opens_on);
	else
		printf(_("The CA says renewal is not open (%s).\n"), cs->rule);
}

static int renew_check(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_renew_check chk;
	struct ukey_core core;
	const struct ukey_renew_plan *plan = &chk.plan;
	int r;

	if ((r = cli_core(c, &core)) < 0)
		return r;
	if ((r = ukey_core_renew_check(&core, c->cfg.token, time(NULL), &chk, &f)) < 0)
		return cli_report(c, &f);
	if (c->json) {
		cli_print_json(ukey_json_renew_check(&chk));
		return chk.open ? 0 : -UKEY_E_RENEW_NOT_OPEN;
	}
	printf(_("Certificate on \"%s\" (serial %s): %s\n"), cli_safe(plan->token.label), cli_safe(plan->token.serial),
	       cli_safe(plan->subject_cn[0] ? plan->subject_cn : plan->subject));
	if (plan->in_progress)
		printf(_("A renewal of this key is under way (%s): 'ukey renew --resume' carries it on.\n"),
		       ukey_renewal_state_id(plan->journal_state));
	if (chk.ca_asked) {
		ca_words(&chk);
		if (!chk.ca_agrees)
			printf("%s\n",
			       _("ukey's own reading of the rules differs (the CA's clock or records): the CA's "
				 "word counts."));
	} else if (core.ca_url) {
		printf("%s\n", _("The CA could not confirm it: this is ukey's own reading of the rules."));
	}
	if (!chk.open) {
		/* ukey's dates when the CA agrees or was not asked; the CA's word (printed above) when it differs. */
		if ((!chk.ca_asked || chk.ca_agrees) && ukey_core_renew_window(plan, &f) < 0)
			return cli_report(c, &f);
		return cli_fail_default(c, -UKEY_E_RENEW_NOT_OPEN);
	}
	if (chk.ca_asked && !chk.ca_agrees)
		return 0;
	if (plan->validity.status == UKEY_VALIDITY_EXPIRED)
		printf(_("Expired %ld days ago: renewal is open until %s (R-R2); the new certificate will run one year "
			 "from the download, to about %s (%s).\n"),
		       plan->validity.days_expired, plan->closes_on, plan->expected_not_after, plan->rule);
	else
		printf(_("%ld days left: renewal is open (R-R2); the new certificate will end on %s, one year after the "
			 "current one (%s).\n"),
		       plan->validity.days_left, plan->expected_not_after, plan->rule);
	return 0;
}

static int renew_run(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_renew_plan plan;
	struct ukey_renew_outcome out;
	struct ukey_core core;
	char pin[UKEY_PIN_BUF], prompt[256];
	int r;

	if ((r = cli_core(c, &core)) < 0)
		return r;
	r = ukey_core_renew_prepare(&core, c->cfg.token, c->renew_force, true, &plan, &f);
	/* --resume with nothing under way is not an error, whatever the window says. */
	if (c->renew_mode == CLI_RENEW_RESUME && plan.token.serial[0] && !plan.in_progress &&
	    (r == 0 || r == -UKEY_E_RENEW_NOT_OPEN)) {
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
	if (r < 0)
		return cli_report(c, &f);
	if (!plan.open && c->renew_force && !c->json)
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
	r = ukey_core_renew_run(&core, &plan, pin, c->renew_force, c->json ? NULL : on_progress, c, &out, &f);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (r < 0)
		return cli_report(c, &f);
	if (c->json) {
		cli_print_json(ukey_json_renewed(&plan, &out));
	} else {
		if (out.warning[0])
			printf(_("Warning: %s\n"), cli_safe(out.warning));
		printf(_("Renewed: the new certificate is on the key and ends on %s.\n"), out.new_not_after);
	}
	return 0;
}

static int renew_abort(struct cli *c)
{
	struct ukey_failure f = { 0 };
	struct ukey_renew_plan plan;
	struct ukey_core core;
	char pin[UKEY_PIN_BUF];
	int r;

	if ((r = cli_core(c, &core)) < 0)
		return r;
	r = ukey_core_renew_prepare(&core, c->cfg.token, true, false, &plan, &f);
	if (r < 0)
		return cli_report(c, &f);
	if (!plan.in_progress)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("No renewal of this key is under way."));
	if ((r = ukey_pin_read(_("PIN: "), pin, sizeof(pin))) < 0) {
		OPENSSL_cleanse(pin, sizeof(pin));
		return cli_fail_default(c, r);
	}
	r = ukey_core_renew_abort(&core, &plan, pin, &f);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (r == -EBUSY)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("The new certificate is already on the key: finish with 'ukey renew --resume'."));
	if (r < 0)
		return cli_report(c, &f);
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
			cJSON_AddStringToObject(o, "state", ukey_renewal_state_id(list[i].state));
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
			printf(_("key %s: %s%s%s%s%s\n"), list[i].serial, ukey_renewal_state_id(list[i].state),
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
