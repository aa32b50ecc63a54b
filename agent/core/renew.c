/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Online renewal onto the token: R-R2…R-R5 locally, then a journaled keygen → CSR → EST → verify → write → remove. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "base/err.h"
#include "base/log.h"
#include "pin.h"
#include "renew.h"

#define DAY 86400L

const char *ukey_renew_step_id(enum ukey_renew_step step)
{
	static const char *const ids[] = {
		[UKEY_RENEW_STEP_LOGIN] = "login",     [UKEY_RENEW_STEP_KEYGEN] = "keygen",
		[UKEY_RENEW_STEP_REQUEST] = "request", [UKEY_RENEW_STEP_VERIFY] = "verify",
		[UKEY_RENEW_STEP_WRITE] = "write",     [UKEY_RENEW_STEP_REMOVE_OLD] = "remove-old",
		[UKEY_RENEW_STEP_DONE] = "done",
	};

	return ids[step];
}

static void date_of(time_t t, char out[static 11])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

void ukey_date_plus_year(time_t t, char out[static 11])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	/* R-R3/R-R4 "one year": the same day next year; 29 February has none, 28 February is the day. */
	if (tm.tm_mon == 1 && tm.tm_mday == 29)
		tm.tm_mday = 28;
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1901) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u);
}

/*
 * Fault injection for the kill -9 tests (tests/integration/renew.sh): with
 * UKEY_TEST_KILL_AT=POINT the process SIGKILLs itself there, between a
 * token step and its journal record, which no outside timing can hit
 * reliably. Unset, this is one getenv per step.
 */
static void crash_point(const char *point)
{
	const char *at = getenv("UKEY_TEST_KILL_AT");

	if (at && strcmp(at, point) == 0)
		raise(SIGKILL);
}

static void progress(const struct ukey_renew_ctx *ctx, enum ukey_renew_step step, const char *detail)
{
	log_debug("renewal step %s%s%s", ukey_renew_step_id(step), detail ? ": " : "", detail ? detail : "");
	if (ctx->progress)
		ctx->progress(ctx->userdata, step, detail);
}

/* The key's current certificate: readable, for a key pair on the key; the latest to end wins. */
static int current_cert(const struct ukey_renew_ctx *ctx, const char *serial, struct ukey_cert_info *ret)
{
	struct ukey_cert_info *certs = NULL;
	int n = ukey_p11_certs(ctx->p11, serial, &certs), best;

	if (n < 0)
		return n;
	best = ukey_cert_identity(certs, n, true);
	if (best < 0) {
		ukey_cert_info_free_array(certs, (size_t)n);
		return -UKEY_E_CERT_UNREADABLE;
	}
	*ret = certs[best];
	memset(&certs[best], 0, sizeof(certs[best]));
	ukey_cert_info_free_array(certs, (size_t)n);
	return 0;
}

static int find_token(const struct ukey_renew_ctx *ctx, struct ukey_token_info *ret)
{
	struct ukey_token_info *tokens = NULL;
	int n = ukey_p11_tokens(ctx->p11, &tokens), i;

	if (n < 0)
		return n;
	/* R-R7: the key that is inserted (and chosen, when several are) is the one renewed; no stored record wins. */
	i = ukey_p11_select(tokens, (size_t)n, ctx->token);
	if (i >= 0)
		*ret = tokens[i];
	free(tokens);
	return i < 0 ? i : 0;
}

int ukey_renew_plan(const struct ukey_renew_ctx *ctx, struct ukey_renew_plan *ret)
{
	struct ukey_renew_plan plan = { 0 };
	struct ukey_cert_info ci = { 0 };
	struct ukey_renewal j;
	int r;

	if ((r = find_token(ctx, &plan.token)) < 0)
		return r;
	if ((r = current_cert(ctx, plan.token.serial, &ci)) < 0)
		return r;
	snprintf(plan.subject, sizeof(plan.subject), "%s", ci.subject ? ci.subject : "");
	snprintf(plan.subject_cn, sizeof(plan.subject_cn), "%s", ci.subject_cn ? ci.subject_cn : "");
	snprintf(plan.serial_hex, sizeof(plan.serial_hex), "%s", ci.serial_hex ? ci.serial_hex : "");
	snprintf(plan.label, sizeof(plan.label), "%s", ci.label && *ci.label ? ci.label : plan.token.label);
	memcpy(plan.id, ci.id, ci.id_len);
	plan.id_len = ci.id_len;
	/* The new pair is of the old one's family, in the size the CA issues (RSA-2048 or EC P-256). */
	plan.key_kind = ukey_key_kind_is_ec(ci.key_kind) ? UKEY_KEY_EC_P256 : UKEY_KEY_RSA_2048;
	plan.not_after = ci.not_after;
	ukey_validity_eval(ci.not_before, ci.not_after, ctx->now, &plan.validity);
	plan.open = plan.validity.renewal_open;
	/* R-R2: open from the moment fewer than 90 days are left until 365 days after expiry (validity.c). */
	date_of(ci.not_after - UKEY_RENEW_OPEN_DAYS * DAY + 1, plan.opens_on);
	date_of(ci.not_after + UKEY_RENEW_GRACE_DAYS * DAY, plan.closes_on);
	if (plan.validity.status != UKEY_VALIDITY_EXPIRED) {
		plan.rule = "R-R3"; /* the old end plus one year */
		ukey_date_plus_year(ci.not_after, plan.expected_not_after);
	} else {
		plan.rule = plan.validity.needs_documents ? "R-R5" : "R-R4"; /* one year from the download */
		ukey_date_plus_year(ctx->now, plan.expected_not_after);
	}
	if (ctx->store && ukey_store_renewal_active(ctx->store, plan.token.serial, &j) == 0) {
		plan.in_progress = true;
		plan.journal_state = j.state;
		ukey_renewal_clear(&j);
	}
	ukey_cert_info_clear(&ci);
	*ret = plan;
	return 0;
}

static int set_state(const struct ukey_renew_ctx *ctx, struct ukey_renewal *j, enum ukey_renewal_state state)
{
	j->state = state;
	return ukey_store_renewal_update(ctx->store, j);
}

/* The certificate the CA sent, before anything on the key changes: for the new key, from the trusted CA, with the
 * unit's name unchanged. Only its dates may differ from what ukey expects (the CA stays the authority). */
static int verify_issued(const struct ukey_renew_ctx *ctx, struct ukey_session *s, const struct ukey_renewal *j,
			 const struct ukey_renew_plan *plan, const uint8_t *der, size_t len,
			 struct ukey_renew_outcome *out)
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	EVP_PKEY *want = NULL, *got = NULL;
	X509_STORE *trust = NULL;
	X509_STORE_CTX *vctx = NULL;
	struct ukey_cert_info ci = { 0 };
	int r = -UKEY_E_CA_BAD_RESPONSE;

	if (!x || p != der + len || ukey_cert_info_from_der(der, len, &ci) < 0)
		goto out;
	if ((r = ukey_session_public_key(s, j->new_id, j->new_id_len, &want)) < 0)
		goto out;
	r = -UKEY_E_CA_BAD_RESPONSE;
	if (!(got = X509_get_pubkey(x)) || EVP_PKEY_eq(want, got) != 1) {
		log_debug("the issued certificate is not for the new key");
		goto out;
	}
	if (strcmp(ci.subject ? ci.subject : "", plan->subject) != 0) {
		log_debug("the issued certificate's subject changed: '%s'", ci.subject ? ci.subject : "");
		goto out;
	}
	if (ctx->est.trust_pem) {
		if (!(trust = X509_STORE_new()) || X509_STORE_load_file(trust, ctx->est.trust_pem) != 1 ||
		    !(vctx = X509_STORE_CTX_new()) || X509_STORE_CTX_init(vctx, trust, x, NULL) != 1) {
			r = -UKEY_E_CA_UNTRUSTED;
			goto out;
		}
		/* The chain, not the dates: those are the CA's to set, and its clock may be another than ours. */
		X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(vctx) != 1) {
			log_debug("the issued certificate does not chain to the trust: %s",
				  X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
			r = -UKEY_E_CA_UNTRUSTED;
			goto out;
		}
	}
	date_of(ci.not_after, out->new_not_after);
	if (strcmp(out->new_not_after, plan->expected_not_after) != 0)
		snprintf(out->warning, sizeof(out->warning),
			 "The new certificate ends on %s, not on %s as %s gives; the CA decides.", out->new_not_after,
			 plan->expected_not_after, plan->rule);
	r = 0;
out:
	ukey_cert_info_clear(&ci);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(trust);
	EVP_PKEY_free(got);
	EVP_PKEY_free(want);
	X509_free(x);
	return r;
}

/* The old certificate, for the TLS client authentication of simplereenroll. */
static int old_cert(const struct ukey_renew_ctx *ctx, const char *serial, const uint8_t *id, size_t id_len, X509 **ret)
{
	struct ukey_cert_info *certs = NULL;
	int n = ukey_p11_certs(ctx->p11, serial, &certs), r = -UKEY_E_CERT_UNREADABLE;

	for (int i = 0; i < n; i++)
		if (certs[i].readable && certs[i].id_len == id_len && memcmp(certs[i].id, id, id_len) == 0) {
			const uint8_t *p = certs[i].der;

			*ret = d2i_X509(NULL, &p, (long)certs[i].der_len);
			r = *ret ? 0 : -UKEY_E_CERT_UNREADABLE;
			break;
		}
	ukey_cert_info_free_array(certs, n > 0 ? (size_t)n : 0);
	return n < 0 ? n : r;
}

/* keypair → request: CSR from the new key, signed on the key; simplereenroll with the old pair. */
static int request(const struct ukey_renew_ctx *ctx, struct ukey_session *s, const char *pin, struct ukey_renewal *j,
		   const struct ukey_renew_plan *plan, struct ukey_renew_outcome *out)
{
	struct ukey_est est = ctx->est;
	struct ukey_est_result res = { 0 };
	uint8_t *csr = NULL, *subject = NULL;
	int subject_len, r;
	X509 *cert = NULL;
	size_t csr_len = 0;

	if ((r = old_cert(ctx, j->serial, j->old_id, j->old_id_len, &cert)) < 0)
		return r;
	subject_len = i2d_X509_NAME(X509_get_subject_name(cert), &subject);
	if (subject_len <= 0) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = ukey_session_make_csr(s, j->new_id, j->new_id_len, subject, (size_t)subject_len, &csr, &csr_len)) < 0)
		goto out;
	if ((r = ukey_session_tls_key(s, j->old_id, j->old_id_len, pin, &est.client_key)) < 0)
		goto out;
	est.client_cert = cert;
	progress(ctx, UKEY_RENEW_STEP_REQUEST, ctx->est.base_url);
	if ((r = ukey_est_simplereenroll(&est, csr, csr_len, &res)) < 0) {
		struct ukey_token_info t;

		/* The old key signs in the TLS handshake: a key pulled meanwhile fails it, which curl can only call a
		 * TLS (or connection) failure. Say what happened, not that the CA is untrusted or unreachable. */
		if ((r == -UKEY_E_CA_UNTRUSTED || r == -UKEY_E_CA_UNREACHABLE) &&
		    ukey_p11_token_info(ctx->p11, j->serial, &t) == -UKEY_E_TOKEN_REMOVED)
			r = -UKEY_E_TOKEN_REMOVED;
		if (res.message[0])
			snprintf(out->warning, sizeof(out->warning), "%s", res.message);
		goto out;
	}
	if (res.pending) {
		/* The CA holds the order (payment, documents, approval): remember it and come back after Retry-After. */
		snprintf(j->order, sizeof(j->order), "%s", res.order);
		j->retry_at = (int64_t)(ctx->now + res.retry_after);
		if ((r = set_state(ctx, j, UKEY_RENEWAL_PENDING)) < 0)
			goto out;
		out->pending = true;
		snprintf(out->order, sizeof(out->order), "%s", res.order);
		out->retry_at = (time_t)j->retry_at;
		r = -UKEY_E_RENEW_PENDING;
		goto out;
	}
	progress(ctx, UKEY_RENEW_STEP_VERIFY, NULL);
	if ((r = verify_issued(ctx, s, j, plan, res.cert_der, res.cert_len, out)) < 0)
		goto out;
	j->cert = res.cert_der;
	j->cert_len = res.cert_len;
	res.cert_der = NULL;
	r = set_state(ctx, j, UKEY_RENEWAL_RECEIVED);
out:
	ukey_est_result_clear(&res);
	OPENSSL_free(subject);
	free(csr);
	X509_free(cert);
	return r;
}

static int login(const struct ukey_renew_ctx *ctx, const struct ukey_token_info *t, const char *pin,
		 struct ukey_session **ret, struct ukey_renew_outcome *out)
{
	struct ukey_pin_result res;
	int r;

	progress(ctx, UKEY_RENEW_STEP_LOGIN, NULL);
	/* The same counted login as everywhere else (R-P1); a renewal never gets a free try. */
	r = ukey_pin_run(ctx->p11, ctx->store, t, ctx->max_tries, pin, NULL, ret, &res);
	out->pin = res.state;
	return r;
}

int ukey_renew_run(const struct ukey_renew_ctx *ctx, const char *pin, struct ukey_renew_outcome *ret)
{
	struct ukey_renew_outcome out = { 0 };
	struct ukey_renew_plan plan;
	struct ukey_renewal j = { 0 };
	struct ukey_session *s = NULL;
	bool resumed = false;
	unsigned have;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!ctx->store)
		return -UKEY_E_STATE_UNAVAILABLE;
	if ((r = ukey_renew_plan(ctx, &plan)) < 0)
		return r;
	r = ukey_store_renewal_active(ctx->store, plan.token.serial, &j);
	if (r == 0)
		resumed = true;
	else if (r != -ENOENT)
		return r;
	else if (!plan.open && !ctx->force)
		return -UKEY_E_RENEW_NOT_OPEN;
	if ((r = login(ctx, &plan.token, pin, &s, &out)) < 0)
		goto out;
	if (!resumed) {
		snprintf(j.serial, sizeof(j.serial), "%s", plan.token.serial);
		j.state = UKEY_RENEWAL_KEYGEN;
		memcpy(j.old_id, plan.id, plan.id_len);
		j.old_id_len = plan.id_len;
		/* A CKA_ID of its own: the new pair lives beside the old one until the new certificate is on the key. */
		j.new_id_len = 8;
		if (RAND_bytes(j.new_id, (int)j.new_id_len) != 1) {
			r = -UKEY_E_INTERNAL;
			goto out;
		}
		snprintf(j.label, sizeof(j.label), "%s", plan.label);
		j.key_kind = (int)plan.key_kind;
		/* Journaled before the key pair exists: a crash right after keygen still knows the new pair's id. */
		if ((r = ukey_store_renewal_begin(ctx->store, &j)) < 0)
			goto out;
		crash_point("journaled");
	}
	if (j.state == UKEY_RENEWAL_KEYGEN) {
		have = ukey_session_objects(s, j.new_id, j.new_id_len);
		if (have != (UKEY_OBJ_PRIVATE_KEY | UKEY_OBJ_PUBLIC_KEY)) {
			/* Half a pair (interrupted mid-generation) is no use: start that step again. */
			if (have && (r = ukey_session_destroy(s, UKEY_OBJ_ALL, j.new_id, j.new_id_len)) < 0)
				goto out;
			progress(ctx, UKEY_RENEW_STEP_KEYGEN, j.key_kind == UKEY_KEY_EC_P256 ? "EC P-256" : "RSA-2048");
			if ((r = ukey_session_generate_key(s, (enum ukey_key_kind)j.key_kind, j.new_id, j.new_id_len,
							   j.label)) < 0)
				goto out;
			crash_point("keygen");
		}
		if ((r = set_state(ctx, &j, UKEY_RENEWAL_KEYPAIR)) < 0)
			goto out;
		crash_point("keypair");
	}
	if (j.state == UKEY_RENEWAL_KEYPAIR || j.state == UKEY_RENEWAL_PENDING) {
		if ((r = request(ctx, s, pin, &j, &plan, &out)) < 0)
			goto out;
		crash_point("received");
	}
	if (j.state == UKEY_RENEWAL_RECEIVED) {
		progress(ctx, UKEY_RENEW_STEP_WRITE, NULL);
		/* Written already (interrupted before the journal heard of it): not twice. */
		if (!(ukey_session_objects(s, j.new_id, j.new_id_len) & UKEY_OBJ_CERT) &&
		    (r = ukey_session_write_cert(s, j.new_id, j.new_id_len, j.label, j.cert, j.cert_len)) < 0)
			goto out;
		crash_point("write");
		if ((r = set_state(ctx, &j, UKEY_RENEWAL_WRITTEN)) < 0)
			goto out;
		crash_point("written");
	}
	if (j.state == UKEY_RENEWAL_WRITTEN) {
		/* Only now, with the new certificate on the key, does the old pair go (never neither). */
		progress(ctx, UKEY_RENEW_STEP_REMOVE_OLD, NULL);
		if (j.old_id_len && (j.old_id_len != j.new_id_len || memcmp(j.old_id, j.new_id, j.new_id_len) != 0) &&
		    (r = ukey_session_destroy(s, UKEY_OBJ_ALL, j.old_id, j.old_id_len)) < 0)
			goto out;
		crash_point("remove-old");
		if ((r = set_state(ctx, &j, UKEY_RENEWAL_DONE)) < 0)
			goto out;
	}
	if (!out.new_not_after[0] && j.cert) {
		struct ukey_cert_info ci = { 0 };

		if (ukey_cert_info_from_der(j.cert, j.cert_len, &ci) == 0)
			date_of(ci.not_after, out.new_not_after);
		ukey_cert_info_clear(&ci);
	}
	out.done = j.state == UKEY_RENEWAL_DONE;
	progress(ctx, UKEY_RENEW_STEP_DONE, out.new_not_after);
	r = 0;
out:
	ukey_session_free(s);
	ukey_renewal_clear(&j);
	*ret = out;
	return r;
}

int ukey_renew_abort(const struct ukey_renew_ctx *ctx, const char *pin, struct ukey_pin_state *ret_pin)
{
	struct ukey_renew_outcome out = { 0 };
	struct ukey_token_info t;
	struct ukey_renewal j = { 0 };
	struct ukey_session *s = NULL;
	int r;

	if (!ctx->store)
		return -UKEY_E_STATE_UNAVAILABLE;
	if ((r = find_token(ctx, &t)) < 0)
		return r;
	if ((r = ukey_store_renewal_active(ctx->store, t.serial, &j)) < 0)
		return r;
	/* Once the new certificate is on the key, going back would remove the pair that works. */
	if (j.state == UKEY_RENEWAL_WRITTEN || j.state == UKEY_RENEWAL_RECEIVED) {
		ukey_renewal_clear(&j);
		return -EBUSY;
	}
	if ((r = login(ctx, &t, pin, &s, &out)) == 0 &&
	    (r = ukey_session_destroy(s, UKEY_OBJ_ALL, j.new_id, j.new_id_len)) == 0)
		r = set_state(ctx, &j, UKEY_RENEWAL_ABORTED);
	if (ret_pin)
		*ret_pin = out.pin;
	ukey_session_free(s);
	ukey_renewal_clear(&j);
	return r;
}
