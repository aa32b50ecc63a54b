/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table that maps each ukey error to its sentence, stable id, exit code and JSON-RPC code. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* Marks the sentences for the front ends' gettext catalogues; this layer does not translate. */
#define N_(s) (s)

struct err_entry {
	const char *id;
	const char *text;
	int exit_code;
	int rpc_code;
};

/* Indexed by code - UKEY_E_BASE. One row per code, so the CLI and the API can never drift. */
static const struct err_entry err_table[_UKEY_E_END - UKEY_E_BASE] = {
	[UKEY_E_INTERNAL - UKEY_E_BASE] = { "internal", N_("Internal error"), UKEY_EXIT_FAILURE, -32000 },
	[UKEY_E_USAGE - UKEY_E_BASE] = { "usage", N_("Invalid request: see 'ukey --help'"), UKEY_EXIT_USAGE, -32602 },
	[UKEY_E_PIN_INCORRECT - UKEY_E_BASE] = { "pin-incorrect", N_("Wrong PIN"), UKEY_EXIT_PIN_INCORRECT, -32010 },
	[UKEY_E_PIN_LOCKED - UKEY_E_BASE] = { "pin-locked", N_("The key is locked after too many wrong PINs"),
					      UKEY_EXIT_PIN_LOCKED, -32011 },
	[UKEY_E_PIN_INVALID - UKEY_E_BASE] = { "pin-invalid",
					       N_("The PIN is empty, too long, too short or not valid text"),
					       UKEY_EXIT_USAGE, -32012 },
	[UKEY_E_NO_TOKEN - UKEY_E_BASE] = { "no-token", N_("No key is inserted"), UKEY_EXIT_NO_TOKEN, -32020 },
	[UKEY_E_TOKEN_NOT_FOUND -
		UKEY_E_BASE] = { "token-not-found", N_("No inserted key matches"), UKEY_EXIT_NO_TOKEN, -32021 },
	[UKEY_E_TOKEN_AMBIGUOUS -
		UKEY_E_BASE] = { "token-ambiguous", N_("Several keys match"), UKEY_EXIT_USAGE, -32022 },
	[UKEY_E_TOKEN_REMOVED - UKEY_E_BASE] = { "token-removed", N_("The key was removed during the operation"),
						 UKEY_EXIT_NO_TOKEN, -32023 },
	[UKEY_E_TOKEN_FAILED -
		UKEY_E_BASE] = { "token-failed", N_("The key did not answer correctly"), UKEY_EXIT_FAILURE, -32024 },
	[UKEY_E_MODULE_LOAD -
		UKEY_E_BASE] = { "module-load", N_("The PKCS#11 module cannot be loaded"), UKEY_EXIT_FAILURE, -32030 },
	[UKEY_E_STATE_UNAVAILABLE - UKEY_E_BASE] = { "state-unavailable", N_("The state directory cannot be used"),
						     UKEY_EXIT_FAILURE, -32040 },
	[UKEY_E_STATE_CORRUPT -
		UKEY_E_BASE] = { "state-corrupt", N_("The state database is damaged"), UKEY_EXIT_FAILURE, -32041 },
	[UKEY_E_CERT_UNREADABLE -
		UKEY_E_BASE] = { "cert-unreadable", N_("The certificate cannot be read"), UKEY_EXIT_FAILURE, -32050 },
	[UKEY_E_KEY_NOT_FOUND - UKEY_E_BASE] = { "key-not-found", N_("No private key for this certificate on the key"),
						 UKEY_EXIT_FAILURE, -32051 },
	[UKEY_E_NOT_LOGGED_IN -
		UKEY_E_BASE] = { "not-logged-in", N_("The PIN is needed first"), UKEY_EXIT_FAILURE, -32013 },
	[UKEY_E_PIN_MISMATCH -
		UKEY_E_BASE] = { "pin-mismatch", N_("The two new PINs differ"), UKEY_EXIT_USAGE, -32014 },
	[UKEY_E_NO_TERMINAL -
		UKEY_E_BASE] = { "no-terminal", N_("No terminal to ask for the PIN"), UKEY_EXIT_USAGE, -32015 },
	[UKEY_E_UNSUPPORTED - UKEY_E_BASE] = { "unsupported", N_("The key or its module does not support this"),
					       UKEY_EXIT_FAILURE, -32060 },
	[UKEY_E_CANCELLED - UKEY_E_BASE] = { "cancelled", N_("Cancelled"), UKEY_EXIT_FAILURE, -32070 },
	[UKEY_E_PCSC_UNAVAILABLE - UKEY_E_BASE] = { "pcsc-unavailable",
						    N_("The smart card service (pcscd) is not running: start it with "
						       "'sudo systemctl start pcscd.socket'"),
						    UKEY_EXIT_FAILURE, -32085 },
	[UKEY_E_USB_UNAVAILABLE - UKEY_E_BASE] = { "usb-unavailable",
						   N_("USB devices cannot be listed on this computer"),
						   UKEY_EXIT_FAILURE, -32086 },
	[UKEY_E_CA_UNREACHABLE - UKEY_E_BASE] = { "ca-unreachable",
						  N_("The CA cannot be reached: check the network and the CA address, "
						     "then try again"),
						  UKEY_EXIT_CA, -32090 },
	[UKEY_E_CA_UNTRUSTED - UKEY_E_BASE] = { "ca-untrusted",
						N_("The CA's certificate is not trusted: check --ca-trust and the "
						   "computer's clock"),
						UKEY_EXIT_CA, -32091 },
	[UKEY_E_CA_REFUSED - UKEY_E_BASE] = { "ca-refused", N_("The CA refused the request"), UKEY_EXIT_CA, -32092 },
	[UKEY_E_CA_FAILED - UKEY_E_BASE] = { "ca-failed", N_("The CA failed to answer the request: try again later"),
					     UKEY_EXIT_CA, -32093 },
	[UKEY_E_CA_BAD_RESPONSE - UKEY_E_BASE] = { "ca-bad-response",
						   N_("The CA's answer cannot be used: nothing was changed"),
						   UKEY_EXIT_CA, -32094 },
	[UKEY_E_RENEW_NOT_OPEN - UKEY_E_BASE] = { "renew-not-open",
						  N_("Online renewal is not open for this certificate now"),
						  UKEY_EXIT_RENEW_NOT_OPEN, -32095 },
	[UKEY_E_RENEW_PENDING - UKEY_E_BASE] = { "renew-pending",
						 N_("The renewal waits at the CA: run 'ukey renew --resume' later"),
						 UKEY_EXIT_RENEW_PENDING, -32096 },
	[UKEY_E_CA_NOT_CONFIGURED -
		UKEY_E_BASE] = { "ca-not-configured", N_("No CA is configured"), UKEY_EXIT_USAGE, -32097 },
	[UKEY_E_SESSION_NOT_FOUND -
		UKEY_E_BASE] = { "session-not-found", N_("No such signing session"), UKEY_EXIT_USAGE, -32016 },
	[UKEY_E_SESSION_EXPIRED -
		UKEY_E_BASE] = { "session-expired", N_("The signing session has expired"), UKEY_EXIT_FAILURE, -32017 },
	[UKEY_E_MODEL_DB - UKEY_E_BASE] = { "model-db", N_("The token model database is missing or malformed"),
					    UKEY_EXIT_FAILURE, -32087 },
};

static const struct err_entry *lookup(int r)
{
	long code = -(long)r;

	if (code >= UKEY_E_BASE && code < _UKEY_E_END && err_table[code - UKEY_E_BASE].id)
		return &err_table[code - UKEY_E_BASE];
	return NULL;
}

const char *ukey_strerror(int r)
{
	const struct err_entry *e = lookup(r);

	if (r >= 0)
		return "Success";
	if (e)
		return e->text;
	if (r > -UKEY_E_BASE)
		return strerror(-r);
	return err_table[0].text;
}

const char *ukey_err_id(int r)
{
	const struct err_entry *e = lookup(r);

	if (r >= 0)
		return "ok";
	if (e)
		return e->id;
	if (r > -UKEY_E_BASE) {
		const char *name = strerrorname_np(-r);

		/* Per thread, so the API workers can ask at the same time. */
		static _Thread_local char buf[32];

		snprintf(buf, sizeof(buf), "errno-%s", name ? name : "unknown");
		return buf;
	}
	return err_table[0].id;
}

int ukey_err_exit_code(int r)
{
	const struct err_entry *e = lookup(r);

	if (r >= 0)
		return UKEY_EXIT_OK;
	return e ? e->exit_code : UKEY_EXIT_FAILURE;
}

int ukey_err_rpc_code(int r)
{
	const struct err_entry *e = lookup(r);

	if (r >= 0)
		return 0;
	return e ? e->rpc_code : -32000;
}
