/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token layer against real SoftHSM2 tokens: sign and verify, fresh flags, and the libp11 traps it avoids. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "base/log.h"
#include "p11.h"

/* Set by run.sh: the module, the right PIN, and the two tokens mktoken made (RSA first, EC second). */
static const char *module, *pin, *rsa_serial, *ec_serial, *certs_dir;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                       \
			exit(1);                                                                                       \
		}                                                                                                      \
	} while (0)
#define CHECK_R(expr, want)                                                                                            \
	do {                                                                                                           \
		int r_ = (expr);                                                                                       \
		if (r_ != (want)) {                                                                                    \
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #expr, r_,          \
				ukey_err_id(r_), (want), ukey_err_id(want));                                           \
			exit(1);                                                                                       \
		}                                                                                                      \
	} while (0)

static EVP_PKEY *cert_key(const char *serial)
{
	char path[4096];
	FILE *f;
	X509 *x;
	EVP_PKEY *k;

	snprintf(path, sizeof(path), "%s/%s.pem", certs_dir, serial);
	f = fopen(path, "r");
	CHECK(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CHECK(x);
	k = X509_get_pubkey(x);
	X509_free(x);
	return k;
}

static int verify(EVP_PKEY *k, enum ukey_sign_mech mech, const uint8_t *data, size_t len, const uint8_t *sig,
		  size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	CHECK(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, k) == 1);
	if (mech == UKEY_SIGN_RSA_PSS_SHA256) {
		CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
		CHECK(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1);
	}
	ok = EVP_DigestVerify(md, sig, sig_len, data, len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

static void sign_and_verify(const char *serial, enum ukey_sign_mech mech)
{
	static const uint8_t data[] = "procurement order 2026-0042";
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	EVP_PKEY *k = cert_key(serial);
	uint8_t *sig = NULL;
	size_t len = 0;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, serial, &s), 0);
	/* Before the PIN the private key cannot be used. */
	CHECK_R(ukey_session_sign(s, NULL, 0, mech, data, sizeof(data), &sig, &len), -UKEY_E_NOT_LOGGED_IN);
	CHECK_R(ukey_session_login(s, pin), 0);
	CHECK_R(ukey_session_sign(s, (const uint8_t *)"\x01", 1, mech, data, sizeof(data), &sig, &len), 0);
	CHECK(verify(k, mech, data, sizeof(data), sig, len));
	/* A flipped byte must not verify: the check above can fail. */
	sig[len / 2] ^= 1;
	CHECK(!verify(k, mech, data, sizeof(data), sig, len));
	free(sig);
	CHECK_R(ukey_session_sign(s, (const uint8_t *)"\x7f", 1, mech, data, sizeof(data), &sig, &len),
		-UKEY_E_KEY_NOT_FOUND);
	EVP_PKEY_free(k);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

/* A signature over a SHA-256 digest the caller made verifies like one over the data (all three mechanisms). */
static void sign_digest_and_verify(const char *serial, enum ukey_sign_mech mech)
{
	static const uint8_t data[] = "procurement order 2026-0042";
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	EVP_PKEY *k = cert_key(serial);
	uint8_t digest[32], *sig = NULL;
	size_t len = 0;

	SHA256(data, sizeof(data), digest);
	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, serial, &s), 0);
	CHECK_R(ukey_session_login(s, pin), 0);
	CHECK_R(ukey_session_sign_digest(s, NULL, 0, mech, digest, 31, &sig, &len), -UKEY_E_USAGE);
	CHECK_R(ukey_session_sign_digest(s, NULL, 0, mech, digest, sizeof(digest), &sig, &len), 0);
	CHECK(verify(k, mech, data, sizeof(data), sig, len));
	free(sig);
	EVP_PKEY_free(k);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

static void case_sign_digest_all_mechanisms(void)
{
	sign_digest_and_verify(rsa_serial, UKEY_SIGN_RSA_PKCS1_SHA256);
	sign_digest_and_verify(rsa_serial, UKEY_SIGN_RSA_PSS_SHA256);
	sign_digest_and_verify(ec_serial, UKEY_SIGN_ECDSA_SHA256);
}

static void case_sign_rsa_pkcs1(void)
{
	sign_and_verify(rsa_serial, UKEY_SIGN_RSA_PKCS1_SHA256);
}

static void case_sign_rsa_pss(void)
{
	sign_and_verify(rsa_serial, UKEY_SIGN_RSA_PSS_SHA256);
}

static void case_sign_ecdsa(void)
{
	sign_and_verify(ec_serial, UKEY_SIGN_ECDSA_SHA256);
}

static void case_sign_wrong_mechanism_for_key(void)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	uint8_t *sig = NULL;
	size_t len = 0;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, ec_serial, &s), 0);
	CHECK_R(ukey_session_login(s, pin), 0);
	CHECK(ukey_session_sign(s, NULL, 0, UKEY_SIGN_RSA_PKCS1_SHA256, (const uint8_t *)"x", 1, &sig, &len) < 0);
	CHECK(sig == NULL);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

/* libp11 0.4.12 answers success to a wrong PIN while logged in; the layer logs out first. */
static void case_wrong_pin_while_logged_in_is_wrong(void)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, rsa_serial, &s), 0);
	CHECK_R(ukey_session_login(s, pin), 0);
	CHECK_R(ukey_session_login(s, "99999999"), -UKEY_E_PIN_INCORRECT);
	CHECK_R(ukey_session_login(s, pin), 0);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

/* Token flags come from C_GetTokenInfo each time, never from a list cached before the wrong PIN. */
static void case_flags_are_fresh_after_wrong_pin(void)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	struct ukey_token_info before, after;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_p11_token_info(p11, rsa_serial, &before), 0);
	CHECK(!before.pin_count_low);
	CHECK_R(ukey_session_open(p11, rsa_serial, &s), 0);
	CHECK_R(ukey_session_login(s, "99999999"), -UKEY_E_PIN_INCORRECT);
	CHECK_R(ukey_p11_token_info(p11, rsa_serial, &after), 0);
	/* SoftHSM2 keeps no counter but raises COUNT_LOW after a wrong PIN. */
	CHECK(after.pin_count_low);
	CHECK(after.min_pin_len == 4 && after.max_pin_len >= 64);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

/* Lists made while a session is open must not free what the session uses (libp11 use-after-free trap). */
static void case_session_survives_relisting(void)
{
	static const uint8_t data[] = "x";
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	struct ukey_token_info *tokens = NULL;
	struct ukey_cert_info *certs = NULL;
	uint8_t *sig = NULL;
	size_t len = 0;
	int n;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, rsa_serial, &s), 0);
	CHECK_R(ukey_session_login(s, pin), 0);
	for (int i = 0; i < 5; i++) {
		n = ukey_p11_tokens(p11, &tokens);
		CHECK(n == 2);
		free(tokens);
		n = ukey_p11_certs(p11, ec_serial, &certs);
		CHECK(n == 1);
		CHECK(certs[0].key_match == UKEY_KEY_MATCH_YES);
		CHECK(strcmp(certs[0].key_type, "EC-P-256") == 0);
		ukey_cert_info_free_array(certs, (size_t)n);
	}
	CHECK_R(ukey_session_sign(s, NULL, 0, UKEY_SIGN_RSA_PKCS1_SHA256, data, sizeof(data), &sig, &len), 0);
	free(sig);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

static void case_session_on_second_slot_by_serial(void)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	struct ukey_key_info *keys = NULL;
	int n;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, ec_serial, &s), 0);
	CHECK(strcmp(ukey_session_serial(s), ec_serial) == 0);
	CHECK_R(ukey_session_open(p11, "0000000000000000", &s), -UKEY_E_TOKEN_REMOVED);
	n = ukey_p11_keys(p11, ec_serial, &keys);
	CHECK(n == 1 && !keys[0].is_private && strcmp(keys[0].key_type, "EC-P-256") == 0);
	ukey_key_info_free_array(keys, (size_t)n);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

/* Renewal's token steps: a key pair made on the token, a CSR signed there, a certificate written, old objects gone. */
static void keygen_csr_write_destroy(const char *serial, enum ukey_key_kind kind, const char *key_type)
{
	static const uint8_t new_id[] = { 0x5a, 0x01 };
	struct ukey_p11 *p11 = NULL;
	struct ukey_session *s = NULL;
	struct ukey_key_info *keys = NULL;
	struct ukey_cert_info *certs = NULL;
	uint8_t *csr = NULL, *cert_der = NULL, *name_der = NULL;
	size_t csr_len = 0;
	const uint8_t *p;
	X509_REQ *req;
	X509 *x;
	EVP_PKEY *pub, *ca_key;
	int n, name_len, cert_len;
	bool found = false;

	CHECK_R(ukey_p11_load(module, &p11), 0);
	CHECK_R(ukey_session_open(p11, serial, &s), 0);
	CHECK_R(ukey_session_generate_key(s, kind, new_id, sizeof(new_id), "renewed"), -UKEY_E_NOT_LOGGED_IN);
	CHECK_R(ukey_session_login(s, pin), 0);
	CHECK(ukey_session_objects(s, new_id, sizeof(new_id)) == 0);
	CHECK_R(ukey_session_generate_key(s, kind, new_id, sizeof(new_id), "renewed"), 0);
	CHECK(ukey_session_objects(s, new_id, sizeof(new_id)) == (UKEY_OBJ_PRIVATE_KEY | UKEY_OBJ_PUBLIC_KEY));
	n = ukey_p11_keys(p11, serial, &keys);
	for (int i = 0; i < n; i++)
		if (keys[i].id_len == sizeof(new_id) && memcmp(keys[i].id, new_id, sizeof(new_id)) == 0 &&
		    !keys[i].is_private)
			found = strcmp(keys[i].key_type, key_type) == 0 && strcmp(keys[i].label, "renewed") == 0;
	ukey_key_info_free_array(keys, n > 0 ? (size_t)n : 0);
	CHECK(found);

	/* The CSR: the subject asked for, the new key, a signature that verifies with it. */
	{
		X509_NAME *name = X509_NAME_new();

		CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"单位 Renewed", -1,
						 -1, 0));
		name_len = i2d_X509_NAME(name, &name_der);
		X509_NAME_free(name);
	}
	CHECK_R(ukey_session_make_csr(s, new_id, sizeof(new_id), name_der, (size_t)name_len, &csr, &csr_len), 0);
	p = csr;
	req = d2i_X509_REQ(NULL, &p, (long)csr_len);
	CHECK(req && p == csr + csr_len);
	CHECK_R(ukey_session_public_key(s, new_id, sizeof(new_id), &pub), 0);
	CHECK(X509_REQ_verify(req, pub) == 1);

	/* A certificate for it (self-signed by a throw-away key: the token only stores it) written and found. */
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	x = X509_new();
	CHECK(x && ca_key);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_subject_name(x, X509_REQ_get_subject_name(req));
	X509_set_issuer_name(x, X509_REQ_get_subject_name(req));
	X509_set_pubkey(x, pub);
	CHECK(X509_sign(x, ca_key, EVP_sha256()) > 0);
	cert_len = i2d_X509(x, &cert_der);
	CHECK_R(ukey_session_write_cert(s, new_id, sizeof(new_id), "renewed", (const uint8_t *)"junk", 4),
		-UKEY_E_CERT_UNREADABLE);
	CHECK_R(ukey_session_write_cert(s, new_id, sizeof(new_id), "renewed", cert_der, (size_t)cert_len), 0);
	CHECK(ukey_session_objects(s, new_id, sizeof(new_id)) == UKEY_OBJ_ALL);
	n = ukey_p11_certs(p11, serial, &certs);
	found = false;
	for (int i = 0; i < n; i++)
		if (certs[i].id_len == sizeof(new_id) && memcmp(certs[i].id, new_id, sizeof(new_id)) == 0)
			found = certs[i].readable && certs[i].key_match == UKEY_KEY_MATCH_YES &&
				strcmp(certs[i].subject_cn, "单位 Renewed") == 0;
	ukey_cert_info_free_array(certs, n > 0 ? (size_t)n : 0);
	CHECK(found);

	/* Removal: only what was asked, idempotent, never "everything". */
	CHECK_R(ukey_session_destroy(s, UKEY_OBJ_ALL, NULL, 0), -UKEY_E_USAGE);
	CHECK_R(ukey_session_destroy(s, UKEY_OBJ_CERT, new_id, sizeof(new_id)), 0);
	CHECK(ukey_session_objects(s, new_id, sizeof(new_id)) == (UKEY_OBJ_PRIVATE_KEY | UKEY_OBJ_PUBLIC_KEY));
	CHECK_R(ukey_session_destroy(s, UKEY_OBJ_ALL, new_id, sizeof(new_id)), 0);
	CHECK_R(ukey_session_destroy(s, UKEY_OBJ_ALL, new_id, sizeof(new_id)), 0);
	CHECK(ukey_session_objects(s, new_id, sizeof(new_id)) == 0);
	/* The token's original pair (CKA_ID 01) is untouched. */
	CHECK(ukey_session_objects(s, (const uint8_t *)"\x01", 1) == UKEY_OBJ_ALL);

	OPENSSL_free(cert_der);
	OPENSSL_free(name_der);
	X509_free(x);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	free(csr);
	ukey_session_free(s);
	ukey_p11_free(p11);
}

static void case_renewal_objects_rsa(void)
{
	keygen_csr_write_destroy(rsa_serial, UKEY_KEY_RSA_2048, "RSA-2048");
}

static void case_renewal_objects_ec(void)
{
	keygen_csr_write_destroy(ec_serial, UKEY_KEY_EC_P256, "EC-P-256");
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "renewal-objects-rsa", case_renewal_objects_rsa },
	{ "renewal-objects-ec", case_renewal_objects_ec },
	{ "sign-rsa-pkcs1", case_sign_rsa_pkcs1 },
	{ "sign-rsa-pss", case_sign_rsa_pss },
	{ "sign-ecdsa", case_sign_ecdsa },
	{ "sign-digest-all-mechanisms", case_sign_digest_all_mechanisms },
	{ "sign-wrong-mechanism-for-key", case_sign_wrong_mechanism_for_key },
	{ "wrong-pin-while-logged-in-is-wrong", case_wrong_pin_while_logged_in_is_wrong },
	{ "flags-are-fresh-after-wrong-pin", case_flags_are_fresh_after_wrong_pin },
	{ "session-survives-relisting", case_session_survives_relisting },
	{ "session-on-second-slot-by-serial", case_session_on_second_slot_by_serial },
};

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: test-token-layer CASE MODULE PIN RSA_SERIAL EC_SERIAL CERTS_DIR\n");
		return 2;
	}
	ukey_log_setup("test-token-layer"); /* UKEY_DEBUG=p11 shows the layer's debug lines */
	module = argv[2];
	pin = argv[3];
	rsa_serial = argv[4];
	ec_serial = argv[5];
	certs_dir = argv[6];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, argv[1]) == 0) {
			cases[i].fn();
			printf("ok: %s\n", argv[1]);
			return 0;
		}
	fprintf(stderr, "unknown case '%s'\n", argv[1]);
	return 2;
}
