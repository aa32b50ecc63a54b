/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core entry points both front ends call: token selection, the overview, PIN, sign, renewal check and run. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_CORE
#include "base/err.h"
#include "base/log.h"
#include "core.h"

int ukey_failure_set(struct ukey_failure *f, int r, const char *rule)
{
	f->r = r;
	if (rule)
		f->rule = rule;
	return r;
}

int ukey_core_fail(const struct ukey_core *core, const char *selector, int r, struct ukey_failure *f)
{
	/* The context the table's sentences name: which key, which module, which database. */
	switch (-r) {
	case UKEY_E_TOKEN_NOT_FOUND:
		snprintf(f->detail, sizeof(f->detail), "%s", selector ? selector : "");
		break;
	case UKEY_E_MODULE_LOAD:
		snprintf(f->detail, sizeof(f->detail), "%s", core->module ? core->module : "");
		break;
	case UKEY_E_STATE_UNAVAILABLE:
	case UKEY_E_STATE_CORRUPT:
		snprintf(f->detail, sizeof(f->detail), "%s/state.db",
			 core->state_dir ? core->state_dir : "$XDG_STATE_HOME/ukey");
		return ukey_failure_set(f, r, "R-P1");
	default:
		break;
	}
	return ukey_failure_set(f, r, NULL);
}

/* The store, or the reason PIN entry is refused (fail closed, R-P1), with the database named. */
static int need_store(struct ukey_core *core, struct ukey_failure *f)
{
	if (core->store)
		return 0;
	return ukey_core_fail(core, NULL, core->store_error < 0 ? core->store_error : -UKEY_E_STATE_UNAVAILABLE, f);
}

static int list_and_select(struct ukey_core *core, const char *selector, struct ukey_token_info *ret)
{
	struct ukey_token_info *tokens = NULL;
	int n = ukey_p11_tokens(core->p11, &tokens), i;

	if (n < 0)
		return n;
	i = ukey_p11_select(tokens, (size_t)n, selector);
	if (i >= 0)
		*ret = tokens[i];
	free(tokens);
	return i < 0 ? i : 0;
}

int ukey_core_select(struct ukey_core *core, const char *selector, struct ukey_token_info *ret, struct ukey_failure *f)
{
	int r = list_and_select(core, selector, ret);

	/*
	 * Not found with a module whose slot list is fixed at C_Initialize: the
	 * key may have come since, or been unreadable for a moment while another
	 * program wrote it. Make the module look again, once.
	 */
	if ((r == -UKEY_E_NO_TOKEN || r == -UKEY_E_TOKEN_NOT_FOUND) && core->rescan &&
	    core->rescan(core->rescan_userdata) == 1) {
		usleep(100 * 1000);
		r = list_and_select(core, selector, ret);
	}
	if (r < 0)
		return ukey_core_fail(core, selector, r, f);
	f->token = *ret;
	f->has_token = true;
	return 0;
}

int ukey_core_overview(struct ukey_core *core, struct ukey_token_overview **ret, struct ukey_failure *f)
{
	struct ukey_token_info *tokens = NULL;
	struct ukey_token_overview *all;
	int n = ukey_p11_tokens(core->p11, &tokens);

	if (n < 0)
		return ukey_failure_set(f, n, NULL);
	*ret = NULL;
	if (n == 0)
		return 0;
	all = calloc((size_t)n, sizeof(*all));
	if (!all) {
		free(tokens);
		return ukey_failure_set(f, -ENOMEM, NULL);
	}
	for (int i = 0; i < n; i++) {
		struct ukey_cert_info *certs = NULL;

		all[i].token = tokens[i];
		/* Listing works without the store; only the tries left are then unknown. */
		ukey_pin_state(core->store, &tokens[i], core->max_tries, &all[i].pin);
		all[i].ncerts = ukey_p11_certs(core->p11, tokens[i].serial, &certs);
		ukey_cert_info_free_array(certs, all[i].ncerts > 0 ? (size_t)all[i].ncerts : 0);
	}
	free(tokens);
	*ret = all;
	return n;
}

int ukey_core_pin_status(struct ukey_core *core, const char *selector, struct ukey_token_info *ret_token,
			 struct ukey_pin_state *ret_state, struct ukey_failure *f)
{
	int r;

	if ((r = ukey_core_select(core, selector, ret_token, f)) < 0 || (r = need_store(core, f)) < 0)
		return r;
	if ((r = ukey_pin_state(core->store, ret_token, core->max_tries, ret_state)) < 0)
		return ukey_core_fail(core, NULL, r, f);
	return 0;
}

int ukey_core_pin_prepare(struct ukey_core *core, const char *selector, struct ukey_token_info *ret_token,
			  struct ukey_pin_state *ret_state, struct ukey_failure *f)
{
	int r;

	if ((r = ukey_core_pin_status(core, selector, ret_token, ret_state, f)) < 0)
		return r;
	f->pin = *ret_state;
	f->has_pin = true;
	/* R-P2: refused before anyone types a PIN for nothing, and before anything reaches the key. */
	if (ret_state->locked)
		return ukey_failure_set(f, -UKEY_E_PIN_LOCKED, "R-P2");
	return 0;
}

int ukey_core_pin(struct ukey_core *core, const struct ukey_token_info *token, const char *pin, const char *new_pin,
		  struct ukey_session **ret_session, bool *ret_locked_now, struct ukey_failure *f)
{
	struct ukey_pin_result res;
	struct ukey_pin_state before;
	int r;

	if (ret_locked_now)
		*ret_locked_now = false;
	f->token = *token;
	f->has_token = true;
	f->during = new_pin ? UKEY_DURING_PIN_CHANGE : f->during;
	if ((r = need_store(core, f)) < 0)
		return r;
	ukey_pin_state(core->store, token, core->max_tries, &before);
	f->pin = before;
	f->has_pin = true;
	if (before.locked)
		return ukey_failure_set(f, -UKEY_E_PIN_LOCKED, "R-P2");
	r = ukey_pin_run(core->p11, core->store, token, core->max_tries, pin, new_pin, ret_session, &res);
	f->pin = res.state;
	f->token = res.token;
	f->pin_attempted = res.attempted;
	if (ret_locked_now)
		*ret_locked_now = res.state.locked && !before.locked;
	if (r == -UKEY_E_PIN_INCORRECT || (r == -UKEY_E_TOKEN_REMOVED && res.attempted))
		return ukey_failure_set(f, r, "R-P1");
	if (r == -UKEY_E_PIN_LOCKED)
		return ukey_failure_set(f, r, "R-P2");
	return r < 0 ? ukey_failure_set(f, r, NULL) : 0;
}

void ukey_sign_key_clear(struct ukey_sign_key *k)
{
	free(k->cert_der);
	memset(k, 0, sizeof(*k));
}

int ukey_sign_key_copy(const struct ukey_sign_key *k, struct ukey_sign_key *ret)
{
	*ret = *k;
	ret->cert_der = NULL;
	if (k->cert_der) {
		if (!(ret->cert_der = malloc(k->cert_len)))
			return -ENOMEM;
		memcpy(ret->cert_der, k->cert_der, k->cert_len);
	}
	return 0;
}

static bool mech_fits(enum ukey_sign_mech mech, enum ukey_key_kind kind);

int ukey_core_sign_key_check(const struct ukey_sign_key *k, enum ukey_sign_mech mech, struct ukey_failure *f)
{
	/* Without a certificate the kind is unknown: the key itself will answer. */
	if (k->kind != UKEY_KEY_UNKNOWN && !mech_fits(mech, k->kind))
		return ukey_failure_set(f, -UKEY_E_UNSUPPORTED, NULL);
	return 0;
}

int ukey_sign_mech_parse(const char *name, enum ukey_sign_mech *ret)
{
	if (!name || strcmp(name, "rsa-pkcs1-sha256") == 0)
		*ret = UKEY_SIGN_RSA_PKCS1_SHA256;
	else if (strcmp(name, "rsa-pss-sha256") == 0)
		*ret = UKEY_SIGN_RSA_PSS_SHA256;
	else if (strcmp(name, "ecdsa-sha256") == 0)
		*ret = UKEY_SIGN_ECDSA_SHA256;
	else
		return -UKEY_E_USAGE;
	return 0;
}

const char *ukey_sign_mech_id(enum ukey_sign_mech mech)
{
	switch (mech) {
	case UKEY_SIGN_RSA_PSS_SHA256:
		return "rsa-pss-sha256";
	case UKEY_SIGN_ECDSA_SHA256:
		return "ecdsa-sha256";
	default:
		return "rsa-pkcs1-sha256";
	}
}

static bool mech_fits(enum ukey_sign_mech mech, enum ukey_key_kind kind)
{
	return mech == UKEY_SIGN_ECDSA_SHA256 ? ukey_key_kind_is_ec(kind) : ukey_key_kind_is_rsa(kind);
}

static int parse_hex(const char *hex, uint8_t *out, size_t size, size_t *ret_len)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 || n / 2 > size || strspn(hex, "0123456789abcdefABCDEF") != n)
		return -UKEY_E_USAGE;
	for (size_t i = 0; i < n / 2; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	*ret_len = n / 2;
	return 0;
}

int ukey_core_sign_key(struct ukey_core *core, const struct ukey_token_info *token, enum ukey_sign_mech mech,
		       const char *key_id, struct ukey_sign_key *ret, struct ukey_failure *f)
{
	struct ukey_cert_info *certs = NULL;
	struct ukey_sign_key k = { .kind = UKEY_KEY_UNKNOWN };
	bool found = false;
	int n, r = 0;

	if (key_id && parse_hex(key_id, k.id, sizeof(k.id), &k.id_len) < 0) {
		snprintf(f->detail, sizeof(f->detail), "key_id");
		return ukey_failure_set(f, -UKEY_E_USAGE, NULL);
	}
	n = ukey_p11_certs(core->p11, token->serial, &certs);
	if (n < 0)
		return ukey_failure_set(f, n, NULL);
	/* The unit's identity certificate's key (as renewal reads it), unless the caller names another. */
	if (!key_id && n > 0) {
		int id = ukey_cert_identity(certs, n, false);

		if (id >= 0) {
			memcpy(k.id, certs[id].id, certs[id].id_len);
			k.id_len = certs[id].id_len;
		}
	}
	for (int i = 0; i < n && !found; i++) {
		if (!certs[i].readable)
			continue;
		if (certs[i].id_len != k.id_len || memcmp(certs[i].id, k.id, k.id_len) != 0)
			continue;
		found = true;
		k.kind = certs[i].key_kind;
		/* Known before the PIN is used: an ECDSA request for an RSA key costs no try. */
		if (!mech_fits(mech, certs[i].key_kind)) {
			r = -UKEY_E_UNSUPPORTED;
			break;
		}
		k.cert_der = malloc(certs[i].der_len);
		if (!k.cert_der) {
			r = -ENOMEM;
			break;
		}
		memcpy(k.cert_der, certs[i].der, certs[i].der_len);
		k.cert_len = certs[i].der_len;
	}
	/* A key_id without a certificate may still name a private key: the key itself will say. */
	if (r == 0 && !key_id && (!found || k.id_len == 0))
		r = -UKEY_E_KEY_NOT_FOUND;
	ukey_cert_info_free_array(certs, n > 0 ? (size_t)n : 0);
	if (r < 0) {
		ukey_sign_key_clear(&k);
		return ukey_failure_set(f, r, NULL);
	}
	*ret = k;
	return 0;
}

int ukey_core_sign(struct ukey_core *core, struct ukey_session *s, const struct ukey_sign_key *key,
		   enum ukey_sign_mech mech, const uint8_t *input, size_t input_len, bool is_digest, uint8_t **ret_sig,
		   size_t *ret_len, struct ukey_failure *f)
{
	int r;

	(void)core;
	r = is_digest ? ukey_session_sign_digest(s, key->id, key->id_len, mech, input, input_len, ret_sig, ret_len)
		      : ukey_session_sign(s, key->id, key->id_len, mech, input, input_len, ret_sig, ret_len);
	return r < 0 ? ukey_failure_set(f, r, NULL) : 0;
}

static void renew_ctx(struct ukey_core *core, const char *selector, bool force, time_t now, struct ukey_renew_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->p11 = core->p11;
	ctx->store = core->store;
	ctx->max_tries = core->max_tries;
	ctx->token = selector;
	ctx->est.base_url = core->ca_url;
	ctx->est.trust_pem = core->ca_trust;
	ctx->now = now;
	ctx->force = force;
}

/* ukey_renew_plan with the key chosen as every call chooses it (R-R7: the inserted key is the one renewed). */
static int plan(struct ukey_core *core, const char *selector, time_t now, struct ukey_renew_plan *ret,
		struct ukey_failure *f)
{
	struct ukey_renew_ctx ctx;
	struct ukey_token_info t;
	int r;

	if ((r = ukey_core_select(core, selector, &t, f)) < 0)
		return r == -UKEY_E_TOKEN_AMBIGUOUS ? ukey_failure_set(f, r, "R-R7") : r;
	/* The serial, not the selector: the key found is the key planned. */
	renew_ctx(core, t.serial, false, now, &ctx);
	if ((r = ukey_renew_plan(&ctx, ret)) < 0)
		return ukey_failure_set(f, r, r == -UKEY_E_CERT_UNREADABLE ? "R-D3" : NULL);
	return 0;
}

static bool ca_agrees(const struct ukey_renew_plan *p, const struct ukey_ca_status *cs)
{
	/* Closed, the CA names R-R2 where ukey names the rule a renewal would follow. */
	return cs->open == p->open && (!p->open || strcmp(cs->rule, p->rule) == 0);
}

int ukey_core_renew_check(struct ukey_core *core, const char *selector, time_t now, struct ukey_renew_check *ret,
			  struct ukey_failure *f)
{
	struct ukey_renew_check c = { 0 };
	struct ukey_est est = { .base_url = core->ca_url, .trust_pem = core->ca_trust };
	int r;

	if ((r = plan(core, selector, now, &c.plan, f)) < 0)
		return r;
	c.open = c.plan.open;
	c.ca_configured = core->ca_url != NULL;
	if (core->ca_url) {
		r = ukey_ca_cert_status(&est, c.plan.serial_hex, &c.ca);
		c.ca_error = r < 0 ? r : 0;
		c.ca_asked = r == 0 && c.ca.known;
		c.ca_agrees = c.ca_asked && ca_agrees(&c.plan, &c.ca);
		/* Computed here, confirmed by the CA when it answers; where the two differ the CA decides. */
		if (c.ca_asked)
			c.open = c.ca.open;
	}
	*ret = c;
	return 0;
}

int ukey_core_renew_window(const struct ukey_renew_plan *p, struct ukey_failure *f)
{
	if (p->open)
		return 0;
	if (p->validity.needs_documents) {
		snprintf(f->date, sizeof(f->date), "%s", p->closes_on);
		f->days = p->validity.days_expired;
		return ukey_failure_set(f, -UKEY_E_RENEW_NOT_OPEN, "R-R5");
	}
	snprintf(f->date, sizeof(f->date), "%s", p->opens_on);
	f->days = p->validity.days_left;
	return ukey_failure_set(f, -UKEY_E_RENEW_NOT_OPEN, "R-R2");
}

int ukey_core_renew_prepare(struct ukey_core *core, const char *selector, bool force, bool need_ca,
			    struct ukey_renew_plan *ret_plan, struct ukey_failure *f)
{
	struct ukey_pin_state st;
	int r;

	memset(ret_plan, 0, sizeof(*ret_plan));
	if (need_ca && !core->ca_url)
		return ukey_failure_set(f, -UKEY_E_CA_NOT_CONFIGURED, NULL);
	if ((r = need_store(core, f)) < 0 || (r = plan(core, selector, time(NULL), ret_plan, f)) < 0)
		return r;
	ukey_pin_state(core->store, &ret_plan->token, core->max_tries, &st);
	f->token = ret_plan->token;
	f->has_token = true;
	f->pin = st;
	f->has_pin = true;
	if (st.locked)
		return ukey_failure_set(f, -UKEY_E_PIN_LOCKED, "R-P2");
	f->has_pin = false;
	if (ret_plan->in_progress || force)
		return 0;
	return ukey_core_renew_window(ret_plan, f);
}

int ukey_core_renew_run(struct ukey_core *core, const struct ukey_renew_plan *p, const char *pin, bool force,
			ukey_renew_progress_fn progress, void *userdata, struct ukey_renew_outcome *ret,
			struct ukey_failure *f)
{
	struct ukey_renew_ctx ctx;
	int r;

	renew_ctx(core, p->token.serial, force, time(NULL), &ctx);
	ctx.progress = progress;
	ctx.userdata = userdata;
	f->token = p->token;
	f->has_token = true;
	r = ukey_renew_run(&ctx, pin, ret);
	if (r >= 0)
		return 0;
	f->during = UKEY_DURING_RENEW;
	switch (-r) {
	case UKEY_E_PIN_INCORRECT:
	case UKEY_E_PIN_LOCKED:
		f->pin = ret->pin;
		f->has_pin = true;
		return ukey_failure_set(f, r, r == -UKEY_E_PIN_LOCKED ? "R-P2" : "R-P1");
	case UKEY_E_RENEW_PENDING:
		snprintf(f->detail, sizeof(f->detail), "%s", ret->order);
		f->when = ret->retry_at;
		return ukey_failure_set(f, r, "R-R6");
	default:
		if (ret->warning[0])
			snprintf(f->detail, sizeof(f->detail), "%s", ret->warning);
		return ukey_failure_set(f, r, NULL);
	}
}

int ukey_core_renew_abort(struct ukey_core *core, const struct ukey_renew_plan *p, const char *pin,
			  struct ukey_failure *f)
{
	struct ukey_renew_ctx ctx;
	struct ukey_pin_state st = { 0 };
	int r;

	if (!p->in_progress)
		return ukey_failure_set(f, -ENOENT, NULL);
	renew_ctx(core, p->token.serial, false, time(NULL), &ctx);
	r = ukey_renew_abort(&ctx, pin, &st);
	if (r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED) {
		f->pin = st;
		f->has_pin = true;
		return ukey_failure_set(f, r, r == -UKEY_E_PIN_LOCKED ? "R-P2" : "R-P1");
	}
	return r < 0 ? ukey_failure_set(f, r, NULL) : 0;
}
