/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token layer: load a PKCS#11 module, list its tokens and certificates, log in, change the PIN, sign. */
#ifndef UKEY_P11_H
#define UKEY_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

/*
 * This layer knows PKCS#11 and X.509, nothing about CA rules, the PIN
 * lockout or JSON (those live in agent/).
 *
 * libp11 0.4 owns the module: one PKCS11_CTX per module per process
 * (libp11 forbids two), which dlopen()s it and calls C_Initialize /
 * C_Finalize. Everything else goes through the module's raw
 * CK_FUNCTION_LIST, because libp11 0.4.12's object and session calls have
 * traps that were measured here and that an agent cannot design around:
 *
 *  - its slot list caches token flags (stale after a wrong PIN) and
 *    PKCS11_update_slots crashes with two or more slots: token lists here
 *    come from C_GetSlotList/C_GetTokenInfo every time;
 *  - PKCS11_release_all_slots() calls C_CloseAllSessions on every slot,
 *    which logs the application out of every token: listing certificates
 *    while another session is logged in would log it out;
 *  - an EVP_PKEY from PKCS11_get_*_key() leaks its key and slot objects,
 *    and is a use-after-free once its slots are released;
 *  - PKCS11_login with a wrong PIN while logged in reports success, and a
 *    wrong PIN surfaces only as an OpenSSL error queue entry.
 *
 * So each session here is one C_OpenSession of our own; a login logs out
 * first; errors are CK_RVs mapped once (ukey_err_from_ckr). libp11 stays
 * the bridge to OpenSSL where one is needed (TLS client auth, CA sync).
 * None of these functions keep a copy of a PIN.
 */

/* Sizes from PKCS#11 CK_TOKEN_INFO, plus the terminating NUL. */
#define UKEY_P11_LABEL_MAX 33
#define UKEY_P11_MANUFACTURER_MAX 33
#define UKEY_P11_MODEL_MAX 17
#define UKEY_P11_SERIAL_MAX 17
#define UKEY_P11_SLOT_DESC_MAX 65

/* A token as the module reports it right now (trailing blanks removed). */
struct ukey_token_info {
	unsigned long slot_id;
	char label[UKEY_P11_LABEL_MAX];
	char manufacturer[UKEY_P11_MANUFACTURER_MAX];
	char model[UKEY_P11_MODEL_MAX];
	char serial[UKEY_P11_SERIAL_MAX];
	char slot_description
		[UKEY_P11_SLOT_DESC_MAX]; /* OpenSC puts the PC/SC reader name here: joins token and reader */
	bool initialized;
	bool user_pin_initialized;
	bool login_required;
	bool protected_auth_path; /* PIN pad on the reader: PIN entered there, not here */
	bool pin_count_low; /* CKF_USER_PIN_COUNT_LOW */
	bool pin_final_try; /* CKF_USER_PIN_FINAL_TRY */
	bool pin_locked; /* CKF_USER_PIN_LOCKED */
	bool pin_to_be_changed; /* CKF_USER_PIN_TO_BE_CHANGED */
	unsigned long min_pin_len;
	unsigned long max_pin_len;
};

enum ukey_key_match {
	UKEY_KEY_MATCH_UNKNOWN, /* no public key object with the certificate's CKA_ID */
	UKEY_KEY_MATCH_YES, /* the public key object with the same CKA_ID holds the certificate's key */
	UKEY_KEY_MATCH_NO, /* it holds a different key: the certificate is not for this key */
};

#define UKEY_P11_ID_MAX 64

/*
 * What a key is, as the code decides on it; the display string ("RSA-3072",
 * "EC-secp384r1") is only for people. Values are stored in the renewal
 * journal: append, never renumber. The SKF backend adds SM2 here.
 */
enum ukey_key_kind {
	UKEY_KEY_RSA_2048,
	UKEY_KEY_EC_P256,
	UKEY_KEY_RSA_OTHER, /* RSA of another size */
	UKEY_KEY_EC_OTHER, /* EC on another curve */
	UKEY_KEY_UNKNOWN,
};

/* ukey_key_kind_is_rsa / _is_ec: the algorithm family, which decides the signing mechanisms. */
static inline bool ukey_key_kind_is_rsa(enum ukey_key_kind k)
{
	return k == UKEY_KEY_RSA_2048 || k == UKEY_KEY_RSA_OTHER;
}

static inline bool ukey_key_kind_is_ec(enum ukey_key_kind k)
{
	return k == UKEY_KEY_EC_P256 || k == UKEY_KEY_EC_OTHER;
}

/* A certificate object. When readable is false only label and id are set. */
struct ukey_cert_info {
	char *label;
	uint8_t id[UKEY_P11_ID_MAX];
	size_t id_len;
	bool readable;
	char *subject; /* RFC 2253 one-line form, UTF-8 */
	char *subject_cn; /* NULL when absent */
	char *subject_o;
	char *issuer;
	char *issuer_cn;
	char *serial_hex;
	time_t not_before;
	time_t not_after;
	char *key_type; /* for people: "RSA-2048", "EC-P-256", … */
	enum ukey_key_kind key_kind; /* for code */
	enum ukey_key_match key_match;
	uint8_t *der;
	size_t der_len;
};

/* A key object. Private keys are usually CKA_PRIVATE: visible only while the user is logged in. */
struct ukey_key_info {
	char *label;
	uint8_t id[UKEY_P11_ID_MAX];
	size_t id_len;
	bool is_private;
	char *key_type; /* for people: "RSA-2048", "EC-P-256", "RSA", "EC", "unknown" */
	enum ukey_key_kind key_kind; /* for code */
};

struct ukey_p11;
struct ukey_session;

/*
 * ukey_p11_load: load the PKCS#11 module at path (a file path, or a bare
 * name the dynamic loader finds) and initialise it.
 * Returns 0 and *ret_p11, or -UKEY_E_MODULE_LOAD when the file is missing or
 * is not a PKCS#11 module, -ENOMEM. Free with ukey_p11_free().
 */
int ukey_p11_load(const char *path, struct ukey_p11 **ret_p11);

/* ukey_p11_free: finalise and unload the module. NULL-safe; returns NULL. */
struct ukey_p11 *ukey_p11_free(struct ukey_p11 *p11);

/*
 * ukey_p11_rescan: make tokens that appeared or came back since the module
 * was initialised visible. Modules that report slot events (OpenSC over
 * pcscd) need nothing; a module without C_WaitForSlotEvent, or SoftHSM2
 * (whose slot list is fixed at C_Initialize), is re-initialised, which closes every session: call it only when none is
 * open. Returns 1 if re-initialised, 0 if not needed, or a negative error.
 */
int ukey_p11_rescan(struct ukey_p11 *p11);

/* ukey_p11_needs_polling: whether the module shows new tokens only after ukey_p11_rescan() (no slot events). */
bool ukey_p11_needs_polling(const struct ukey_p11 *p11);

/*
 * Change notification for a module that reports no slot events but keeps its
 * tokens in files (SoftHSM2): an fd that becomes readable when a token may
 * have come or gone (UKEY_P11_WATCH_TOKENS: re-initialise to see it) or its
 * objects changed (UKEY_P11_WATCH_OBJECTS). ukey_p11_watch_open returns
 * -ENOTSUP for other modules; then polling is the way.
 */
struct ukey_p11_watch;
#define UKEY_P11_WATCH_TOKENS 1
#define UKEY_P11_WATCH_OBJECTS 2
int ukey_p11_watch_open(struct ukey_p11 *p11, struct ukey_p11_watch **ret);
int ukey_p11_watch_fd(const struct ukey_p11_watch *w);
/* ukey_p11_watch_drain: read what happened since the last call (non-blocking): UKEY_P11_WATCH_* bits, 0 for nothing. */
int ukey_p11_watch_drain(struct ukey_p11_watch *w);
struct ukey_p11_watch *ukey_p11_watch_free(struct ukey_p11_watch *w);

/* ukey_p11_path: the module path given to ukey_p11_load(). Owned by p11. */
const char *ukey_p11_path(const struct ukey_p11 *p11);

/*
 * ukey_p11_tokens: the tokens present now, asked of the module afresh.
 * Returns the number of tokens (>= 0) and a malloc'ed array in *ret_tokens
 * (free() it; NULL when there are none), or a negative error.
 */
int ukey_p11_tokens(struct ukey_p11 *p11, struct ukey_token_info **ret_tokens);

/*
 * ukey_p11_token_info: one token's state now, found by serial.
 * Returns 0, or -UKEY_E_TOKEN_REMOVED when no present token has that serial.
 */
int ukey_p11_token_info(struct ukey_p11 *p11, const char *serial, struct ukey_token_info *ret_info);

/*
 * ukey_p11_select: pick one token from a list. selector is a serial or a
 * label (exact match; a serial match wins over a label match) or NULL for
 * "the only one". Returns the index, or -UKEY_E_NO_TOKEN (empty list),
 * -UKEY_E_TOKEN_NOT_FOUND, -UKEY_E_TOKEN_AMBIGUOUS (several match, or NULL
 * selector with several tokens).
 */
int ukey_p11_select(const struct ukey_token_info *tokens, size_t n, const char *selector);

/*
 * ukey_p11_certs: the certificate objects of the token with this serial,
 * each parsed with OpenSSL; an object that is not valid DER is returned
 * with readable = false and does not stop the others.
 * Returns the count and a malloc'ed array in *ret_certs (free with
 * ukey_cert_info_free_array()), or a negative error.
 */
int ukey_p11_certs(struct ukey_p11 *p11, const char *serial, struct ukey_cert_info **ret_certs);

/*
 * ukey_p11_certs_stamp: a cheap fingerprint of the token's certificate
 * objects (how many, their CKA_IDs and value sizes; no value is read or
 * parsed): it changes when a certificate is added, removed or replaced.
 * For a caller that keeps ukey_p11_certs()'s answer and must know when it is stale.
 */
int ukey_p11_certs_stamp(struct ukey_p11 *p11, const char *serial, uint64_t *ret);

/*
 * ukey_p11_keys: the key objects (public, and private ones visible without
 * a login) of the token with this serial, at most UKEY_P11_MAX_OBJECTS per
 * class. Returns the count and a malloc'ed array in *ret_keys (free with
 * ukey_key_info_free_array()), or a negative error.
 */
int ukey_p11_keys(struct ukey_p11 *p11, const char *serial, struct ukey_key_info **ret_keys);

/* ukey_key_info_free_array: free what ukey_p11_keys() returned. NULL-safe. */
/*
 * ukey_p11_data_object: the CKA_VALUE of the public CKO_DATA object labelled
 * label on the token with this serial (e.g. "ukey.first-issued", written at
 * issue). *ret is malloc'd (at most 64 KiB). -ENOENT when there is none.
 */
int ukey_p11_data_object(struct ukey_p11 *p11, const char *serial, const char *label, uint8_t **ret, size_t *ret_len);

void ukey_key_info_free_array(struct ukey_key_info *keys, size_t n);

/* Cap on objects read per class: a token holding more is hostile or broken. */
#define UKEY_P11_MAX_OBJECTS 256

/* ukey_cert_info_free_array: free what ukey_p11_certs() returned. NULL-safe. */
void ukey_cert_info_free_array(struct ukey_cert_info *certs, size_t n);

/*
 * ukey_cert_info_from_der: parse one DER certificate into *ret (exposed for
 * tests and the fuzz target). Returns 0, or -UKEY_E_CERT_UNREADABLE with
 * *ret untouched.
 */
int ukey_cert_info_from_der(const uint8_t *der, size_t len, struct ukey_cert_info *ret);

/* ukey_cert_info_clear: free the members of one entry. */
void ukey_cert_info_clear(struct ukey_cert_info *c);

/*
 * ukey_session_open: open a read-write session on the token with this
 * serial (the token is looked up afresh, so a token moved to another slot
 * is still found). Returns 0 and *ret_session, -UKEY_E_TOKEN_REMOVED when
 * it is no longer present, or another negative error.
 */
int ukey_session_open(struct ukey_p11 *p11, const char *serial, struct ukey_session **ret_session);

/* ukey_session_free: log out, close the session, release its slots. NULL-safe; returns NULL. */
struct ukey_session *ukey_session_free(struct ukey_session *s);

/*
 * ukey_session_login: C_Login as the user (after a logout, see above).
 * The PIN is not kept. Returns 0, -UKEY_E_PIN_INCORRECT, -UKEY_E_PIN_LOCKED,
 * -UKEY_E_PIN_INVALID (length out of the token's range: the token did not
 * evaluate it), -UKEY_E_TOKEN_REMOVED, -UKEY_E_TOKEN_FAILED.
 */
int ukey_session_login(struct ukey_session *s, const char *pin);

/* ukey_session_change_pin: C_SetPIN for the user. Same returns as ukey_session_login(). */
int ukey_session_change_pin(struct ukey_session *s, const char *old_pin, const char *new_pin);

enum ukey_sign_mech {
	UKEY_SIGN_RSA_PKCS1_SHA256, /* RSA PKCS#1 v1.5 over SHA-256 of the data */
	UKEY_SIGN_RSA_PSS_SHA256, /* RSA-PSS, SHA-256, MGF1-SHA-256, salt 32 */
	UKEY_SIGN_ECDSA_SHA256, /* ECDSA over SHA-256, DER-encoded signature */
};

/*
 * ukey_session_sign: sign data with the private key whose CKA_ID is id
 * (id_len 0: the first private key). Needs a login first.
 * Returns 0 and a malloc'ed signature in *ret_sig, *ret_len; or
 * -UKEY_E_KEY_NOT_FOUND, -UKEY_E_NOT_LOGGED_IN, -UKEY_E_UNSUPPORTED,
 * -UKEY_E_TOKEN_REMOVED, -UKEY_E_TOKEN_FAILED.
 */
int ukey_session_sign(struct ukey_session *s, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
		      const uint8_t *data, size_t data_len, uint8_t **ret_sig, size_t *ret_len);

/*
 * ukey_session_sign_digest: as ukey_session_sign(), over a SHA-256 digest
 * the caller computed (32 bytes, else -UKEY_E_USAGE); the result verifies
 * exactly as a signature over the data would.
 */
int ukey_session_sign_digest(struct ukey_session *s, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
			     const uint8_t *digest, size_t digest_len, uint8_t **ret_sig, size_t *ret_len);

/* Object classes for ukey_session_destroy / ukey_session_objects. */
enum ukey_obj {
	UKEY_OBJ_CERT = 1 << 0,
	UKEY_OBJ_PRIVATE_KEY = 1 << 1,
	UKEY_OBJ_PUBLIC_KEY = 1 << 2,
	UKEY_OBJ_ALL = UKEY_OBJ_CERT | UKEY_OBJ_PRIVATE_KEY | UKEY_OBJ_PUBLIC_KEY,
};

/*
 * ukey_session_generate_key: a new key pair ON the token (C_GenerateKeyPair;
 * the private key sensitive and not extractable), both halves with CKA_ID id
 * and CKA_LABEL label. Needs a login. -UKEY_E_UNSUPPORTED when the token
 * cannot make that kind of key.
 */
int ukey_session_generate_key(struct ukey_session *s, enum ukey_key_kind kind, const uint8_t *id, size_t id_len,
			      const char *label);

/* ukey_session_public_key: the public key object with CKA_ID id as an EVP_PKEY (caller frees). */
int ukey_session_public_key(struct ukey_session *s, const uint8_t *id, size_t id_len, EVP_PKEY **ret);

/*
 * ukey_session_write_cert: store a DER certificate as a public token object
 * with CKA_ID id and CKA_LABEL label, and the CKA_SUBJECT, CKA_ISSUER and
 * CKA_SERIAL_NUMBER other programs look it up by. -UKEY_E_CERT_UNREADABLE
 * when der is not one DER certificate.
 */
int ukey_session_write_cert(struct ukey_session *s, const uint8_t *id, size_t id_len, const char *label,
			    const uint8_t *der, size_t der_len);

/*
 * ukey_session_destroy: remove the objects of the given classes (enum
 * ukey_obj bits) with CKA_ID id; finding none is success (a step repeated
 * after a crash). An empty id is refused.
 */
int ukey_session_destroy(struct ukey_session *s, unsigned classes, const uint8_t *id, size_t id_len);

/* ukey_session_objects: which of certificate, private and public key with CKA_ID id exist (enum ukey_obj bits). */
unsigned ukey_session_objects(struct ukey_session *s, const uint8_t *id, size_t id_len);

/*
 * ukey_session_make_csr: a PKCS#10 request for subject (DER X509_NAME) with
 * the public key of CKA_ID id, signed on the token by that key (SHA-256;
 * RSA PKCS#1 v1.5 or ECDSA), checked before it is returned. Needs a login.
 * *ret is malloc'd DER.
 */
int ukey_session_make_csr(struct ukey_session *s, const uint8_t *id, size_t id_len, const uint8_t *subject_der,
			  size_t subject_len, uint8_t **ret, size_t *ret_len);

/*
 * ukey_session_tls_key: the private key with CKA_ID id as an EVP_PKEY that
 * OpenSSL can use for TLS client authentication (libp11's; signing happens
 * on the token). Owned by the session and valid until ukey_session_free().
 * Needs a login; pin is used only when libp11 talks to another instance of
 * the module (p11-kit's proxy) that needs its own login.
 */
int ukey_session_tls_key(struct ukey_session *s, const uint8_t *id, size_t id_len, const char *pin, EVP_PKEY **ret);

/* ukey_session_serial: the serial this session was opened for. Owned by s. */
const char *ukey_session_serial(const struct ukey_session *s);

#endif
