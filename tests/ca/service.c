/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EST (RFC 7030), CRL, OCSP and the JSON API of the reference CA, with the renewal rules R-R2..R-R6. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "date.h"
#include "rules.h"
#include "service.h"

#define EST "/.well-known/est/"

void refca_response_clear(struct refca_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

static void set_body(struct refca_response *resp, int status, const char *ctype, void *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = ctype;
	resp->body = body;
	resp->body_len = len;
}

static void json_response(struct refca_response *resp, int status, cJSON *obj)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
	size_t len;

	cJSON_Delete(obj);
	if (!text) {
		set_body(resp, 500, "text/plain", NULL, 0);
		resp->error = "out-of-memory";
		return;
	}
	len = strlen(text);
	/* A trailing newline keeps `curl` output readable. */
	text = realloc(text, len + 2);
	if (text) {
		text[len++] = '\n';
		text[len] = '\0';
	}
	set_body(resp, status, "application/json", text, text ? len : 0);
}

void refca_error_response(struct refca_response *resp, int status, const char *id, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", id);
	cJSON_AddStringToObject(o, "message", message);
	json_response(resp, status, o);
	resp->error = id;
}

static void add_date(cJSON *o, const char *key, long date)
{
	char buf[REFCA_DATE_STRLEN];

	refca_date_format(date, buf);
	cJSON_AddStringToObject(o, key, buf);
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
	char buf[32];
	int y;
	unsigned m, d;
	long day = refca_date_of(t);
	int64_t s = t - refca_date_start(day);

	refca_date_to_civil(day, &y, &m, &d);
	snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, (int)(s / 3600), (int)(s / 60 % 60),
		 (int)(s % 60));
	cJSON_AddStringToObject(o, key, buf);
}

int refca_service_load_password(struct refca_service *svc, const char *dir)
{
	char path[PATH_MAX], pass[256];
	unsigned int dlen = 0;
	size_t n;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/technician.pass", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(pass, 1, sizeof(pass) - 1, f);
	fclose(f);
	while (n > 0 && (pass[n - 1] == '\n' || pass[n - 1] == '\r'))
		n--;
	if (n == 0 || EVP_Digest(pass, n, svc->pass_digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32) {
		OPENSSL_cleanse(pass, sizeof(pass));
		return -EINVAL;
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	return 0;
}

/* HTTP Basic with user "technician" and the password of technician.pass (compared by digest, constant time). */
static bool technician_ok(struct refca_service *svc, const char *auth)
{
	unsigned char buf[REFCA_MAX_AUTH], digest[32];
	unsigned int dlen = 0;
	EVP_ENCODE_CTX *ctx;
	const char *b64, *colon;
	int n = 0, m = 0;
	size_t len;
	bool ok = false;

	if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
		return false;
	b64 = auth + 6;
	while (*b64 == ' ')
		b64++;
	len = strlen(b64);
	if (len == 0 || len >= sizeof(buf) - 4)
		return false;
	ctx = EVP_ENCODE_CTX_new();
	if (!ctx)
		return false;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)b64, (int)len) >= 0 &&
	    EVP_DecodeFinal(ctx, buf + n, &m) == 1) {
		size_t total = (size_t)n + (size_t)m;

		colon = memchr(buf, ':', total);
		if (colon && (size_t)(colon - (const char *)buf) == strlen("technician") &&
		    memcmp(buf, "technician", strlen("technician")) == 0 &&
		    EVP_Digest(colon + 1, total - strlen("technician:"), digest, &dlen, EVP_sha256(), NULL) == 1 &&
		    dlen == sizeof(digest))
			ok = CRYPTO_memcmp(digest, svc->pass_digest, sizeof(digest)) == 0;
	}
	EVP_ENCODE_CTX_free(ctx);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

static bool content_type_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	/* Parameters (after ';') are allowed, the media type itself must match. */
	return ctype && strncasecmp(ctype, want, n) == 0 && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static void pkcs7_response(struct refca_response *resp, X509 *cert, const char *ctype)
{
	char *b64;
	size_t len;

	if (refca_ca_pkcs7_base64(cert, &b64, &len) < 0) {
		refca_error_response(resp, 500, "internal", "The PKCS#7 answer could not be made.");
		return;
	}
	set_body(resp, 200, ctype, b64, len);
	resp->base64 = true;
}

static const char *const certs_only = "application/pkcs7-mime; smime-type=certs-only";

static X509_REQ *read_csr(const struct refca_request *req, struct refca_response *resp)
{
	const char *why = NULL;
	X509_REQ *csr = NULL;
	int r;

	if (!content_type_is(req->content_type, "application/pkcs10")) {
		refca_error_response(resp, 415, "content-type", "The body must be application/pkcs10 (base64 DER).");
		return NULL;
	}
	r = refca_ca_csr_from_base64((const char *)req->body, req->body_len, &csr, &why);
	if (r == -ENOMEM) {
		refca_error_response(resp, 500, "internal", "Out of memory.");
		return NULL;
	}
	if (r < 0) {
		refca_error_response(resp, 400, r == -EKEYREJECTED ? "key-rejected" : "bad-csr",
				     why ? why : "The CSR is not acceptable.");
		return NULL;
	}
	return csr;
}

/* RFC 7030 4.2.1: simpleenroll, for technicians (HTTP Basic). R-S1: one year from today, first issue today. */
static void simpleenroll(struct refca_service *svc, const struct refca_request *req, struct refca_response *resp)
{
	X509_REQ *csr;
	X509 *cert = NULL;
	long today;

	if (!technician_ok(svc, req->authorization)) {
		refca_error_response(resp, 401, "unauthorized",
				     "simpleenroll needs the technician's HTTP Basic credentials.");
		resp->www_authenticate = true;
		return;
	}
	if (!(csr = read_csr(req, resp)))
		return;
	if (refca_state_today(svc->st, &today, NULL) < 0 ||
	    refca_ca_issue(svc->ca, svc->st, csr, NULL, today, refca_date_add_year(today), today, NULL, "simpleenroll",
			   &cert) < 0)
		refca_error_response(resp, 500, "internal", "The certificate could not be issued.");
	else
		pkcs7_response(resp, cert, certs_only);
	X509_free(cert);
	X509_REQ_free(csr);
}

static void order_fields(cJSON *o, const struct refca_order *ord)
{
	cJSON_AddStringToObject(o, "id", ord->id);
	cJSON_AddStringToObject(o, "serial", ord->serial);
	cJSON_AddStringToObject(o, "state", refca_order_state(ord));
	cJSON_AddStringToObject(o, "rule", ord->rule);
	cJSON_AddBoolToObject(o, "needs_documents", ord->needs_documents);
	cJSON_AddBoolToObject(o, "approved", ord->approved);
	cJSON_AddBoolToObject(o, "paid", ord->paid);
	add_time(o, "created", ord->created);
	cJSON_AddNumberToObject(o, "retry_after", (double)ord->retry_after);
	if (ord->issued_serial[0])
		cJSON_AddStringToObject(o, "issued_serial", ord->issued_serial);
	else
		cJSON_AddNullToObject(o, "issued_serial");
}

static void accepted(struct refca_response *resp, const struct refca_order *ord)
{
	const char *state = refca_order_state(ord);
	cJSON *o = cJSON_CreateObject();

	order_fields(o, ord);
	cJSON_AddStringToObject(
		o, "message",
		strcmp(state, "documents-required") == 0
			? "R-R5: expired more than 365 days; supporting documents must be approved first."
			: "R-R6: the renewal order waits for payment.");
	json_response(resp, 202, o);
	resp->retry_after = ord->retry_after;
	snprintf(resp->order, sizeof(resp->order), "%s", ord->id);
}

static int new_order(struct refca_service *svc, const char *serial, enum refca_rule rule, struct refca_order *ret)
{
	struct refca_order o = { 0 };
	unsigned char id[REFCA_ORDER_ID_LEN / 2];
	int r;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(o.id + 2 * i, 3, "%02x", id[i]);
	snprintf(o.serial, sizeof(o.serial), "%s", serial);
	snprintf(o.rule, sizeof(o.rule), "%s", refca_rule_id(rule));
	o.needs_documents = rule == REFCA_RULE_R5;
	o.paid = svc->autopay;
	o.retry_after = svc->retry_after;
	if ((r = refca_state_now(svc->st, &o.created)) < 0)
		return r;
	r = refca_state_order_add(svc->st, &o);
	if (r == -EEXIST) /* the same client got there first (one order per old certificate) */
		return refca_state_order_by_serial(svc->st, serial, ret);
	if (r == 0)
		*ret = o;
	return r;
}

static bool same_key(X509_REQ *csr, const struct refca_cert *rec)
{
	const unsigned char *p = rec->der;
	X509 *x = d2i_X509(NULL, &p, (long)rec->der_len);
	bool same = x && EVP_PKEY_eq(X509_get0_pubkey(x), X509_REQ_get0_pubkey(csr)) == 1;

	X509_free(x);
	return same;
}

/*
 * RFC 7030 4.2.2: simplereenroll, authenticated by the TLS client
 * certificate; the renewal rules R-R2..R-R6 decide what happens.
 */
static void simplereenroll(struct refca_service *svc, const struct refca_request *req, struct refca_response *resp)
{
	struct refca_cert *old = NULL, *prev = NULL;
	struct refca_renewal ren;
	struct refca_order ord;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	long today, nb, na;
	int r;

	if (!req->client_cert) {
		refca_error_response(resp, 403, "client-certificate-required",
				     "simplereenroll needs the current certificate as the TLS client certificate.");
		return;
	}
	r = refca_ca_verify_client(svc->ca, svc->st, req->client_cert, &old);
	if (r == -EKEYREVOKED) {
		refca_error_response(resp, 403, "client-certificate-revoked", "The client certificate is revoked.");
		return;
	}
	if (r < 0) {
		refca_error_response(resp, 403, "client-certificate-refused",
				     "The client certificate was not issued by this CA.");
		return;
	}
	if (!(csr = read_csr(req, resp)))
		goto out;
	/* RFC 7030 4.2.2: the subject stays the current certificate's. */
	if (X509_NAME_cmp(X509_REQ_get_subject_name(csr), X509_get_subject_name(req->client_cert)) != 0) {
		refca_error_response(resp, 400, "subject-mismatch",
				     "The CSR's subject differs from the client certificate's (RFC 7030 4.2.2).");
		goto out;
	}
	if (refca_state_today(svc->st, &today, NULL) < 0)
		goto fail;

	r = refca_state_order_by_serial(svc->st, old->serial, &ord);
	if (r == -ENOENT) {
		refca_rules_renewal(old->not_after, today, &ren);
		if (ren.rule == REFCA_RULE_NOT_YET) {
			char opens[REFCA_DATE_STRLEN], msg[160];
			cJSON *o = cJSON_CreateObject();

			refca_date_format(ren.opens_on, opens);
			snprintf(msg, sizeof(msg), "R-R2: renewal opens on %s (fewer than 90 days left).", opens);
			cJSON_AddStringToObject(o, "error", "renewal-not-open");
			cJSON_AddStringToObject(o, "message", msg);
			cJSON_AddStringToObject(o, "rule", "R-R2");
			add_date(o, "opens_on", ren.opens_on);
			add_date(o, "closes_on", ren.closes_on);
			cJSON_AddNumberToObject(o, "days_left", (double)ren.days_left);
			json_response(resp, 403, o);
			resp->error = "renewal-not-open";
			goto out;
		}
		r = new_order(svc, old->serial, ren.rule, &ord);
	}
	if (r < 0)
		goto fail;

	if (ord.issued_serial[0]) {
		/*
		 * Issued already: the client lost the answer (a crash between the
		 * CA's answer and its journal). Same key: the same certificate
		 * again. A new key: a certificate with the same validity — a
		 * retry never extends twice.
		 */
		if (refca_state_cert_get(svc->st, ord.issued_serial, &prev) < 0)
			goto fail;
		if (same_key(csr, prev)) {
			const unsigned char *p = prev->der;

			cert = d2i_X509(NULL, &p, (long)prev->der_len);
			if (!cert)
				goto fail;
			pkcs7_response(resp, cert, certs_only);
			goto out;
		}
		nb = prev->not_before;
		na = prev->not_after;
	} else if (strcmp(refca_order_state(&ord), "paid") != 0 && strcmp(refca_order_state(&ord), "approved") != 0) {
		accepted(resp, &ord); /* R-R5 documents or R-R6 payment outstanding */
		goto out;
	} else {
		/* R-R3 / R-R4 (R-R5 once approved): validity from the day of download. */
		refca_rules_issue_dates(old->not_after, today, &nb, &na);
	}
	/* R-D4: the unit's first-issue date carries over to the renewed certificate. */
	if (refca_ca_issue(svc->ca, svc->st, csr, X509_get_subject_name(req->client_cert), nb, na, old->first_issued,
			   old->serial, "simplereenroll", &cert) < 0 ||
	    refca_ca_serial_hex(cert, ord.issued_serial) < 0 || refca_state_order_update(svc->st, &ord) < 0)
		goto fail;
	pkcs7_response(resp, cert, certs_only);
	goto out;
fail:
	refca_error_response(resp, 500, "internal", "The renewal could not be processed.");
out:
	X509_free(cert);
	X509_REQ_free(csr);
	refca_cert_free(old);
	refca_cert_free(prev);
}

static void cert_json(struct refca_service *svc, const char *serial_in, struct refca_response *resp)
{
	char serial[REFCA_SERIAL_HEX_MAX + 1];
	struct refca_cert *c = NULL;
	struct refca_renewal ren;
	cJSON *o, *rn;
	long today;
	int r;

	if (refca_serial_normalize(serial_in, serial) < 0) {
		refca_error_response(resp, 400, "bad-serial", "A serial is 1 to 40 hexadecimal digits.");
		return;
	}
	r = refca_state_cert_get(svc->st, serial, &c);
	if (r == -ENOENT) {
		refca_error_response(resp, 404, "unknown-serial", "No certificate with this serial.");
		return;
	}
	if (r < 0 || refca_state_today(svc->st, &today, NULL) < 0) {
		refca_cert_free(c);
		refca_error_response(resp, 500, "internal", "The state cannot be read.");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "serial", c->serial);
	cJSON_AddStringToObject(o, "subject", c->subject);
	add_date(o, "not_before", c->not_before);
	add_date(o, "not_after", c->not_after);
	add_date(o, "first_issued", c->first_issued);
	cJSON_AddStringToObject(o, "status", c->revoked ? "revoked" : "good");
	if (c->revoked)
		add_time(o, "revoked_at", c->revoked_at);
	else
		cJSON_AddNullToObject(o, "revoked_at");
	add_time(o, "issued_at", c->issued_at);
	cJSON_AddStringToObject(o, "via", c->via);
	if (c->renewed_from[0])
		cJSON_AddStringToObject(o, "renewed_from", c->renewed_from);
	else
		cJSON_AddNullToObject(o, "renewed_from");
	add_date(o, "today", today);
	refca_rules_renewal(c->not_after, today, &ren);
	cJSON_AddNumberToObject(o, "days_left", (double)ren.days_left);
	rn = cJSON_AddObjectToObject(o, "renewal");
	cJSON_AddBoolToObject(rn, "open", ren.open && !c->revoked);
	add_date(rn, "opens_on", ren.opens_on);
	add_date(rn, "closes_on", ren.closes_on);
	cJSON_AddStringToObject(rn, "rule", c->revoked ? "revoked" : refca_rule_id(ren.rule));
	if (ren.rule != REFCA_RULE_NOT_YET && !c->revoked) {
		add_date(rn, "new_not_before", ren.new_not_before);
		add_date(rn, "new_not_after", ren.new_not_after);
	} else {
		cJSON_AddNullToObject(rn, "new_not_before");
		cJSON_AddNullToObject(rn, "new_not_after");
	}
	refca_cert_free(c);
	json_response(resp, 200, o);
}

static int order_push(const struct refca_order *ord, void *u)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	order_fields(o, ord);
	cJSON_AddItemToArray(u, o);
	return 0;
}

static void orders_json(struct refca_service *svc, const char *serial_in, struct refca_response *resp)
{
	char serial[REFCA_SERIAL_HEX_MAX + 1];
	cJSON *o, *arr;

	if (serial_in && refca_serial_normalize(serial_in, serial) < 0) {
		refca_error_response(resp, 400, "bad-serial", "A serial is 1 to 40 hexadecimal digits.");
		return;
	}
	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "orders");
	if (refca_state_order_each(svc->st, serial_in ? serial : NULL, order_push, arr) < 0) {
		cJSON_Delete(o);
		refca_error_response(resp, 500, "internal", "The state cannot be read.");
		return;
	}
	json_response(resp, 200, o);
}

static void order_json(struct refca_service *svc, const char *id, struct refca_response *resp)
{
	struct refca_order ord;
	cJSON *o;
	int r;

	if (strlen(id) != REFCA_ORDER_ID_LEN || strspn(id, "0123456789abcdef") != REFCA_ORDER_ID_LEN) {
		refca_error_response(resp, 400, "bad-order-id", "An order id is 16 lowercase hexadecimal digits.");
		return;
	}
	r = refca_state_order_get(svc->st, id, &ord);
	if (r < 0) {
		refca_error_response(resp, r == -ENOENT ? 404 : 500, r == -ENOENT ? "unknown-order" : "internal",
				     r == -ENOENT ? "No order with this id." : "The state cannot be read.");
		return;
	}
	o = cJSON_CreateObject();
	order_fields(o, &ord);
	json_response(resp, 200, o);
}

static void today_json(struct refca_service *svc, struct refca_response *resp)
{
	bool overridden;
	long today;
	cJSON *o;

	if (refca_state_today(svc->st, &today, &overridden) < 0) {
		refca_error_response(resp, 500, "internal", "The state cannot be read.");
		return;
	}
	o = cJSON_CreateObject();
	add_date(o, "today", today);
	cJSON_AddBoolToObject(o, "overridden", overridden);
	add_date(o, "real_today", refca_date_today_utc());
	json_response(resp, 200, o);
}

static void blob_response(struct refca_response *resp, int r, const char *ctype, unsigned char *der, size_t len)
{
	if (r < 0) {
		refca_error_response(resp, 500, "internal", "The answer could not be signed.");
		return;
	}
	/* Our body is freed with free(): copy out of OpenSSL's allocator. */
	void *copy = malloc(len ? len : 1);

	if (!copy) {
		OPENSSL_free(der);
		refca_error_response(resp, 500, "internal", "Out of memory.");
		return;
	}
	memcpy(copy, der, len);
	OPENSSL_free(der);
	set_body(resp, 200, ctype, copy, len);
}

void refca_service_handle(struct refca_service *svc, const struct refca_request *req, struct refca_response *resp)
{
	const char *p = req->path;
	bool want_post = false, known = true;

	memset(resp, 0, sizeof(*resp));
	if (strcmp(p, EST "simpleenroll") == 0 || strcmp(p, EST "simplereenroll") == 0 || strcmp(p, "/ocsp") == 0)
		want_post = true;
	else if (strcmp(p, EST "cacerts") != 0 && strcmp(p, EST "csrattrs") != 0 && strcmp(p, "/crl/ca.crl") != 0 &&
		 strncmp(p, "/api/v1/", 8) != 0)
		known = false;
	if (!known) {
		refca_error_response(resp, 404, "not-found", "No such resource.");
		return;
	}
	if (want_post != req->post) {
		refca_error_response(resp, 405, "method", want_post ? "Use POST." : "Use GET.");
		return;
	}

	if (strcmp(p, EST "cacerts") == 0) {
		pkcs7_response(resp, refca_ca_cert(svc->ca), "application/pkcs7-mime");
	} else if (strcmp(p, EST "csrattrs") == 0) {
		char *b64;
		size_t len;

		if (refca_ca_csrattrs_base64(&b64, &len) < 0) {
			refca_error_response(resp, 500, "internal", "The CSR attributes could not be encoded.");
		} else {
			set_body(resp, 200, "application/csrattrs", b64, len);
			resp->base64 = true;
		}
	} else if (strcmp(p, EST "simpleenroll") == 0) {
		simpleenroll(svc, req, resp);
	} else if (strcmp(p, EST "simplereenroll") == 0) {
		simplereenroll(svc, req, resp);
	} else if (strcmp(p, "/crl/ca.crl") == 0) {
		unsigned char *der = NULL;
		size_t len = 0;
		int r = refca_ca_crl_der(svc->ca, svc->st, &der, &len);

		blob_response(resp, r, "application/pkix-crl", der, len);
	} else if (strcmp(p, "/ocsp") == 0) {
		unsigned char *der = NULL;
		size_t len = 0;
		int r;

		if (!content_type_is(req->content_type, "application/ocsp-request")) {
			refca_error_response(resp, 415, "content-type", "The body must be application/ocsp-request.");
			return;
		}
		r = refca_ca_ocsp_der(svc->ca, svc->st, req->body, req->body_len, &der, &len);
		blob_response(resp, r, "application/ocsp-response", der, len);
	} else if (strcmp(p, "/api/v1/today") == 0) {
		today_json(svc, resp);
	} else if (strncmp(p, "/api/v1/certs/", 14) == 0) {
		cert_json(svc, p + 14, resp);
	} else if (strcmp(p, "/api/v1/orders") == 0) {
		orders_json(svc, req->query_serial, resp);
	} else if (strncmp(p, "/api/v1/orders/", 15) == 0) {
		order_json(svc, p + 15, resp);
	} else {
		refca_error_response(resp, 404, "not-found", "No such resource.");
	}
}
