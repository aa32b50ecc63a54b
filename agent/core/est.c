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
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "base/log.h"
#include "est.h"

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

/* A response body, capped; header values EST cares about. */
struct response {
	char *body;
	size_t len;
	bool too_big;
	char content_type[128];
	long retry_after;
	char order[64];
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct response *resp = userdata;
	size_t len = size * n;
	char *grown;

	if (len > UKEY_CA_MAX_RESPONSE - resp->len) {
		resp->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	grown = realloc(resp->body, resp->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + resp->len, data, len);
	resp->body = grown;
	resp->len += len;
	resp->body[resp->len] = '\0';
	return len;
}

/* Copy a header value (after "Name:"), trimmed, printable ASCII only, or nothing. */
static void header_value(const char *line, size_t len, size_t skip, char *out, size_t size)
{
	size_t i = skip, o = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	for (; i < len && o + 1 < size; i++) {
		if (line[i] < 0x20 || line[i] > 0x7e) {
			o = 0;
			break;
		}
		out[o++] = line[i];
	}
	out[o] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct response *resp = userdata;
	size_t len = size * n;
	char value[64];

	if (len > 14 && strncasecmp(data, "Content-Type:", 13) == 0)
		header_value(data, len, 13, resp->content_type, sizeof(resp->content_type));
	else if (len > 13 && strncasecmp(data, "X-Ukey-Order:", 13) == 0)
		header_value(data, len, 13, resp->order, sizeof(resp->order));
	else if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char *end;
		long v;

		header_value(data, len, 12, value, sizeof(value));
		errno = 0;
		v = strtol(value, &end, 10);
		/* RFC 9110 also allows an HTTP date; a CA sending one gets our default instead. */
		if (!errno && end != value && *end == '\0' && v >= 0)
			resp->retry_after = v > UKEY_CA_MAX_RETRY_AFTER ? UKEY_CA_MAX_RETRY_AFTER : v;
	}
	return len;
}

/* The token's key and the current certificate go to OpenSSL here: libcurl never sees a key file or a PIN. */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *userdata)
{
	const struct ukey_est *est = userdata;
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (!est->client_cert || !est->client_key)
		return CURLE_OK;
	if (SSL_CTX_use_certificate(ctx, est->client_cert) != 1 || SSL_CTX_use_PrivateKey(ctx, est->client_key) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static int err_from_curl(CURLcode c, const char *url)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return -UKEY_E_CA_UNREACHABLE;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -UKEY_E_CA_UNTRUSTED;
	case CURLE_SSL_CERTPROBLEM:
		return -UKEY_E_TOKEN_FAILED;
	case CURLE_WRITE_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return -UKEY_E_CA_BAD_RESPONSE;
	default:
		log_debug("%s: curl: %s", url, curl_easy_strerror(c));
		return -UKEY_E_CA_UNREACHABLE;
	}
}

/* One request to the CA: GET when body is NULL, else POST of base64(body) as content_type. Takes url. */
static int request_url(const struct ukey_est *est, char *url, const char *content_type, const uint8_t *body,
		       size_t body_len, struct response *resp, long *ret_status)
{
	struct curl_slist *headers = NULL;
	char *b64 = NULL;
	CURL *curl;
	CURLcode c;
	int r;

	/* https only: the CA is reached over TLS, verified, always. */
	if (strncasecmp(url, "https://", 8) != 0) {
		free(url);
		return -UKEY_E_USAGE;
	}
	if (!(curl = curl_easy_init())) {
		free(url);
		return -ENOMEM;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (est->trust_pem)
		curl_easy_setopt(curl, CURLOPT_CAINFO, est->trust_pem);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, est->timeout_s > 0 ? est->timeout_s : (long)UKEY_CA_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)est);
	/* The key is on the token: a session cache would not be shared, and each request re-authenticates anyway. */
	curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (body) {
		char type[160];
		size_t cap = 4 * ((body_len + 2) / 3) + 1;

		r = -ENOMEM;
		if (!(b64 = malloc(cap)))
			goto out;
		EVP_EncodeBlock((unsigned char *)b64, body, (int)body_len);
		snprintf(type, sizeof(type), "Content-Type: %s", content_type);
		if (!(headers = curl_slist_append(headers, type)) ||
		    !(headers = curl_slist_append(headers, "Content-Transfer-Encoding: base64")))
			goto out;
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b64);
	}
	c = curl_easy_perform(curl);
	if (c != CURLE_OK) {
		r = resp->too_big ? -UKEY_E_CA_BAD_RESPONSE : err_from_curl(c, url);
		log_debug("%s: %s", url, curl_easy_strerror(c));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
	r = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(b64);
	free(url);
	return r;
}

/* An EST operation under the configured base URL. */
static int request(const struct ukey_est *est, const char *op, const char *content_type, const uint8_t *body,
		   size_t body_len, struct response *resp, long *ret_status)
{
	char *url = NULL;

	if (!est->base_url)
		return -UKEY_E_USAGE;
	if (asprintf(&url, "%s/%s", est->base_url, op) < 0)
		return -ENOMEM;
	return request_url(est, url, content_type, body, body_len, resp, ret_status);
}

/* A refusal's text, for the user: a short text/plain body, or the "message" of a JSON one, sanitised. */
static void refusal_message(const struct response *resp, char *out, size_t size)
{
	const char *text = NULL;
	cJSON *doc = NULL;
	size_t o = 0, len = 0;

	out[0] = '\0';
	if (!resp->body)
		return;
	if (strncasecmp(resp->content_type, "text/plain", 10) == 0) {
		text = resp->body;
		len = resp->len;
	} else if (strncasecmp(resp->content_type, "application/json", 16) == 0 &&
		   (doc = cJSON_ParseWithLength(resp->body, resp->len))) {
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
	struct response resp = { 0 };
	long status = 0;
	int r;

	if ((r = request(est, "cacerts", NULL, NULL, 0, &resp, &status)) < 0)
		goto out;
	if (status != 200)
		r = status_error(status);
	else if (!is_pkcs7(resp.content_type))
		r = -UKEY_E_CA_BAD_RESPONSE;
	else
		r = ukey_est_parse_certs(resp.body ? resp.body : "", resp.len, ret);
out:
	free(resp.body);
	return r;
}

int ukey_est_simplereenroll(const struct ukey_est *est, const uint8_t *csr, size_t csr_len, struct ukey_est_result *ret)
{
	struct response resp = { .retry_after = -1 };
	STACK_OF(X509) *certs = NULL;
	long status = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = request(est, "simplereenroll", "application/pkcs10", csr, csr_len, &resp, &status)) < 0)
		goto out;
	ret->http_status = (int)status;
	if (status == 202) {
		/* RFC 7030 4.2.3: accepted, not issued yet; come back after Retry-After (default: an hour). */
		ret->pending = true;
		ret->retry_after = resp.retry_after >= 0 ? resp.retry_after : 3600;
		snprintf(ret->order, sizeof(ret->order), "%s", resp.order);
		r = 0;
		goto out;
	}
	if (status != 200) {
		refusal_message(&resp, ret->message, sizeof(ret->message));
		r = status_error(status);
		goto out;
	}
	if (!is_pkcs7(resp.content_type)) {
		r = -UKEY_E_CA_BAD_RESPONSE;
		goto out;
	}
	if ((r = ukey_est_parse_certs(resp.body ? resp.body : "", resp.len, &certs)) < 0)
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
	free(resp.body);
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
	struct response resp = { 0 };
	char serial[80], *origin = NULL, *url = NULL;
	const cJSON *ren, *v;
	cJSON *doc = NULL;
	size_t o = 0;
	long status = 0;
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
	if ((r = request_url(est, url, NULL, NULL, 0, &resp, &status)) < 0)
		goto out;
	if (status == 404) {
		/* A CA without this API (plain EST), or one that never issued the certificate: nothing to confirm. */
		r = 0;
		goto out;
	}
	if (status != 200 || strncasecmp(resp.content_type, "application/json", 16) != 0 ||
	    !(doc = cJSON_ParseWithLength(resp.body ? resp.body : "", resp.len))) {
		r = status == 200 ? -UKEY_E_CA_BAD_RESPONSE : status_error(status);
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
	cJSON_Delete(doc);
	free(resp.body);
	if (r == 0)
		*ret = st;
	return r;
}
