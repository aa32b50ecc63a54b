/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificate parsing for the token layer: DER in, plain C fields out, all through OpenSSL. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "p11.h"

/* A name printed as RFC 2253 with UTF-8 kept as UTF-8 (not escaped to \XX). */
static char *name_oneline(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (!bio)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len >= 0)
			out = strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return out;
}

/* The first entry of nid in name as UTF-8, or NULL (absent or not convertible). */
static char *name_entry(const X509_NAME *name, int nid)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	unsigned char *utf8 = NULL;
	char *out;
	int len;

	if (i < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0)
		return NULL;
	/* An embedded NUL would cut "Real Unit\0Evil" down to "Real Unit" (CVE-2009-2408): not convertible. */
	if (memchr(utf8, '\0', (size_t)len)) {
		OPENSSL_free(utf8);
		return NULL;
	}
	out = strndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return out;
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *ret)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -UKEY_E_CERT_UNREADABLE;
	*ret = timegm(&tm);
	return 0;
}

static char *key_type(const EVP_PKEY *pkey, enum ukey_key_kind *ret_kind)
{
	char buf[64], curve[48];
	size_t curve_len = 0;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		snprintf(buf, sizeof(buf), "RSA-%d", EVP_PKEY_get_bits(pkey));
		*ret_kind = EVP_PKEY_get_bits(pkey) == 2048 ? UKEY_KEY_RSA_2048 : UKEY_KEY_RSA_OTHER;
		break;
	case EVP_PKEY_EC:
		*ret_kind = UKEY_KEY_EC_OTHER;
		if (EVP_PKEY_get_utf8_string_param(pkey, "group", curve, sizeof(curve), &curve_len) == 1) {
			bool p256 = strcmp(curve, "prime256v1") == 0;

			snprintf(buf, sizeof(buf), "EC-%s", p256 ? "P-256" : curve);
			if (p256)
				*ret_kind = UKEY_KEY_EC_P256;
		} else {
			snprintf(buf, sizeof(buf), "EC");
		}
		break;
	default:
		snprintf(buf, sizeof(buf), "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
		*ret_kind = UKEY_KEY_UNKNOWN;
		break;
	}
	return strdup(buf);
}

int ukey_cert_info_from_der(const uint8_t *der, size_t len, struct ukey_cert_info *ret)
{
	struct ukey_cert_info c = { 0 };
	const unsigned char *p = der;
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int r = -UKEY_E_CERT_UNREADABLE;

	if (!der || len == 0 || len > (size_t)LONG_MAX)
		return r;
	x = d2i_X509(NULL, &p, (long)len);
	/* Trailing bytes after the certificate mean the object is not what it claims to be. */
	if (!x || p != der + len)
		goto out;
	if (asn1_time_to_time_t(X509_get0_notBefore(x), &c.not_before) < 0 ||
	    asn1_time_to_time_t(X509_get0_notAfter(x), &c.not_after) < 0)
		goto out;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	c.subject = name_oneline(X509_get_subject_name(x));
	c.issuer = name_oneline(X509_get_issuer_name(x));
	c.subject_cn = name_entry(X509_get_subject_name(x), NID_commonName);
	c.subject_o = name_entry(X509_get_subject_name(x), NID_organizationName);
	c.issuer_cn = name_entry(X509_get_issuer_name(x), NID_commonName);
	c.serial_hex = hex ? strdup(hex) : NULL;
	c.key_kind = UKEY_KEY_UNKNOWN;
	c.key_type = X509_get0_pubkey(x) ? key_type(X509_get0_pubkey(x), &c.key_kind) : strdup("unknown");
	c.der = malloc(len);
	if (!c.subject || !c.issuer || !c.serial_hex || !c.key_type || !c.der) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(c.der, der, len);
	c.der_len = len;
	c.readable = true;
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	ukey_cert_info_clear(&c);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	ERR_clear_error();
	return r;
}

void ukey_cert_info_clear(struct ukey_cert_info *c)
{
	free(c->label);
	free(c->subject);
	free(c->subject_cn);
	free(c->subject_o);
	free(c->issuer);
	free(c->issuer_cn);
	free(c->serial_hex);
	free(c->key_type);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

void ukey_cert_info_free_array(struct ukey_cert_info *certs, size_t n)
{
	if (!certs)
		return;
	for (size_t i = 0; i < n; i++)
		ukey_cert_info_clear(&certs[i]);
	free(certs);
}
