/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukey's error codes: one enum above the errno range, one table for their text and stable ids. */
#ifndef UKEY_ERR_H
#define UKEY_ERR_H

/*
 * Functions return int: >= 0 on success, negative on failure. A failure is
 * either -errno (an OS call failed) or -UKEY_E_* below. The codes start at
 * 1000 so they never collide with errno values (OpenSSH ssherr.h, OpenSC
 * errors.h). Codes are stable: append, never renumber.
 */
enum ukey_error {
	UKEY_E_BASE = 1000,
	UKEY_E_INTERNAL = UKEY_E_BASE, /* a bug or an unexpected library answer */
	UKEY_E_USAGE, /* the caller asked for something malformed */
	UKEY_E_PIN_INCORRECT, /* the token rejected the PIN */
	UKEY_E_PIN_LOCKED, /* R-P1/R-P2: no further PIN attempt allowed */
	UKEY_E_PIN_INVALID, /* empty, too long, too short or not UTF-8 */
	UKEY_E_NO_TOKEN, /* no token present at all */
	UKEY_E_TOKEN_NOT_FOUND, /* --token matched nothing */
	UKEY_E_TOKEN_AMBIGUOUS, /* several tokens and no (or an ambiguous) choice */
	UKEY_E_TOKEN_REMOVED, /* the token went away during the operation */
	UKEY_E_TOKEN_FAILED, /* the token or its module reported a device error */
	UKEY_E_MODULE_LOAD, /* the PKCS#11 module is missing or not a module */
	UKEY_E_STATE_UNAVAILABLE, /* the state store cannot be opened or written */
	UKEY_E_STATE_CORRUPT, /* the state store is damaged or from the future */
	UKEY_E_CERT_UNREADABLE, /* a certificate object is not valid DER */
	UKEY_E_KEY_NOT_FOUND, /* no private key for the request */
	UKEY_E_NOT_LOGGED_IN, /* the operation needs a PIN first */
	UKEY_E_PIN_MISMATCH, /* the two entries of a new PIN differ */
	UKEY_E_NO_TERMINAL, /* a PIN is needed and there is nowhere to ask */
	UKEY_E_UNSUPPORTED, /* the token or module cannot do this */
	UKEY_E_CANCELLED, /* the user cancelled */
	UKEY_E_PCSC_UNAVAILABLE, /* pcscd is not running, not reachable, or went away */
	UKEY_E_USB_UNAVAILABLE, /* USB devices cannot be listed (no usbfs, no libusb backend) */
	UKEY_E_MODEL_DB, /* the token model database is missing or malformed */
	UKEY_E_CA_UNREACHABLE, /* the CA cannot be reached, or did not answer in time */
	UKEY_E_CA_UNTRUSTED, /* the CA's TLS certificate does not verify (trust, name, dates) */
	UKEY_E_CA_REFUSED, /* the CA refused the request (4xx) */
	UKEY_E_CA_FAILED, /* the CA failed (5xx) */
	UKEY_E_CA_BAD_RESPONSE, /* the CA's answer is not what EST says (type, body, certificate) */
	UKEY_E_RENEW_NOT_OPEN, /* R-R2: online renewal is not open for this certificate now */
	UKEY_E_RENEW_PENDING, /* the CA holds the order (payment, documents, approval): try again later */
	UKEY_E_CA_NOT_CONFIGURED, /* no CA address is configured */
	UKEY_E_SESSION_NOT_FOUND, /* no such signing session for this caller */
	UKEY_E_SESSION_EXPIRED, /* the signing session was idle longer than its timeout */
	_UKEY_E_END
};

/* Exit codes of the ukey CLI. Documented in README.md; scripts rely on them. */
enum ukey_exit {
	UKEY_EXIT_OK = 0,
	UKEY_EXIT_FAILURE = 1,
	UKEY_EXIT_USAGE = 2,
	UKEY_EXIT_PIN_INCORRECT = 3,
	UKEY_EXIT_PIN_LOCKED = 4,
	UKEY_EXIT_NO_TOKEN = 5,
	UKEY_EXIT_CA = 6, /* the CA could not be reached or used */
	UKEY_EXIT_RENEW_NOT_OPEN = 7, /* R-R2: not eligible now; the output says when it opens */
	UKEY_EXIT_RENEW_PENDING = 8, /* the renewal waits at the CA; `ukey renew --resume` later */
};

/*
 * ukey_strerror: one sentence for a negative return value r (a -UKEY_E_* or
 * a -errno). Never NULL; the string is static and not translated here (the
 * caller passes it through gettext).
 */
const char *ukey_strerror(int r);

/* ukey_err_id: the stable machine id of r ("pin-incorrect", "errno-ENOENT"…), for JSON. */
const char *ukey_err_id(int r);

/* ukey_err_exit_code: the CLI exit code for r; 0 for r >= 0. */
int ukey_err_exit_code(int r);

/* ukey_err_rpc_code: the JSON-RPC error code for r (-32000 … -32099 server range). */
int ukey_err_rpc_code(int r);

#endif
