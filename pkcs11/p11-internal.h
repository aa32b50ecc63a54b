/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the token layer shared by its own files and its tests; PKCS#11 types stay here. */
#ifndef UKEY_P11_INTERNAL_H
#define UKEY_P11_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "p11.h"

/*
 * ukey_err_from_ckr: the one converter from a module's CK_RV to ukey's
 * codes. Expected codes become ours; an unexpected one is logged at debug
 * level and becomes -UKEY_E_INTERNAL.
 */
int ukey_err_from_ckr(unsigned long rv);

/* ukey_p11_is_softhsm: the module is SoftHSM2 (watch.c knows where it keeps its tokens). */
bool ukey_p11_is_softhsm(const struct ukey_p11 *p11);

/* ukey_p11_function_list: the module's raw function list (same instance libp11 uses). Owned by p11. */
CK_FUNCTION_LIST *ukey_p11_function_list(struct ukey_p11 *p11);

/* The parts of a session the layer's other files use (p11.c owns the struct). */
struct ukey_p11 *ukey_session_p11(struct ukey_session *s);
CK_SESSION_HANDLE ukey_session_handle(struct ukey_session *s);
bool ukey_session_logged_in(const struct ukey_session *s);

/* Raw object helpers (raw.c). Sessions are plain serial sessions; the login state is the application's. */
int ukey_raw_session_open(CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, CK_SESSION_HANDLE *ret);
/* ukey_raw_find: the first object of class cls (and CKA_ID id when id_len > 0); -ENOENT when none. */
int ukey_raw_find(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
		  CK_OBJECT_HANDLE *ret);
int ukey_raw_attr(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t **ret,
		  size_t *ret_len);
/* ukey_raw_key_match: compare the public key object with CKA_ID id against the certificate's key. */
enum ukey_key_match ukey_raw_key_match(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, const uint8_t *id, size_t id_len,
				       const uint8_t *cert_der, size_t cert_len);
/*
 * ukey_raw_sign: sign with the private key of CKA_ID id (any, when id_len
 * is 0); needs the user logged in. prehashed: data is a SHA-256 digest.
 * key_cache (may be NULL): the key's handle in this session from an earlier
 * call, CK_INVALID_HANDLE at first; filled by the search, and searched again
 * when the handle went stale (the key removed and made anew).
 */
int ukey_raw_sign(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
		  bool prehashed, const uint8_t *data, size_t data_len, CK_OBJECT_HANDLE *key_cache, uint8_t **ret_sig,
		  size_t *ret_len);

#endif
