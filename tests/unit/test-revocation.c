/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of revocation (R-V): freshness and the cache, OCSP and CRL verification against a CA made here. */
#define _GNU_SOURCE
#include "unit-test.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "revocation-internal.h"
#include "revocation.h"

#define DAY 86400L
#define CRL_URL "http://crl.example.test/ca.crl"

/* ---------------------------------------------------------------- a small PKI */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_true(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
}

/* A certificate for key: a CA (issuer NULL: self-signed) or a leaf of issuer; ext_* may be NULL. */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial, time_t now,
		      const char *cdp, const char *aia, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(x);
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_subject_name(x, name));
	assert_true(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name));
	X509_NAME_free(name);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), now - 365 * DAY));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), now + 365 * DAY));
	assert_true(X509_set_pubkey(x, key));
	add_ext(issuer, x, NID_subject_key_identifier, "hash");
	if (issuer) {
		add_ext(issuer, x, NID_authority_key_identifier, "keyid");
		add_ext(issuer, x, NID_basic_constraints, "CA:FALSE");
	} else {
		add_ext(NULL, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(NULL, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
	}
	if (cdp)
		add_ext(issuer, x, NID_crl_distribution_points, cdp);
	if (aia)
		add_ext(issuer, x, NID_info_access, aia);
	if (eku)
		add_ext(issuer, x, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

struct pki {
	time_t now;
	EVP_PKEY *ca_key, *leaf_key, *other_key;
	X509 *ca, *leaf, *other_ca;
	X509_STORE *store;
	char *dir, *trust;
};

static void pki_setup(struct pki *p)
{
	FILE *f;

	memset(p, 0, sizeof(*p));
	p->now = time(NULL);
	p->ca_key = new_key();
	p->leaf_key = new_key();
	p->other_key = new_key();
	p->ca = new_cert("Unit Test CA", p->ca_key, NULL, NULL, 1, p->now, NULL, NULL, NULL);
	/* Another CA under the same name with another key: what a forger would make. */
	p->other_ca = new_cert("Unit Test CA", p->other_key, NULL, NULL, 1, p->now, NULL, NULL, NULL);
	p->leaf = new_cert("Unit", p->leaf_key, p->ca, p->ca_key, 0x1234, p->now, "URI:" CRL_URL,
			   "OCSP;URI:http://ocsp.example.test/", NULL);
	assert_non_null(p->dir = unit_mkdtemp());
	p->trust = unit_path(p->dir, "trust.pem");
	assert_non_null(f = fopen(p->trust, "w"));
	assert_true(PEM_write_X509(f, p->ca));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(ukey_revocation_store_new(p->trust, &p->store), 0);
}

static void pki_teardown(struct pki *p)
{
	X509_STORE_free(p->store);
	X509_free(p->ca);
	X509_free(p->other_ca);
	X509_free(p->leaf);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->leaf_key);
	EVP_PKEY_free(p->other_key);
	unit_rm_rf(p->dir);
	free(p->dir);
	free(p->trust);
}

struct ocsp_spec {
	int status; /* V_OCSP_CERTSTATUS_* */
	int reason; /* OCSP_REVOKED_STATUS_NOSTATUS for none */
	long this_off, next_off; /* seconds from now; next_off 0: no nextUpdate */
	X509 *about; /* the certificate the answer is about (default: the leaf) */
	X509 *signer; /* default: the CA */
	EVP_PKEY *signer_key;
	const char *nonce; /* NULL: none */
};

/* A successful OCSP response as DER; free() it. */
static uint8_t *new_ocsp(const struct pki *p, const struct ocsp_spec *s, size_t *ret_len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), s->about ? s->about : p->leaf, p->ca);
	ASN1_TIME *thisupd = ASN1_TIME_set(NULL, p->now + s->this_off);
	ASN1_TIME *nextupd = s->next_off ? ASN1_TIME_set(NULL, p->now + s->next_off) : NULL;
	ASN1_TIME *rev = ASN1_TIME_set(NULL, p->now - DAY);
	OCSP_RESPONSE *resp;
	unsigned char *der = NULL;
	uint8_t *out;
	int len;

	assert_non_null(bs);
	assert_non_null(id);
	assert_non_null(OCSP_basic_add1_status(bs, id, s->status, s->reason, rev, thisupd, nextupd));
	if (s->nonce)
		assert_true(OCSP_basic_add1_nonce(bs, (unsigned char *)s->nonce, (int)strlen(s->nonce)));
	assert_true(OCSP_basic_sign(bs, s->signer ? s->signer : p->ca, s->signer_key ? s->signer_key : p->ca_key,
				    EVP_sha256(), NULL, 0));
	assert_non_null(resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs));
	assert_true((len = i2d_OCSP_RESPONSE(resp, &der)) > 0);
	out = malloc((size_t)len);
	assert_non_null(out);
	memcpy(out, der, (size_t)len);
	*ret_len = (size_t)len;
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(rev);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	return out;
}

static enum ukey_revocation_why ocsp(const struct pki *p, const struct ocsp_spec *s, OCSP_REQUEST *req,
				     struct ukey_revocation_result *res)
{
	size_t len;
	uint8_t *der = new_ocsp(p, s, &len);
	enum ukey_revocation_why w;

	memset(res, 0, sizeof(*res));
	w = ukey_revocation_ocsp_verify(der, len, p->leaf, p->ca, p->store, req, p->now, res);
	free(der);
	return w;
}

struct crl_spec {
	long revoked_serial; /* 0: none */
	int reason; /* -1: no reason extension */
	long this_off, next_off;
	EVP_PKEY *key; /* default: the CA's */
	bool delta;
};

static uint8_t *new_crl(const struct pki *p, const struct crl_spec *s, size_t *ret_len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, p->now + s->this_off);
	unsigned char *der = NULL;
	uint8_t *out;
	int len;

	assert_non_null(crl);
	assert_true(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
	assert_true(X509_CRL_set_issuer_name(crl, X509_get_subject_name(p->ca)));
	assert_true(X509_CRL_set1_lastUpdate(crl, t));
	assert_non_null(ASN1_TIME_set(t, p->now + s->next_off));
	assert_true(X509_CRL_set1_nextUpdate(crl, t));
	if (s->revoked_serial) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();
		ASN1_TIME *when = ASN1_TIME_set(NULL, p->now - 2 * DAY);

		assert_true(ASN1_INTEGER_set(serial, s->revoked_serial));
		assert_true(X509_REVOKED_set_serialNumber(rv, serial));
		assert_true(X509_REVOKED_set_revocationDate(rv, when));
		if (s->reason >= 0) {
			ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();

			assert_true(ASN1_ENUMERATED_set(e, s->reason));
			assert_true(X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0));
			ASN1_ENUMERATED_free(e);
		}
		assert_true(X509_CRL_add0_revoked(crl, rv));
		ASN1_INTEGER_free(serial);
		ASN1_TIME_free(when);
	}
	if (s->delta) {
		ASN1_INTEGER *base = ASN1_INTEGER_new();

		assert_true(ASN1_INTEGER_set(base, 1));
		assert_true(X509_CRL_add1_ext_i2d(crl, NID_delta_crl, base, 1, 0));
		ASN1_INTEGER_free(base);
	}
	assert_true(X509_CRL_sign(crl, s->key ? s->key : p->ca_key, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_CRL(crl, &der)) > 0);
	out = malloc((size_t)len);
	assert_non_null(out);
	memcpy(out, der, (size_t)len);
	*ret_len = (size_t)len;
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return out;
}

static enum ukey_revocation_why crl(const struct pki *p, const struct crl_spec *s, struct ukey_revocation_result *res)
{
	size_t len;
	uint8_t *der = new_crl(p, s, &len);
	enum ukey_revocation_why w;

	memset(res, 0, sizeof(*res));
	w = ukey_revocation_crl_verify(der, len, p->leaf, p->ca, p->now, res);
	free(der);
	return w;
}

/* ---------------------------------------------------------------- freshness and the cache name */

/* A cached CRL is reused until its nextUpdate, give or take UKEY_REVOCATION_SKEW_S, and not after. */
static void fresh_until_next_update(void **state)
{
	const time_t now = 1800000000, skew = UKEY_REVOCATION_SKEW_S;

	(void)state;
	assert_int_equal(ukey_revocation_freshness(now - DAY, now + 6 * DAY, now), UKEY_REVOCATION_FRESH);
	assert_int_equal(ukey_revocation_freshness(now - DAY, now, now), UKEY_REVOCATION_FRESH);
	assert_int_equal(ukey_revocation_freshness(now - DAY, now - skew, now), UKEY_REVOCATION_FRESH);
	assert_int_equal(ukey_revocation_freshness(now - DAY, now - skew - 1, now), UKEY_REVOCATION_EXPIRED);
	assert_int_equal(ukey_revocation_freshness(now - 8 * DAY, now - DAY, now), UKEY_REVOCATION_EXPIRED);
}

/* thisUpdate in our future beyond the skew: a wrong clock or a forgery, never used. */
static void this_update_in_future_not_yet(void **state)
{
	const time_t now = 1800000000, skew = UKEY_REVOCATION_SKEW_S;

	(void)state;
	assert_int_equal(ukey_revocation_freshness(now + skew, now + DAY, now), UKEY_REVOCATION_FRESH);
	assert_int_equal(ukey_revocation_freshness(now + skew + 1, now + DAY, now), UKEY_REVOCATION_NOT_YET);
	/* nextUpdate before thisUpdate is nonsense. */
	assert_int_equal(ukey_revocation_freshness(now, now - 1, now), UKEY_REVOCATION_EXPIRED);
}

/* No nextUpdate: fresh for UKEY_REVOCATION_MAX_AGE_S after thisUpdate, then not. */
static void no_next_update_one_day(void **state)
{
	const time_t now = 1800000000;

	(void)state;
	assert_int_equal(ukey_revocation_freshness(now - UKEY_REVOCATION_MAX_AGE_S, 0, now), UKEY_REVOCATION_FRESH);
	assert_int_equal(ukey_revocation_freshness(now - UKEY_REVOCATION_MAX_AGE_S - 1, 0, now),
			 UKEY_REVOCATION_EXPIRED);
}

static void cache_name_is_sha256_of_url(void **state)
{
	char name[69];

	(void)state;
	ukey_revocation_cache_name(CRL_URL, name);
	assert_string_equal(name, "000eca6f9e34527c41ca6494d3dc6c125eac36226d0fdac4628606f56179c8fe.der");
}

static void ids_stable(void **state)
{
	(void)state;
	assert_string_equal(ukey_revocation_status_id(UKEY_REVOCATION_GOOD), "good");
	assert_string_equal(ukey_revocation_status_id(UKEY_REVOCATION_REVOKED), "revoked");
	assert_string_equal(ukey_revocation_status_id(UKEY_REVOCATION_UNKNOWN), "unknown");
	assert_null(ukey_revocation_source_id(UKEY_REVOCATION_SOURCE_NONE));
	assert_string_equal(ukey_revocation_source_id(UKEY_REVOCATION_SOURCE_CRL), "crl");
	assert_null(ukey_revocation_why_id(UKEY_REVOCATION_WHY_NONE));
	assert_string_equal(ukey_revocation_why_id(UKEY_REVOCATION_WHY_NOT_VERIFIABLE), "not-verifiable");
	assert_string_equal(ukey_revocation_reason_id(1), "keyCompromise");
	assert_string_equal(ukey_revocation_reason_id(6), "certificateHold");
	assert_null(ukey_revocation_reason_id(7));
	assert_null(ukey_revocation_reason_id(11));
	assert_null(ukey_revocation_reason_id(-1));
}

/* ---------------------------------------------------------------- OCSP */

static void ocsp_good_and_revoked(void **state)
{
	struct ukey_revocation_result res;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD,
						   .reason = OCSP_REVOKED_STATUS_NOSTATUS,
						   .next_off = DAY },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.status, UKEY_REVOCATION_GOOD);
	assert_int_equal(res.source, UKEY_REVOCATION_SOURCE_OCSP);
	assert_int_equal(res.this_update, p.now);
	assert_int_equal(res.next_update, p.now + DAY);
	assert_int_equal(res.revoked_at, 0);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_REVOKED,
						   .reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE,
						   .next_off = DAY },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.status, UKEY_REVOCATION_REVOKED);
	assert_int_equal(res.revoked_at, p.now - DAY);
	assert_int_equal(res.reason, 1);
	pki_teardown(&p);
}

/* Signed by a key the trust does not know, or by a certificate of the CA that may not sign OCSP: not believed.
 * A responder the CA delegated to (OCSP signing EKU) is. */
static void ocsp_signer_must_be_issuer_or_delegate(void **state)
{
	struct ukey_revocation_result res;
	EVP_PKEY *rkey;
	X509 *plain, *delegate;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD,
						   .next_off = DAY,
						   .signer = p.other_ca,
						   .signer_key = p.other_key },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	rkey = new_key();
	plain = new_cert("Not a responder", rkey, p.ca, p.ca_key, 77, p.now, NULL, NULL, NULL);
	delegate = new_cert("Responder", rkey, p.ca, p.ca_key, 78, p.now, NULL, NULL, "OCSPSigning");
	assert_int_equal(
		ocsp(&p,
		     &(struct ocsp_spec){
			     .status = V_OCSP_CERTSTATUS_GOOD, .next_off = DAY, .signer = plain, .signer_key = rkey },
		     NULL, &res),
		UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD,
						   .next_off = DAY,
						   .signer = delegate,
						   .signer_key = rkey },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.status, UKEY_REVOCATION_GOOD);
	X509_free(plain);
	X509_free(delegate);
	EVP_PKEY_free(rkey);
	pki_teardown(&p);
}

/* A genuine answer about another certificate is not an answer about ours. */
static void ocsp_other_certificate_refused(void **state)
{
	struct ukey_revocation_result res;
	X509 *other;
	struct pki p;

	(void)state;
	pki_setup(&p);
	other = new_cert("Other", p.leaf_key, p.ca, p.ca_key, 0x9999, p.now, NULL, NULL, NULL);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD, .next_off = DAY, .about = other },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	X509_free(other);
	pki_teardown(&p);
}

static void ocsp_stale_or_future_refused(void **state)
{
	struct ukey_revocation_result res;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){
				      .status = V_OCSP_CERTSTATUS_GOOD, .this_off = -3 * DAY, .next_off = -2 * DAY },
			      NULL, &res),
			 UKEY_REVOCATION_WHY_STALE);
	assert_int_equal(
		ocsp(&p, &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD, .this_off = -2 * DAY }, NULL, &res),
		UKEY_REVOCATION_WHY_STALE);
	assert_int_equal(
		ocsp(&p, &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD, .this_off = DAY, .next_off = 2 * DAY },
		     NULL, &res),
		UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	pki_teardown(&p);
}

/* "unknown", error statuses and garbage are never an answer; the nonce, when echoed, must be ours. */
static void ocsp_unknown_errors_garbage_and_nonce(void **state)
{
	static const uint8_t garbage[] = { 0x30, 0x03, 0x0a, 0x01, 0x00, 0xff };
	struct ukey_revocation_result res;
	OCSP_RESPONSE *er;
	OCSP_REQUEST *req;
	unsigned char *der = NULL;
	struct pki p;
	int len;

	(void)state;
	pki_setup(&p);
	assert_int_equal(
		ocsp(&p, &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_UNKNOWN, .next_off = DAY }, NULL, &res),
		UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN);
	er = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL);
	assert_true((len = i2d_OCSP_RESPONSE(er, &der)) > 0);
	assert_int_equal(ukey_revocation_ocsp_verify(der, (size_t)len, p.leaf, p.ca, p.store, NULL, p.now, &res),
			 UKEY_REVOCATION_WHY_UNREACHABLE);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(er);
	der = NULL;
	er = OCSP_response_create(OCSP_RESPONSE_STATUS_UNAUTHORIZED, NULL);
	assert_true((len = i2d_OCSP_RESPONSE(er, &der)) > 0);
	assert_int_equal(ukey_revocation_ocsp_verify(der, (size_t)len, p.leaf, p.ca, p.store, NULL, p.now, &res),
			 UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(er);
	/* A successful status with a trailing byte, and an empty answer. */
	assert_int_equal(
		ukey_revocation_ocsp_verify(garbage, sizeof(garbage), p.leaf, p.ca, p.store, NULL, p.now, &res),
		UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	assert_int_equal(ukey_revocation_ocsp_verify(garbage, 0, p.leaf, p.ca, p.store, NULL, p.now, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	req = OCSP_REQUEST_new();
	assert_true(OCSP_request_add1_nonce(req, (unsigned char *)"our-nonce-16byte", 16));
	assert_int_equal(ocsp(&p,
			      &(struct ocsp_spec){
				      .status = V_OCSP_CERTSTATUS_GOOD, .next_off = DAY, .nonce = "another-nonce-16" },
			      req, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	/* A responder that does not echo it (pre-signed answers) is judged on its times. */
	assert_int_equal(ocsp(&p, &(struct ocsp_spec){ .status = V_OCSP_CERTSTATUS_GOOD, .next_off = DAY }, req, &res),
			 UKEY_REVOCATION_WHY_NONE);
	OCSP_REQUEST_free(req);
	pki_teardown(&p);
}

/* ---------------------------------------------------------------- CRL */

static void crl_listed_revoked_with_reason(void **state)
{
	struct ukey_revocation_result res;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(
		crl(&p, &(struct crl_spec){ .revoked_serial = 0x1234, .reason = 4, .next_off = 7 * DAY }, &res),
		UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.status, UKEY_REVOCATION_REVOKED);
	assert_int_equal(res.source, UKEY_REVOCATION_SOURCE_CRL);
	assert_int_equal(res.revoked_at, p.now - 2 * DAY);
	assert_int_equal(res.reason, 4);
	assert_int_equal(res.next_update, p.now + 7 * DAY);
	assert_int_equal(crl(&p, &(struct crl_spec){ .revoked_serial = 0x1234, .reason = -1, .next_off = DAY }, &res),
			 UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.reason, UKEY_REVOCATION_REASON_NONE);
	assert_int_equal(crl(&p, &(struct crl_spec){ .revoked_serial = 0x1235, .next_off = DAY }, &res),
			 UKEY_REVOCATION_WHY_NONE);
	assert_int_equal(res.status, UKEY_REVOCATION_GOOD);
	pki_teardown(&p);
}

/* Signed by another key under the CA's name, past nextUpdate, or a delta: never believed as complete. */
static void crl_forged_stale_or_delta_refused(void **state)
{
	struct ukey_revocation_result res;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(crl(&p, &(struct crl_spec){ .next_off = DAY, .key = p.other_key }, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	assert_int_equal(crl(&p, &(struct crl_spec){ .this_off = -8 * DAY, .next_off = -DAY }, &res),
			 UKEY_REVOCATION_WHY_STALE);
	assert_int_equal(crl(&p, &(struct crl_spec){ .this_off = DAY, .next_off = 8 * DAY }, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	assert_int_equal(crl(&p, &(struct crl_spec){ .next_off = DAY, .delta = true }, &res),
			 UKEY_REVOCATION_WHY_NOT_VERIFIABLE);
	pki_teardown(&p);
}

/* ---------------------------------------------------------------- the checker, offline, with its cache */

static void put_cache(const struct pki *p, const struct crl_spec *s)
{
	char name[69], *dir = unit_path(p->dir, "state/crl"), *state = unit_path(p->dir, "state"), *path;
	size_t len;
	uint8_t *der = new_crl(p, s, &len);

	ukey_revocation_cache_name(CRL_URL, name);
	mkdir(state, 0700);
	mkdir(dir, 0700);
	path = unit_path(dir, name);
	assert_int_equal(unit_write_file(path, der, len), 0);
	free(der);
	free(path);
	free(dir);
	free(state);
}

static int check_offline(const struct pki *p, X509 *cert, const char *trust, struct ukey_revocation_result *res)
{
	char *state = unit_path(p->dir, "state");
	struct ukey_revocation_config cfg = { .trust_pem = trust, .state_dir = state, .offline = true };
	struct ukey_revocation *rv = NULL;
	unsigned char *der = NULL;
	int len, r;

	assert_int_equal(ukey_revocation_new(&cfg, &rv), 0);
	assert_true((len = i2d_X509(cert, &der)) > 0);
	r = ukey_revocation_check(rv, der, (size_t)len, p->now, res);
	OPENSSL_free(der);
	ukey_revocation_free(rv);
	free(state);
	return r;
}

/* Offline: a fresh cached CRL answers (revoked or good); a stale one, a forged one, or none: unknown, offline. */
static void offline_uses_only_a_fresh_cache(void **state)
{
	struct ukey_revocation_result res;
	struct pki p;

	(void)state;
	pki_setup(&p);
	assert_int_equal(check_offline(&p, p.leaf, p.trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_UNKNOWN);
	assert_int_equal(res.why, UKEY_REVOCATION_WHY_OFFLINE);
	put_cache(&p, &(struct crl_spec){ .next_off = 7 * DAY });
	assert_int_equal(check_offline(&p, p.leaf, p.trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_GOOD);
	assert_int_equal(res.source, UKEY_REVOCATION_SOURCE_CRL);
	assert_true(res.cached);
	assert_int_equal(res.checked_at, p.now);
	put_cache(&p, &(struct crl_spec){ .revoked_serial = 0x1234, .reason = 1, .next_off = 7 * DAY });
	assert_int_equal(check_offline(&p, p.leaf, p.trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_REVOKED);
	assert_int_equal(res.reason, 1);
	put_cache(&p, &(struct crl_spec){ .this_off = -8 * DAY, .next_off = -DAY });
	assert_int_equal(check_offline(&p, p.leaf, p.trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_UNKNOWN);
	assert_int_equal(res.why, UKEY_REVOCATION_WHY_OFFLINE);
	assert_false(res.cached);
	put_cache(&p, &(struct crl_spec){ .next_off = 7 * DAY, .key = p.other_key });
	assert_int_equal(check_offline(&p, p.leaf, p.trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_UNKNOWN);
	pki_teardown(&p);
}

/* No URL in the certificate; no issuer in the trust; DER that is not a certificate. */
static void no_url_no_issuer_bad_der(void **state)
{
	struct ukey_revocation_result res;
	struct ukey_revocation_config cfg = { .offline = true };
	struct ukey_revocation *rv = NULL;
	X509 *plain;
	char *other_trust;
	FILE *f;
	struct pki p;

	(void)state;
	pki_setup(&p);
	plain = new_cert("Plain", p.leaf_key, p.ca, p.ca_key, 5, p.now, NULL, NULL, NULL);
	assert_int_equal(check_offline(&p, plain, p.trust, &res), 0);
	assert_int_equal(res.why, UKEY_REVOCATION_WHY_NO_URL);
	other_trust = unit_path(p.dir, "other.pem");
	assert_non_null(f = fopen(other_trust, "w"));
	assert_true(PEM_write_X509(f, p.other_ca));
	assert_int_equal(fclose(f), 0);
	put_cache(&p, &(struct crl_spec){ .next_off = 7 * DAY });
	assert_int_equal(check_offline(&p, p.leaf, other_trust, &res), 0);
	assert_int_equal(res.status, UKEY_REVOCATION_UNKNOWN);
	assert_int_equal(res.why, UKEY_REVOCATION_WHY_NO_ISSUER);
	cfg.trust_pem = p.trust;
	assert_int_equal(ukey_revocation_new(&cfg, &rv), 0);
	assert_int_equal(ukey_revocation_check(rv, (const uint8_t *)"\x30\x03\x02\x01\x01", 5, p.now, &res),
			 -UKEY_E_CERT_UNREADABLE);
	ukey_revocation_free(rv);
	cfg.trust_pem = other_trust;
	unit_write_file(other_trust, "not PEM", 7);
	assert_int_equal(ukey_revocation_new(&cfg, &rv), -UKEY_E_USAGE);
	X509_free(plain);
	free(other_trust);
	pki_teardown(&p);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(fresh_until_next_update),
		cmocka_unit_test(this_update_in_future_not_yet),
		cmocka_unit_test(no_next_update_one_day),
		cmocka_unit_test(cache_name_is_sha256_of_url),
		cmocka_unit_test(ids_stable),
		cmocka_unit_test(ocsp_good_and_revoked),
		cmocka_unit_test(ocsp_signer_must_be_issuer_or_delegate),
		cmocka_unit_test(ocsp_other_certificate_refused),
		cmocka_unit_test(ocsp_stale_or_future_refused),
		cmocka_unit_test(ocsp_unknown_errors_garbage_and_nonce),
		cmocka_unit_test(crl_listed_revoked_with_reason),
		cmocka_unit_test(crl_forged_stale_or_delta_refused),
		cmocka_unit_test(offline_uses_only_a_fresh_cache),
		cmocka_unit_test(no_url_no_issuer_bad_der),
	};

	return UNIT_MAIN("revocation", tests);
}
