/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON objects both front ends print (`ukey --json`, ukeyd's API): one builder each, so they never differ. */
#ifndef UKEY_JSON_OBJECTS_H
#define UKEY_JSON_OBJECTS_H

#include <stdbool.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "p11.h"
#include "pin.h"

/* ukey_json_time: t as ISO 8601 UTC ("2027-11-25T08:00:00Z") in buf. */
const char *ukey_json_time(time_t t, char buf[static 32]);

/* ukey_json_add_string_or_null: o[name] = value, or null when value is NULL. */
void ukey_json_add_string_or_null(cJSON *o, const char *name, const char *value);
/* ukey_json_hex: len bytes as lower-case hex in buf (truncated to fit). */
void ukey_json_hex(const uint8_t *data, size_t len, char *buf, size_t size);

/* {"serial", "label", "tries_left", "max_tries", "locked", "locked_by_token", "final_try", "counted"} */
cJSON *ukey_json_pin_state(const struct ukey_token_info *t, const struct ukey_pin_state *st);

/* A token-list entry: {"label", "serial", "manufacturer", "model", "slot", "pin", "certificates"}; ncerts < 0: null. */
cJSON *ukey_json_token(const struct ukey_token_info *t, const struct ukey_pin_state *st, int ncerts);

/* A certificate entry as evaluated at now (validity per R-R2); with_der adds base64 "der". */
cJSON *ukey_json_cert(const struct ukey_token_info *t, const struct ukey_cert_info *ci, time_t now, bool with_der);

/*
 * A certificate's revocation (R-V): {"status": "good"|"revoked"|"unknown", "source": "ocsp"|"crl"|null,
 * "cached", "revoked_at", "reason", "checked_at", "this_update", "next_update", "why"}; times ISO 8601 or null,
 * reason an RFC 5280 CRLReason name or null, why (when unknown) "no-url", "no-issuer", "offline",
 * "responder-unknown", "unreachable", "stale", "not-verifiable", else null.
 */
struct ukey_revocation_result;
cJSON *ukey_json_revocation(const struct ukey_revocation_result *rv);

/* A key-object entry: {"token_serial", "token_label", "label", "id", "class", "key_type"}. */
cJSON *ukey_json_key(const struct ukey_token_info *t, const struct ukey_key_info *k);

/*
 * ukey_json_error_data: the stable part of an error: {"id", "rule"?,
 * "tries_left"?, "max_tries"?, "locked"?}. rule and pin may be NULL.
 */
cJSON *ukey_json_error_data(int r, const char *rule, const struct ukey_pin_state *pin);

/* A service of the guide (R-S…): both languages, fee, paperwork, address for on-site services. */
struct ukey_service;
cJSON *ukey_json_service(const struct ukey_service *s);

/* The device layer's objects (`ukey devices`, `ukey watch`, the API's device events). */
struct ukey_model;
struct ukey_usb_device;
struct ukey_pcsc_reader;
struct ukey_device;
struct ukey_device_event;
/* {"id", "name", "vendor", "transport", "module", "pin_retries", "pin_min"?, "pin_max"?, "led"?} or null. */
cJSON *ukey_json_model(const struct ukey_model *m);
/* {"vid": "096e", "pid": "0807", "bus", "address", "port", "manufacturer", "product", "serial", "classes", …} */
cJSON *ukey_json_usb(const struct ukey_usb_device *u);
/* {"name", "state", "in_use", "exclusive", "atr"} */
cJSON *ukey_json_reader(const struct ukey_pcsc_reader *r);
/* One physical key of `ukey devices`: model, usb, reader, token (each null when absent) and "missing". */
cJSON *ukey_json_device(const struct ukey_device *d);
/* One event: {"event", "time", "model", "reader", "atr", "usb": {"vid", "pid", "port"}} (null where unknown). */
cJSON *ukey_json_device_event(const struct ukey_device_event *ev);

/* The diagnosis: {"time", "verdict": {"code", "rule_text", "rule_text_zh_CN", "media_fault", "note"}, "led",
 * "warranty": {"first_issued", "source", "until", "known", "in_warranty", "replacement", "fee_cny", "rule"},
 * "token", "model", "service", "checks": [{"layer", "id", "title", "status", "evidence", "fix"}]}. */
struct ukey_diagnosis;
cJSON *ukey_json_diagnosis(const struct ukey_diagnosis *dg, time_t now);

/* `ukey renew --check` and renew.check: {"token_serial", "token_label", "certificate": {…}, "renewal": {"open",
 * "opens_on", "closes_on", "rule", "expected_not_after", "in_progress", "journal_state"}}. */
struct ukey_renew_plan;
cJSON *ukey_json_renew_plan(const struct ukey_renew_plan *p);

/* A renewal done (`ukey renew --json`, renew.start): the plan's object plus "result": "renewed", "new_not_after"
 * and "warning" (null when the new certificate's dates are as R-R3/R-R4 give). */
struct ukey_renew_outcome;
cJSON *ukey_json_renewed(const struct ukey_renew_plan *p, const struct ukey_renew_outcome *out);

/* `ukey renew --check --json` and renew.check: the plan's object, plus "open" (the answer: the CA's word where it
 * gave one) and "ca": {"confirmed", "why", "open", "rule", "opens_on", "new_not_after", "revoked"}. */
struct ukey_renew_check;
cJSON *ukey_json_renew_check(const struct ukey_renew_check *c);

/* ukey_json_base64: data as a new base64 string (no line breaks), or NULL on ENOMEM. free() it. */
char *ukey_json_base64(const uint8_t *data, size_t len);

/* ukey_json_unbase64: decode base64 (strict; whitespace refused) into a new buffer. Returns 0 or -UKEY_E_USAGE. */
int ukey_json_unbase64(const char *b64, uint8_t **ret, size_t *ret_len);

#endif
