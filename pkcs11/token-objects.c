/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Objects a renewal makes and removes: a key pair generated on the token, a certificate written, a CSR signed there. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "base/err.h"
#define UKEY_LOG_MODULE UKEY_LOG_MOD_P11
#include "base/log.h"
#include "p11-internal.h"

/* DER of the named curve P-256 (OID 1.2.840.10045.3.1.7), CKA_EC_PARAMS of the key pair. */
static const uint8_t p256_params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

int ukey_session_generate_key(struct ukey_session *s, enum ukey_key_kind kind, const uint8_t *id, size_t id_len,
			      const char *label)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(ukey_session_p11(s));
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 2048;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { kind == UKEY_KEY_EC_P256 ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub_rsa[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) },
	};
	CK_ATTRIBUTE pub_ec[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_EC_PARAMS, (void *)p256_params, sizeof(p256_params) },
	};
	/* The private key never leaves the token: sensitive, not extractable. */
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE pub_h, priv_h;
	CK_RV rv;

	if (!ukey_session_logged_in(s))
		return -UKEY_E_NOT_LOGGED_IN;
	if (kind == UKEY_KEY_EC_P256)
		rv = fl->C_GenerateKeyPair(ukey_session_handle(s), &mech, pub_ec, sizeof(pub_ec) / sizeof(pub_ec[0]),
					   priv, sizeof(priv) / sizeof(priv[0]), &pub_h, &priv_h);
	else
		rv = fl->C_GenerateKeyPair(ukey_session_handle(s), &mech, pub_rsa, sizeof(pub_rsa) / sizeof(pub_rsa[0]),
					   priv, sizeof(priv) / sizeof(priv[0]), &pub_h, &priv_h);
	if (rv == CKR_MECHANISM_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID)
		return -UKEY_E_UNSUPPORTED;
	return ukey_err_from_ckr(rv);
}

/* The public key object with CKA_ID id as an OpenSSL key (RSA modulus/exponent, or the EC point on P-256). */
int ukey_session_public_key(struct ukey_session *s, const uint8_t *id, size_t id_len, EVP_PKEY **ret)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(ukey_session_p11(s));
	CK_SESSION_HANDLE h = ukey_session_handle(s);
	uint8_t *a = NULL, *b = NULL;
	size_t a_len = 0, b_len = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	ASN1_OCTET_STRING *os = NULL;
	CK_OBJECT_HANDLE o;
	int r;

	if ((r = ukey_raw_find(fl, h, CKO_PUBLIC_KEY, id, id_len, &o)) < 0)
		return r == -ENOENT ? -UKEY_E_KEY_NOT_FOUND : r;
	if (!(bld = OSSL_PARAM_BLD_new()))
		return -ENOMEM;
	if (ukey_raw_attr(fl, h, o, CKA_MODULUS, &a, &a_len) == 0 &&
	    ukey_raw_attr(fl, h, o, CKA_PUBLIC_EXPONENT, &b, &b_len) == 0) {
		n = BN_bin2bn(a, (int)a_len, NULL);
		e = BN_bin2bn(b, (int)b_len, NULL);
		if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto fail;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (ukey_raw_attr(fl, h, o, CKA_EC_POINT, &a, &a_len) == 0) {
		/* CKA_EC_POINT is the point wrapped in a DER OCTET STRING (PKCS#11 2.40). */
		const uint8_t *p = a;

		/* The builder keeps a pointer until OSSL_PARAM_BLD_to_param: os lives until out. */
		if (!(os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)a_len)) ||
		    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, os->data, (size_t)os->length))
			goto fail;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		r = -UKEY_E_UNSUPPORTED;
		goto out;
	}
	if (!ctx || !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto fail;
	*ret = pkey;
	pkey = NULL;
	r = 0;
	goto out;
fail:
	log_debug("the public key object cannot be read into OpenSSL");
	r = -UKEY_E_TOKEN_FAILED;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	ASN1_OCTET_STRING_free(os);
	free(a);
	free(b);
	return r;
}

int ukey_session_write_cert(struct ukey_session *s, const uint8_t *id, size_t id_len, const char *label,
			    const uint8_t *der, size_t der_len)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(ukey_session_p11(s));
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	uint8_t *subject = NULL, *issuer = NULL, *serial = NULL;
	int subject_len, issuer_len, serial_len, r;
	CK_OBJECT_HANDLE o;
	CK_RV rv;

	if (!x || p != der + der_len) {
		X509_free(x);
		return -UKEY_E_CERT_UNREADABLE;
	}
	/* CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER as OpenSC, Firefox and p11-kit look for them. */
	subject_len = i2d_X509_NAME(X509_get_subject_name(x), &subject);
	issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &issuer);
	serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &serial);
	X509_free(x);
	if (subject_len <= 0 || issuer_len <= 0 || serial_len <= 0) {
		r = -ENOMEM;
		goto out;
	}
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &type, sizeof(type) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_ID, (void *)id, id_len },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_SUBJECT, subject, (CK_ULONG)subject_len },
			{ CKA_ISSUER, issuer, (CK_ULONG)issuer_len },
			{ CKA_SERIAL_NUMBER, serial, (CK_ULONG)serial_len },
			{ CKA_VALUE, (void *)der, der_len },
		};

		rv = fl->C_CreateObject(ukey_session_handle(s), tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &o);
		r = ukey_err_from_ckr(rv);
	}
out:
	OPENSSL_free(subject);
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	return r;
}

int ukey_session_destroy(struct ukey_session *s, unsigned classes, const uint8_t *id, size_t id_len)
{
	static const struct {
		unsigned bit;
		CK_OBJECT_CLASS cls;
	} kinds[] = {
		{ UKEY_OBJ_CERT, CKO_CERTIFICATE },
		{ UKEY_OBJ_PRIVATE_KEY, CKO_PRIVATE_KEY },
		{ UKEY_OBJ_PUBLIC_KEY, CKO_PUBLIC_KEY },
	};
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(ukey_session_p11(s));
	CK_SESSION_HANDLE h = ukey_session_handle(s);
	int r;

	if (id_len == 0)
		return -UKEY_E_USAGE; /* never "every object" */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		CK_OBJECT_HANDLE o;

		if (!(classes & kinds[i].bit))
			continue;
		/* Idempotent: a step repeated after a crash finds nothing left and goes on. */
		while ((r = ukey_raw_find(fl, h, kinds[i].cls, id, id_len, &o)) == 0) {
			CK_RV rv = fl->C_DestroyObject(h, o);

			if (rv != CKR_OK)
				return ukey_err_from_ckr(rv);
		}
		if (r != -ENOENT)
			return r;
	}
	return 0;
}

unsigned ukey_session_objects(struct ukey_session *s, const uint8_t *id, size_t id_len)
{
	CK_FUNCTION_LIST *fl = ukey_p11_function_list(ukey_session_p11(s));
	CK_SESSION_HANDLE h = ukey_session_handle(s);
	CK_OBJECT_HANDLE o;
	unsigned found = 0;

	if (ukey_raw_find(fl, h, CKO_CERTIFICATE, id, id_len, &o) == 0)
		found |= UKEY_OBJ_CERT;
	if (ukey_raw_find(fl, h, CKO_PRIVATE_KEY, id, id_len, &o) == 0)
		found |= UKEY_OBJ_PRIVATE_KEY;
	if (ukey_raw_find(fl, h, CKO_PUBLIC_KEY, id, id_len, &o) == 0)
		found |= UKEY_OBJ_PUBLIC_KEY;
	return found;
}

int ukey_session_make_csr(struct ukey_session *s, const uint8_t *id, size_t id_len, const uint8_t *subject_der,
			  size_t subject_len, uint8_t **ret, size_t *ret_len)
{
	const uint8_t *p = subject_der;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)subject_len);
	X509_REQ *req = X509_REQ_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_BIT_STRING *sig = ASN1_BIT_STRING_new();
	EVP_PKEY *pub = NULL;
	uint8_t *tbs = NULL, *sigbuf = NULL, *der = NULL;
	size_t sig_len = 0;
	int tbs_len, der_len, r;
	bool ec;

	if (!name || !req || !alg || !sig) {
		r = name ? -ENOMEM : -UKEY_E_USAGE;
		goto out;
	}
	if ((r = ukey_session_public_key(s, id, id_len, &pub)) < 0)
		goto out;
	ec = EVP_PKEY_is_a(pub, "EC");
	r = -ENOMEM;
	if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, pub))
		goto out;
	/* The request is signed by the new key on the token (proof of possession), so build the signature by hand:
	 * the algorithm, then the DER of the request info signed with SHA-256. */
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(ec ? NID_ecdsa_with_SHA256 : NID_sha256WithRSAEncryption),
			     ec ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) ||
	    !X509_REQ_set1_signature_algo(req, alg))
		goto out;
	if ((tbs_len = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		goto out;
	if ((r = ukey_session_sign(s, id, id_len, ec ? UKEY_SIGN_ECDSA_SHA256 : UKEY_SIGN_RSA_PKCS1_SHA256, tbs,
				   (size_t)tbs_len, &sigbuf, &sig_len)) < 0)
		goto out;
	r = -ENOMEM;
	if (!ASN1_BIT_STRING_set(sig, sigbuf, (int)sig_len))
		goto out;
	sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, sig);
	sig = NULL;
	/* What the CA will check first: the signature verifies with the key the request carries. */
	if (X509_REQ_verify(req, pub) != 1) {
		log_debug("the CSR signed on the token does not verify (%s)",
			  ERR_reason_error_string(ERR_peek_last_error()));
		r = -UKEY_E_TOKEN_FAILED;
		goto out;
	}
	if ((der_len = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	{
		uint8_t *copy = malloc((size_t)der_len);

		if (!copy)
			goto out;
		memcpy(copy, der, (size_t)der_len);
		*ret = copy;
		*ret_len = (size_t)der_len;
	}
	r = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(tbs);
	free(sigbuf);
	ASN1_BIT_STRING_free(sig);
	X509_ALGOR_free(alg);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	X509_NAME_free(name);
	return r;
}
