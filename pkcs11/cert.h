/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A certificate object of a token, parsed with OpenSSL: names, dates, key kind, whether it matches its key pair. */
#ifndef UKEY_P11_CERT_H
#define UKEY_P11_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum ukey_key_match {
	UKEY_KEY_MATCH_UNKNOWN, /* no public key object with the certificate's CKA_ID */
	UKEY_KEY_MATCH_YES, /* the public key object with the same CKA_ID holds the certificate's key */
	UKEY_KEY_MATCH_NO, /* it holds a different key: the certificate is not for this key */
};

#define UKEY_P11_ID_MAX 64

/*
 * What a key is, as the code decides on it; the display string ("RSA-3072",
 * "EC-secp384r1") is only for people. Values are stored in the renewal
 * journal: append, never renumber. The SKF backend adds SM2 here.
 */
enum ukey_key_kind {
	UKEY_KEY_RSA_2048,
	UKEY_KEY_EC_P256,
	UKEY_KEY_RSA_OTHER, /* RSA of another size */
	UKEY_KEY_EC_OTHER, /* EC on another curve */
	UKEY_KEY_UNKNOWN,
};

/* ukey_key_kind_is_rsa / _is_ec: the algorithm family, which decides the signing mechanisms. */
static inline bool ukey_key_kind_is_rsa(enum ukey_key_kind k)
{
	return k == UKEY_KEY_RSA_2048 || k == UKEY_KEY_RSA_OTHER;
}

static inline bool ukey_key_kind_is_ec(enum ukey_key_kind k)
{
	return k == UKEY_KEY_EC_P256 || k == UKEY_KEY_EC_OTHER;
}

/* A certificate object. When readable is false only label and id are set. */
struct ukey_cert_info {
	char *label;
	uint8_t id[UKEY_P11_ID_MAX];
	size_t id_len;
	bool readable;
	char *subject; /* RFC 2253 one-line form, UTF-8 */
	char *subject_cn; /* NULL when absent */
	char *subject_o;
	char *issuer;
	char *issuer_cn;
	char *serial_hex;
	time_t not_before;
	time_t not_after;
	char *key_type; /* for people: "RSA-2048", "EC-P-256", … */
	enum ukey_key_kind key_kind; /* for code */
	enum ukey_key_match key_match;
	uint8_t *der;
	size_t der_len;
};

/* ukey_cert_info_free_array: free what ukey_p11_certs() returned. NULL-safe. */
void ukey_cert_info_free_array(struct ukey_cert_info *certs, size_t n);

/*
 * ukey_cert_info_from_der: parse one DER certificate into *ret (exposed for
 * tests and the fuzz target). Returns 0, or -UKEY_E_CERT_UNREADABLE with
 * *ret untouched.
 */
int ukey_cert_info_from_der(const uint8_t *der, size_t len, struct ukey_cert_info *ret);

/* ukey_cert_info_clear: free the members of one entry. */
void ukey_cert_info_clear(struct ukey_cert_info *c);

#endif
