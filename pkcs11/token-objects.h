/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Objects made and removed on the token in a logged-in session: key pairs, CSRs signed there, certificates. */
#ifndef UKEY_P11_TOKEN_OBJECTS_H
#define UKEY_P11_TOKEN_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "cert.h"

struct ukey_session;

/* Object classes for ukey_session_destroy / ukey_session_objects. */
enum ukey_obj {
	UKEY_OBJ_CERT = 1 << 0,
	UKEY_OBJ_PRIVATE_KEY = 1 << 1,
	UKEY_OBJ_PUBLIC_KEY = 1 << 2,
	UKEY_OBJ_ALL = UKEY_OBJ_CERT | UKEY_OBJ_PRIVATE_KEY | UKEY_OBJ_PUBLIC_KEY,
};

/*
 * ukey_session_generate_key: a new key pair ON the token (C_GenerateKeyPair;
 * the private key sensitive and not extractable), both halves with CKA_ID id
 * and CKA_LABEL label. Needs a login. -UKEY_E_UNSUPPORTED when the token
 * cannot make that kind of key.
 */
int ukey_session_generate_key(struct ukey_session *s, enum ukey_key_kind kind, const uint8_t *id, size_t id_len,
			      const char *label);

/* ukey_session_public_key: the public key object with CKA_ID id as an EVP_PKEY (caller frees). */
int ukey_session_public_key(struct ukey_session *s, const uint8_t *id, size_t id_len, EVP_PKEY **ret);

/*
 * ukey_session_write_cert: store a DER certificate as a public token object
 * with CKA_ID id and CKA_LABEL label, and the CKA_SUBJECT, CKA_ISSUER and
 * CKA_SERIAL_NUMBER other programs look it up by. -UKEY_E_CERT_UNREADABLE
 * when der is not one DER certificate.
 */
int ukey_session_write_cert(struct ukey_session *s, const uint8_t *id, size_t id_len, const char *label,
			    const uint8_t *der, size_t der_len);

/*
 * ukey_session_destroy: remove the objects of the given classes (enum
 * ukey_obj bits) with CKA_ID id; finding none is success (a step repeated
 * after a crash). An empty id is refused.
 */
int ukey_session_destroy(struct ukey_session *s, unsigned classes, const uint8_t *id, size_t id_len);

/* ukey_session_objects: which of certificate, private and public key with CKA_ID id exist (enum ukey_obj bits). */
unsigned ukey_session_objects(struct ukey_session *s, const uint8_t *id, size_t id_len);

/*
 * ukey_session_make_csr: a PKCS#10 request for subject (DER X509_NAME) with
 * the public key of CKA_ID id, signed on the token by that key (SHA-256;
 * RSA PKCS#1 v1.5 or ECDSA), checked before it is returned. Needs a login.
 * *ret is malloc'd DER.
 */
int ukey_session_make_csr(struct ukey_session *s, const uint8_t *id, size_t id_len, const uint8_t *subject_der,
			  size_t subject_len, uint8_t **ret, size_t *ret_len);

#endif
