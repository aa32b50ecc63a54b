/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the EST response parser: a certs-only PKCS#7 in base64, and what a CA must not get away with. */
#define _GNU_SOURCE
#include "unit-test.h"

#include <openssl/x509.h>

#include "base/err.h"
#include "est.h"

static int parse_file(const char *name, int *ret_n)
{
	char path[4096], *body = NULL;
	size_t len = 0;
	STACK_OF(X509) *certs = NULL;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", UKEY_EST_CORPUS, name);
	f = fopen(path, "r");
	assert_non_null(f);
	body = malloc(UKEY_CA_MAX_RESPONSE + 2);
	assert_non_null(body);
	len = fread(body, 1, UKEY_CA_MAX_RESPONSE + 1, f);
	fclose(f);
	r = ukey_est_parse_certs(body, len, &certs);
	*ret_n = r == 0 ? sk_X509_num(certs) : -1;
	sk_X509_pop_free(certs, X509_free);
	free(body);
	return r;
}

/* RFC 7030 4.1.3: base64 of a certs-only SignedData, with or without line breaks. */
static void certs_only_pkcs7_parses(void **state)
{
	int n;

	(void)state;
	assert_int_equal(parse_file("one-cert.b64", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parse_file("one-line.b64", &n), 0);
	assert_int_equal(n, 1);
}

/* Nothing a CA sends instead is taken for a certificate. */
static void not_a_certs_only_pkcs7_refused(void **state)
{
	static const char *const bad[] = { "no-certs.b64", "garbage", "bare-cert-not-pkcs7.b64", "truncated.b64" };
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_file(bad[i], &n) != -UKEY_E_CA_BAD_RESPONSE)
			fail_msg("%s was not refused as a bad response", bad[i]);
}

static void oversized_body_refused(void **state)
{
	STACK_OF(X509) *certs = NULL;
	char *big = malloc(UKEY_CA_MAX_RESPONSE + 4);

	(void)state;
	assert_non_null(big);
	memset(big, 'A', UKEY_CA_MAX_RESPONSE + 4);
	assert_int_equal(ukey_est_parse_certs(big, UKEY_CA_MAX_RESPONSE + 4, &certs), -UKEY_E_CA_BAD_RESPONSE);
	assert_int_equal(ukey_est_parse_certs("", 0, &certs), -UKEY_E_CA_BAD_RESPONSE);
	free(big);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(certs_only_pkcs7_parses),
		cmocka_unit_test(not_a_certs_only_pkcs7_refused),
		cmocka_unit_test(oversized_body_refused),
	};

	return UNIT_MAIN("est", tests);
}
