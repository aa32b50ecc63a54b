/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module loading through libp11; token lists, certificates and sessions through the raw function list. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <p11-kit/pkcs11.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_P11
#include "base/err.h"
#include "base/log.h"
#include "p11-internal.h"
#include "p11.h"

struct ukey_p11 {
	char *path;
	PKCS11_CTX *ctx; /* the one libp11 context for this module in this process; owns C_Initialize */
	void *dl; /* our own reference to the same dlopen() handle */
	CK_FUNCTION_LIST *fl; /* the module's raw function list, for what libp11 lacks */
	bool initialized_here; /* fl is an instance of our own (p11-kit-proxy): we finalise it */
	bool static_slots; /* no C_WaitForSlotEvent: new tokens show only after a re-initialisation */
	bool softhsm; /* SoftHSM2: tokens are directories of files (watch.c) */
	/*
	 * Our open ukey_sessions per slot. PKCS#11 login state belongs to the
	 * application, not the session: a C_Logout as one session closes would
	 * log out every other session of ours on the token (ukeyd's signing
	 * sessions), so only the last one logs out.
	 */
	pthread_mutex_t slots_lock;
	struct slot_count {
		unsigned long slot_id;
		unsigned n;
	} slots[64]; /* guarded by slots_lock */
};

/* Count a session of ours on slot_id up (+1) or down (-1); returns how many remain open. */
static unsigned slot_sessions(struct ukey_p11 *p11, unsigned long slot_id, int delta)
{
	struct slot_count *free_entry = NULL, *e = NULL;
	unsigned n = 0;

	pthread_mutex_lock(&p11->slots_lock);
	for (size_t i = 0; i < sizeof(p11->slots) / sizeof(p11->slots[0]) && !e; i++) {
		if (p11->slots[i].n && p11->slots[i].slot_id == slot_id)
			e = &p11->slots[i];
		else if (!p11->slots[i].n && !free_entry)
			free_entry = &p11->slots[i];
	}
	if (!e && delta > 0 && free_entry) {
		e = free_entry;
		e->slot_id = slot_id;
	}
	if (e) {
		if (delta > 0)
			e->n++;
		else if (e->n > 0)
			e->n--;
		n = e->n;
	}
	pthread_mutex_unlock(&p11->slots_lock);
	return n;
}

struct ukey_session {
	struct ukey_p11 *p11;
	CK_SESSION_HANDLE h; /* our own read-write session */
	unsigned long slot_id;
	uint8_t key_id[UKEY_P11_ID_MAX]; /* the last private key signed with, and its handle in this session */
	size_t key_id_len;
	CK_OBJECT_HANDLE key;
	char serial[UKEY_P11_SERIAL_MAX];
	bool logged_in;
	/* Only for a TLS key (ukey_session_tls_key): libp11's slots and the key it made; released last. */
	PKCS11_SLOT *tls_slots;
	unsigned int n_tls_slots;
	EVP_PKEY *tls_key;
};

int ukey_err_from_ckr(unsigned long rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_PIN_INCORRECT:
		return -UKEY_E_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		return -UKEY_E_PIN_LOCKED;
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		return -UKEY_E_PIN_INVALID;
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
	case CKR_SLOT_ID_INVALID:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
		return -UKEY_E_TOKEN_REMOVED;
	case CKR_USER_NOT_LOGGED_IN:
		return -UKEY_E_NOT_LOGGED_IN;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_FUNCTION_NOT_SUPPORTED:
		return -UKEY_E_UNSUPPORTED;
	case CKR_FUNCTION_CANCELED:
		return -UKEY_E_CANCELLED;
	case CKR_HOST_MEMORY:
		return -ENOMEM;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		log_debug("module answered CKR 0x%lx", rv);
		return -UKEY_E_TOKEN_FAILED;
	default:
		log_debug("unexpected CKR 0x%lx", rv);
		return -UKEY_E_INTERNAL;
	}
}

int ukey_p11_load(const char *path, struct ukey_p11 **ret_p11)
{
	CK_C_INITIALIZE_ARGS init_args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get_list;
	struct ukey_p11 *p11;
	CK_RV rv;
	int r;

	if (!path || !*path)
		return -UKEY_E_MODULE_LOAD;
	if (strchr(path, '/') && access(path, R_OK) < 0)
		return log_debug_errno(-UKEY_E_MODULE_LOAD, "module '%s': %s", path, strerror(errno));

	p11 = calloc(1, sizeof(*p11));
	if (!p11)
		return -ENOMEM;
	pthread_mutex_init(&p11->slots_lock, NULL);
	p11->path = strdup(path);
	p11->ctx = PKCS11_CTX_new();
	if (!p11->path || !p11->ctx) {
		r = -ENOMEM;
		goto fail_unloaded;
	}
	if (PKCS11_CTX_load(p11->ctx, path) < 0) {
		ERR_clear_error();
		r = log_debug_errno(-UKEY_E_MODULE_LOAD, "libp11 cannot load '%s'", path);
		goto fail_unloaded;
	}
	/* libp11 has dlopen()ed the module: RTLD_NOLOAD hands us the same instance, already initialised. */
	p11->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (!p11->dl) {
		r = log_debug_errno(-UKEY_E_MODULE_LOAD, "dlopen('%s'): %s", path, dlerror());
		goto fail;
	}
	*(void **)&get_list = dlsym(p11->dl, "C_GetFunctionList");
	if (!get_list || get_list(&p11->fl) != CKR_OK || !p11->fl) {
		r = log_debug_errno(-UKEY_E_MODULE_LOAD, "'%s' has no usable C_GetFunctionList", path);
		goto fail;
	}
	/*
	 * Most modules hand out one function list, already initialised by
	 * libp11. p11-kit's proxy hands out a separate instance per call: that
	 * one we initialise (and later finalise) ourselves.
	 */
	rv = p11->fl->C_Initialize(&init_args);
	if (rv == CKR_OK)
		p11->initialized_here = true;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		r = log_debug_errno(-UKEY_E_MODULE_LOAD, "C_Initialize of '%s': CKR 0x%lx", path, rv);
		goto fail;
	}
	{
		CK_SLOT_ID slot;
		CK_INFO info;

		/*
		 * Modules that cannot report new tokens: no C_WaitForSlotEvent, or
		 * SoftHSM2, which answers CKR_NO_EVENT but fixes its slot list at
		 * C_Initialize (checked on 2.6.1).
		 */
		rv = p11->fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL);
		p11->softhsm = p11->fl->C_GetInfo(&info) == CKR_OK && memcmp(info.manufacturerID, "SoftHSM", 7) == 0;
		p11->static_slots = rv == CKR_FUNCTION_NOT_SUPPORTED || p11->softhsm;
	}
	*ret_p11 = p11;
	return 0;

fail:
	PKCS11_CTX_unload(p11->ctx);
fail_unloaded:
	if (p11->dl)
		dlclose(p11->dl);
	if (p11->ctx)
		PKCS11_CTX_free(p11->ctx);
	free(p11->path);
	free(p11);
	return r;
}

struct ukey_p11 *ukey_p11_free(struct ukey_p11 *p11)
{
	if (!p11)
		return NULL;
	if (p11->initialized_here)
		p11->fl->C_Finalize(NULL);
	PKCS11_CTX_unload(p11->ctx);
	PKCS11_CTX_free(p11->ctx);
	if (p11->dl)
		dlclose(p11->dl);
	free(p11->path);
	pthread_mutex_destroy(&p11->slots_lock);
	free(p11);
	return NULL;
}

bool ukey_p11_is_softhsm(const struct ukey_p11 *p11)
{
	return p11->softhsm;
}

bool ukey_p11_needs_polling(const struct ukey_p11 *p11)
{
	return p11->static_slots;
}

int ukey_p11_rescan(struct ukey_p11 *p11)
{
	CK_C_INITIALIZE_ARGS init_args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv;

	if (!p11->static_slots)
		return 0;
	/*
	 * SoftHSM2 builds its slot list once, in C_Initialize, and a token
	 * directory that went away stays invalid in that process. A module
	 * that cannot report slot events is re-initialised to see the truth.
	 */
	p11->fl->C_Finalize(NULL);
	rv = p11->fl->C_Initialize(&init_args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return log_debug_errno(-UKEY_E_MODULE_LOAD, "re-initialising '%s': CKR 0x%lx", p11->path, rv);
	return 1;
}

const char *ukey_p11_path(const struct ukey_p11 *p11)
{
	return p11->path;
}

/* Copy a blank-padded PKCS#11 string field into a NUL-terminated, right-trimmed C string. */
static void copy_padded(char *dst, size_t dst_size, const unsigned char *src, size_t src_len)
{
	size_t n = src_len < dst_size - 1 ? src_len : dst_size - 1;

	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

static void token_info_from_ck(unsigned long slot_id, const CK_TOKEN_INFO *ti, struct ukey_token_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->slot_id = slot_id;
	copy_padded(ret->label, sizeof(ret->label), ti->label, sizeof(ti->label));
	copy_padded(ret->manufacturer, sizeof(ret->manufacturer), ti->manufacturerID, sizeof(ti->manufacturerID));
	copy_padded(ret->model, sizeof(ret->model), ti->model, sizeof(ti->model));
	copy_padded(ret->serial, sizeof(ret->serial), ti->serialNumber, sizeof(ti->serialNumber));
	ret->initialized = ti->flags & CKF_TOKEN_INITIALIZED;
	ret->user_pin_initialized = ti->flags & CKF_USER_PIN_INITIALIZED;
	ret->login_required = ti->flags & CKF_LOGIN_REQUIRED;
	ret->protected_auth_path = ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH;
	ret->pin_count_low = ti->flags & CKF_USER_PIN_COUNT_LOW;
	ret->pin_final_try = ti->flags & CKF_USER_PIN_FINAL_TRY;
	ret->pin_locked = ti->flags & CKF_USER_PIN_LOCKED;
	ret->pin_to_be_changed = ti->flags & CKF_USER_PIN_TO_BE_CHANGED;
	ret->min_pin_len = ti->ulMinPinLen;
	ret->max_pin_len = ti->ulMaxPinLen;
}

int ukey_p11_tokens(struct ukey_p11 *p11, struct ukey_token_info **ret_tokens)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	struct ukey_token_info *tokens = NULL;
	int count = 0, r;
	CK_RV rv;

	/* The slot count may grow between the two calls (a key plugged in): retry on BUFFER_TOO_SMALL. */
	for (;;) {
		rv = p11->fl->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK)
			return ukey_err_from_ckr(rv);
		free(ids);
		ids = calloc(n ? n : 1, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		rv = p11->fl->C_GetSlotList(CK_TRUE, ids, &n);
		if (rv == CKR_OK)
			break;
		if (rv != CKR_BUFFER_TOO_SMALL) {
			r = ukey_err_from_ckr(rv);
			goto out;
		}
	}
	tokens = calloc(n ? n : 1, sizeof(*tokens));
	if (!tokens) {
		r = -ENOMEM;
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		CK_SLOT_INFO si;

		rv = p11->fl->C_GetTokenInfo(ids[i], &ti);
		if (rv != CKR_OK) {
			/* Pulled between the two calls, or not a token we can talk to: skip, never fail the list. */
			log_debug("slot %lu: C_GetTokenInfo CKR 0x%lx, skipped", ids[i], rv);
			continue;
		}
		/* A blank (uninitialised) token, like SoftHSM2's spare slot, holds nothing to use. */
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		token_info_from_ck(ids[i], &ti, &tokens[count]);
		if (p11->fl->C_GetSlotInfo(ids[i], &si) == CKR_OK)
			copy_padded(tokens[count].slot_description, sizeof(tokens[count].slot_description),
				    si.slotDescription, sizeof(si.slotDescription));
		count++;
	}
	if (count == 0) {
		free(tokens);
		tokens = NULL;
	}
	*ret_tokens = tokens;
	tokens = NULL;
	r = count;
out:
	free(tokens);
	free(ids);
	return r;
}

int ukey_p11_token_info(struct ukey_p11 *p11, const char *serial, struct ukey_token_info *ret_info)
{
	struct ukey_token_info *tokens = NULL;
	int n, r = -UKEY_E_TOKEN_REMOVED;

	n = ukey_p11_tokens(p11, &tokens);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (strcmp(tokens[i].serial, serial) == 0) {
			*ret_info = tokens[i];
			r = 0;
			break;
		}
	free(tokens);
	return r;
}

int ukey_p11_select(const struct ukey_token_info *tokens, size_t n, const char *selector)
{
	int found = -1, matches = 0;

	if (n == 0)
		return -UKEY_E_NO_TOKEN;
	if (!selector || !*selector)
		return n == 1 ? 0 : -UKEY_E_TOKEN_AMBIGUOUS;
	/* Serials identify a token; labels are chosen by people and may repeat, so a serial wins. */
	for (size_t i = 0; i < n; i++)
		if (strcmp(tokens[i].serial, selector) == 0) {
			found = (int)i;
			matches++;
		}
	if (matches == 0)
		for (size_t i = 0; i < n; i++)
			if (strcmp(tokens[i].label, selector) == 0) {
				found = (int)i;
				matches++;
			}
	if (matches == 0)
		return -UKEY_E_TOKEN_NOT_FOUND;
	if (matches > 1)
		return -UKEY_E_TOKEN_AMBIGUOUS;
	return found;
}

static void ids_copy(struct ukey_cert_info *c, const uint8_t *id, size_t id_len)
{
	c->id_len = id_len < sizeof(c->id) ? id_len : sizeof(c->id);
	if (id && c->id_len)
		memcpy(c->id, id, c->id_len);
}

/* One certificate object: label and id always; parsed fields when CKA_VALUE is a certificate. */
static int cert_read(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, struct ukey_cert_info *c)
{
	uint8_t *v = NULL, *id = NULL;
	size_t len = 0, id_len = 0;
	int r;

	ukey_raw_attr(fl, h, o, CKA_ID, &id, &id_len);
	/* A CKA_VALUE that is not a certificate (R-D3) is listed as unreadable, not as an error. */
	if (ukey_raw_attr(fl, h, o, CKA_VALUE, &v, &len) == 0 && ukey_cert_info_from_der(v, len, c) == 0)
		c->key_match = ukey_raw_key_match(fl, h, id, id_len, v, len);
	free(v);
	/* ukey_raw_attr leaves *ret alone on failure: an object removed meanwhile must not free v twice. */
	v = NULL;
	ids_copy(c, id, id_len);
	free(id);
	r = ukey_raw_attr(fl, h, o, CKA_LABEL, &v, &len);
	c->label = r == 0 ? strndup((const char *)v, len) : strdup("");
	free(v);
	return c->label ? 0 : -ENOMEM;
}

/*
 * A session of its own on the token with this serial and the certificate
 * objects there (at most UKEY_P11_MAX_OBJECTS). The session is open when 0 is
 * returned, whatever *ret_rv (the search's result) says: the caller closes it.
 */
static int find_certs(struct ukey_p11 *p11, const char *serial, CK_SESSION_HANDLE *ret_h, CK_OBJECT_HANDLE *objs,
		      CK_ULONG *ret_n, CK_RV *ret_rv)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof(cls) };
	struct ukey_token_info t;
	CK_RV rv;
	int r;

	*ret_n = 0;
	if ((r = ukey_p11_token_info(p11, serial, &t)) < 0 ||
	    (r = ukey_raw_session_open(p11->fl, t.slot_id, ret_h)) < 0)
		return r;
	rv = p11->fl->C_FindObjectsInit(*ret_h, &tmpl, 1);
	if (rv == CKR_OK) {
		rv = p11->fl->C_FindObjects(*ret_h, objs, UKEY_P11_MAX_OBJECTS, ret_n);
		p11->fl->C_FindObjectsFinal(*ret_h);
	}
	*ret_rv = rv;
	return 0;
}

int ukey_p11_certs_stamp(struct ukey_p11 *p11, const char *serial, uint64_t *ret)
{
	CK_OBJECT_HANDLE objs[UKEY_P11_MAX_OBJECTS];
	CK_SESSION_HANDLE h;
	CK_ULONG n = 0;
	uint64_t stamp = 1469598103934665603ULL; /* FNV-1a */
	CK_RV rv;
	int r;

	if ((r = find_certs(p11, serial, &h, objs, &n, &rv)) < 0)
		return r;
	/* Sizes only, no values: what changes when a certificate is added, removed or replaced, at a few calls' cost. */
	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
		uint8_t id[UKEY_P11_ID_MAX];
		CK_ATTRIBUTE a[2] = { { CKA_ID, id, sizeof(id) }, { CKA_VALUE, NULL, 0 } };
		CK_ULONG words[2];

		if (p11->fl->C_GetAttributeValue(h, objs[i], a, 2) != CKR_OK)
			a[0].ulValueLen = a[1].ulValueLen = 0;
		words[0] = a[0].ulValueLen;
		words[1] = a[1].ulValueLen;
		for (size_t k = 0; k < sizeof(words); k++)
			stamp = (stamp ^ ((const uint8_t *)words)[k]) * 1099511628211ULL;
		for (CK_ULONG k = 0;
		     a[0].ulValueLen != CK_UNAVAILABLE_INFORMATION && k < a[0].ulValueLen && k < sizeof(id); k++)
			stamp = (stamp ^ id[k]) * 1099511628211ULL;
	}
	p11->fl->C_CloseSession(h);
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	*ret = stamp ^ n;
	return 0;
}

int ukey_p11_certs(struct ukey_p11 *p11, const char *serial, struct ukey_cert_info **ret_certs)
{
	CK_OBJECT_HANDLE objs[UKEY_P11_MAX_OBJECTS];
	struct ukey_cert_info *out = NULL;
	CK_SESSION_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;
	int r;

	if ((r = find_certs(p11, serial, &h, objs, &n, &rv)) < 0)
		return r;
	if (rv != CKR_OK) {
		r = ukey_err_from_ckr(rv);
		goto out;
	}
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++)
		if ((r = cert_read(p11->fl, h, objs[i], &out[i])) < 0) {
			ukey_cert_info_free_array(out, n);
			out = NULL;
			goto out;
		}
	*ret_certs = out;
	out = NULL;
	r = (int)n;
out:
	free(out);
	p11->fl->C_CloseSession(h);
	return r;
}

int ukey_session_open(struct ukey_p11 *p11, const char *serial, struct ukey_session **ret_session)
{
	struct ukey_token_info t;
	struct ukey_session *s;
	CK_RV rv;
	int r;

	/* Looked up afresh: a token moved to another slot (re-plugged) is still found by its serial. */
	if ((r = ukey_p11_token_info(p11, serial, &t)) < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p11 = p11;
	s->slot_id = t.slot_id;
	s->key = CK_INVALID_HANDLE;
	snprintf(s->serial, sizeof(s->serial), "%s", serial);
	/* Read-write: C_SetPIN and (later) key generation need it. */
	rv = p11->fl->C_OpenSession(t.slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->h);
	if (rv != CKR_OK) {
		free(s);
		return ukey_err_from_ckr(rv);
	}
	slot_sessions(p11, s->slot_id, +1);
	*ret_session = s;
	return 0;
}

struct ukey_session *ukey_session_free(struct ukey_session *s)
{
	if (!s)
		return NULL;
	/* One PIN, one call: the login ends with the last of our sessions on the key, not before (see slots). */
	if (slot_sessions(s->p11, s->slot_id, -1) == 0 && s->logged_in)
		s->p11->fl->C_Logout(s->h);
	s->p11->fl->C_CloseSession(s->h);
	/* After our own session: releasing libp11's slots closes every session of the slot (C_CloseAllSessions). */
	EVP_PKEY_free(s->tls_key);
	if (s->tls_slots)
		PKCS11_release_all_slots(s->p11->ctx, s->tls_slots, s->n_tls_slots);
	free(s);
	return NULL;
}

int ukey_session_tls_key(struct ukey_session *s, const uint8_t *id, size_t id_len, const char *pin, EVP_PKEY **ret)
{
	PKCS11_SLOT *slot = NULL;
	PKCS11_KEY *keys = NULL;
	unsigned int n = 0;

	if (!s->logged_in)
		return -UKEY_E_NOT_LOGGED_IN;
	if (s->tls_key) {
		*ret = s->tls_key;
		return 0;
	}
	if (PKCS11_enumerate_slots(s->p11->ctx, &s->tls_slots, &s->n_tls_slots) < 0) {
		ERR_clear_error();
		return -UKEY_E_TOKEN_FAILED;
	}
	for (unsigned int i = 0; i < s->n_tls_slots && !slot; i++)
		if (s->tls_slots[i].token && s->tls_slots[i].token->serialnr &&
		    strcmp(s->tls_slots[i].token->serialnr, s->serial) == 0)
			slot = &s->tls_slots[i];
	if (!slot)
		return -UKEY_E_TOKEN_REMOVED;
	/*
	 * With the module's own function list the application is logged in
	 * already (our session) and libp11 sees the private keys; p11-kit's
	 * proxy gives libp11 another instance, which needs its own login. The
	 * PIN was just accepted by the token, so this cannot cost a try.
	 */
	if (PKCS11_enumerate_keys(slot->token, &keys, &n) < 0 || n == 0) {
		ERR_clear_error();
		if (!pin || PKCS11_open_session(slot, 1) < 0 || PKCS11_login(slot, 0, pin) < 0 ||
		    PKCS11_enumerate_keys(slot->token, &keys, &n) < 0) {
			ERR_clear_error();
			return -UKEY_E_KEY_NOT_FOUND;
		}
	}
	for (unsigned int i = 0; i < n; i++)
		if (keys[i].id_len == id_len && memcmp(keys[i].id, id, id_len) == 0) {
			s->tls_key = PKCS11_get_private_key(&keys[i]);
			break;
		}
	if (!s->tls_key) {
		ERR_clear_error();
		return -UKEY_E_KEY_NOT_FOUND;
	}
	*ret = s->tls_key;
	return 0;
}

const char *ukey_session_serial(const struct ukey_session *s)
{
	return s->serial;
}

int ukey_session_login(struct ukey_session *s, const char *pin)
{
	CK_RV rv;

	/*
	 * Always start logged out, so the PIN given now is the PIN checked now
	 * (libp11 0.4.12 reports success for a wrong PIN while logged in; a raw
	 * C_Login would answer CKR_USER_ALREADY_LOGGED_IN without checking it).
	 */
	s->p11->fl->C_Logout(s->h);
	s->logged_in = false;
	rv = s->p11->fl->C_Login(s->h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK)
		return ukey_err_from_ckr(rv);
	s->logged_in = true;
	return 0;
}

int ukey_session_change_pin(struct ukey_session *s, const char *old_pin, const char *new_pin)
{
	CK_RV rv = s->p11->fl->C_SetPIN(s->h, (CK_UTF8CHAR_PTR)old_pin, strlen(old_pin), (CK_UTF8CHAR_PTR)new_pin,
					strlen(new_pin));

	return ukey_err_from_ckr(rv);
}

/* The session's cached handle of the private key with this CKA_ID (one key remembered; another id resets it). */
static CK_OBJECT_HANDLE *session_key(struct ukey_session *s, const uint8_t *id, size_t id_len)
{
	if (id_len > sizeof(s->key_id))
		return NULL;
	/* id_len 0 (any private key) comes with id NULL: no memcmp/memcpy on it. */
	if (s->key_id_len != id_len || (id_len && memcmp(s->key_id, id, id_len) != 0)) {
		if (id_len)
			memcpy(s->key_id, id, id_len);
		s->key_id_len = id_len;
		s->key = CK_INVALID_HANDLE;
	}
	return &s->key;
}

int ukey_session_sign(struct ukey_session *s, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
		      const uint8_t *data, size_t data_len, uint8_t **ret_sig, size_t *ret_len)
{
	if (!s->logged_in)
		return -UKEY_E_NOT_LOGGED_IN;
	return ukey_raw_sign(s->p11->fl, s->h, id, id_len, mech, false, data, data_len, session_key(s, id, id_len),
			     ret_sig, ret_len);
}

int ukey_session_sign_digest(struct ukey_session *s, const uint8_t *id, size_t id_len, enum ukey_sign_mech mech,
			     const uint8_t *digest, size_t digest_len, uint8_t **ret_sig, size_t *ret_len)
{
	if (!s->logged_in)
		return -UKEY_E_NOT_LOGGED_IN;
	return ukey_raw_sign(s->p11->fl, s->h, id, id_len, mech, true, digest, digest_len, session_key(s, id, id_len),
			     ret_sig, ret_len);
}

struct ukey_p11 *ukey_session_p11(struct ukey_session *s)
{
	return s->p11;
}

CK_SESSION_HANDLE ukey_session_handle(struct ukey_session *s)
{
	return s->h;
}

bool ukey_session_logged_in(const struct ukey_session *s)
{
	return s->logged_in;
}

/* Raw access for what libp11 0.4 lacks (EC key generation, data objects): for the layer's own files. */
CK_FUNCTION_LIST *ukey_p11_function_list(struct ukey_p11 *p11)
{
	return p11->fl;
}
