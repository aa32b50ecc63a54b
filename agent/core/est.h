/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An EST client (RFC 7030) over libcurl + OpenSSL: CA certificates, re-enrolment with TLS client authentication. */
#ifndef UKEY_EST_H
#define UKEY_EST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <openssl/x509.h> /* STACK_OF(X509): with only types.h clang sees a struct declared in a prototype */

/* Caps on what a CA may send: a certs-only PKCS#7 with a few certificates is a few KiB. */
#define UKEY_CA_MAX_RESPONSE (256 * 1024)
#define UKEY_CA_MAX_CERTS 16
/* How long one request may take, connect included (a CA that is slow is reported as such, not waited on). */
#define UKEY_CA_TIMEOUT_S 30

struct ukey_est {
	const char *base_url; /* the EST base, e.g. https://ca.example:8443/.well-known/est (no trailing slash) */
	const char *trust_pem; /* PEM file with the CA trust anchors the server must chain to; NULL: the system's */
	long timeout_s; /* 0: UKEY_CA_TIMEOUT_S */
	/* TLS client authentication (simplereenroll): the current certificate and its key (may live on a token). */
	X509 *client_cert;
	EVP_PKEY *client_key;
};

/* What a re-enrolment came back with. */
struct ukey_est_result {
	int http_status;
	bool pending; /* 202: the CA holds the order (not yet paid or approved) */
	long retry_after; /* seconds, when pending */
	char order[64]; /* the CA's order id (X-Ukey-Order), when it sends one; printable ASCII only */
	uint8_t *cert_der; /* 200: the issued certificate (the first in the PKCS#7); malloc'd */
	size_t cert_len;
	char message[256]; /* a refusal's reason from the body (text, sanitised), for the user */
};

void ukey_est_result_clear(struct ukey_est_result *r);

/*
 * ukey_est_parse_certs: an EST certs-only response body (base64 of a DER
 * PKCS#7 SignedData, line breaks allowed) → its certificates in order.
 * -UKEY_E_CA_BAD_RESPONSE for anything else. *ret is a new stack (free with
 * OSSL_STACK_OF_X509_free / sk_X509_pop_free).
 */
int ukey_est_parse_certs(const char *body, size_t len, STACK_OF(X509) * *ret);

/* ukey_est_cacerts: GET /cacerts; the certificates the CA publishes. */
int ukey_est_cacerts(const struct ukey_est *est, STACK_OF(X509) * *ret);

/*
 * ukey_est_simplereenroll: POST the DER CSR to /simplereenroll with TLS
 * client authentication. 200 → cert_der; 202 → pending with retry_after
 * and order. Errors: -UKEY_E_CA_UNREACHABLE (cannot connect, timeout),
 * -UKEY_E_CA_UNTRUSTED (the server certificate does not verify against the
 * trust, or has the wrong name or dates), -UKEY_E_CA_REFUSED (4xx: the
 * message says why), -UKEY_E_CA_FAILED (5xx), -UKEY_E_CA_BAD_RESPONSE
 * (wrong content type, garbage body). *ret is filled on every return.
 */
int ukey_est_simplereenroll(const struct ukey_est *est, const uint8_t *csr, size_t csr_len,
			    struct ukey_est_result *ret);

/* What the CA says of a certificate, where it says anything beyond EST (the reference CA's /api/v1/certs). */
struct ukey_ca_status {
	bool known; /* false: the CA has no such API, or does not know the certificate (404) */
	bool open; /* R-R2 by the CA's clock */
	bool revoked;
	char rule[16]; /* "R-R2", "R-R3", "R-R4", "R-R5", "revoked" */
	char opens_on[11], closes_on[11], new_not_after[11], first_issued[11]; /* YYYY-MM-DD or empty */
};

/*
 * ukey_ca_cert_status: ask the CA about the certificate with this serial
 * (hex) for `ukey renew --check`'s confirmation. 0 with known false when
 * the CA has nothing to say; the EST request errors otherwise.
 */
int ukey_ca_cert_status(const struct ukey_est *est, const char *serial_hex, struct ukey_ca_status *ret);

#endif
