/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The diagnosis as JSON (`ukey diagnose --json`, the API's diagnose); the printable page is agent/report/. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose-zh.h"
#include "diagnose.h"
#include "objects.h"

static int zh_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ukey_zh_pair *)elem)->en);
}

/* A check title or fix in Chinese, from the catalogue (generated table); NULL when it has none. */
static const char *zh(const char *en)
{
	const struct ukey_zh_pair *p;

	if (!en)
		return NULL;
	p = bsearch(en, ukey_diagnose_zh_table, ukey_diagnose_zh_count, sizeof(ukey_diagnose_zh_table[0]), zh_cmp);
	return p ? p->zh : NULL;
}

cJSON *ukey_json_diagnosis(const struct ukey_diagnosis *dg, time_t now)
{
	cJSON *doc = cJSON_CreateObject(), *v, *w, *checks, *tok;
	char t[32];

	cJSON_AddStringToObject(doc, "time", ukey_json_time(now, t));
	v = cJSON_AddObjectToObject(doc, "verdict");
	cJSON_AddStringToObject(v, "code", ukey_verdict_id(dg->verdict));
	cJSON_AddStringToObject(v, "rule_text", ukey_verdict_text(dg->verdict)->en);
	cJSON_AddStringToObject(v, "rule_text_zh_CN", ukey_verdict_text(dg->verdict)->zh);
	cJSON_AddBoolToObject(v, "media_fault", dg->media_fault);
	if (dg->note[0])
		cJSON_AddStringToObject(v, "note", dg->note);
	else
		cJSON_AddNullToObject(v, "note");
	cJSON_AddStringToObject(doc, "led", ukey_led_id(dg->led));

	w = cJSON_AddObjectToObject(doc, "warranty");
	if (dg->first_issued_source) {
		cJSON_AddStringToObject(w, "first_issued", dg->first_issued);
		cJSON_AddStringToObject(w, "source", dg->first_issued_source);
		cJSON_AddStringToObject(w, "until", dg->warranty_until);
	} else {
		cJSON_AddNullToObject(w, "first_issued");
		cJSON_AddNullToObject(w, "source");
		cJSON_AddNullToObject(w, "until");
	}
	cJSON_AddBoolToObject(w, "known", dg->warranty_known);
	cJSON_AddBoolToObject(w, "in_warranty", dg->in_warranty);
	cJSON_AddBoolToObject(w, "replacement", dg->replacement);
	cJSON_AddNumberToObject(w, "fee_cny", dg->fee_cny);
	cJSON_AddStringToObject(w, "rule",
				dg->verdict == UKEY_VERDICT_LOCKED   ? "R-P3"
				: dg->media_fault && dg->in_warranty ? "R-D5"
								     : "R-D6");

	if (dg->have_token) {
		tok = cJSON_AddObjectToObject(doc, "token");
		cJSON_AddStringToObject(tok, "label", dg->token.label);
		cJSON_AddStringToObject(tok, "serial", dg->token.serial);
	} else {
		cJSON_AddNullToObject(doc, "token");
	}
	if (dg->model[0])
		cJSON_AddStringToObject(doc, "model", dg->model);
	else
		cJSON_AddNullToObject(doc, "model");
	cJSON_AddItemToObject(doc, "service", dg->service ? ukey_json_service(dg->service) : cJSON_CreateNull());

	checks = cJSON_AddArrayToObject(doc, "checks");
	for (size_t i = 0; i < dg->n_checks; i++) {
		const struct ukey_check *c = &dg->checks[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "layer", c->layer);
		cJSON_AddStringToObject(o, "id", c->id);
		cJSON_AddStringToObject(o, "title", c->title);
		ukey_json_add_string_or_null(o, "title_zh_CN", zh(c->title));
		cJSON_AddStringToObject(o, "status", ukey_check_status_id(c->status));
		cJSON_AddStringToObject(o, "evidence", c->evidence);
		ukey_json_add_string_or_null(o, "fix", c->fix);
		ukey_json_add_string_or_null(o, "fix_zh_CN", zh(c->fix));
		cJSON_AddItemToArray(checks, o);
	}
	return doc;
}
