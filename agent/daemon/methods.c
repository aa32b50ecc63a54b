/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd's JSON-RPC methods: parse params, call one core entry point, answer; no rule lives here. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_WS
#include "api-internal.h"
#include "base/err.h"
#include "base/log.h"
#include "diagnose.h"
#include "guide.h"
#include "objects.h"
#include "report.h"
#include "store.h"

#define API_VERSION 1

/* What one call answers: a result, or the failure the core described. */
struct call {
	struct api_worker *w;
	struct ukey_api *api;
	struct ukey_core *core;
	uint64_t conn_id;
	const char *origin;
	const cJSON *params;
	cJSON *result;
	struct ukey_failure f;
	char usage[256]; /* a params error: the sentence says what is expected */
};

static int usage(struct call *c, const char *message)
{
	snprintf(c->usage, sizeof(c->usage), "%s", message);
	return ukey_failure_set(&c->f, -UKEY_E_USAGE, NULL);
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

static int token_param(struct call *c, const char **ret)
{
	if (string_param(c->params, "token", ret) < 0)
		return usage(c, "\"token\" must be a string: a serial or a label.");
	return 0;
}

/* Every connection learns that a key just locked, whoever typed the last wrong PIN. */
static void announce_locked(struct ukey_api *api, const struct ukey_token_info *t)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "serial", t->serial);
	cJSON_AddStringToObject(p, "label", t->label);
	cJSON_AddStringToObject(p, "rule", "R-P1");
	api_notify(api, 0, "pin.locked", p);
}

static void m_agent_info(struct call *c)
{
	c->result = cJSON_CreateObject();
	cJSON_AddStringToObject(c->result, "name", "ukeyd");
	cJSON_AddStringToObject(c->result, "version", UKEY_VERSION);
	cJSON_AddNumberToObject(c->result, "api", API_VERSION);
	cJSON_AddNumberToObject(c->result, "port", c->api->cfg.port);
	cJSON_AddNumberToObject(c->result, "max_tries", c->api->cfg.max_tries);
	ukey_json_add_string_or_null(c->result, "origin", c->origin);
}

static void m_token_list(struct call *c)
{
	c->result = tokens_list_json(c->api, c->core);
}

static void m_cert_list(struct call *c)
{
	const char *sel;

	if (token_param(c, &sel) < 0)
		return;
	tokens_certs_json(c->api, c->core, sel, &c->result, &c->f);
}

static void m_pin_status(struct call *c)
{
	struct ukey_token_info t;
	struct ukey_pin_state st;
	const char *sel;

	if (token_param(c, &sel) < 0 || ukey_core_pin_status(c->core, sel, &t, &st, &c->f) < 0)
		return;
	c->result = ukey_json_pin_state(&t, &st);
}

/* The PIN part of pin.verify, pin.change and session.open: the key, then the counted attempt (R-P1). */
static int pin_call(struct call *c, const char *pin, const char *new_pin, struct ukey_session **ret_session)
{
	struct ukey_token_info t;
	struct ukey_pin_state st;
	const char *sel;
	bool locked_now = false;
	int r;

	if (token_param(c, &sel) < 0 || ukey_core_pin_prepare(c->core, sel, &t, &st, &c->f) < 0)
		return c->f.r;
	r = ukey_core_pin(c->core, &t, pin, new_pin, ret_session, &locked_now, &c->f);
	if (locked_now)
		announce_locked(c->api, &c->f.token);
	/* The PIN state (and a wrong PIN's logout) changed the key: the kept state follows. */
	tokens_refresh(c->api, c->core, t.serial);
	/* A PIN the key rejected logged the whole application out of it (ukey_session_login logs out first). */
	if (r < 0 && c->f.pin_attempted)
		sessions_end_serial(c->api, t.serial, -UKEY_E_NOT_LOGGED_IN);
	return r;
}

static void m_pin_verify(struct call *c, bool change)
{
	const char *pin, *new_pin = NULL;

	if (string_param(c->params, "pin", &pin) < 0 || !pin ||
	    (change && (string_param(c->params, "new_pin", &new_pin) < 0 || !new_pin))) {
		usage(c,
		      change ? "\"pin\" and \"new_pin\" (strings) are required." : "\"pin\" (a string) is required.");
		return;
	}
	if (pin_call(c, pin, new_pin, NULL) < 0)
		return;
	c->result = ukey_json_pin_state(&c->f.token, &c->f.pin);
	cJSON_AddStringToObject(c->result, "result", change ? "changed" : "verified");
}

static void m_session_open(struct call *c)
{
	struct ukey_session *s = NULL;
	const char *pin;
	char id[33];
	int r;

	if (string_param(c->params, "pin", &pin) < 0 || !pin) {
		usage(c, "\"pin\" (a string) is required.");
		return;
	}
	if (sessions_count_conn(c->api, c->conn_id) >= UKEY_API_MAX_SESSIONS_PER_CONN) {
		usage(c, "This connection holds 8 signing sessions already: close one with session.close.");
		return;
	}
	if (pin_call(c, pin, NULL, &s) < 0)
		return;
	if ((r = sessions_add(c->api, c->conn_id, &c->f.token, s, id)) < 0) {
		ukey_failure_set(&c->f, r, NULL);
		return;
	}
	c->result = cJSON_CreateObject();
	cJSON_AddStringToObject(c->result, "session", id);
	cJSON_AddStringToObject(c->result, "serial", c->f.token.serial);
	cJSON_AddStringToObject(c->result, "label", c->f.token.label);
	cJSON_AddNumberToObject(c->result, "idle_timeout", c->api->cfg.session_idle_s);
	cJSON_AddItemToObject(c->result, "pin", ukey_json_pin_state(&c->f.token, &c->f.pin));
	OPENSSL_cleanse(id, sizeof(id));
}

static void m_session_close(struct call *c)
{
	const char *id;
	int r;

	if (string_param(c->params, "session", &id) < 0 || !id) {
		usage(c, "\"session\" (the id session.open gave) is required.");
		return;
	}
	if ((r = sessions_close(c->api, c->conn_id, id)) < 0) {
		ukey_failure_set(&c->f, r, NULL);
		return;
	}
	c->result = cJSON_CreateObject();
	cJSON_AddStringToObject(c->result, "session", id);
	cJSON_AddBoolToObject(c->result, "closed", true);
}

static void sign_result(struct call *c, enum ukey_sign_mech mech, const struct ukey_sign_key *key, const uint8_t *sig,
			size_t sig_len)
{
	char id_hex[2 * UKEY_P11_ID_MAX + 1], *b64;

	ukey_json_hex(key->id, key->id_len, id_hex, sizeof(id_hex));
	c->result = cJSON_CreateObject();
	b64 = ukey_json_base64(sig, sig_len);
	cJSON_AddStringToObject(c->result, "signature", b64 ? b64 : "");
	free(b64);
	cJSON_AddStringToObject(c->result, "mechanism", ukey_sign_mech_id(mech));
	cJSON_AddStringToObject(c->result, "key_id", id_hex);
	b64 = key->cert_der ? ukey_json_base64(key->cert_der, key->cert_len) : NULL;
	ukey_json_add_string_or_null(c->result, "certificate", b64);
	free(b64);
}

static void m_sign(struct call *c)
{
	const char *pin, *session, *mech_name, *data_b64, *digest_b64, *key_id, *sel;
	struct ukey_sign_key key = { 0 };
	struct ukey_session *s = NULL;
	struct ukey_token_info t;
	enum ukey_sign_mech mech;
	uint8_t *input = NULL, *sig = NULL;
	size_t input_len = 0, sig_len = 0;

	if (string_param(c->params, "pin", &pin) < 0 || string_param(c->params, "session", &session) < 0 ||
	    !pin == !session || string_param(c->params, "mechanism", &mech_name) < 0 ||
	    ukey_sign_mech_parse(mech_name, &mech) < 0 || string_param(c->params, "data", &data_b64) < 0 ||
	    string_param(c->params, "digest", &digest_b64) < 0 || string_param(c->params, "key_id", &key_id) < 0 ||
	    !data_b64 == !digest_b64) {
		usage(c, "sign needs \"pin\" or \"session\", a known \"mechanism\", and exactly one of \"data\" and "
			 "\"digest\" (base64).");
		return;
	}
	if (ukey_json_unbase64(data_b64 ? data_b64 : digest_b64, &input, &input_len) < 0 ||
	    (digest_b64 && input_len != 32)) {
		usage(c, "\"data\" must be base64; \"digest\" must be a base64 SHA-256 (32 bytes).");
		goto out;
	}
	if (session) {
		if (sessions_sign(c->api, c->core, c->conn_id, session, mech, key_id, input, input_len, !!digest_b64,
				  &sig, &sig_len, &key, &c->f) == 0)
			sign_result(c, mech, &key, sig, sig_len);
		goto out;
	}
	if (token_param(c, &sel) < 0 || ukey_core_select(c->core, sel, &t, &c->f) < 0)
		goto out;
	if (ukey_core_sign_key(c->core, &t, mech, key_id, &key, &c->f) < 0) {
		if (c->f.r == -UKEY_E_USAGE)
			usage(c, "\"key_id\" must be the hex CKA_ID of a key.");
		goto out;
	}
	if (pin_call(c, pin, NULL, &s) < 0 ||
	    ukey_core_sign(c->core, s, &key, mech, input, input_len, !!digest_b64, &sig, &sig_len, &c->f) < 0)
		goto out;
	sign_result(c, mech, &key, sig, sig_len);
out:
	/* One PIN, one call: the login ends with this session (unless a signing session keeps the key). */
	ukey_session_free(s);
	ukey_sign_key_clear(&key);
	free(input);
	free(sig);
}

static void m_guide(struct call *c)
{
	const struct ukey_service *all, *one = NULL;
	const char *name;
	cJSON *arr;
	size_t n;

	if (string_param(c->params, "service", &name) < 0) {
		usage(c, "\"service\" must be a string such as \"R-S3\" or \"loss\".");
		return;
	}
	all = ukey_guide_services(&n);
	if (name && !(one = ukey_guide_find(name))) {
		usage(c, "No such service: use R-S1 to R-S8, or an id such as \"unlock\".");
		return;
	}
	c->result = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(c->result, "services");
	for (size_t i = 0; i < n; i++)
		if (!one || one == &all[i])
			cJSON_AddItemToArray(arr, ukey_json_service(&all[i]));
}

/* The technician's diagnosis for a page: the same JSON as `ukey diagnose --json`, plus the printable report. */
static void m_diagnose(struct call *c)
{
	struct ukey_diagnose_input in = { .p11 = c->core->p11,
					  .module = c->core->module,
					  .store = c->core->store,
					  .max_tries = c->core->max_tries,
					  .models = c->core->models,
					  .now = time(NULL) };
	struct ukey_diagnosis *dg;
	const char *led = NULL;
	char *html;
	int r;

	if (string_param(c->params, "token", &in.token) < 0 || string_param(c->params, "led", &led) < 0 ||
	    string_param(c->params, "first_issued", &in.first_issued) < 0 ||
	    (led && ukey_led_parse(led, &in.led) < 0) || (in.first_issued && !ukey_date_valid(in.first_issued))) {
		usage(c, "\"token\" is a serial, \"led\" is off, blinking or steady, \"first_issued\" is YYYY-MM-DD.");
		return;
	}
	if (!c->core->models) {
		ukey_failure_set(&c->f, -UKEY_E_MODEL_DB, NULL);
		return;
	}
	dg = calloc(1, sizeof(*dg));
	if (!dg) {
		ukey_failure_set(&c->f, -ENOMEM, NULL);
		return;
	}
	if ((r = ukey_diagnose(&in, dg)) < 0) {
		ukey_failure_set(&c->f, r, NULL);
		free(dg);
		return;
	}
	c->result = ukey_json_diagnosis(dg, in.now);
	html = ukey_report_html(c->result);
	if (html)
		cJSON_AddStringToObject(c->result, "report_html", html);
	free(html);
	free(dg);
}

/* R-R2…R-R5 for the inserted key (R-R7), confirmed by the CA: what `ukey renew --check --json` prints. */
static void m_renew_check(struct call *c)
{
	struct ukey_renew_check chk;
	const char *sel;

	if (token_param(c, &sel) < 0 || ukey_core_renew_check(c->core, sel, time(NULL), &chk, &c->f) < 0)
		return;
	c->result = ukey_json_renew_check(&chk);
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
	ukey_json_add_string_or_null(p, "detail", detail && *detail ? detail : NULL);
	api_notify(rp->api, rp->conn_id, "renew.progress", p);
}

/* The whole renewal (or its resumption); the PIN is counted like everywhere (R-P1), never kept. */
static void m_renew_start(struct call *c)
{
	struct renew_progress rp = { .api = c->api, .conn_id = c->conn_id };
	struct ukey_renew_plan plan;
	struct ukey_renew_outcome out;
	const char *pin = NULL, *sel;
	bool force = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->params, "force"));

	if (string_param(c->params, "pin", &pin) < 0 || !pin) {
		usage(c, "\"pin\" (a string) is required.");
		return;
	}
	if (token_param(c, &sel) < 0 || ukey_core_renew_prepare(c->core, sel, force, true, &plan, &c->f) < 0)
		return;
	/* The renewal logs in, writes and removes objects, and releases libp11's slots: the key's sessions end. */
	sessions_end_serial(c->api, plan.token.serial, -UKEY_E_NOT_LOGGED_IN);
	rp.serial = plan.token.serial;
	if (ukey_core_renew_run(c->core, &plan, pin, force, on_renew_progress, &rp, &out, &c->f) == 0)
		c->result = ukey_json_renewed(&plan, &out);
	tokens_refresh(c->api, c->core, plan.token.serial);
}

struct method {
	const char *name;
	void (*run)(struct call *c);
	bool key; /* about one key: runs in that key's lane */
};

static void m_pin_verify_only(struct call *c)
{
	m_pin_verify(c, false);
}

static void m_pin_change(struct call *c)
{
	m_pin_verify(c, true);
}

static const struct method methods[] = {
	{ "agent.info", m_agent_info, false },
	{ "token.list", m_token_list, false },
	{ "cert.list", m_cert_list, false },
	{ "pin.status", m_pin_status, true },
	{ "pin.verify", m_pin_verify_only, true },
	{ "pin.change", m_pin_change, true },
	{ "sign", m_sign, true },
	{ "session.open", m_session_open, true },
	{ "session.close", m_session_close, true },
	{ "guide", m_guide, false },
	{ "diagnose", m_diagnose, true },
	{ "renew.check", m_renew_check, true },
	{ "renew.start", m_renew_start, true },
};

static const struct method *find_method(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

void api_request_lane(struct ukey_api *api, uint64_t conn_id, const cJSON *req, char lane[UKEY_API_LANE_MAX])
{
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
	const struct method *m = cJSON_IsString(method) ? find_method(method->valuestring) : NULL;
	const char *session = NULL, *sel = NULL;

	lane[0] = '\0';
	if (!m || !m->key)
		return;
	if (string_param(params, "session", &session) == 0 && session &&
	    sessions_serial(api, conn_id, session, lane) == 0)
		return;
	string_param(params, "token", &sel);
	tokens_lane(api, sel, lane);
	/* A key not known yet (just inserted, or a bad selector): one lane for all of those, in order. */
	if (!lane[0])
		snprintf(lane, UKEY_API_LANE_MAX, "?");
}

void api_run_request(struct api_worker *w, uint64_t conn_id, const char *origin, const cJSON *req)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	const char *name = cJSON_GetObjectItemCaseSensitive(req, "method")->valuestring;
	const struct method *m = find_method(name);
	struct call c = { .w = w,
			  .api = w->api,
			  .core = &w->core,
			  .conn_id = conn_id,
			  .origin = origin,
			  .params = cJSON_GetObjectItemCaseSensitive(req, "params") };
	cJSON *doc;
	char message[1024];

	if (!m) {
		api_reply(w->api, conn_id,
			  api_error_doc(id, -32601, "method-not-found", "No such method: see PROTOCOL.md."), true);
		return;
	}
	m->run(&c);
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddItemToObject(doc, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
	if (c.f.r >= 0) {
		cJSON_AddItemToObject(doc, "result", c.result ? c.result : cJSON_CreateObject());
	} else {
		cJSON *e = cJSON_AddObjectToObject(doc, "error");

		cJSON_Delete(c.result);
		if (c.f.r == -UKEY_E_USAGE && c.usage[0])
			snprintf(message, sizeof(message), "%s", c.usage);
		else
			ukey_failure_message(&c.f, message, sizeof(message));
		cJSON_AddNumberToObject(e, "code", ukey_err_rpc_code(c.f.r));
		cJSON_AddStringToObject(e, "message", message);
		cJSON_AddItemToObject(e, "data", ukey_json_error_data(c.f.r, c.f.rule, c.f.has_pin ? &c.f.pin : NULL));
	}
	api_reply(w->api, conn_id, doc, true);
}

/* A renewal interrupted (kill, pulled key) or waiting at the CA (R-R6) needs the PIN to go on: tell the page. */
static void greet_renewal(struct ukey_api *api, struct ukey_core *core, uint64_t conn_id,
			  const struct ukey_token_info *t)
{
	struct ukey_renewal j;
	cJSON *p;

	if (!core->store || ukey_store_renewal_active(core->store, t->serial, &j) < 0)
		return;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "serial", t->serial);
	cJSON_AddStringToObject(p, "label", t->label);
	cJSON_AddStringToObject(p, "state", ukey_renewal_state_id(j.state));
	ukey_json_add_string_or_null(p, "order", j.order[0] ? j.order : NULL);
	if (j.retry_at > 0) {
		char when[32];

		cJSON_AddStringToObject(p, "retry_after", ukey_json_time((time_t)j.retry_at, when));
	} else {
		cJSON_AddNullToObject(p, "retry_after");
	}
	api_notify(api, conn_id, "renew.pending", p);
	ukey_renewal_clear(&j);
}

struct greeting {
	struct ukey_api *api;
	struct ukey_core *core;
	uint64_t conn_id;
	char last_serial[UKEY_P11_SERIAL_MAX];
};

static void greet_cert(void *ud, cJSON *cert, const struct ukey_token_info *t)
{
	struct greeting *g = ud;

	if (cert)
		api_notify(g->api, g->conn_id, "cert.expiring", cert);
	if (strcmp(g->last_serial, t->serial) != 0) {
		snprintf(g->last_serial, sizeof(g->last_serial), "%s", t->serial);
		greet_renewal(g->api, g->core, g->conn_id, t);
	}
}

void api_greet(struct ukey_api *api, struct ukey_core *core, uint64_t conn_id)
{
	struct greeting g = { .api = api, .core = core, .conn_id = conn_id };

	/* A new connection hears about every certificate whose renewal window is open (R-R2), from memory. */
	tokens_each_cert(api, greet_cert, &g);
}
