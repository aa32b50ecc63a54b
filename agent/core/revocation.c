/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Revocation (R-V) through OpenSSL's OCSP and CRL code over libcurl; every answer verified, "good" only when proven. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "base/log.h"
#include "revocation-internal.h"
#include "http.h"
#include "revocation.h"

/* A certificate from a token is a few KiB; more is not a certificate we check. */
#define MAX_CERT_DER (64 * 1024)

struct ukey_revocation {
	char *state_dir;
	char *trust_pem;
	bool offline;
	long timeout_s;
	X509_STORE *store; /* the trust: issuers are looked up here, OCSP signers chain to it */
};

/* ---------------------------------------------------------------- ids and pure rules */

const char *ukey_revocation_status_id(enum ukey_revocation_status s)
{
	switch (s) {
	case UKEY_REVOCATION_GOOD:
		return "good";
	case UKEY_REVOCATION_REVOKED:
		return "revoked";
	default:
		return "unknown";
	}
}

const char *ukey_revocation_source_id(enum ukey_revocation_source s)
{
	switch (s) {
	case UKEY_REVOCATION_SOURCE_OCSP:
		return "ocsp";
	case UKEY_REVOCATION_SOURCE_CRL:
		return "crl";
	default:
		return NULL;
	}
}

const char *ukey_revocation_why_id(enum ukey_revocation_why w)
{
	static const char *const ids[] = {
		[UKEY_REVOCATION_WHY_NONE] = NULL,
		[UKEY_REVOCATION_WHY_NO_URL] = "no-url",
		[UKEY_REVOCATION_WHY_NO_ISSUER] = "no-issuer",
		[UKEY_REVOCATION_WHY_OFFLINE] = "offline",
		[UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN] = "responder-unknown",
		[UKEY_REVOCATION_WHY_UNREACHABLE] = "unreachable",
		[UKEY_REVOCATION_WHY_STALE] = "stale",
		[UKEY_REVOCATION_WHY_NOT_VERIFIABLE] = "not-verifiable",
	};

	return (unsigned)w < sizeof(ids) / sizeof(ids[0]) ? ids[w] : NULL;
}

const char *ukey_revocation_reason_id(int reason)
{
	/* RFC 5280 5.3.1 CRLReason; 7 is not used. */
	static const char *const ids[] = {
		"unspecified",	 "keyCompromise",	 "cACompromise",    "affiliationChanged",
		"superseded",	 "cessationOfOperation", "certificateHold", NULL,
		"removeFromCRL", "privilegeWithdrawn",	 "aACompromise",
	};

	return reason >= 0 && (size_t)reason < sizeof(ids) / sizeof(ids[0]) ? ids[reason] : NULL;
}

enum ukey_revocation_freshness ukey_revocation_freshness(time_t this_update, time_t next_update, time_t now)
{
	if (this_update > now && this_update - now > UKEY_REVOCATION_SKEW_S)
		return UKEY_REVOCATION_NOT_YET;
	if (next_update) {
		if (next_update < this_update)
			return UKEY_REVOCATION_EXPIRED;
		/* Reused until nextUpdate (RFC 5280 5.1.2.5), give or take the clocks' skew. */
		if (now > next_update && now - next_update > UKEY_REVOCATION_SKEW_S)
			return UKEY_REVOCATION_EXPIRED;
		return UKEY_REVOCATION_FRESH;
	}
	/* No nextUpdate (RFC 6960 4.2.2.1: newer information is always available): only recent information counts. */
	if (now > this_update && now - this_update > UKEY_REVOCATION_MAX_AGE_S)
		return UKEY_REVOCATION_EXPIRED;
	return UKEY_REVOCATION_FRESH;
}

void ukey_revocation_cache_name(const char *url, char name[static 69])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t o = 0;

	name[0] = '\0';
	if (!EVP_Digest(url, strlen(url), md, &md_len, EVP_sha256(), NULL) || md_len != 32)
		return;
	for (unsigned i = 0; i < md_len; i++)
		o += (size_t)snprintf(name + o, 69 - o, "%02x", md[i]);
	snprintf(name + o, 69 - o, ".der");
}

static bool asn1_time(const ASN1_TIME *t, time_t *ret)
{
	struct tm tm;
	time_t v;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return false;
	v = timegm(&tm);
	if (v == (time_t)-1)
		return false;
	*ret = v;
	return true;
}

/* The times of an answer: not yet valid is a wrong clock or a forgery (not verifiable); past nextUpdate is stale. */
static enum ukey_revocation_why check_times(const ASN1_TIME *this_upd, const ASN1_TIME *next_upd, time_t now,
					    time_t *ret_this, time_t *ret_next)
{
	time_t t = 0, n = 0;

	if (!asn1_time(this_upd, &t) || (next_upd && !asn1_time(next_upd, &n)))
		return UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
	if (next_upd && n == 0)
		n = 1; /* 1970 itself: keep "given", it is long past */
	switch (ukey_revocation_freshness(t, n, now)) {
	case UKEY_REVOCATION_NOT_YET:
		return UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
	case UKEY_REVOCATION_EXPIRED:
		return UKEY_REVOCATION_WHY_STALE;
	default:
		break;
	}
	*ret_this = t;
	*ret_next = n;
	return UKEY_REVOCATION_WHY_NONE;
}

static int reason_code(long v)
{
	return ukey_revocation_reason_id((int)(v >= 0 && v <= 10 ? v : -1)) ? (int)v : UKEY_REVOCATION_REASON_NONE;
}

/* ---------------------------------------------------------------- trust and issuer */

int ukey_revocation_store_new(const char *trust_pem, X509_STORE **ret)
{
	X509_STORE *store = X509_STORE_new();
	int ok;

	if (!store)
		return -ENOMEM;
	ok = trust_pem ? X509_STORE_load_file(store, trust_pem) : X509_STORE_set_default_paths(store);
	if (ok != 1) {
		log_debug("trust '%s' holds no certificate it can read", trust_pem ? trust_pem : "(system)");
		ERR_clear_error();
		X509_STORE_free(store);
		return -UKEY_E_USAGE;
	}
	/* The trust file is what the user trusts: an intermediate CA in it is an anchor of its own. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	*ret = store;
	return 0;
}

X509 *ukey_revocation_find_issuer(X509_STORE *store, X509 *cert)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *issuer = NULL;

	/* By name and AKID (X509_check_issued), then proven by the signature. */
	if (ctx && X509_STORE_CTX_init(ctx, store, cert, NULL) == 1 &&
	    X509_STORE_CTX_get1_issuer(&issuer, ctx, cert) == 1 && issuer &&
	    X509_verify(cert, X509_get0_pubkey(issuer)) != 1) {
		X509_free(issuer);
		issuer = NULL;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return issuer;
}

/* ---------------------------------------------------------------- OCSP */

static void result_set(struct ukey_revocation_result *ret, enum ukey_revocation_source source, int status,
		       time_t this_update, time_t next_update, time_t revoked_at, int reason)
{
	ret->source = source;
	ret->why = UKEY_REVOCATION_WHY_NONE;
	ret->this_update = this_update;
	ret->next_update = next_update;
	if (status == UKEY_REVOCATION_REVOKED) {
		ret->status = UKEY_REVOCATION_REVOKED;
		ret->revoked_at = revoked_at;
		ret->reason = reason;
	} else {
		ret->status = UKEY_REVOCATION_GOOD;
		ret->revoked_at = 0;
		ret->reason = UKEY_REVOCATION_REASON_NONE;
	}
}

enum ukey_revocation_why ukey_revocation_ocsp_verify(const uint8_t *der, size_t len, X509 *cert, X509 *issuer,
						     X509_STORE *store, OCSP_REQUEST *req, time_t now,
						     struct ukey_revocation_result *ret)
{
	enum ukey_revocation_why why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	STACK_OF(X509) *certs = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	time_t t_this = 0, t_next = 0, t_rev = 0;
	int status = -1, reason = -1, rs;

	if (!der || len == 0 || len > UKEY_OCSP_MAX_RESPONSE)
		goto out;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (!resp || p != der + len)
		goto out;
	rs = OCSP_response_status(resp);
	if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		/* Unsigned by design (RFC 6960 2.3): these only ever lead to "unknown", never to an answer. */
		why = rs == OCSP_RESPONSE_STATUS_UNAUTHORIZED ? UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN
							      : UKEY_REVOCATION_WHY_UNREACHABLE;
		log_debug("OCSP response status %d", rs);
		goto out;
	}
	if (!(bs = OCSP_response_get1_basic(resp)))
		goto out;
	/* Our nonce echoed must be ours (a replay otherwise); a responder that does not echo it is judged on times. */
	if (req && OCSP_check_nonce(req, bs) == 0) {
		log_debug("OCSP nonce differs from the request's");
		goto out;
	}
	if (!(certs = sk_X509_new_null()) || !sk_X509_push(certs, issuer))
		goto out;
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), now);
	/* Signature, the signer's chain to the trust, and the signer is the issuer or its OCSP-signing delegate. */
	if (OCSP_basic_verify(bs, certs, store, 0) <= 0) {
		log_debug("OCSP response does not verify: %s", ERR_reason_error_string(ERR_peek_last_error()));
		goto out;
	}
	if (!(id = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) ||
	    OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd) != 1) {
		log_debug("OCSP response is not about this certificate");
		goto out;
	}
	if ((why = check_times(thisupd, nextupd, now, &t_this, &t_next)) != UKEY_REVOCATION_WHY_NONE)
		goto out;
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		result_set(ret, UKEY_REVOCATION_SOURCE_OCSP, UKEY_REVOCATION_GOOD, t_this, t_next, 0, 0);
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		if (!asn1_time(rev, &t_rev)) {
			why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
			goto out;
		}
		result_set(ret, UKEY_REVOCATION_SOURCE_OCSP, UKEY_REVOCATION_REVOKED, t_this, t_next, t_rev,
			   reason == OCSP_REVOKED_STATUS_NOSTATUS ? UKEY_REVOCATION_REASON_NONE : reason_code(reason));
		break;
	default:
		why = UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN;
		break;
	}
out:
	ERR_clear_error();
	OCSP_CERTID_free(id);
	sk_X509_free(certs);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return why;
}

/* ---------------------------------------------------------------- CRL */

/* A CRL we can use is complete for end-entity certificates: no delta, no partition, no unknown critical part. */
static bool crl_complete(X509_CRL *crl)
{
	ISSUING_DIST_POINT *idp;
	int crit = -1;
	bool ok = true;

	for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
		X509_EXTENSION *ext = X509_CRL_get_ext(crl, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_delta_crl)
			return false;
		if (X509_EXTENSION_get_critical(ext) && nid != NID_issuing_distribution_point &&
		    nid != NID_crl_number && nid != NID_authority_key_identifier)
			return false;
	}
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
	if (!idp)
		return crit == -1; /* absent is fine; several, or one that does not parse, is not */
	if (idp->onlyCA > 0 || idp->onlyattr > 0 || idp->onlysomereasons || idp->indirectCRL > 0)
		ok = false;
	ISSUING_DIST_POINT_free(idp);
	return ok;
}

enum ukey_revocation_why ukey_revocation_crl_verify(const uint8_t *der, size_t len, X509 *cert, X509 *issuer,
						    time_t now, struct ukey_revocation_result *ret)
{
	enum ukey_revocation_why why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
	const unsigned char *p = der;
	X509_CRL *crl = NULL;
	X509_REVOKED *entry = NULL;
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	time_t t_this = 0, t_next = 0, t_rev = 0;
	int found, reason = UKEY_REVOCATION_REASON_NONE;

	if (!der || len == 0 || len > UKEY_CRL_MAX_SIZE || !key)
		goto out;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	if (!crl || p != der + len)
		goto out;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0 ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) {
		log_debug("CRL is from another issuer");
		goto out;
	}
	if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) && !(X509_get_key_usage(issuer) & KU_CRL_SIGN)) {
		log_debug("the issuer may not sign CRLs (keyUsage)");
		goto out;
	}
	if (X509_CRL_verify(crl, key) != 1) {
		log_debug("CRL signature does not verify");
		goto out;
	}
	if (!crl_complete(crl)) {
		log_debug("CRL is a delta, partitioned, indirect, or has an unknown critical extension");
		goto out;
	}
	if ((why = check_times(X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl), now, &t_this, &t_next)) !=
	    UKEY_REVOCATION_WHY_NONE)
		goto out;
	found = X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert));
	/* 2: listed as removeFromCRL, which is "no longer revoked". */
	if (found == 1) {
		int crit = -1;
		ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &crit, NULL);

		if (!asn1_time(X509_REVOKED_get0_revocationDate(entry), &t_rev)) {
			ASN1_ENUMERATED_free(e);
			why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
			goto out;
		}
		if (e)
			reason = reason_code(ASN1_ENUMERATED_get(e));
		ASN1_ENUMERATED_free(e);
		result_set(ret, UKEY_REVOCATION_SOURCE_CRL, UKEY_REVOCATION_REVOKED, t_this, t_next, t_rev, reason);
	} else {
		result_set(ret, UKEY_REVOCATION_SOURCE_CRL, UKEY_REVOCATION_GOOD, t_this, t_next, 0, 0);
	}
	why = UKEY_REVOCATION_WHY_NONE;
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	return why;
}

/* ---------------------------------------------------------------- the network */

/* A URL from a certificate is hostile: printable ASCII, bounded, http or https only. */
static bool url_copy(const ASN1_IA5STRING *s, char out[static UKEY_REVOCATION_MAX_URL + 1])
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);

	if (!d || len <= 0 || len > UKEY_REVOCATION_MAX_URL)
		return false;
	for (int i = 0; i < len; i++)
		if (d[i] <= 0x20 || d[i] >= 0x7f)
			return false;
	memcpy(out, d, (size_t)len);
	out[len] = '\0';
	return strncasecmp(out, "http://", 7) == 0 || strncasecmp(out, "https://", 8) == 0;
}

/* The certificate's OCSP responders (AIA) and CRL locations (CDP), the first UKEY_REVOCATION_MAX_URLS of each. */
struct urls {
	char ocsp[UKEY_REVOCATION_MAX_URLS][UKEY_REVOCATION_MAX_URL + 1];
	size_t n_ocsp;
	char crl[UKEY_REVOCATION_MAX_URLS][UKEY_REVOCATION_MAX_URL + 1];
	size_t n_crl;
};

static void cert_urls(X509 *cert, struct urls *u)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);

	memset(u, 0, sizeof(*u));
	for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && u->n_ocsp < UKEY_REVOCATION_MAX_URLS; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);

		if (OBJ_obj2nid(ad->method) == NID_ad_OCSP && ad->location->type == GEN_URI &&
		    url_copy(ad->location->d.uniformResourceIdentifier, u->ocsp[u->n_ocsp]))
			u->n_ocsp++;
	}
	for (int i = 0; cdp && i < sk_DIST_POINT_num(cdp) && u->n_crl < UKEY_REVOCATION_MAX_URLS; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(cdp, i);

		/* A point for some reasons only, or with another CRL issuer, does not give the whole answer. */
		if (!dp->distpoint || dp->distpoint->type != 0 || dp->reasons || dp->CRLissuer)
			continue;
		for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);

			if (u->n_crl < UKEY_REVOCATION_MAX_URLS && gn->type == GEN_URI &&
			    url_copy(gn->d.uniformResourceIdentifier, u->crl[u->n_crl]))
				u->n_crl++;
		}
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
	ERR_clear_error();
}

/* A fetched or cached answer: DER bytes, malloc'd. */
struct body {
	uint8_t *data;
	size_t len;
};

/*
 * One request: GET, or POST of body as post_type, with est.c's settings (http.c) and one difference: plain
 * http is allowed here. OCSP responses and CRLs are signed by the CA and verified above, so the transport adds
 * nothing to their trust, and CAs commonly publish them over http only (RFC 5280 4.2.1.13, RFC 6960 A.1).
 */
static enum ukey_revocation_why fetch(const struct ukey_revocation *rv, const char *url, const char *post_type,
				      const uint8_t *post, size_t post_len, size_t cap, struct body *ret)
{
	const struct ukey_http_request req = {
		.url = url,
		.allow_http = true,
		.trust_pem = rv->trust_pem,
		.timeout_s = rv->timeout_s,
		.connect_timeout_s = rv->timeout_s < UKEY_REVOCATION_CONNECT_TIMEOUT_S
					     ? rv->timeout_s
					     : (long)UKEY_REVOCATION_CONNECT_TIMEOUT_S,
		.cap = cap,
		.post_type = post_type,
		.post = post,
		.post_len = post_len,
	};
	struct ukey_http_response resp;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = ukey_http_perform(&req, &resp);
	if (r < 0 || resp.status != 200 || resp.len == 0) {
		log_debug("'%s': %s, HTTP %ld, %zu bytes", url, r < 0 ? ukey_strerror(r) : "answered", resp.status,
			  resp.len);
		ukey_http_response_clear(&resp);
		/* Too big is an answer that is not what it should be, not a silent server. */
		return r == -UKEY_E_CA_BAD_RESPONSE ? UKEY_REVOCATION_WHY_NOT_VERIFIABLE
						    : UKEY_REVOCATION_WHY_UNREACHABLE;
	}
	ret->data = resp.body;
	ret->len = resp.len;
	return UKEY_REVOCATION_WHY_NONE;
}

static enum ukey_revocation_why ocsp_query(const struct ukey_revocation *rv, const char *url, X509 *cert, X509 *issuer,
					   time_t now, struct ukey_revocation_result *ret)
{
	enum ukey_revocation_why why = UKEY_REVOCATION_WHY_NOT_VERIFIABLE;
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
	unsigned char *der = NULL;
	struct body resp = { 0 };
	int len;

	if (!req || !id || !OCSP_request_add0_id(req, id))
		goto out;
	id = NULL; /* the request owns it */
	if (!OCSP_request_add1_nonce(req, NULL, -1) || (len = i2d_OCSP_REQUEST(req, &der)) <= 0)
		goto out;
	why = fetch(rv, url, "application/ocsp-request", der, (size_t)len, UKEY_OCSP_MAX_RESPONSE, &resp);
	if (why == UKEY_REVOCATION_WHY_NONE)
		why = ukey_revocation_ocsp_verify(resp.data, resp.len, cert, issuer, rv->store, req, now, ret);
	log_debug("OCSP '%s': %s", url, why ? ukey_revocation_why_id(why) : "answered");
out:
	ERR_clear_error();
	free(resp.data);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	return why;
}

/* The cache file of a CRL URL; NULL without a state directory (or no memory). */
static char *cache_path(const struct ukey_revocation *rv, const char *url)
{
	char name[69], *path = NULL;

	if (!rv->state_dir)
		return NULL;
	ukey_revocation_cache_name(url, name);
	if (!name[0] || asprintf(&path, "%s/crl/%s", rv->state_dir, name) < 0)
		return NULL;
	return path;
}

/* The cached file: a regular file of at most UKEY_CRL_MAX_SIZE bytes, read whole; hostile like any input. */
static bool cache_read(const char *path, struct body *ret)
{
	struct stat st;
	ssize_t n;
	int fd;

	memset(ret, 0, sizeof(*ret));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > UKEY_CRL_MAX_SIZE ||
	    !(ret->data = malloc((size_t)st.st_size)))
		goto fail;
	while (ret->len < (size_t)st.st_size) {
		n = read(fd, ret->data + ret->len, (size_t)st.st_size - ret->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		ret->len += (size_t)n;
	}
	close(fd);
	return true;
fail:
	close(fd);
	free(ret->data);
	memset(ret, 0, sizeof(*ret));
	return false;
}

/* Keep a verified CRL for later (through a temporary file and rename); a failure only costs a later download. */
static void cache_write(const struct ukey_revocation *rv, const char *path, const struct body *crl)
{
	char *dir = NULL, *tmp = NULL;
	size_t off = 0;
	int fd = -1, r = 0;

	if (asprintf(&dir, "%s/crl", rv->state_dir) < 0 || asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* The state directory one level deep, as the store makes it; the cache does not build a whole path. */
	if ((mkdir(rv->state_dir, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		r = -errno;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (off < crl->len) {
		ssize_t n = write(fd, crl->data + off, crl->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		log_debug("caching the CRL in '%s': %s", path, strerror(-r));
		if (tmp)
			unlink(tmp);
	}
	free(tmp);
	free(dir);
}

/* One CRL location: the cached copy while fresh, else (online) a download, verified, then cached. */
static enum ukey_revocation_why crl_query(const struct ukey_revocation *rv, const char *url, X509 *cert, X509 *issuer,
					  time_t now, struct ukey_revocation_result *ret)
{
	enum ukey_revocation_why why;
	char *path = cache_path(rv, url);
	struct body crl = { 0 };

	if (path && cache_read(path, &crl)) {
		why = ukey_revocation_crl_verify(crl.data, crl.len, cert, issuer, now, ret);
		free(crl.data);
		log_debug("cached CRL of '%s': %s", url, why ? ukey_revocation_why_id(why) : "fresh");
		if (why == UKEY_REVOCATION_WHY_NONE) {
			ret->cached = true;
			free(path);
			return why;
		}
	}
	if (rv->offline) {
		free(path);
		return UKEY_REVOCATION_WHY_OFFLINE;
	}
	why = fetch(rv, url, NULL, NULL, 0, UKEY_CRL_MAX_SIZE, &crl);
	if (why == UKEY_REVOCATION_WHY_NONE)
		why = ukey_revocation_crl_verify(crl.data, crl.len, cert, issuer, now, ret);
	log_debug("CRL '%s': %s", url, why ? ukey_revocation_why_id(why) : "verified");
	if (why == UKEY_REVOCATION_WHY_NONE && path)
		cache_write(rv, path, &crl);
	free(crl.data);
	free(path);
	return why;
}

/* ---------------------------------------------------------------- the checker */

int ukey_revocation_new(const struct ukey_revocation_config *cfg, struct ukey_revocation **ret)
{
	struct ukey_revocation *rv = calloc(1, sizeof(*rv));
	int r;

	if (!rv)
		return -ENOMEM;
	rv->offline = cfg->offline;
	rv->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : UKEY_REVOCATION_TIMEOUT_S;
	if ((cfg->state_dir && !(rv->state_dir = strdup(cfg->state_dir))) ||
	    (cfg->trust_pem && !(rv->trust_pem = strdup(cfg->trust_pem)))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = ukey_revocation_store_new(cfg->trust_pem, &rv->store)) < 0)
		goto fail;
	*ret = rv;
	return 0;
fail:
	ukey_revocation_free(rv);
	return r;
}

void ukey_revocation_free(struct ukey_revocation *rv)
{
	if (!rv)
		return;
	X509_STORE_free(rv->store);
	free(rv->state_dir);
	free(rv->trust_pem);
	free(rv);
}

static enum ukey_revocation_why worse(enum ukey_revocation_why a, enum ukey_revocation_why b)
{
	return a > b ? a : b;
}

int ukey_revocation_check(struct ukey_revocation *rv, const uint8_t *der, size_t len, time_t now,
			  struct ukey_revocation_result *ret)
{
	struct ukey_revocation_result res = { .status = UKEY_REVOCATION_UNKNOWN,
					      .reason = UKEY_REVOCATION_REASON_NONE,
					      .checked_at = now };
	enum ukey_revocation_why why = UKEY_REVOCATION_WHY_NO_URL, w;
	const unsigned char *p = der;
	struct urls *urls = NULL;
	X509 *cert = NULL, *issuer = NULL;
	int r = 0;

	if (!der || len == 0 || len > MAX_CERT_DER || !(cert = d2i_X509(NULL, &p, (long)len)) || p != der + len) {
		ERR_clear_error();
		X509_free(cert);
		return -UKEY_E_CERT_UNREADABLE;
	}
	if (!(urls = malloc(sizeof(*urls)))) {
		r = -ENOMEM;
		goto out;
	}
	cert_urls(cert, urls);
	if (urls->n_ocsp == 0 && urls->n_crl == 0)
		goto done;
	if (!(issuer = ukey_revocation_find_issuer(rv->store, cert))) {
		why = UKEY_REVOCATION_WHY_NO_ISSUER;
		goto done;
	}
	/* OCSP first: current and small. Its "unknown" is not an answer; the CRL may still have one. */
	for (size_t i = 0; i < urls->n_ocsp; i++) {
		if (rv->offline) {
			why = worse(why, UKEY_REVOCATION_WHY_OFFLINE);
			break;
		}
		w = ocsp_query(rv, urls->ocsp[i], cert, issuer, now, &res);
		if (w == UKEY_REVOCATION_WHY_NONE)
			goto out;
		why = worse(why, w);
	}
	for (size_t i = 0; i < urls->n_crl; i++) {
		w = crl_query(rv, urls->crl[i], cert, issuer, now, &res);
		if (w == UKEY_REVOCATION_WHY_NONE)
			goto out;
		why = worse(why, w);
	}
done:
	/* Never "good" on the way here: whatever a failed step may have left, only why survives. */
	memset(&res, 0, sizeof(res));
	res.status = UKEY_REVOCATION_UNKNOWN;
	res.reason = UKEY_REVOCATION_REASON_NONE;
	res.checked_at = now;
	res.why = why;
out:
	if (r == 0)
		*ret = res;
	free(urls);
	X509_free(issuer);
	X509_free(cert);
	return r;
}
