/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: an EST certs-only response body (what a CA, or anyone in its place, sends) through ukey_est_parse_certs(). */
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "est.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;

	if (ukey_est_parse_certs((const char *)data, size, &certs) == 0)
		sk_X509_pop_free(certs, X509_free);
	return 0;
}
