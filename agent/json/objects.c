/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON builders shared by `ukey --json` and ukeyd, through cJSON; base64 through OpenSSL. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "objects.h"
#include "guide.h"
#include "revocation.h"
#include "core.h"
#include "renew.h"
#include "validity.h"

const char *ukey_json_time(time_t t, char buf[static 32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

void ukey_json_hex(const uint8_t *data, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < len && o + 3 <= size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%02x", data[i]);
}

void ukey_json_add_string_or_null(cJSON *o, const char *name, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

cJSON *ukey_json_pin_state(const struct ukey_token_info *t, const struct ukey_pin_state *st)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "serial", t->serial);
	cJSON_AddStringToObject(o, "label", t->label);
	if (st->counted || st->locked)
		cJSON_AddNumberToObject(o, "tries_left", st->tries_left);
	else
		cJSON_AddNullToObject(o, "tries_left");
	cJSON_AddNumberToObject(o, "max_tries", st->max_tries);
	cJSON_AddBoolToObject(o, "locked", st->locked);
	cJSON_AddBoolToObject(o, "locked_by_token", st->locked_by_token);
	cJSON_AddBoolToObject(o, "final_try", st->final_try);
	cJSON_AddBoolToObject(o, "counted", st->counted);
	return o;
}

cJSON *ukey_json_token(const struct ukey_token_info *t, const struct ukey_pin_state *st, int ncerts)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "label", t->label);
	cJSON_AddStringToObject(o, "serial", t->serial);
	cJSON_AddStringToObject(o, "manufacturer", t->manufacturer);
	cJSON_AddStringToObject(o, "model", t->model);
	cJSON_AddNumberToObject(o, "slot", (double)t->slot_id);
	cJSON_AddItemToObject(o, "pin", ukey_json_pin_state(t, st));
	if (ncerts >= 0)
		cJSON_AddNumberToObject(o, "certificates", ncerts);
	else
		cJSON_AddNullToObject(o, "certificates");
	return o;
}

static const char *key_match_id(enum ukey_key_match m)
{
	switch (m) {
	case UKEY_KEY_MATCH_YES:
		return "match";
	case UKEY_KEY_MATCH_NO:
		return "mismatch";
	default:
		return "unknown";
	}
}

cJSON *ukey_json_cert(const struct ukey_token_info *t, const struct ukey_cert_info *ci, time_t now, bool with_der)
{
	cJSON *o = cJSON_CreateObject();
	struct ukey_validity v;
	char id[2 * UKEY_P11_ID_MAX + 1], ts[32];

	ukey_json_hex(ci->id, ci->id_len, id, sizeof(id));
	cJSON_AddStringToObject(o, "token_serial", t->serial);
	cJSON_AddStringToObject(o, "token_label", t->label);
	cJSON_AddStringToObject(o, "label", ci->label);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddBoolToObject(o, "readable", ci->readable);
	if (!ci->readable) {
		cJSON_AddStringToObject(o, "status", "unreadable");
		return o;
	}
	ukey_validity_eval(ci->not_before, ci->not_after, now, &v);
	cJSON_AddStringToObject(o, "subject", ci->subject);
	ukey_json_add_string_or_null(o, "subject_cn", ci->subject_cn);
	ukey_json_add_string_or_null(o, "subject_o", ci->subject_o);
	cJSON_AddStringToObject(o, "issuer", ci->issuer);
	ukey_json_add_string_or_null(o, "issuer_cn", ci->issuer_cn);
	cJSON_AddStringToObject(o, "serial", ci->serial_hex);
	cJSON_AddStringToObject(o, "not_before", ukey_json_time(ci->not_before, ts));
	cJSON_AddStringToObject(o, "not_after", ukey_json_time(ci->not_after, ts));
	cJSON_AddNumberToObject(o, "days_left", (double)v.days_left);
	cJSON_AddNumberToObject(o, "days_expired", (double)v.days_expired);
	cJSON_AddStringToObject(o, "status", ukey_validity_status_id(v.status));
	cJSON_AddBoolToObject(o, "renewal_open", v.renewal_open);
	cJSON_AddStringToObject(o, "key_type", ci->key_type);
	cJSON_AddStringToObject(o, "key_match", key_match_id(ci->key_match));
	if (with_der) {
		char *b64 = ukey_json_base64(ci->der, ci->der_len);

		ukey_json_add_string_or_null(o, "der", b64);
		free(b64);
	}
	return o;
}

static void add_time_or_null(cJSON *o, const char *name, time_t t)
{
	char ts[32];

	ukey_json_add_string_or_null(o, name, t ? ukey_json_time(t, ts) : NULL);
}

cJSON *ukey_json_revocation(const struct ukey_revocation_result *rv)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", ukey_revocation_status_id(rv->status));
	ukey_json_add_string_or_null(o, "source", ukey_revocation_source_id(rv->source));
	cJSON_AddBoolToObject(o, "cached", rv->cached);
	add_time_or_null(o, "revoked_at", rv->status == UKEY_REVOCATION_REVOKED ? rv->revoked_at : 0);
	ukey_json_add_string_or_null(o, "reason", ukey_revocation_reason_id(rv->reason));
	add_time_or_null(o, "checked_at", rv->checked_at);
	add_time_or_null(o, "this_update", rv->this_update);
	add_time_or_null(o, "next_update", rv->next_update);
	ukey_json_add_string_or_null(o, "why",
				     rv->status == UKEY_REVOCATION_UNKNOWN ? ukey_revocation_why_id(rv->why) : NULL);
	return o;
}

cJSON *ukey_json_key(const struct ukey_token_info *t, const struct ukey_key_info *k)
{
	cJSON *o = cJSON_CreateObject();
	char id[2 * UKEY_P11_ID_MAX + 1];

	ukey_json_hex(k->id, k->id_len, id, sizeof(id));
	cJSON_AddStringToObject(o, "token_serial", t->serial);
	cJSON_AddStringToObject(o, "token_label", t->label);
	cJSON_AddStringToObject(o, "label", k->label);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "class", k->is_private ? "private" : "public");
	cJSON_AddStringToObject(o, "key_type", k->key_type);
	return o;
}

cJSON *ukey_json_error_data(int r, const char *rule, const struct ukey_pin_state *pin)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", ukey_err_id(r));
	if (rule)
		cJSON_AddStringToObject(o, "rule", rule);
	if (pin) {
		cJSON_AddNumberToObject(o, "tries_left", pin->tries_left);
		cJSON_AddNumberToObject(o, "max_tries", pin->max_tries);
		cJSON_AddBoolToObject(o, "locked", pin->locked);
	}
	return o;
}

char *ukey_json_base64(const uint8_t *data, size_t len)
{
	size_t out_len = 4 * ((len + 2) / 3) + 1;
	char *out;

	if (len > (size_t)(1 << 28))
		return NULL;
	out = malloc(out_len);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int ukey_json_unbase64(const char *b64, uint8_t **ret, size_t *ret_len)
{
	size_t len = strlen(b64), pad = 0;
	uint8_t *out;
	int n;

	/* EVP_DecodeBlock ignores surrounding whitespace and needs length % 4 == 0: check both first. */
	if (len == 0 || len % 4 != 0 || len > (size_t)(1 << 28) ||
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"abcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
		return -UKEY_E_USAGE;
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return -UKEY_E_USAGE;
	}
	*ret = out;
	*ret_len = (size_t)n - pad;
	return 0;
}

static cJSON *text(const struct ukey_text *t)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "en", t->en);
	cJSON_AddStringToObject(o, "zh_CN", t->zh);
	return o;
}

cJSON *ukey_json_service(const struct ukey_service *s)
{
	const struct ukey_text *papers[8];
	size_t n = ukey_guide_paperwork(s, papers, 8);
	cJSON *o = cJSON_CreateObject(), *arr;

	cJSON_AddStringToObject(o, "rule", s->rule);
	cJSON_AddStringToObject(o, "id", s->id);
	cJSON_AddItemToObject(o, "name", text(&s->name));
	cJSON_AddStringToObject(o, "where", ukey_guide_where_id(s->where));
	cJSON_AddItemToObject(o, "old_key", text(&s->old_key));
	if (s->fee_cny >= 0)
		cJSON_AddNumberToObject(o, "fee_cny", s->fee_cny);
	else
		cJSON_AddNullToObject(o, "fee_cny");
	cJSON_AddItemToObject(o, "fee", text(&s->fee));
	cJSON_AddItemToObject(o, "effect", text(&s->effect));
	arr = cJSON_AddArrayToObject(o, "paperwork");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, text(papers[i]));
	if (s->where != UKEY_WHERE_ONLINE)
		cJSON_AddItemToObject(o, "address", text(&ukey_guide_address));
	else
		cJSON_AddNullToObject(o, "address");
	return o;
}

cJSON *ukey_json_renew_plan(const struct ukey_renew_plan *p)
{
	cJSON *o = cJSON_CreateObject(), *cert, *ren;
	char t[32];

	cJSON_AddStringToObject(o, "token_serial", p->token.serial);
	cJSON_AddStringToObject(o, "token_label", p->token.label);
	cert = cJSON_AddObjectToObject(o, "certificate");
	cJSON_AddStringToObject(cert, "subject", p->subject);
	cJSON_AddStringToObject(cert, "subject_cn", p->subject_cn);
	cJSON_AddStringToObject(cert, "serial", p->serial_hex);
	cJSON_AddStringToObject(cert, "not_after", ukey_json_time(p->not_after, t));
	cJSON_AddNumberToObject(cert, "days_left", (double)p->validity.days_left);
	cJSON_AddNumberToObject(cert, "days_expired", (double)p->validity.days_expired);
	cJSON_AddStringToObject(cert, "status", ukey_validity_status_id(p->validity.status));
	ren = cJSON_AddObjectToObject(o, "renewal");
	cJSON_AddBoolToObject(ren, "open", p->open);
	cJSON_AddStringToObject(ren, "opens_on", p->opens_on);
	cJSON_AddStringToObject(ren, "closes_on", p->closes_on);
	cJSON_AddStringToObject(ren, "rule", p->rule);
	cJSON_AddStringToObject(ren, "expected_not_after", p->expected_not_after);
	cJSON_AddBoolToObject(ren, "in_progress", p->in_progress);
	if (p->in_progress)
		cJSON_AddStringToObject(ren, "journal_state", ukey_renewal_state_id(p->journal_state));
	else
		cJSON_AddNullToObject(ren, "journal_state");
	return o;
}

cJSON *ukey_json_renew_check(const struct ukey_renew_check *c)
{
	cJSON *o = ukey_json_renew_plan(&c->plan), *ca = cJSON_CreateObject();

	/* The answer: the CA's word where it gave one, else ukey's reading ("renewal"). */
	cJSON_AddBoolToObject(o, "open", c->open);
	cJSON_AddItemToObject(o, "ca", ca);
	cJSON_AddBoolToObject(ca, "confirmed", c->ca_agrees);
	if (!c->ca_asked) {
		if (c->ca_error < 0)
			cJSON_AddStringToObject(ca, "why", ukey_err_id(c->ca_error));
		else
			cJSON_AddStringToObject(ca, "why",
						c->ca_configured ? "the CA has no status for this certificate"
								 : "no CA configured");
		return o;
	}
	cJSON_AddNullToObject(ca, "why");
	cJSON_AddBoolToObject(ca, "open", c->ca.open);
	cJSON_AddStringToObject(ca, "rule", c->ca.rule);
	cJSON_AddStringToObject(ca, "opens_on", c->ca.opens_on);
	ukey_json_add_string_or_null(ca, "new_not_after", c->ca.new_not_after[0] ? c->ca.new_not_after : NULL);
	cJSON_AddBoolToObject(ca, "revoked", c->ca.revoked);
	return o;
}

cJSON *ukey_json_renewed(const struct ukey_renew_plan *p, const struct ukey_renew_outcome *out)
{
	cJSON *o = ukey_json_renew_plan(p);

	cJSON_AddStringToObject(o, "result", "renewed");
	cJSON_AddStringToObject(o, "new_not_after", out->new_not_after);
	ukey_json_add_string_or_null(o, "warning", out->warning[0] ? out->warning : NULL);
	return o;
}
