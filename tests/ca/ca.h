/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference CA's X.509 work on OpenSSL: creating the CA, checking CSRs, issuing, PKCS#7, CRL and OCSP. */
#ifndef REFCA_CA_H
#define REFCA_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "state.h"

/* A CSR (DER, or its base64 text) larger than this is refused before parsing. */
#define REFCA_MAX_CSR (16 * 1024)
/* At most this many certificates asked about in one OCSP request. */
#define REFCA_OCSP_MAX_IDS 16

struct refca_ca;

/*
 * refca_ca_init: create a new CA in dir (which must exist and be empty of
 * CA files): ca.key/ca.pem (self-signed "ukey Reference CA", 20 years),
 * server.key/server.pem (TLS for 127.0.0.1, ::1, localhost), with an EC
 * P-256 (ec = true) or RSA key. Keys are written 0600. 0 or negative errno.
 */
int refca_ca_init(const char *dir, bool ec);

/* refca_ca_load: read dir/ca.pem and dir/ca.key (they must match). */
int refca_ca_load(const char *dir, struct refca_ca **ret);
struct refca_ca *refca_ca_free(struct refca_ca *ca);
/* refca_ca_cert: the CA certificate, owned by ca. */
X509 *refca_ca_cert(const struct refca_ca *ca);

/*
 * refca_ca_csr_from_der / _from_base64 / _from_pem_file: parse a CSR with
 * OpenSSL and check it (refca_ca_csr_check). On failure *ret_why (if not
 * NULL) is a static sentence for a 400 answer: -EINVAL (malformed),
 * -EBADMSG (signature does not verify), -EKEYREJECTED (key type or size),
 * -E2BIG (too large).
 */
int refca_ca_csr_from_base64(const char *text, size_t len, X509_REQ **ret, const char **ret_why);
int refca_ca_csr_from_pem_file(const char *path, X509_REQ **ret, const char **ret_why);

/*
 * refca_ca_issue: issue a certificate for the CSR's public key with the
 * given subject (the CSR's if NULL), valid from the first second of
 * not_before to the last second of not_after (dates, date.h), record it in
 * st with first_issued / renewed_from / via, and return it (the caller
 * frees it). base_url (may be NULL: no CDP/AIA) is the CA's https URL.
 */
int refca_ca_issue(struct refca_ca *ca, struct refca_state *st, X509_REQ *req, const X509_NAME *subject,
		   long not_before, long not_after, long first_issued, const char *renewed_from, const char *via,
		   X509 **ret);

/*
 * refca_ca_verify_client: a TLS client certificate is acceptable for
 * simplereenroll: signed by this CA (the validity period is NOT checked
 * here: the renewal rules decide about expired certificates), known to st
 * with the same DER, and not revoked. On success *ret is its record.
 * -EACCES (not ours), -ENOENT (unknown serial), -EKEYREVOKED (revoked).
 */
int refca_ca_verify_client(struct refca_ca *ca, struct refca_state *st, X509 *cert, struct refca_cert **ret);

/* refca_ca_serial_hex: the certificate's serial, as refca_serial_normalize writes it. */
int refca_ca_serial_hex(const X509 *cert, char out[REFCA_SERIAL_HEX_MAX + 1]);
/* refca_ca_subject_text: the subject as RFC 2253 UTF-8 text (malloc'd). */
char *refca_ca_subject_text(const X509_NAME *name);

/* refca_ca_pkcs7_base64: a certs-only PKCS#7 holding cert, DER, base64 in 64-column lines (malloc'd). */
int refca_ca_pkcs7_base64(X509 *cert, char **ret, size_t *ret_len);
/* refca_ca_csrattrs_base64: the DER CsrAttrs (RFC 7030 4.5.2) this CA answers, base64 (malloc'd). */
int refca_ca_csrattrs_base64(char **ret, size_t *ret_len);
/* refca_ca_crl_der: a CRL signed now (the CA's clock), nextUpdate + 7 days, listing every revoked serial. */
int refca_ca_crl_der(struct refca_ca *ca, struct refca_state *st, unsigned char **ret, size_t *ret_len);
/*
 * refca_ca_ocsp_der: answer a DER OCSP request with a DER OCSP response
 * signed by the CA key (good / revoked / unknown per certificate).
 * A malformed request gets a malformedRequest response, not an error.
 */
int refca_ca_ocsp_der(struct refca_ca *ca, struct refca_state *st, const unsigned char *req, size_t req_len,
		      unsigned char **ret, size_t *ret_len);

/* refca_ca_pem: a certificate as PEM text (malloc'd, NUL-terminated). */
int refca_ca_pem(X509 *cert, char **ret, size_t *ret_len);

#endif
