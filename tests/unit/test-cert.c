/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the token layer's pure parts: DER certificates to fields, and choosing one token from a list. */
#define _GNU_SOURCE
#include "unit-test.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "p11.h"

/* 2024-03-01T08:00:00Z and one year later (R-R1); the second one past 2050 exercises GeneralizedTime. */
static const time_t NOT_BEFORE = 1709280000;
static const time_t NOT_AFTER = 1709280000 + 365 * 86400;
static const time_t NOT_AFTER_2051 = 2556144000; /* 2051-01-01T00:00:00Z */

struct der {
	uint8_t *data;
	size_t len;
};

static const char UNIT_CN[] = "北京测试单位";

/*
 * A self-signed certificate, made in-process, whose subject CN is the
 * UTF8String cn (cn_len raw bytes, not checked, so hostile values can be
 * built). Free der.data with OPENSSL_free().
 */
static struct der make_cert_cn(EVP_PKEY *key, uint64_t serial, time_t not_before, time_t not_after, const char *cn,
			       int cn_len)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	unsigned char *out = NULL;
	struct der d = { 0 };
	int len;

	assert_non_null(x);
	assert_non_null(subject);
	assert_non_null(issuer);
	assert_non_null(sn);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set_uint64(sn, serial), 1);
	assert_int_equal(X509_set_serialNumber(x, sn), 1);
	assert_int_equal(
		X509_NAME_add_entry_by_txt(subject, "C", MBSTRING_UTF8, (const unsigned char *)"CN", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
						    (const unsigned char *)"中直机关采购管理系统测试单位", -1, -1, 0),
			 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(subject, NID_commonName, V_ASN1_UTF8STRING,
						    (const unsigned char *)cn, cn_len, -1, 0),
			 1);
	assert_int_equal(
		X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_UTF8, (const unsigned char *)"BJCA", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_UTF8, (const unsigned char *)"ukey Test CA",
						    -1, -1, 0),
			 1);
	assert_int_equal(X509_set_subject_name(x, subject), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), not_before));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	len = i2d_X509(x, &out);
	assert_true(len > 0);
	d.data = out;
	d.len = (size_t)len;
	ASN1_INTEGER_free(sn);
	X509_NAME_free(subject);
	X509_NAME_free(issuer);
	X509_free(x);
	return d;
}

/* The same with the Chinese unit name as CN. */
static struct der make_cert(EVP_PKEY *key, uint64_t serial, time_t not_before, time_t not_after)
{
	return make_cert_cn(key, serial, not_before, not_after, UNIT_CN, (int)strlen(UNIT_CN));
}

/* The key a case signs with, as its state: RSA-2048 only where needed, since generating it is the slow part. */
static int rsa_setup(void **state)
{
	*state = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return *state ? 0 : -1;
}

static int ec_setup(void **state)
{
	*state = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return *state ? 0 : -1;
}

static int key_teardown(void **state)
{
	EVP_PKEY_free(*state);
	return 0;
}

static void assert_fields(const struct ukey_cert_info *c, const struct der *d, const char *serial_hex, time_t not_after,
			  const char *key_type)
{
	assert_true(c->readable);
	assert_non_null(c->subject_cn);
	/* UTF-8 intact, not escaped to \XX or converted to another encoding. */
	assert_string_equal(c->subject_cn, UNIT_CN);
	assert_non_null(c->subject_o);
	assert_string_equal(c->subject_o, "中直机关采购管理系统测试单位");
	assert_non_null(c->subject);
	assert_non_null(strstr(c->subject, "CN=北京测试单位"));
	assert_non_null(strstr(c->subject, "O=中直机关采购管理系统测试单位"));
	assert_non_null(c->issuer);
	assert_string_equal(c->issuer, "CN=ukey Test CA,O=BJCA");
	assert_non_null(c->issuer_cn);
	assert_string_equal(c->issuer_cn, "ukey Test CA");
	assert_non_null(c->serial_hex);
	assert_string_equal(c->serial_hex, serial_hex);
	assert_int_equal(c->not_before, NOT_BEFORE);
	assert_int_equal(c->not_after, not_after);
	assert_non_null(c->key_type);
	assert_string_equal(c->key_type, key_type);
	assert_int_equal(c->der_len, d->len);
	assert_non_null(c->der);
	assert_memory_equal(c->der, d->data, d->len);
	/* Only ukey_p11_certs() knows the object's label and id. */
	assert_null(c->label);
	assert_int_equal(c->id_len, 0);
}

static void rsa_cert_fields(void **state)
{
	struct der d = make_cert(*state, 0x1A2B3C4D5E6FULL, NOT_BEFORE, NOT_AFTER);
	struct ukey_cert_info c = { 0 };

	assert_int_equal(ukey_cert_info_from_der(d.data, d.len, &c), 0);
	assert_fields(&c, &d, "1A2B3C4D5E6F", NOT_AFTER, "RSA-2048");
	ukey_cert_info_clear(&c);
	OPENSSL_free(d.data);
}

static void ec_cert_fields(void **state)
{
	struct der d = make_cert(*state, 0x0102030405060708ULL, NOT_BEFORE, NOT_AFTER);
	struct ukey_cert_info c = { 0 };

	assert_int_equal(ukey_cert_info_from_der(d.data, d.len, &c), 0);
	assert_fields(&c, &d, "0102030405060708", NOT_AFTER, "EC-P-256");
	ukey_cert_info_clear(&c);
	OPENSSL_free(d.data);
}

/* Dates from 2050 on are GeneralizedTime in X.509: they must come out exact as well. */
static void generalized_time_not_after(void **state)
{
	struct der d = make_cert(*state, 7, NOT_BEFORE, NOT_AFTER_2051);
	struct ukey_cert_info c = { 0 };

	assert_int_equal(ukey_cert_info_from_der(d.data, d.len, &c), 0);
	assert_int_equal(c.not_after, NOT_AFTER_2051);
	assert_string_equal(c.serial_hex, "07");
	ukey_cert_info_clear(&c);
	OPENSSL_free(d.data);
}

/* A failed parse leaves the caller's struct exactly as it was (the header's promise). */
static void assert_unreadable_untouched(const uint8_t *der, size_t len)
{
	struct ukey_cert_info c, before;

	memset(&c, 0x5a, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(ukey_cert_info_from_der(der, len, &c), -UKEY_E_CERT_UNREADABLE);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void garbage_unreadable(void **state)
{
	static const uint8_t text[] = "-----BEGIN CERTIFICATE-----\nnot DER at all\n";
	static const uint8_t seq[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

	(void)state;
	assert_unreadable_untouched(text, sizeof(text) - 1);
	assert_unreadable_untouched(seq, sizeof(seq));
	assert_unreadable_untouched(seq, 0);
	assert_unreadable_untouched(NULL, 10);
}

static void truncated_der_unreadable(void **state)
{
	struct der d = make_cert(*state, 8, NOT_BEFORE, NOT_AFTER);

	assert_unreadable_untouched(d.data, d.len - 1);
	assert_unreadable_untouched(d.data, d.len / 2);
	assert_unreadable_untouched(d.data, 1);
	OPENSSL_free(d.data);
}

/* A certificate followed by anything is not the object it claims to be. */
static void trailing_byte_unreadable(void **state)
{
	struct der d = make_cert(*state, 9, NOT_BEFORE, NOT_AFTER);
	uint8_t *longer = malloc(d.len + 1);

	assert_non_null(longer);
	memcpy(longer, d.data, d.len);
	longer[d.len] = 0x00;
	assert_unreadable_untouched(longer, d.len + 1);
	free(longer);
	OPENSSL_free(d.data);
}

/*
 * A CN with a NUL inside ("北京测试单位\0Evil") is a different name from
 * "北京测试单位": it must not come out cut at the NUL, where it would pass
 * for the real unit (the NUL-prefix trick, CVE-2009-2408). Not convertible
 * to a C string, so absent (NULL), as for any name that cannot be shown.
 */
static void embedded_nul_cn_not_truncated(void **state)
{
	static const char cn[] = "北京测试单位\0Evil";
	struct der d = make_cert_cn(*state, 10, NOT_BEFORE, NOT_AFTER, cn, (int)sizeof(cn) - 1);
	struct ukey_cert_info c = { 0 };
	bool truncated, escaped;
	int r;

	r = ukey_cert_info_from_der(d.data, d.len, &c);
	truncated = c.subject_cn && strcmp(c.subject_cn, UNIT_CN) == 0;
	/* The one-line form escapes it (RFC 2253 \00), so it is not mistaken there. */
	escaped = c.subject && !strstr(c.subject, "CN=北京测试单位,");
	/* Free before asserting, so that this known failure does not also report leaks. */
	ukey_cert_info_clear(&c);
	OPENSSL_free(d.data);
	assert_int_equal(r, 0);
	if (truncated)
		fail_msg("subject_cn is the name cut at its NUL byte: \"%s\"", UNIT_CN);
	assert_true(escaped);
}

/*
 * A UTF8String CN that is not UTF-8 (patched into the DER after signing;
 * OpenSSL will not build one): no invalid text may come out. Either the
 * whole certificate is unreadable (OpenSSL 3 refuses such a name when
 * decoding) or the CN is absent.
 */
static void invalid_utf8_cn_never_returned(void **state)
{
	static const char cn[] = "北京XY";
	struct der d = make_cert_cn(*state, 11, NOT_BEFORE, NOT_AFTER, cn, (int)sizeof(cn) - 1);
	struct ukey_cert_info c, before;
	uint8_t *at = memmem(d.data, d.len, cn, sizeof(cn) - 1);
	int r;

	assert_non_null(at);
	at[6] = 0xff;
	at[7] = 0xfe;
	memset(&c, 0x5a, sizeof(c));
	before = c;
	r = ukey_cert_info_from_der(d.data, d.len, &c);
	if (r == 0) {
		assert_null(c.subject_cn);
		ukey_cert_info_clear(&c);
	} else {
		assert_int_equal(r, -UKEY_E_CERT_UNREADABLE);
		assert_memory_equal(&c, &before, sizeof(c));
	}
	OPENSSL_free(d.data);
}

static struct ukey_token_info tok(const char *label, const char *serial)
{
	struct ukey_token_info t = { 0 };

	snprintf(t.label, sizeof(t.label), "%s", label);
	snprintf(t.serial, sizeof(t.serial), "%s", serial);
	snprintf(t.manufacturer, sizeof(t.manufacturer), "BJCA");
	return t;
}

static void select_empty_list_no_token(void **state)
{
	(void)state;
	assert_int_equal(ukey_p11_select(NULL, 0, NULL), -UKEY_E_NO_TOKEN);
	assert_int_equal(ukey_p11_select(NULL, 0, "A0000001"), -UKEY_E_NO_TOKEN);
}

/* No selector: the only token, or refuse to guess between several. */
static void select_without_selector(void **state)
{
	struct ukey_token_info t[] = { tok("Unit A", "A0000001"), tok("Unit B", "B0000002") };

	(void)state;
	assert_int_equal(ukey_p11_select(t, 1, NULL), 0);
	assert_int_equal(ukey_p11_select(t, 1, ""), 0);
	assert_int_equal(ukey_p11_select(t, 2, NULL), -UKEY_E_TOKEN_AMBIGUOUS);
	assert_int_equal(ukey_p11_select(t, 2, ""), -UKEY_E_TOKEN_AMBIGUOUS);
}

static void select_by_serial_or_label(void **state)
{
	struct ukey_token_info t[] = { tok("Unit A", "A0000001"), tok("Unit B", "B0000002") };

	(void)state;
	assert_int_equal(ukey_p11_select(t, 2, "B0000002"), 1);
	assert_int_equal(ukey_p11_select(t, 2, "Unit A"), 0);
	assert_int_equal(ukey_p11_select(t, 2, "单位证书"), -UKEY_E_TOKEN_NOT_FOUND);
}

/* Serials identify a token; labels are chosen by people: a serial match wins over another token's label. */
static void select_serial_beats_label(void **state)
{
	struct ukey_token_info t[] = { tok("B0000002", "A0000001"), tok("Unit B", "B0000002") };

	(void)state;
	assert_int_equal(ukey_p11_select(t, 2, "B0000002"), 1);
	t[1] = tok("Unit B", "C0000003");
	assert_int_equal(ukey_p11_select(t, 2, "B0000002"), 0);
}

static void select_duplicate_labels_ambiguous(void **state)
{
	struct ukey_token_info t[] = { tok("单位证书", "A0000001"), tok("单位证书", "B0000002"), tok("Other", "C3") };

	(void)state;
	assert_int_equal(ukey_p11_select(t, 3, "单位证书"), -UKEY_E_TOKEN_AMBIGUOUS);
	/* The serial still picks one of them. */
	assert_int_equal(ukey_p11_select(t, 3, "B0000002"), 1);
}

/* Exact matches only: no prefixes, no case folding. */
static void select_no_match_not_found(void **state)
{
	struct ukey_token_info t[] = { tok("Unit A", "A0000001"), tok("Unit B", "B0000002") };

	(void)state;
	assert_int_equal(ukey_p11_select(t, 2, "Z9"), -UKEY_E_TOKEN_NOT_FOUND);
	assert_int_equal(ukey_p11_select(t, 2, "A000"), -UKEY_E_TOKEN_NOT_FOUND);
	assert_int_equal(ukey_p11_select(t, 2, "unit a"), -UKEY_E_TOKEN_NOT_FOUND);
	assert_int_equal(ukey_p11_select(t, 1, "B0000002"), -UKEY_E_TOKEN_NOT_FOUND);
}

#define RSA_CASE(f) cmocka_unit_test_setup_teardown(f, rsa_setup, key_teardown)
#define EC_CASE(f) cmocka_unit_test_setup_teardown(f, ec_setup, key_teardown)

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		RSA_CASE(rsa_cert_fields),
		EC_CASE(ec_cert_fields),
		EC_CASE(generalized_time_not_after),
		cmocka_unit_test(garbage_unreadable),
		EC_CASE(truncated_der_unreadable),
		EC_CASE(trailing_byte_unreadable),
		EC_CASE(embedded_nul_cn_not_truncated),
		EC_CASE(invalid_utf8_cn_never_returned),
		cmocka_unit_test(select_empty_list_no_token),
		cmocka_unit_test(select_without_selector),
		cmocka_unit_test(select_by_serial_or_label),
		cmocka_unit_test(select_serial_beats_label),
		cmocka_unit_test(select_duplicate_labels_ambiguous),
		cmocka_unit_test(select_no_match_not_found),
	};

	return UNIT_MAIN("cert", tests);
}
