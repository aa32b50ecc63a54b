/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: what an OCSP responder or a CRL server (or anyone in its place, or the cache) sends, through the
 * revocation module's verification of OCSP responses and CRLs about a fixed certificate of the reference CA. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "revocation-internal.h"

/* The seeds were fetched from ukey-refca at this time (+ 60 s): they are fresh here, so the whole path runs. */
#define SEED_NOW ((time_t)1795626075)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *load(const char *name)
{
	char path[4096];
	X509 *x = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", UKEY_FUZZ_REVOCATION_FIXTURE, name);
	if ((f = fopen(path, "r"))) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!x) {
		fprintf(stderr, "fuzz-revocation: cannot read %s\n", path);
		exit(1);
	}
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static X509 *ca, *leaf;
	static X509_STORE *store;
	struct ukey_revocation_result res;
	char path[4096];

	if (!store) {
		ca = load("ca.pem");
		leaf = load("leaf.pem");
		snprintf(path, sizeof(path), "%s/ca.pem", UKEY_FUZZ_REVOCATION_FIXTURE);
		if (ukey_revocation_store_new(path, &store) < 0)
			exit(1);
	}
	ukey_revocation_ocsp_verify(data, size, leaf, ca, store, NULL, SEED_NOW, &res);
	ukey_revocation_crl_verify(data, size, leaf, ca, SEED_NOW, &res);
	return 0;
}
