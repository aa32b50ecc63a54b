/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: RSA-2048 signatures through ukey's token layer against a direct C_Sign loop, same token, same run. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "p11-internal.h"
#include "p11.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The baseline: what any PKCS#11 program does, with nothing of ukey in between. */
static int direct_sign(CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, const char *pin, int n, double *ret_s)
{
	CK_SESSION_HANDLE h;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE key;
	CK_ULONG found = 0;
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	unsigned char data[32] = "ukey benchmark data to be signed", sig[512];
	CK_RV rv;
	double t0;

	if ((rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h)) != CKR_OK)
		return fprintf(stderr, "C_OpenSession: 0x%lx\n", rv), -1;
	rv = fl->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return fprintf(stderr, "C_Login: 0x%lx\n", rv), -1;
	if (fl->C_FindObjectsInit(h, tmpl, 1) != CKR_OK || fl->C_FindObjects(h, &key, 1, &found) != CKR_OK ||
	    fl->C_FindObjectsFinal(h) != CKR_OK || found != 1)
		return fprintf(stderr, "no private key\n"), -1;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		CK_ULONG len = sizeof(sig);

		if ((rv = fl->C_SignInit(h, &mech, key)) != CKR_OK ||
		    (rv = fl->C_Sign(h, data, sizeof(data), sig, &len)) != CKR_OK)
			return fprintf(stderr, "C_Sign: 0x%lx\n", rv), -1;
	}
	*ret_s = now_s() - t0;
	fl->C_CloseSession(h);
	return 0;
}

static int ukey_sign(struct ukey_p11 *p11, const char *serial, const char *pin, int n, double *ret_s)
{
	struct ukey_session *s = NULL;
	const uint8_t data[32] = "ukey benchmark data to be signed";
	double t0;
	int r;

	if ((r = ukey_session_open(p11, serial, &s)) < 0 || (r = ukey_session_login(s, pin)) < 0)
		goto out;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		uint8_t *sig = NULL;
		size_t len = 0;

		r = ukey_session_sign(s, NULL, 0, UKEY_SIGN_RSA_PKCS1_SHA256, data, sizeof(data), &sig, &len);
		free(sig);
		if (r < 0)
			goto out;
	}
	*ret_s = now_s() - t0;
out:
	ukey_session_free(s);
	if (r < 0)
		fprintf(stderr, "ukey sign: %s\n", ukey_strerror(r));
	return r;
}

int main(int argc, char **argv)
{
	struct ukey_p11 *p11 = NULL;
	struct ukey_token_info *tokens = NULL;
	double t_direct = 0, t_ukey = 0;
	int n, count, r = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: bench-sign MODULE PIN COUNT\n");
		return 2;
	}
	count = atoi(argv[3]);
	if (count <= 0 || ukey_p11_load(argv[1], &p11) < 0 || (n = ukey_p11_tokens(p11, &tokens)) < 1) {
		fprintf(stderr, "bench-sign: no module or no token\n");
		goto out;
	}
	/* Warm up both paths once, then measure each in turn in the same process. */
	if (ukey_sign(p11, tokens[0].serial, argv[2], 5, &t_ukey) < 0 ||
	    direct_sign(ukey_p11_function_list(p11), tokens[0].slot_id, argv[2], 5, &t_direct) < 0 ||
	    direct_sign(ukey_p11_function_list(p11), tokens[0].slot_id, argv[2], count, &t_direct) < 0 ||
	    ukey_sign(p11, tokens[0].serial, argv[2], count, &t_ukey) < 0)
		goto out;
	printf("sign RSA-2048 PKCS#1 v1.5 SHA-256 on SoftHSM2, %d signatures each\n", count);
	printf("  direct C_Sign loop:  %8.1f sig/s  (%.3f ms/sig)\n", count / t_direct, 1e3 * t_direct / count);
	printf("  ukey token layer:    %8.1f sig/s  (%.3f ms/sig)\n", count / t_ukey, 1e3 * t_ukey / count);
	printf("  ratio ukey/direct time: %.2f\n", t_ukey / t_direct);
	printf("json: {\"count\": %d, \"direct_sig_per_s\": %.1f, \"ukey_sig_per_s\": %.1f}\n", count, count / t_direct,
	       count / t_ukey);
	r = 0;
out:
	free(tokens);
	ukey_p11_free(p11);
	return r;
}
