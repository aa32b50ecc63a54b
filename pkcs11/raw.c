/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Raw PKCS#11 object access for what libp11 0.4 does badly: key matching and signing without EVP_PKEY leaks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_P11
#include "base/err.h"
#include "base/log.h"
#include "p11-internal.h"

/*
 * Why not libp11 for objects and sessions (both measured here, see p11.h):
 * an EVP_PKEY from PKCS11_get_public_key()/PKCS11_get_private_key() leaks
 * its key and slot objects, and PKCS11_release_all_slots() calls
 * C_CloseAllSessions on every slot, which logs the whole application out
 * of every token. An agent that lists keys while a user is signing cannot
 * live with either; the raw calls are short.
 */

int ukey_raw_session_open(CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, CK_SESSION_HANDLE *ret)
{
	CK_RV rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, ret);

	return ukey_err_from_ckr(rv);
}

int ukey_raw_find(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
		  CK_OBJECT_HANDLE *ret)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_ULONG found = 0;
	CK_RV rv;

	rv = fl->C_FindObjectsInit(h, tmpl, id_len ? 2 : 1);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	rv = fl->C_FindObjects(h, ret, 1, &found);
	fl->C_FindObjectsFinal(h);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	return found == 1 ? 0 : -ENOENT;
}

/* Read one attribute into a new buffer (freed by the caller). Values over 64 KiB are refused. */
int ukey_raw_attr(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t **ret,
		  size_t *ret_len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	rv = fl->C_GetAttributeValue(h, o, &a, 1);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0 || a.ulValueLen > 65536)
		return -ENOENT;
	a.pValue = malloc(a.ulValueLen);
	if (!a.pValue)
		return -ENOMEM;
	rv = fl->C_GetAttributeValue(h, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return ukey_err_from_ckr(rv);
	}
	*ret = a.pValue;
	*ret_len = a.ulValueLen;
	return 0;
}

static int bn_attr_equals(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
			  const EVP_PKEY *pkey, const char *param)
{
	BIGNUM *mine = NULL, *theirs = NULL;
	uint8_t *v = NULL;
	size_t len = 0;
	int r;

	if ((r = ukey_raw_attr(fl, h, o, type, &v, &len)) < 0)
		return r;
	mine = BN_bin2bn(v, (int)len, NULL);
	r = mine && EVP_PKEY_get_bn_param(pkey, param, &theirs) == 1 && BN_cmp(mine, theirs) == 0;
	BN_free(mine);
	BN_free(theirs);
	free(v);
	return r;
}

/* CKA_EC_POINT is a DER OCTET STRING around the encoded point (some modules omit the wrapper). */
static int ec_point_equals(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, const EVP_PKEY *pkey)
{
	uint8_t *v = NULL, pub[256];
	const unsigned char *p;
	ASN1_OCTET_STRING *os = NULL;
	size_t len = 0, pub_len = 0;
	int r;

	if ((r = ukey_raw_attr(fl, h, o, CKA_EC_POINT, &v, &len)) < 0)
		return r;
	r = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof(pub), &pub_len);
	if (r != 1) {
		free(v);
		return 0;
	}
	p = v;
	os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
	if (os && p == v + len)
		r = (size_t)ASN1_STRING_length(os) == pub_len && memcmp(ASN1_STRING_get0_data(os), pub, pub_len) == 0;
	else
		r = len == pub_len && memcmp(v, pub, pub_len) == 0;
	ASN1_OCTET_STRING_free(os);
	free(v);
	ERR_clear_error();
	return r;
}

enum ukey_key_match ukey_raw_key_match(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, const uint8_t *id, size_t id_len,
				       const uint8_t *cert_der, size_t cert_len)
{
	enum ukey_key_match m = UKEY_KEY_MATCH_UNKNOWN;
	const unsigned char *p = cert_der;
	CK_OBJECT_HANDLE o;
	X509 *x = NULL;
	EVP_PKEY *pkey;
	int r = 0;

	if (id_len == 0)
		return m;
	x = d2i_X509(NULL, &p, (long)cert_len);
	pkey = x ? X509_get0_pubkey(x) : NULL;
	if (pkey && ukey_raw_find(fl, h, CKO_PUBLIC_KEY, id, id_len, &o) == 0) {
		switch (EVP_PKEY_get_base_id(pkey)) {
		case EVP_PKEY_RSA:
			r = bn_attr_equals(fl, h, o, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N);
			if (r > 0)
				r = bn_attr_equals(fl, h, o, CKA_PUBLIC_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_E);
			break;
		case EVP_PKEY_EC:
			r = ec_point_equals(fl, h, o, pkey);
			break;
		default:
			r = -ENOENT;
		}
		if (r >= 0)
			m = r ? UKEY_KEY_MATCH_YES : UKEY_KEY_MATCH_NO;
	}
	X509_free(x);
	ERR_clear_error();
	return m;
}

/* A raw ECDSA r||s (PKCS#11) as the DER ECDSA-Sig-Value everyone else expects. */
static int ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **ret, size_t *ret_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL), *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	unsigned char *der = NULL;
	int n = -1;

	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		n = i2d_ECDSA_SIG(sig, &der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -ENOMEM;
	*ret = malloc((size_t)n);
	if (!*ret) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	memcpy(*ret, der, (size_t)n);
	*ret_len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

/* DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1): CKM_RSA_PKCS signs prefix || digest. */
static const uint8_t sha256_digest_info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					      0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

int ukey_raw_sign(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
		  bool prehashed, const uint8_t *data, size_t data_len, CK_OBJECT_HANDLE *key_cache, uint8_t **ret_sig,
		  size_t *ret_len)
{
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_OBJECT_HANDLE key;
	uint8_t digest[SHA256_DIGEST_LENGTH], info[sizeof(sha256_digest_info) + SHA256_DIGEST_LENGTH], *sig = NULL;
	const uint8_t *in = data;
	CK_ULONG in_len = data_len, sig_len = 0;
	CK_RV rv;
	int r;

	if (prehashed && data_len != SHA256_DIGEST_LENGTH)
		return -UKEY_E_USAGE;
	switch (mech) {
	case UKEY_SIGN_RSA_PKCS1_SHA256:
		m.mechanism = CKM_SHA256_RSA_PKCS;
		if (prehashed) {
			memcpy(info, sha256_digest_info, sizeof(sha256_digest_info));
			memcpy(info + sizeof(sha256_digest_info), data, data_len);
			m.mechanism = CKM_RSA_PKCS;
			in = info;
			in_len = sizeof(info);
		}
		break;
	case UKEY_SIGN_RSA_PSS_SHA256:
		m.mechanism = prehashed ? CKM_RSA_PKCS_PSS : CKM_SHA256_RSA_PKCS_PSS;
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
		break;
	case UKEY_SIGN_ECDSA_SHA256:
		/* SoftHSM2 and many tokens have no CKM_ECDSA_SHA256: hash here, sign the digest. */
		if (!prehashed) {
			SHA256(data, data_len, digest);
			in = digest;
			in_len = sizeof(digest);
		}
		m.mechanism = CKM_ECDSA;
		break;
	default:
		return -UKEY_E_USAGE;
	}
	/* The caller's handle of this key from an earlier sign in the same session, else a search. */
	if (key_cache && *key_cache != CK_INVALID_HANDLE) {
		key = *key_cache;
		rv = fl->C_SignInit(h, &m, key);
		if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID)
			key = *key_cache = CK_INVALID_HANDLE; /* removed meanwhile (a renewal): look again */
		else if (rv != CKR_OK)
			return ukey_err_from_ckr(rv);
	} else {
		key = CK_INVALID_HANDLE;
	}
	if (key == CK_INVALID_HANDLE) {
		r = ukey_raw_find(fl, h, CKO_PRIVATE_KEY, id, id_len, &key);
		if (r == -ENOENT)
			r = -UKEY_E_KEY_NOT_FOUND;
		if (r < 0)
			return r;
		if ((rv = fl->C_SignInit(h, &m, key)) != CKR_OK)
			return ukey_err_from_ckr(rv);
		if (key_cache)
			*key_cache = key;
	}
	/* Two-call form: ask the length, then sign into a buffer of that size. */
	if ((rv = fl->C_Sign(h, (CK_BYTE_PTR)in, in_len, NULL, &sig_len)) != CKR_OK) {
		r = ukey_err_from_ckr(rv);
		goto out;
	}
	sig = malloc(sig_len ? sig_len : 1);
	if (!sig) {
		r = -ENOMEM;
		goto out;
	}
	if ((rv = fl->C_Sign(h, (CK_BYTE_PTR)in, in_len, sig, &sig_len)) != CKR_OK) {
		r = ukey_err_from_ckr(rv);
		goto out;
	}
	if (mech == UKEY_SIGN_ECDSA_SHA256) {
		r = ecdsa_raw_to_der(sig, sig_len, ret_sig, ret_len);
		goto out;
	}
	*ret_sig = sig;
	*ret_len = sig_len;
	sig = NULL;
	r = 0;
out:
	free(sig);
	return r;
}

/* "RSA-2048" from the modulus, "EC-P-256" from CKA_EC_PARAMS (a named curve OID). */
static char *raw_key_type(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, enum ukey_key_kind *ret_kind)
{
	CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	uint8_t *v = NULL;
	size_t len = 0;
	char buf[64];

	*ret_kind = UKEY_KEY_UNKNOWN;
	if (fl->C_GetAttributeValue(h, o, &a, 1) != CKR_OK)
		return strdup("unknown");
	if (kt == CKK_RSA) {
		*ret_kind = UKEY_KEY_RSA_OTHER;
		if (ukey_raw_attr(fl, h, o, CKA_MODULUS, &v, &len) == 0) {
			BIGNUM *n = BN_bin2bn(v, (int)len, NULL);

			snprintf(buf, sizeof(buf), "RSA-%d", n ? BN_num_bits(n) : 0);
			if (n && BN_num_bits(n) == 2048)
				*ret_kind = UKEY_KEY_RSA_2048;
			BN_free(n);
		} else
			snprintf(buf, sizeof(buf), "RSA");
	} else if (kt == CKK_EC) {
		ASN1_OBJECT *oid = NULL;
		const unsigned char *p;
		int nid = NID_undef;

		if (ukey_raw_attr(fl, h, o, CKA_EC_PARAMS, &v, &len) == 0) {
			p = v;
			oid = d2i_ASN1_OBJECT(NULL, &p, (long)len);
			nid = oid ? OBJ_obj2nid(oid) : NID_undef;
			ASN1_OBJECT_free(oid);
		}
		*ret_kind = nid == NID_X9_62_prime256v1 ? UKEY_KEY_EC_P256 : UKEY_KEY_EC_OTHER;
		if (nid == NID_X9_62_prime256v1)
			snprintf(buf, sizeof(buf), "EC-P-256");
		else if (nid != NID_undef)
			snprintf(buf, sizeof(buf), "EC-%s", OBJ_nid2sn(nid));
		else
			snprintf(buf, sizeof(buf), "EC");
	} else
		snprintf(buf, sizeof(buf), "unknown");
	free(v);
	ERR_clear_error();
	return strdup(buf);
}

static int raw_collect_keys(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, struct ukey_key_info *out,
			    size_t max, size_t *n)
{
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE objs[UKEY_P11_MAX_OBJECTS];
	CK_ULONG found = 0;
	CK_RV rv;

	rv = fl->C_FindObjectsInit(h, &tmpl, 1);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	rv = fl->C_FindObjects(h, objs, UKEY_P11_MAX_OBJECTS, &found);
	fl->C_FindObjectsFinal(h);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	for (CK_ULONG i = 0; i < found && *n < max; i++) {
		struct ukey_key_info *k = &out[*n];
		uint8_t *v = NULL;
		size_t len = 0;

		k->is_private = cls == CKO_PRIVATE_KEY;
		if (ukey_raw_attr(fl, h, objs[i], CKA_LABEL, &v, &len) == 0) {
			k->label = strndup((const char *)v, len);
			free(v);
		} else
			k->label = strdup("");
		if (ukey_raw_attr(fl, h, objs[i], CKA_ID, &v, &len) == 0) {
			k->id_len = len < sizeof(k->id) ? len : sizeof(k->id);
			memcpy(k->id, v, k->id_len);
			free(v);
		}
		k->key_type = raw_key_type(fl, h, objs[i], &k->key_kind);
		(*n)++;
		if (!k->label || !k->key_type)
			return -ENOMEM;
	}
	return 0;
}

int ukey_p11_keys(struct ukey_p11 *p11, const char *serial, struct ukey_key_info **ret_keys)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(p11);
	struct ukey_token_info t;
	struct ukey_key_info *out;
	CK_SESSION_HANDLE h;
	size_t n = 0;
	int r;

	if ((r = ukey_p11_token_info(p11, serial, &t)) < 0)
		return r;
	out = calloc(2 * UKEY_P11_MAX_OBJECTS, sizeof(*out));
	if (!out)
		return -ENOMEM;
	if ((r = ukey_raw_session_open(fl, t.slot_id, &h)) < 0) {
		free(out);
		return r;
	}
	r = raw_collect_keys(fl, h, CKO_PRIVATE_KEY, out, 2 * UKEY_P11_MAX_OBJECTS, &n);
	if (r == 0)
		r = raw_collect_keys(fl, h, CKO_PUBLIC_KEY, out, 2 * UKEY_P11_MAX_OBJECTS, &n);
	fl->C_CloseSession(h);
	if (r < 0) {
		ukey_key_info_free_array(out, n);
		return r;
	}
	*ret_keys = out;
	return (int)n;
}

void ukey_key_info_free_array(struct ukey_key_info *keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++) {
		free(keys[i].label);
		free(keys[i].key_type);
	}
	free(keys);
}

int ukey_p11_data_object(struct ukey_p11 *p11, const char *serial, const char *label, uint8_t **ret, size_t *ret_len)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(p11);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o;
	CK_ULONG found = 0;
	struct ukey_token_info t;
	CK_SESSION_HANDLE h;
	CK_RV rv;
	int r;

	if ((r = ukey_p11_token_info(p11, serial, &t)) < 0)
		return r;
	if ((r = ukey_raw_session_open(fl, t.slot_id, &h)) < 0)
		return r;
	rv = fl->C_FindObjectsInit(h, tmpl, 2);
	if (rv == CKR_OK) {
		rv = fl->C_FindObjects(h, &o, 1, &found);
		fl->C_FindObjectsFinal(h);
	}
	if (rv != CKR_OK)
		r = ukey_err_from_ckr(rv);
	else if (found != 1)
		r = -ENOENT;
	else
		r = ukey_raw_attr(fl, h, o, CKA_VALUE, ret, ret_len);
	fl->C_CloseSession(h);
	return r;
}
