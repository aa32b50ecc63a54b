/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One HTTP request through libcurl with ukey's safety settings: the CA's EST (est.c) and revocation (revocation.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "base/err.h"
#include "base/log.h"
#include "http.h"

void ukey_http_response_clear(struct ukey_http_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

struct sink {
	struct ukey_http_response *resp;
	size_t cap;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct sink *sink = userdata;
	struct ukey_http_response *resp = sink->resp;
	size_t len = size * n;
	uint8_t *grown;

	if (len > sink->cap - resp->len) {
		sink->too_big = true;
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
	struct ukey_http_response *resp = userdata;
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
			resp->retry_after = v > UKEY_HTTP_MAX_RETRY_AFTER ? UKEY_HTTP_MAX_RETRY_AFTER : v;
	}
	return len;
}

/* The token's key and the current certificate go to OpenSSL here: libcurl never sees a key file or a PIN. */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *userdata)
{
	const struct ukey_http_request *req = userdata;
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (!req->client_cert || !req->client_key)
		return CURLE_OK;
	if (SSL_CTX_use_certificate(ctx, req->client_cert) != 1 || SSL_CTX_use_PrivateKey(ctx, req->client_key) != 1)
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
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WEIRD_SERVER_REPLY:
		return -UKEY_E_CA_BAD_RESPONSE;
	default:
		log_debug("%s: curl: %s", url, curl_easy_strerror(c));
		return -UKEY_E_CA_UNREACHABLE;
	}
}

int ukey_http_perform(const struct ukey_http_request *req, struct ukey_http_response *ret)
{
	struct sink sink = { .resp = ret, .cap = req->cap };
	struct curl_slist *headers = NULL;
	bool https = strncasecmp(req->url, "https://", 8) == 0;
	char *b64 = NULL;
	CURL *curl;
	CURLcode c;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->retry_after = -1;
	if (!https && !(req->allow_http && strncasecmp(req->url, "http://", 7) == 0))
		return -UKEY_E_USAGE;
	if (!(curl = curl_easy_init()))
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->trust_pem)
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->trust_pem);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s);
	if (req->connect_timeout_s > 0)
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->cap);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, ret);
	if (req->client_cert && req->client_key) {
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)req);
		/* The key is on the token: a session cache would not be shared, and each request re-authenticates. */
		curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	}
	if (req->post) {
		const void *data = req->post;
		size_t len = req->post_len;
		char type[160];

		r = -ENOMEM;
		if (req->post_base64) {
			if (!(b64 = malloc(4 * ((req->post_len + 2) / 3) + 1)))
				goto out;
			len = (size_t)EVP_EncodeBlock((unsigned char *)b64, req->post, (int)req->post_len);
			data = b64;
		}
		snprintf(type, sizeof(type), "Content-Type: %s", req->post_type);
		if (!(headers = curl_slist_append(headers, type)) ||
		    (req->post_base64 && !(headers = curl_slist_append(headers, "Content-Transfer-Encoding: base64"))))
			goto out;
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	c = curl_easy_perform(curl);
	if (c != CURLE_OK) {
		log_debug("%s: %s", req->url, curl_easy_strerror(c));
		r = sink.too_big ? -UKEY_E_CA_BAD_RESPONSE : err_from_curl(c, req->url);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ret->status);
	r = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(b64);
	return r;
}
