/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EST (RFC 7030) over libcurl with OpenSSL: TLS 1.2+ verified against the configured trust, the token's key for
 * client authentication given to OpenSSL in the SSL_CTX callback, PKCS#7 parsed by OpenSSL. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "base/log.h"
#include "est.h"
#include "http.h"

void ukey_est_result_clear(struct ukey_est_result *r)
{
	free(r->cert_der);
	memset(r, 0, sizeof(*r));
}

/* RFC 7030 4.1.3: base64 with line breaks; OpenSSL's decoder, after dropping the whitespace it refuses. */
static int unbase64(const char *body, size_t len, uint8_t **ret, size_t *ret_len)
{
	char *clean = malloc(len + 1);
	uint8_t *out = NULL;
	size_t n = 0;
	int dec;

	if (!clean)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];

		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (!isalnum(c) && c != '+' && c != '/' && c != '=') {
			free(clean);
			return -UKEY_E_CA_BAD_RESPONSE;
		}
		clean[n++] = (char)c;
	}
	if (n == 0 || n % 4 != 0 || !(out = malloc(n / 4 * 3 + 1))) {
		free(clean);
		return n && n % 4 == 0 ? -ENOMEM : -UKEY_E_CA_BAD_RESPONSE;
	}
	dec = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n);
	if (dec < 0) {
		free(clean);
		free(out);
		return -UKEY_E_CA_BAD_RESPONSE;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
	if (n >= 1 && clean[n - 1] == '=')
		dec--;
	if (n >= 2 && clean[n - 2] == '=')
		dec--;
	free(clean);
	*ret = out;
	*ret_len = (size_t)dec;
	return 0;
}

int ukey_est_parse_certs(const char *body, size_t len, STACK_OF(X509) * *ret)
{
	STACK_OF(X509) *copy = NULL, *certs;
	const uint8_t *p;
	uint8_t *der = NULL;
	size_t der_len = 0;
	PKCS7 *p7 = NULL;
	int r;

	if (len > UKEY_CA_MAX_RESPONSE)
		return -UKEY_E_CA_BAD_RESPONSE;
	if ((r = unbase64(body, len, &der, &der_len)) < 0)
		return r;
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)der_len);
	r = -UKEY_E_CA_BAD_RESPONSE;
	if (!p7 || p != der + der_len || !PKCS7_type_is_signed(p7) || !p7->d.sign)
		goto out;
	certs = p7->d.sign->cert;
	if (!certs || sk_X509_num(certs) < 1 || sk_X509_num(certs) > UKEY_CA_MAX_CERTS)
		goto out;
	if (!(copy = sk_X509_new_null())) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (!X509_up_ref(x) || !sk_X509_push(copy, x)) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret = copy;
	copy = NULL;
	r = 0;
out:
	sk_X509_pop_free(copy, X509_free);
	PKCS7_free(p7);
	free(der);
	return r;
}

/* One request to the CA: GET, or POST of the DER body base64-encoded (RFC 7030 4.1.3). url is the caller's. */
static int request_url(const struct ukey_est *est, const char *url, const char *content_type, const uint8_t *body,
		       size_t body_len, struct ukey_http_response *resp)
{
	const struct ukey_http_request req = {
		.url = url,
		.trust_pem = est->trust_pem,
		.timeout_s = est->timeout_s > 0 ? est->timeout_s : (long)UKEY_CA_TIMEOUT_S,
		.cap = UKEY_CA_MAX_RESPONSE,
		.post_type = content_type,
		.post_base64 = true,
		.post = body,
		.post_len = body_len,
		.client_cert = est->client_cert,
		.client_key = est->client_key,
	};

	return ukey_http_perform(&req, resp);
}

/* An EST operation under the configured base URL. */
static int request(const struct ukey_est *est, const char *op, const char *content_type, const uint8_t *body,
		   size_t body_len, struct ukey_http_response *resp)
{
	char *url = NULL;
	int r;

	if (!est->base_url)
		return -UKEY_E_USAGE;
	if (asprintf(&url, "%s/%s", est->base_url, op) < 0)
		return -ENOMEM;
	r = request_url(est, url, content_type, body, body_len, resp);
	free(url);
	return r;
}

/* A refusal's text, for the user: a short text/plain body, or the "message" of a JSON one, sanitised. */
static void refusal_message(const struct ukey_http_response *resp, char *out, size_t size)
{
	const char *text = NULL;
	cJSON *doc = NULL;
	size_t o = 0, len = 0;

	out[0] = '\0';
	if (!resp->body)
		return;
	if (strncasecmp(resp->content_type, "text/plain", 10) == 0) {
		text = (const char *)resp->body;
		len = resp->len;
	} else if (strncasecmp(resp->content_type, "application/json", 16) == 0 &&
		   (doc = cJSON_ParseWithLength((const char *)resp->body, resp->len))) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");

		if (cJSON_IsString(m)) {
			text = m->valuestring;
			len = strlen(text);
		}
	}
	for (size_t i = 0; text && i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		out[o++] = c == '\n' || c == '\r' || c == '\t' ? ' ' : (c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	/* The caller ends the sentence. */
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
		o--;
	out[o] = '\0';
	cJSON_Delete(doc);
}

static int status_error(long status)
{
	if (status >= 500)
		return -UKEY_E_CA_FAILED;
	if (status >= 400)
		return -UKEY_E_CA_REFUSED;
	return -UKEY_E_CA_BAD_RESPONSE;
}

static bool is_pkcs7(const char *content_type)
{
	return strncasecmp(content_type, "application/pkcs7-mime", 22) == 0;
}

int ukey_est_cacerts(const struct ukey_est *est, STACK_OF(X509) * *ret)
{
	struct ukey_http_response resp = { 0 };
	int r;

	if ((r = request(est, "cacerts", NULL, NULL, 0, &resp)) < 0)
		goto out;
	if (resp.status != 200)
		r = status_error(resp.status);
	else if (!is_pkcs7(resp.content_type))
		r = -UKEY_E_CA_BAD_RESPONSE;
	else
		r = ukey_est_parse_certs(resp.body ? (const char *)resp.body : "", resp.len, ret);
out:
	ukey_http_response_clear(&resp);
	return r;
}

int ukey_est_simplereenroll(const struct ukey_est *est, const uint8_t *csr, size_t csr_len, struct ukey_est_result *ret)
{
	struct ukey_http_response resp = { 0 };
	STACK_OF(X509) *certs = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = request(est, "simplereenroll", "application/pkcs10", csr, csr_len, &resp)) < 0)
		goto out;
	ret->http_status = (int)resp.status;
	if (resp.status == 202) {
		/* RFC 7030 4.2.3: accepted, not issued yet; come back after Retry-After (default: an hour). */
		ret->pending = true;
		ret->retry_after = resp.retry_after >= 0 ? resp.retry_after : 3600;
		snprintf(ret->order, sizeof(ret->order), "%s", resp.order);
		r = 0;
		goto out;
	}
	if (resp.status != 200) {
		refusal_message(&resp, ret->message, sizeof(ret->message));
		r = status_error(resp.status);
		goto out;
	}
	if (!is_pkcs7(resp.content_type)) {
		r = -UKEY_E_CA_BAD_RESPONSE;
		goto out;
	}
	if ((r = ukey_est_parse_certs(resp.body ? (const char *)resp.body : "", resp.len, &certs)) < 0)
		goto out;
	{
		uint8_t *der = NULL;
		int len = i2d_X509(sk_X509_value(certs, 0), &der);

		if (len <= 0 || !(ret->cert_der = malloc((size_t)len))) {
			OPENSSL_free(der);
			r = -ENOMEM;
			goto out;
		}
		memcpy(ret->cert_der, der, (size_t)len);
		ret->cert_len = (size_t)len;
		OPENSSL_free(der);
	}
	r = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	ukey_http_response_clear(&resp);
	return r;
}

/* The CA's origin (scheme://host[:port]) from the EST base URL, through libcurl's URL parser. */
static int ca_origin(const char *base_url, char **ret)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int r = -UKEY_E_USAGE;

	if (u && curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		r = asprintf(ret, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "") < 0 ? -ENOMEM : 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

static void copy_date(const cJSON *o, const char *key, char out[static 11])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	out[0] = '\0';
	/* Only a YYYY-MM-DD goes into the field: it is shown to the user. */
	if (cJSON_IsString(v) && strlen(v->valuestring) == 10 && strspn(v->valuestring, "0123456789-") == 10)
		memcpy(out, v->valuestring, 11);
}

int ukey_ca_cert_status(const struct ukey_est *est, const char *serial_hex, struct ukey_ca_status *ret)
{
	struct ukey_ca_status st = { 0 };
	struct ukey_http_response resp = { 0 };
	char serial[80], *origin = NULL, *url = NULL;
	const cJSON *ren, *v;
	cJSON *doc = NULL;
	size_t o = 0;
	int r;

	if (!est->base_url)
		return -UKEY_E_USAGE;
	/* The CA's form of a serial: lower-case hex, no leading zeros. */
	for (const char *p = serial_hex; *p && o + 1 < sizeof(serial); p++) {
		if (!isxdigit((unsigned char)*p))
			return -UKEY_E_USAGE;
		if (o == 0 && *p == '0' && p[1])
			continue;
		serial[o++] = (char)tolower((unsigned char)*p);
	}
	serial[o] = '\0';
	if ((r = ca_origin(est->base_url, &origin)) < 0)
		return r;
	if (asprintf(&url, "%s/api/v1/certs/%s", origin, serial) < 0) {
		free(origin);
		return -ENOMEM;
	}
	free(origin);
	if ((r = request_url(est, url, NULL, NULL, 0, &resp)) < 0)
		goto out;
	if (resp.status == 404) {
		/* A CA without this API (plain EST), or one that never issued the certificate: nothing to confirm. */
		r = 0;
		goto out;
	}
	if (resp.status != 200 || strncasecmp(resp.content_type, "application/json", 16) != 0 ||
	    !(doc = cJSON_ParseWithLength(resp.body ? (const char *)resp.body : "", resp.len))) {
		r = resp.status == 200 ? -UKEY_E_CA_BAD_RESPONSE : status_error(resp.status);
		goto out;
	}
	ren = cJSON_GetObjectItemCaseSensitive(doc, "renewal");
	if (!cJSON_IsObject(ren)) {
		r = -UKEY_E_CA_BAD_RESPONSE;
		goto out;
	}
	st.known = true;
	st.open = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ren, "open"));
	copy_date(ren, "opens_on", st.opens_on);
	copy_date(ren, "closes_on", st.closes_on);
	copy_date(ren, "new_not_after", st.new_not_after);
	copy_date(doc, "first_issued", st.first_issued);
	v = cJSON_GetObjectItemCaseSensitive(doc, "status");
	st.revoked = cJSON_IsString(v) && strcmp(v->valuestring, "revoked") == 0;
	v = cJSON_GetObjectItemCaseSensitive(ren, "rule");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(st.rule) &&
	    strspn(v->valuestring, "R-0123456789abcdefghijklmnopqrstuvwxyz") == strlen(v->valuestring))
		snprintf(st.rule, sizeof(st.rule), "%s", v->valuestring);
	r = 0;
out:
	free(url);
	cJSON_Delete(doc);
	ukey_http_response_clear(&resp);
	if (r == 0)
		*ret = st;
	return r;
}
