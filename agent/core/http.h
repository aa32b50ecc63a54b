/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One HTTP request through libcurl with ukey's safety settings, for the CA (EST) and revocation (OCSP, CRL). */
#ifndef UKEY_HTTP_H
#define UKEY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

struct ukey_http_request {
	const char *url;
	/*
	 * https only, unless this is set: OCSP responses and CRLs are signed by the CA and verified by their
	 * reader, and CAs publish them over plain http (RFC 5280 4.2.1.13, RFC 6960 A.1). Nothing else may.
	 */
	bool allow_http;
	const char *trust_pem; /* the PEM the server must chain to; NULL: the system's */
	long timeout_s; /* the whole request */
	long connect_timeout_s; /* 0: libcurl's */
	size_t cap; /* the most the body may be; more is a bad response */
	const char *post_type; /* NULL: GET */
	bool post_base64; /* RFC 7030: the body goes base64, with Content-Transfer-Encoding */
	const uint8_t *post;
	size_t post_len;
	X509 *client_cert; /* TLS client authentication (the key may live on a token); NULL: none */
	EVP_PKEY *client_key;
};

struct ukey_http_response {
	long status;
	uint8_t *body; /* malloc'd, NUL-terminated (not counted in len); NULL when empty */
	size_t len;
	char content_type[128]; /* printable ASCII, or empty */
	long retry_after; /* seconds (capped at UKEY_HTTP_MAX_RETRY_AFTER); -1 when not sent */
	char order[64]; /* X-Ukey-Order (the reference CA's order id), or empty */
};

/* A Retry-After beyond a week is a server bug; it is capped. */
#define UKEY_HTTP_MAX_RETRY_AFTER (7 * 86400L)

/*
 * ukey_http_perform: TLS 1.2+, peer and name verified, no redirects, no signals, the body capped. Returns 0
 * for any HTTP answer (the caller judges the status), else -UKEY_E_CA_UNREACHABLE (no connection, timeout),
 * -UKEY_E_CA_UNTRUSTED (TLS verification), -UKEY_E_CA_BAD_RESPONSE (too big, not HTTP),
 * -UKEY_E_TOKEN_FAILED (the client key was refused by OpenSSL), -UKEY_E_USAGE (a scheme not allowed),
 * -ENOMEM. *ret is filled in every case (clear it with ukey_http_response_clear).
 */
int ukey_http_perform(const struct ukey_http_request *req, struct ukey_http_response *ret);

void ukey_http_response_clear(struct ukey_http_response *r);

#endif
