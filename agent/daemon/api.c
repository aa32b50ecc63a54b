/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd's JSON-RPC methods, run on one worker thread over the same core functions as the CLI. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_CORE
#include "api.h"
#include "base/err.h"
#include "base/log.h"
#include "devices.h"
#include "diagnose.h"
#include "renew.h"
#include "guide.h"
#include "objects.h"
#include "p11.h"
#include "pin.h"
#include "store.h"

#define API_VERSION 1

struct job {
	uint64_t conn_id;
	cJSON *req; /* NULL: the greeting of a new connection */
	char *origin;
	struct job *next;
};

struct ukey_api {
	struct ukey_api_config cfg;
	char *module, *state_dir, *ca_url, *ca_trust;
	struct ukey_p11 *p11; /* used by the worker only */
	struct ukey_store *store; /* used by the worker only; NULL when unavailable */
	int store_error;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *jobs, *jobs_tail; /* guarded by lock */
	struct ukey_api_reply *replies, *replies_tail; /* guarded by lock */
	bool stop; /* guarded by lock */
	struct ukey_token_info *known; /* worker only: the last token list */
	int nknown;
	struct ukey_token_info *missing; /* worker only: known keys the last poll missed */
	int nmissing;
	bool rescan; /* guarded by lock: a device event came; look at the tokens now, not at the next poll */
	struct ukey_model_db *models; /* NULL when the model database cannot be read */
	struct ukey_device_watch *devices; /* NULL without the model database or PC/SC and USB */
};

/* A method's outcome: a result object, or an error with its rule and PIN state. */
struct outcome {
	cJSON *result;
	int r;
	const char *rule;
	bool has_pin;
	struct ukey_pin_state pin;
	char message[256];
};

static void push_reply(struct ukey_api *api, uint64_t conn_id, cJSON *doc, bool request_done)
{
	struct ukey_api_reply *reply = calloc(1, sizeof(*reply));
	char *text = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	if (!reply || !text) {
		free(reply);
		free(text);
		return;
	}
	reply->conn_id = conn_id;
	reply->text = text;
	reply->len = strlen(text);
	reply->request_done = request_done;
	pthread_mutex_lock(&api->lock);
	if (api->replies_tail)
		api->replies_tail->next = reply;
	else
		api->replies = reply;
	api->replies_tail = reply;
	pthread_mutex_unlock(&api->lock);
	api->cfg.wake(api->cfg.userdata);
}

static void notify(struct ukey_api *api, uint64_t conn_id, const char *method, cJSON *params)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddStringToObject(doc, "method", method);
	cJSON_AddItemToObject(doc, "params", params);
	push_reply(api, conn_id, doc, false);
}

static cJSON *error_doc(const cJSON *id, int code, const char *data_id, const char *message)
{
	cJSON *doc = cJSON_CreateObject(), *e, *data;

	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddItemToObject(doc, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
	e = cJSON_AddObjectToObject(doc, "error");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	data = cJSON_AddObjectToObject(e, "data");
	cJSON_AddStringToObject(data, "id", data_id);
	return doc;
}

char *ukey_api_error_text(const cJSON *id, int code, const char *data_id, const char *message)
{
	cJSON *doc = error_doc(id, code, data_id, message);
	char *text = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	return text;
}

/* The sentence for an error: what happened and what to do, as the CLI says it (in English). */
static void error_message(struct outcome *o)
{
	switch (-o->r) {
	case UKEY_E_PIN_INCORRECT:
		if (o->pin.locked)
			snprintf(
				o->message, sizeof(o->message),
				"Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is free.");
		else
			snprintf(o->message, sizeof(o->message), "Wrong PIN: %u tries left before the key locks.",
				 o->pin.tries_left);
		break;
	case UKEY_E_PIN_LOCKED:
		snprintf(o->message, sizeof(o->message),
			 "The key is locked: even the right PIN is refused (R-P2) until it is unlocked, which is free, "
			 "online or at the service point (R-P3).");
		break;
	case UKEY_E_TOKEN_AMBIGUOUS:
		snprintf(o->message, sizeof(o->message), "Several keys are inserted: pass \"token\" (a serial).");
		break;
	case UKEY_E_UNSUPPORTED:
		snprintf(o->message, sizeof(o->message),
			 "This key cannot sign with that mechanism: use ecdsa-sha256 for an EC key, rsa-* for RSA.");
		break;
	case UKEY_E_NO_TOKEN:
		snprintf(o->message, sizeof(o->message), "No USB key is inserted: insert the key and try again.");
		break;
	case UKEY_E_STATE_UNAVAILABLE:
	case UKEY_E_STATE_CORRUPT:
		snprintf(o->message, sizeof(o->message),
			 "PIN tries cannot be recorded (%s): PIN entry is refused so that no try goes uncounted.",
			 ukey_strerror(o->r));
		break;
	default:
		if (!o->message[0])
			snprintf(o->message, sizeof(o->message), "%s.", ukey_strerror(o->r));
	}
}

static void reply_outcome(struct ukey_api *api, uint64_t conn_id, const cJSON *id, struct outcome *o)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddItemToObject(doc, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
	if (o->r >= 0) {
		cJSON_AddItemToObject(doc, "result", o->result ? o->result : cJSON_CreateObject());
	} else {
		cJSON *e = cJSON_AddObjectToObject(doc, "error");

		cJSON_Delete(o->result);
		error_message(o);
		cJSON_AddNumberToObject(e, "code", ukey_err_rpc_code(o->r));
		cJSON_AddStringToObject(e, "message", o->message);
		cJSON_AddItemToObject(e, "data", ukey_json_error_data(o->r, o->rule, o->has_pin ? &o->pin : NULL));
	}
	push_reply(api, conn_id, doc, true);
}

static int fail(struct outcome *o, int r, const char *message)
{
	o->r = r;
	if (message)
		snprintf(o->message, sizeof(o->message), "%s", message);
	return r;
}

/* params.token (optional string) → the selected token, as `--token` does. */
static int select_token(struct ukey_api *api, const cJSON *params, struct ukey_token_info *ret, struct outcome *o)
{
	const cJSON *sel = cJSON_GetObjectItemCaseSensitive(params, "token");
	struct ukey_token_info *tokens = NULL;
	int n, i;

	if (sel && !cJSON_IsNull(sel) && !cJSON_IsString(sel))
		return fail(o, -UKEY_E_USAGE, "\"token\" must be a string: a serial or a label.");
	n = ukey_p11_tokens(api->p11, &tokens);
	if (n < 0)
		return fail(o, n, NULL);
	i = ukey_p11_select(tokens, (size_t)n, cJSON_IsString(sel) ? sel->valuestring : NULL);
	/*
	 * Not found with a module whose slot list is fixed at C_Initialize: the
	 * key may have come since, or been unreadable for a moment while another
	 * program wrote it. Re-initialise (no session is open here) and look again.
	 */
	if ((i == -UKEY_E_NO_TOKEN || i == -UKEY_E_TOKEN_NOT_FOUND) && ukey_p11_rescan(api->p11) == 1) {
		free(tokens);
		tokens = NULL;
		usleep(100 * 1000);
		ukey_p11_rescan(api->p11);
		n = ukey_p11_tokens(api->p11, &tokens);
		if (n < 0)
			return fail(o, n, NULL);
		i = ukey_p11_select(tokens, (size_t)n, cJSON_IsString(sel) ? sel->valuestring : NULL);
	}
	if (i >= 0)
		*ret = tokens[i];
	free(tokens);
	return i < 0 ? fail(o, i, NULL) : 0;
}

static void m_token_list(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	struct ukey_token_info *tokens = NULL;
	cJSON *arr;
	int n;

	(void)params;
	n = ukey_p11_tokens(api->p11, &tokens);
	if (n < 0) {
		fail(o, n, NULL);
		return;
	}
	o->result = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o->result, "tokens");
	for (int i = 0; i < n; i++) {
		struct ukey_cert_info *certs = NULL;
		struct ukey_pin_state st;
		int k;

		ukey_pin_state(api->store, &tokens[i], api->cfg.max_tries, &st);
		k = ukey_p11_certs(api->p11, tokens[i].serial, &certs);
		ukey_cert_info_free_array(certs, k > 0 ? (size_t)k : 0);
		cJSON_AddItemToArray(arr, ukey_json_token(&tokens[i], &st, k));
	}
	free(tokens);
}

static void m_cert_list(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	const cJSON *sel = cJSON_GetObjectItemCaseSensitive(params, "token");
	struct ukey_token_info *tokens = NULL, one;
	time_t now = time(NULL);
	cJSON *arr;
	int n;

	if (sel && !cJSON_IsNull(sel)) {
		if (select_token(api, params, &one, o) < 0)
			return;
		tokens = malloc(sizeof(*tokens));
		if (!tokens) {
			fail(o, -ENOMEM, NULL);
			return;
		}
		tokens[0] = one;
		n = 1;
	} else if ((n = ukey_p11_tokens(api->p11, &tokens)) < 0) {
		fail(o, n, NULL);
		return;
	}
	o->result = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o->result, "certificates");
	for (int i = 0; i < n; i++) {
		struct ukey_cert_info *certs = NULL;
		int k = ukey_p11_certs(api->p11, tokens[i].serial, &certs);

		for (int j = 0; j < k; j++)
			cJSON_AddItemToArray(arr, ukey_json_cert(&tokens[i], &certs[j], now, true));
		ukey_cert_info_free_array(certs, k > 0 ? (size_t)k : 0);
	}
	free(tokens);
}

static void m_pin_status(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	struct ukey_token_info t;
	struct ukey_pin_state st;
	int r;

	if (select_token(api, params, &t, o) < 0)
		return;
	r = ukey_pin_state(api->store, &t, api->cfg.max_tries, &st);
	if (!api->store)
		r = api->store_error;
	if (r < 0) {
		o->rule = "R-P1";
		fail(o, r, NULL);
		return;
	}
	o->result = ukey_json_pin_state(&t, &st);
}

/* A string param, or NULL when absent; -UKEY_E_USAGE when present but not a string. */
static int string_param(const cJSON *params, const char *name, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);

	*ret = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -UKEY_E_USAGE;
	*ret = v->valuestring;
	return 0;
}

/*
 * The PIN part every PIN method shares: the store must be usable (fail
 * closed), a locked key is refused before anything reaches it, then the
 * counted attempt through the same core flow as the CLI.
 */
static int pin_run(struct ukey_api *api, const struct ukey_token_info *t, const char *pin, const char *new_pin,
		   struct ukey_session **ret_session, struct outcome *o)
{
	struct ukey_pin_result res;
	struct ukey_pin_state before;
	int r;

	if (!api->store) {
		o->rule = "R-P1";
		return fail(o, api->store_error, NULL);
	}
	ukey_pin_state(api->store, t, api->cfg.max_tries, &before);
	o->has_pin = true;
	o->pin = before;
	if (before.locked) {
		o->rule = "R-P2";
		return fail(o, -UKEY_E_PIN_LOCKED, NULL);
	}
	r = ukey_pin_run(api->p11, api->store, t, api->cfg.max_tries, pin, new_pin, ret_session, &res);
	o->pin = res.state;
	if (r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED)
		o->rule = r == -UKEY_E_PIN_LOCKED ? "R-P2" : "R-P1";
	/* Every connection learns that a key just locked, whoever typed the last wrong PIN. */
	if (res.state.locked && !before.locked) {
		cJSON *p = cJSON_CreateObject();

		cJSON_AddStringToObject(p, "serial", res.token.serial);
		cJSON_AddStringToObject(p, "label", res.token.label);
		cJSON_AddStringToObject(p, "rule", "R-P1");
		notify(api, 0, "pin.locked", p);
	}
	return r < 0 ? fail(o, r, NULL) : 0;
}

static void m_pin_verify(struct ukey_api *api, const cJSON *params, struct outcome *o, bool change)
{
	struct ukey_token_info t;
	const char *pin, *new_pin = NULL;

	if (string_param(params, "pin", &pin) < 0 || !pin ||
	    (change && (string_param(params, "new_pin", &new_pin) < 0 || !new_pin))) {
		fail(o, -UKEY_E_USAGE,
		     change ? "\"pin\" and \"new_pin\" (strings) are required." : "\"pin\" (a string) is required.");
		return;
	}
	if (select_token(api, params, &t, o) < 0 || pin_run(api, &t, pin, new_pin, NULL, o) < 0)
		return;
	o->result = ukey_json_pin_state(&t, &o->pin);
	cJSON_AddStringToObject(o->result, "result", change ? "changed" : "verified");
}

static int parse_mechanism(const char *name, enum ukey_sign_mech *ret)
{
	if (!name || strcmp(name, "rsa-pkcs1-sha256") == 0)
		*ret = UKEY_SIGN_RSA_PKCS1_SHA256;
	else if (strcmp(name, "rsa-pss-sha256") == 0)
		*ret = UKEY_SIGN_RSA_PSS_SHA256;
	else if (strcmp(name, "ecdsa-sha256") == 0)
		*ret = UKEY_SIGN_ECDSA_SHA256;
	else
		return -UKEY_E_USAGE;
	return 0;
}

static int parse_hex(const char *hex, uint8_t *out, size_t size, size_t *ret_len)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 || n / 2 > size || strspn(hex, "0123456789abcdefABCDEF") != n)
		return -UKEY_E_USAGE;
	for (size_t i = 0; i < n / 2; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	*ret_len = n / 2;
	return 0;
}

/* The key to sign with: key_id, else the first certificate's id (its key is the unit's identity). */
/* Whether a certificate's key (key_type "RSA-2048", "EC-P-256" …) can do mech. */
static bool mech_fits(enum ukey_sign_mech mech, const char *key_type)
{
	bool ec = strncmp(key_type, "EC", 2) == 0, rsa = strncmp(key_type, "RSA", 3) == 0;

	return mech == UKEY_SIGN_ECDSA_SHA256 ? ec : rsa;
}

static int sign_key(struct ukey_api *api, const struct ukey_token_info *t, enum ukey_sign_mech mech, const char *key_id,
		    uint8_t *id, size_t *id_len, char **ret_cert_b64)
{
	struct ukey_cert_info *certs = NULL;
	int n, r = 0;

	*ret_cert_b64 = NULL;
	if (key_id && parse_hex(key_id, id, UKEY_P11_ID_MAX, id_len) < 0)
		return -UKEY_E_USAGE;
	n = ukey_p11_certs(api->p11, t->serial, &certs);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !*ret_cert_b64; i++) {
		if (!certs[i].readable)
			continue;
		if (!key_id) {
			memcpy(id, certs[i].id, certs[i].id_len);
			*id_len = certs[i].id_len;
		}
		if (certs[i].id_len == *id_len && memcmp(certs[i].id, id, *id_len) == 0) {
			/* Known before the PIN is used: an ECDSA request for an RSA key costs no try. */
			if (!mech_fits(mech, certs[i].key_type)) {
				r = -UKEY_E_UNSUPPORTED;
				break;
			}
			*ret_cert_b64 = ukey_json_base64(certs[i].der, certs[i].der_len);
		}
	}
	if (r == 0 && !key_id && !*ret_cert_b64)
		r = -UKEY_E_KEY_NOT_FOUND;
	ukey_cert_info_free_array(certs, n > 0 ? (size_t)n : 0);
	return r;
}

static void m_sign(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	const char *pin, *mech_name, *data_b64, *digest_b64, *key_id;
	struct ukey_session *s = NULL;
	struct ukey_token_info t;
	enum ukey_sign_mech mech;
	uint8_t id[UKEY_P11_ID_MAX], *input = NULL, *sig = NULL;
	size_t id_len = 0, input_len = 0, sig_len = 0;
	char *cert_b64 = NULL, *sig_b64 = NULL, id_hex[2 * UKEY_P11_ID_MAX + 1];
	int r;

	if (string_param(params, "pin", &pin) < 0 || !pin || string_param(params, "mechanism", &mech_name) < 0 ||
	    parse_mechanism(mech_name, &mech) < 0 || string_param(params, "data", &data_b64) < 0 ||
	    string_param(params, "digest", &digest_b64) < 0 || string_param(params, "key_id", &key_id) < 0 ||
	    !data_b64 == !digest_b64) {
		fail(o, -UKEY_E_USAGE,
		     "sign needs \"pin\", a known \"mechanism\", and exactly one of \"data\" and \"digest\" (base64).");
		return;
	}
	if (ukey_json_unbase64(data_b64 ? data_b64 : digest_b64, &input, &input_len) < 0 ||
	    (digest_b64 && input_len != 32)) {
		fail(o, -UKEY_E_USAGE, "\"data\" must be base64; \"digest\" must be a base64 SHA-256 (32 bytes).");
		goto out;
	}
	if (select_token(api, params, &t, o) < 0)
		goto out;
	if ((r = sign_key(api, &t, mech, key_id, id, &id_len, &cert_b64)) < 0) {
		fail(o, r, r == -UKEY_E_USAGE ? "\"key_id\" must be the hex CKA_ID of a key." : NULL);
		goto out;
	}
	if (pin_run(api, &t, pin, NULL, &s, o) < 0)
		goto out;
	r = digest_b64 ? ukey_session_sign_digest(s, id, id_len, mech, input, input_len, &sig, &sig_len)
		       : ukey_session_sign(s, id, id_len, mech, input, input_len, &sig, &sig_len);
	if (r < 0) {
		fail(o, r, NULL);
		goto out;
	}
	sig_b64 = ukey_json_base64(sig, sig_len);
	ukey_json_hex(id, id_len, id_hex, sizeof(id_hex));
	o->result = cJSON_CreateObject();
	cJSON_AddStringToObject(o->result, "signature", sig_b64 ? sig_b64 : "");
	cJSON_AddStringToObject(o->result, "mechanism", mech_name ? mech_name : "rsa-pkcs1-sha256");
	cJSON_AddStringToObject(o->result, "key_id", id_hex);
	if (cert_b64)
		cJSON_AddStringToObject(o->result, "certificate", cert_b64);
	else
		cJSON_AddNullToObject(o->result, "certificate");
out:
	/* Logging out ends the PIN's effect on the key: one PIN, one call. */
	ukey_session_free(s);
	free(input);
	free(sig);
	free(sig_b64);
	free(cert_b64);
}

/* The CA's services (R-S1…R-S8), the same objects as `ukey --json guide`. */
/* The technician's diagnosis for a page: the same JSON as `ukey diagnose --json`, plus the printable report. */
static void m_diagnose(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	struct ukey_diagnose_input in = { .p11 = api->p11,
					  .module = api->cfg.module,
					  .store = api->store,
					  .max_tries = api->cfg.max_tries,
					  .models = api->models,
					  .now = time(NULL) };
	struct ukey_diagnosis *dg;
	const char *led = NULL;
	char *html;
	int r;

	if (string_param(params, "token", &in.token) < 0 || string_param(params, "led", &led) < 0 ||
	    string_param(params, "first_issued", &in.first_issued) < 0 || (led && ukey_led_parse(led, &in.led) < 0) ||
	    (in.first_issued && !ukey_date_valid(in.first_issued))) {
		fail(o, -UKEY_E_USAGE,
		     "\"token\" is a serial, \"led\" is off, blinking or steady, \"first_issued\" is YYYY-MM-DD.");
		return;
	}
	if (!api->models) {
		fail(o, -UKEY_E_MODEL_DB, "The token model database cannot be read: see the agent's log.");
		return;
	}
	dg = calloc(1, sizeof(*dg));
	if (!dg) {
		fail(o, -ENOMEM, "Out of memory.");
		return;
	}
	ukey_p11_rescan(api->p11);
	if ((r = ukey_diagnose(&in, dg)) < 0) {
		fail(o, r,
		     r == -UKEY_E_TOKEN_AMBIGUOUS ? "Several keys are inserted: give \"token\"." : ukey_strerror(r));
		free(dg);
		return;
	}
	o->result = ukey_json_diagnosis(dg, in.now);
	html = ukey_report_html(o->result);
	if (html)
		cJSON_AddStringToObject(o->result, "report_html", html);
	free(html);
	free(dg);
}

static void renew_ctx(struct ukey_api *api, const cJSON *params, struct ukey_renew_ctx *ctx)
{
	const cJSON *force = cJSON_GetObjectItemCaseSensitive(params, "force");

	memset(ctx, 0, sizeof(*ctx));
	ctx->p11 = api->p11;
	ctx->store = api->store;
	ctx->max_tries = api->cfg.max_tries;
	ctx->est.base_url = api->ca_url;
	ctx->est.trust_pem = api->ca_trust;
	ctx->now = time(NULL);
	ctx->force = cJSON_IsTrue(force);
}

static int renew_plan(struct ukey_api *api, const cJSON *params, struct ukey_renew_ctx *ctx,
		      struct ukey_renew_plan *plan, struct outcome *o)
{
	const char *token = NULL;
	int r;

	if (string_param(params, "token", &token) < 0)
		return fail(o, -UKEY_E_USAGE, "\"token\" is a serial or a label.");
	renew_ctx(api, params, ctx);
	ctx->token = token;
	ukey_p11_rescan(api->p11);
	if ((r = ukey_renew_plan(ctx, plan)) < 0) {
		o->rule = r == -UKEY_E_TOKEN_AMBIGUOUS ? "R-R7" : NULL;
		return fail(o, r,
			    r == -UKEY_E_CERT_UNREADABLE ? "The key holds no readable certificate to renew." : NULL);
	}
	return 0;
}

/* R-R2…R-R5 for the inserted key (R-R7): what `ukey renew --check --json` prints. */
static void m_renew_check(struct ukey_api *api, const cJSON *params, struct outcome *o)
{
	struct ukey_renew_ctx ctx;
	struct ukey_renew_plan plan;

	if (renew_plan(api, params, &ctx, &plan, o) < 0)
		return;
	o->result = ukey_json_renew_plan(&plan);
}

struct renew_progress {
	struct ukey_api *api;
	uint64_t conn_id;
	const char *serial;
};

/* renew.progress to the connection that asked: one notification per step. */
static void on_renew_progress(void *userdata, enum ukey_renew_step step, const char *detail)
{
	struct renew_progress *rp = userdata;
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "serial", rp->serial);
	cJSON_AddStringToObject(p, "step", ukey_renew_step_id(step));
	cJSON_AddNumberToObject(p, "index", (int)step + 1);
	cJSON_AddNumberToObject(p, "total", (int)UKEY_RENEW_STEP_DONE + 1);
	if (detail && *detail)
		cJSON_AddStringToObject(p, "detail", detail);
	else
		cJSON_AddNullToObject(p, "detail");
	notify(rp->api, rp->conn_id, "renew.progress", p);
}

/* The whole renewal (or its resumption) on the worker; the PIN is counted like everywhere (R-P1), never kept. */
static void m_renew_start(struct ukey_api *api, uint64_t conn_id, const cJSON *params, struct outcome *o)
{
	struct ukey_renew_ctx ctx;
	struct ukey_renew_plan plan;
	struct ukey_renew_outcome out;
	struct renew_progress rp = { .api = api, .conn_id = conn_id };
	struct ukey_pin_state before;
	const char *pin = NULL;
	int r;

	if (string_param(params, "pin", &pin) < 0 || !pin) {
		fail(o, -UKEY_E_USAGE, "\"pin\" (a string) is required.");
		return;
	}
	if (!api->ca_url) {
		fail(o, -UKEY_E_CA_UNREACHABLE, "No CA is configured for this agent (ukeyd --ca-url).");
		return;
	}
	if (!api->store) {
		o->rule = "R-P1";
		fail(o, api->store_error, NULL);
		return;
	}
	if (renew_plan(api, params, &ctx, &plan, o) < 0)
		return;
	ukey_pin_state(api->store, &plan.token, api->cfg.max_tries, &before);
	o->has_pin = true;
	o->pin = before;
	if (before.locked) {
		o->rule = "R-P2";
		fail(o, -UKEY_E_PIN_LOCKED, NULL);
		return;
	}
	if (!plan.in_progress && !plan.open && !ctx.force) {
		o->rule = plan.validity.needs_documents ? "R-R5" : "R-R2";
		fail(o, -UKEY_E_RENEW_NOT_OPEN, NULL);
		return;
	}
	rp.serial = plan.token.serial;
	ctx.progress = on_renew_progress;
	ctx.userdata = &rp;
	r = ukey_renew_run(&ctx, pin, &out);
	o->pin = out.pin;
	if (r == -UKEY_E_PIN_INCORRECT || r == -UKEY_E_PIN_LOCKED) {
		o->rule = r == -UKEY_E_PIN_LOCKED ? "R-P2" : "R-P1";
		fail(o, r, NULL);
		return;
	}
	if (r == -UKEY_E_RENEW_PENDING) {
		o->rule = "R-R6";
		fail(o, r, NULL);
		return;
	}
	if (r < 0) {
		fail(o, r, out.warning[0] ? out.warning : NULL);
		return;
	}
	o->has_pin = false;
	o->result = ukey_json_renew_plan(&plan);
	cJSON_AddStringToObject(o->result, "result", "renewed");
	cJSON_AddStringToObject(o->result, "new_not_after", out.new_not_after);
	if (out.warning[0])
		cJSON_AddStringToObject(o->result, "warning", out.warning);
	else
		cJSON_AddNullToObject(o->result, "warning");
}

static void m_guide(const cJSON *params, struct outcome *o)
{
	const struct ukey_service *all, *one = NULL;
	const char *name;
	cJSON *arr;
	size_t n;

	if (string_param(params, "service", &name) < 0) {
		fail(o, -UKEY_E_USAGE, "\"service\" must be a string such as \"R-S3\" or \"loss\".");
		return;
	}
	all = ukey_guide_services(&n);
	if (name && !(one = ukey_guide_find(name))) {
		fail(o, -UKEY_E_USAGE, "No such service: use R-S1 to R-S8, or an id such as \"unlock\".");
		return;
	}
	o->result = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o->result, "services");
	for (size_t i = 0; i < n; i++)
		if (!one || one == &all[i])
			cJSON_AddItemToArray(arr, ukey_json_service(&all[i]));
}

static void m_agent_info(struct ukey_api *api, const char *origin, struct outcome *o)
{
	o->result = cJSON_CreateObject();
	cJSON_AddStringToObject(o->result, "name", "ukeyd");
	cJSON_AddStringToObject(o->result, "version", UKEY_VERSION);
	cJSON_AddNumberToObject(o->result, "api", API_VERSION);
	cJSON_AddNumberToObject(o->result, "port", api->cfg.port);
	cJSON_AddNumberToObject(o->result, "max_tries", api->cfg.max_tries);
	if (origin)
		cJSON_AddStringToObject(o->result, "origin", origin);
	else
		cJSON_AddNullToObject(o->result, "origin");
}

void ukey_api_request_free(cJSON *req)
{
	cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params"), *v;

	/* Every string param, not only "pin" and "new_pin": a method added later may carry a secret too. */
	cJSON_ArrayForEach(v, params)
	{
		if (cJSON_IsString(v))
			OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
	}
	cJSON_Delete(req);
}

static void run_request(struct ukey_api *api, struct job *job)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(job->req, "id");
	const char *method = cJSON_GetObjectItemCaseSensitive(job->req, "method")->valuestring;
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(job->req, "params");
	struct outcome o = { 0 };

	if (strcmp(method, "agent.info") == 0)
		m_agent_info(api, job->origin, &o);
	else if (strcmp(method, "token.list") == 0)
		m_token_list(api, params, &o);
	else if (strcmp(method, "cert.list") == 0)
		m_cert_list(api, params, &o);
	else if (strcmp(method, "pin.status") == 0)
		m_pin_status(api, params, &o);
	else if (strcmp(method, "pin.verify") == 0)
		m_pin_verify(api, params, &o, false);
	else if (strcmp(method, "pin.change") == 0)
		m_pin_verify(api, params, &o, true);
	else if (strcmp(method, "sign") == 0)
		m_sign(api, params, &o);
	else if (strcmp(method, "guide") == 0)
		m_guide(params, &o);
	else if (strcmp(method, "diagnose") == 0)
		m_diagnose(api, params, &o);
	else if (strcmp(method, "renew.check") == 0)
		m_renew_check(api, params, &o);
	else if (strcmp(method, "renew.start") == 0)
		m_renew_start(api, job->conn_id, params, &o);
	else {
		push_reply(api, job->conn_id,
			   error_doc(id, -32601, "method-not-found", "No such method: see PROTOCOL.md."), true);
		return;
	}
	reply_outcome(api, job->conn_id, id, &o);
}

/*
 * A renewal interrupted (kill, pulled key) or waiting at the CA (R-R6) needs the PIN to go on, so the agent
 * cannot finish it alone: it tells the page, which asks the user and calls renew.start again.
 */
static void greet_renewal(struct ukey_api *api, uint64_t conn_id, const struct ukey_token_info *t)
{
	struct ukey_renewal j;
	cJSON *p;

	if (!api->store || ukey_store_renewal_active(api->store, t->serial, &j) < 0)
		return;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "serial", t->serial);
	cJSON_AddStringToObject(p, "label", t->label);
	cJSON_AddStringToObject(p, "state", j.state);
	ukey_json_add_string_or_null(p, "order", j.order[0] ? j.order : NULL);
	if (j.retry_at > 0) {
		char when[32];

		cJSON_AddStringToObject(p, "retry_after", ukey_json_time((time_t)j.retry_at, when));
	} else {
		cJSON_AddNullToObject(p, "retry_after");
	}
	notify(api, conn_id, "renew.pending", p);
	ukey_renewal_clear(&j);
}

/* A new connection hears about every certificate whose renewal window is open (R-R2). */
static void greet(struct ukey_api *api, uint64_t conn_id)
{
	struct ukey_token_info *tokens = NULL;
	time_t now = time(NULL);
	int n = ukey_p11_tokens(api->p11, &tokens);

	for (int i = 0; i < n; i++) {
		struct ukey_cert_info *certs = NULL;
		int k = ukey_p11_certs(api->p11, tokens[i].serial, &certs);

		for (int j = 0; j < k; j++) {
			cJSON *c = ukey_json_cert(&tokens[i], &certs[j], now, true);

			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "renewal_open")))
				notify(api, conn_id, "cert.expiring", c);
			else
				cJSON_Delete(c);
		}
		ukey_cert_info_free_array(certs, k > 0 ? (size_t)k : 0);
		greet_renewal(api, conn_id, &tokens[i]);
	}
	free(tokens);
}

static bool has_serial(const struct ukey_token_info *list, int n, const char *serial)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i].serial, serial) == 0)
			return true;
	return false;
}

/*
 * Compare the token list with the last one; tell every connection what came
 * and went. A key must be missing from two polls in a row to count as
 * removed: a module re-initialised while another program writes the token
 * (SoftHSM2 during a PIN attempt) may miss it for one poll.
 */
static void watch_tokens(struct ukey_api *api, bool announce)
{
	struct ukey_token_info *now = NULL, *next;
	int n, nnext = 0;

	/* No session is open between requests: a module that needs it may be re-initialised here. */
	ukey_p11_rescan(api->p11);
	n = ukey_p11_tokens(api->p11, &now);
	if (n < 0)
		return;
	next = calloc((size_t)(n + api->nknown + 1), sizeof(*next));
	if (!next) {
		free(now);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (announce && !has_serial(api->known, api->nknown, now[i].serial)) {
			struct ukey_cert_info *certs = NULL;
			struct ukey_pin_state st;
			int k = ukey_p11_certs(api->p11, now[i].serial, &certs);

			ukey_cert_info_free_array(certs, k > 0 ? (size_t)k : 0);
			ukey_pin_state(api->store, &now[i], api->cfg.max_tries, &st);
			notify(api, 0, "token.inserted", ukey_json_token(&now[i], &st, k));
		}
		next[nnext++] = now[i];
	}
	for (int i = 0; i < api->nknown; i++) {
		if (has_serial(now, n, api->known[i].serial))
			continue;
		if (announce && has_serial(api->missing, api->nmissing, api->known[i].serial)) {
			cJSON *p = cJSON_CreateObject();

			cJSON_AddStringToObject(p, "serial", api->known[i].serial);
			cJSON_AddStringToObject(p, "label", api->known[i].label);
			notify(api, 0, "token.removed", p);
		} else if (announce) {
			/* Missing once: still known, remembered as missing; the next poll decides. */
			next[nnext++] = api->known[i];
		}
	}
	/* The missing list for the next poll: known keys not seen in this one. */
	free(api->missing);
	api->missing = NULL;
	api->nmissing = 0;
	for (int i = n; i < nnext; i++) {
		struct ukey_token_info *grown = realloc(api->missing, (size_t)(api->nmissing + 1) * sizeof(*grown));

		if (!grown)
			break;
		api->missing = grown;
		api->missing[api->nmissing++] = next[i];
	}
	free(now);
	free(api->known);
	api->known = next;
	api->nknown = nnext;
}

/* A key, reader or card came or went (device layer threads): tell every page, and look at the tokens now. */
static void on_device_event(void *userdata, const struct ukey_device_event *ev)
{
	struct ukey_api *api = userdata;

	notify(api, 0, "device.changed", ukey_json_device_event(ev));
	pthread_mutex_lock(&api->lock);
	api->rescan = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

static void load_models(struct ukey_api *api)
{
	char *msg = NULL;
	int r;

	if ((r = ukey_models_load(&api->models, &msg)) < 0) {
		log_warning("No device events and no diagnosis: the token model database cannot be used: %s",
			    msg ? msg : ukey_strerror(r));
		free(msg);
	}
}

static void start_device_watch(struct ukey_api *api)
{
	int r;

	if (!api->models)
		return;
	/* pcscd down is not fatal: the watch reports it and waits for pcscd to come back. */
	if ((r = ukey_device_watch_start(api->models, true, on_device_event, api, &api->devices, NULL)) < 0)
		log_warning("No device events: %s", ukey_strerror(r));
}

static void job_free(struct job *job)
{
	if (job->req)
		ukey_api_request_free(job->req);
	free(job->origin);
	free(job);
}

static void *worker(void *userdata)
{
	struct ukey_api *api = userdata;

	watch_tokens(api, false);
	for (;;) {
		struct job *job;
		struct timespec until;

		pthread_mutex_lock(&api->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += api->cfg.poll_ms / 1000;
		until.tv_nsec += (long)(api->cfg.poll_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!api->stop && !api->jobs && !api->rescan)
			if (pthread_cond_timedwait(&api->cond, &api->lock, &until) == ETIMEDOUT)
				break;
		if (api->stop) {
			pthread_mutex_unlock(&api->lock);
			break;
		}
		api->rescan = false;
		job = api->jobs;
		if (job) {
			api->jobs = job->next;
			if (!api->jobs)
				api->jobs_tail = NULL;
		}
		pthread_mutex_unlock(&api->lock);

		if (!job) {
			/* Idle, or a device event: look for keys plugged in or pulled. The poll stays for tokens no device
			 * event announces (software tokens, modules that find keys by themselves). */
			watch_tokens(api, true);
			continue;
		}
		if (job->req)
			run_request(api, job);
		else
			greet(api, job->conn_id);
		job_free(job);
	}
	return NULL;
}

int ukey_api_start(const struct ukey_api_config *cfg, struct ukey_api **ret_api)
{
	struct ukey_api *api = calloc(1, sizeof(*api));
	int r;

	if (!api)
		return -ENOMEM;
	api->cfg = *cfg;
	api->module = strdup(cfg->module);
	api->state_dir = cfg->state_dir ? strdup(cfg->state_dir) : NULL;
	api->ca_url = cfg->ca_url ? strdup(cfg->ca_url) : NULL;
	api->ca_trust = cfg->ca_trust ? strdup(cfg->ca_trust) : NULL;
	if (!api->module || (cfg->state_dir && !api->state_dir) || (cfg->ca_url && !api->ca_url) ||
	    (cfg->ca_trust && !api->ca_trust)) {
		r = -ENOMEM;
		goto fail;
	}
	api->cfg.module = api->module;
	api->cfg.state_dir = api->state_dir;
	if (api->cfg.poll_ms == 0)
		api->cfg.poll_ms = 1000;
	if ((r = ukey_p11_load(api->module, &api->p11)) < 0)
		goto fail;
	/* Without a store the agent still lists keys; PIN methods then fail closed (R-P1). */
	api->store_error = api->state_dir ? ukey_store_open(api->state_dir, &api->store) : -UKEY_E_STATE_UNAVAILABLE;
	if (api->store_error < 0)
		log_warning("PIN tries cannot be recorded in '%s': %s; PIN methods are refused",
			    api->state_dir ? api->state_dir : "(none)", ukey_strerror(api->store_error));
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	load_models(api); /* before the worker: it reads them for diagnose */
	if ((r = -pthread_create(&api->thread, NULL, worker, api)) < 0) {
		pthread_cond_destroy(&api->cond);
		pthread_mutex_destroy(&api->lock);
		goto fail;
	}
	start_device_watch(api);
	*ret_api = api;
	return 0;
fail:
	ukey_model_db_free(api->models);
	ukey_store_free(api->store);
	ukey_p11_free(api->p11);
	free(api->module);
	free(api->state_dir);
	free(api->ca_url);
	free(api->ca_trust);
	free(api);
	return r;
}

struct ukey_api *ukey_api_stop(struct ukey_api *api)
{
	struct ukey_api_reply *reply;

	if (!api)
		return NULL;
	/* First the device threads: their callback takes api->lock and queues notifications. */
	ukey_device_watch_stop(api->devices);
	ukey_model_db_free(api->models);
	pthread_mutex_lock(&api->lock);
	api->stop = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
	pthread_join(api->thread, NULL);
	while (api->jobs) {
		struct job *next = api->jobs->next;

		job_free(api->jobs);
		api->jobs = next;
	}
	while ((reply = ukey_api_take_reply(api)))
		ukey_api_reply_free(reply);
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->lock);
	free(api->known);
	free(api->missing);
	ukey_store_free(api->store);
	ukey_p11_free(api->p11);
	free(api->module);
	free(api->state_dir);
	free(api->ca_url);
	free(api->ca_trust);
	free(api);
	return NULL;
}

static void enqueue(struct ukey_api *api, struct job *job)
{
	pthread_mutex_lock(&api->lock);
	if (api->jobs_tail)
		api->jobs_tail->next = job;
	else
		api->jobs = job;
	api->jobs_tail = job;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

void ukey_api_submit(struct ukey_api *api, uint64_t conn_id, const char *origin, cJSON *req)
{
	struct job *job = calloc(1, sizeof(*job));

	if (!job) {
		ukey_api_request_free(req);
		return;
	}
	job->conn_id = conn_id;
	job->req = req;
	job->origin = origin ? strdup(origin) : NULL;
	enqueue(api, job);
}

void ukey_api_connected(struct ukey_api *api, uint64_t conn_id)
{
	struct job *job = calloc(1, sizeof(*job));

	if (!job)
		return;
	job->conn_id = conn_id;
	enqueue(api, job);
}

void ukey_api_disconnected(struct ukey_api *api, uint64_t conn_id)
{
	/* Signing sessions arrive with the session methods; a connection owns nothing else on the worker side. */
	(void)api;
	(void)conn_id;
}

struct ukey_api_reply *ukey_api_take_reply(struct ukey_api *api)
{
	struct ukey_api_reply *reply;

	pthread_mutex_lock(&api->lock);
	reply = api->replies;
	if (reply) {
		api->replies = reply->next;
		if (!api->replies)
			api->replies_tail = NULL;
		reply->next = NULL;
	}
	pthread_mutex_unlock(&api->lock);
	return reply;
}

void ukey_api_reply_free(struct ukey_api_reply *reply)
{
	if (!reply)
		return;
	free(reply->text);
	free(reply);
}
