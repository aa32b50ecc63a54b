/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference CA's HTTP resources (EST, CRL, OCSP, JSON API) as plain request -> response functions. */
#ifndef REFCA_SERVICE_H
#define REFCA_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "ca.h"
#include "state.h"

/* Request bodies larger than this are refused with 413 before they are read. */
#define REFCA_MAX_BODY (64 * 1024)
/* An Authorization header longer than this is not a technician's. */
#define REFCA_MAX_AUTH 512
/* The longest request path served. */
#define REFCA_MAX_PATH 256
/* Retry-After (seconds) of a 202 when the server was not told otherwise. */
#define REFCA_DEFAULT_RETRY_AFTER 30

struct refca_service {
	struct refca_ca *ca;
	struct refca_state *st;
	bool autopay; /* R-R6 payment taken as done when an order is made */
	long retry_after; /* seconds, sent with every 202 */
	unsigned char pass_digest[32]; /* SHA-256 of the technician password */
};

struct refca_request {
	bool post; /* POST, else GET */
	const char *path; /* decoded path, no query */
	const char *query_serial; /* the value of ?serial=, or NULL */
	const char *content_type; /* or NULL */
	const char *authorization; /* or NULL */
	const unsigned char *body;
	size_t body_len;
	X509 *client_cert; /* the TLS client certificate, unverified, or NULL */
};

struct refca_response {
	int status;
	const char *content_type; /* static string */
	bool base64; /* Content-Transfer-Encoding: base64 */
	bool www_authenticate; /* WWW-Authenticate: Basic */
	long retry_after; /* > 0: Retry-After */
	char order[REFCA_ORDER_ID_LEN + 1]; /* non-empty: X-Ukey-Order */
	const char *error; /* the error id of a failure, for the log */
	unsigned char *body; /* malloc'd */
	size_t body_len;
};

/* refca_service_load_password: read DIR/technician.pass and keep only its SHA-256. */
int refca_service_load_password(struct refca_service *svc, const char *dir);

/* refca_service_handle: answer one request; resp is always filled (a 500 at worst). */
void refca_service_handle(struct refca_service *svc, const struct refca_request *req, struct refca_response *resp);

/* refca_response_clear: free the body and zero resp. */
void refca_response_clear(struct refca_response *resp);

/* refca_error_response: a JSON error {"error": id, "message": message} with the status. */
void refca_error_response(struct refca_response *resp, int status, const char *id, const char *message);

#endif
