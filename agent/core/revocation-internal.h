/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The revocation module's verification steps, for its unit tests and fuzz target: hostile bytes in, a finding out. */
#ifndef UKEY_REVOCATION_INTERNAL_H
#define UKEY_REVOCATION_INTERNAL_H

#include <openssl/ocsp.h>
#include <openssl/types.h>

#include "revocation.h"

/*
 * ukey_revocation_ocsp_verify: an OCSP response (DER, as a responder sent
 * it) about cert from issuer, judged at now. The response must be
 * successful, signed by the issuer or a responder it delegated to (OCSP
 * signing EKU) chaining to store, about cert's ID; req (may be NULL) is the
 * request sent: a nonce echoed must equal ours; thisUpdate/nextUpdate must
 * be fresh (ukey_revocation_freshness). Returns UKEY_REVOCATION_WHY_NONE with
 * *ret's status GOOD or REVOKED (source OCSP, times, reason) filled, or why
 * it cannot say: RESPONDER_UNKNOWN ("unknown", "unauthorized"), UNREACHABLE
 * (tryLater, internalError…), STALE, NOT_VERIFIABLE (anything else, out of
 * memory included: never good). *ret is written only on NONE.
 */
enum ukey_revocation_why ukey_revocation_ocsp_verify(const uint8_t *der, size_t len, X509 *cert, X509 *issuer,
						     X509_STORE *store, OCSP_REQUEST *req, time_t now,
						     struct ukey_revocation_result *ret);

/*
 * ukey_revocation_crl_verify: a CRL (DER) about cert from issuer at now:
 * issued by issuer (name, keyUsage cRLSign when stated, signature), a
 * complete CRL (no delta, no partition by reason or certificate kind, no
 * indirect entries, no unknown critical extension), fresh. Returns
 * UKEY_REVOCATION_WHY_NONE with *ret filled (GOOD, or REVOKED with the
 * entry's time and reason; source CRL), or STALE / NOT_VERIFIABLE. *ret is
 * written only on NONE.
 */
enum ukey_revocation_why ukey_revocation_crl_verify(const uint8_t *der, size_t len, X509 *cert, X509 *issuer,
						    time_t now, struct ukey_revocation_result *ret);

/*
 * ukey_revocation_store_new: the trust store of trust_pem (NULL: the
 * system's default locations), partial chains allowed (an intermediate in
 * the trust file is an anchor). -UKEY_E_USAGE when the file holds no
 * certificate, -ENOMEM.
 */
int ukey_revocation_store_new(const char *trust_pem, X509_STORE **ret);

/* ukey_revocation_find_issuer: the certificate in store that issued cert (name, AKID, signature). NULL: none. */
X509 *ukey_revocation_find_issuer(X509_STORE *store, X509 *cert);

#endif
