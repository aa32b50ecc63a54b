/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A key brought in as "damaged": find the layer that fails, name the rule (R-D1…R-D7), give verdict and fee. */
#ifndef UKEY_DIAGNOSE_H
#define UKEY_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "guide.h"
#include "model.h"
#include "p11.h"
#include "rules.h"
#include "store.h"

/* R-D6: the media fee when a key is replaced outside the warranty or for a fault that is not the media's. */
#define UKEY_MEDIA_FEE_CNY UKEY_RULE_MEDIA_FEE_CNY

/* What the indicator light does: software cannot see it, the person holding the key says it. */
enum ukey_led {
	UKEY_LED_UNKNOWN, /* not given (no --led and no terminal to ask on) */
	UKEY_LED_OFF,
	UKEY_LED_BLINKING,
	UKEY_LED_STEADY,
};

enum ukey_check_status {
	UKEY_CHECK_PASS,
	UKEY_CHECK_WARN,
	UKEY_CHECK_FAIL,
	UKEY_CHECK_SKIPPED,
};

/* One finding. Texts are static English (the front end translates the fix; evidence carries data). */
struct ukey_check {
	const char *layer; /* "environment", "usb", "reader", "pkcs11", "certificate" */
	const char *id; /* stable, e.g. "pcscd", "usb-device", "card-answers", "cert-key-match" */
	const char *title; /* what was checked */
	enum ukey_check_status status;
	char evidence[256]; /* what was seen */
	const char *fix; /* what to do when not passed; NULL when nothing to do */
};

enum ukey_verdict {
	UKEY_VERDICT_HEALTHY,
	UKEY_VERDICT_R_D1, /* light off, nothing at USB level, environment fine */
	UKEY_VERDICT_R_D2, /* environment fine, light blinking without stopping, the card does not answer */
	UKEY_VERDICT_R_D3, /* light normal, key seen, certificate missing / unparseable / not for the key */
	UKEY_VERDICT_ENVIRONMENT, /* fixable on this computer */
	UKEY_VERDICT_LOCKED, /* R-P2: go to unlock (R-S2), not damage */
	UKEY_VERDICT_EXPIRED, /* R-R1: renewal (R-R, R-S6/R-S7) */
	UKEY_VERDICT_REVOKED, /* R-V: replacement or a new issue */
};

#define UKEY_DIAGNOSE_MAX_CHECKS 32

struct ukey_diagnose_input {
	struct ukey_p11 *p11; /* NULL: the module did not load (module_error says why) */
	int module_error;
	const char *module; /* the configured module, for the evidence */
	struct ukey_store *store; /* for the PIN state (R-P1); may be NULL */
	unsigned max_tries;
	const struct ukey_model_db *models;
	const char *token; /* --token selector, or NULL for the only key */
	enum ukey_led led;
	const char *first_issued; /* --first-issued YYYY-MM-DD, or NULL */
	time_t now;
	/* Revocation (R-V): checked only when asked, as it may wait on the network (a few timeouts at most). */
	bool check_revocation;
	bool offline; /* no network: cached CRLs only */
	const char *ca_trust; /* PEM of the CA certificates (issuer, OCSP signer); NULL: the system's */
	const char *state_dir; /* where CRLs are cached; NULL: no cache */
};

struct ukey_diagnosis {
	struct ukey_check checks[UKEY_DIAGNOSE_MAX_CHECKS];
	size_t n_checks;
	enum ukey_verdict verdict;
	enum ukey_led led;
	char note[512]; /* how the light and the evidence agree or not; empty when nothing to say */
	bool have_token;
	struct ukey_token_info token;
	char model[160]; /* "Feitian ePass2003", or empty */
	/* Warranty (R-D4…R-D6). */
	char first_issued[11]; /* YYYY-MM-DD, empty when not known */
	const char *first_issued_source; /* "token", "flag", or NULL */
	bool warranty_known;
	bool in_warranty; /* R-D4: today is before the first anniversary of the first issue */
	char warranty_until[11]; /* the first day out of warranty: the first anniversary */
	bool media_fault; /* R-D1, R-D2 or R-D3 */
	bool replacement; /* the verdict leads to replacing the key (R-S4) */
	int fee_cny; /* R-D5: 0 in warranty for a media fault; R-D6: 80 otherwise */
	const struct ukey_service *service; /* what to do next: R-S4, R-S2, R-S6/7…; NULL when nothing */
};

/*
 * ukey_diagnose: run every check and reach a verdict. Never fails on what
 * it finds (that is the result); returns 0, or -UKEY_E_USAGE for a
 * malformed first_issued, or -ENOMEM.
 */
int ukey_diagnose(const struct ukey_diagnose_input *in, struct ukey_diagnosis *ret);

/* ukey_led_parse: "off", "blinking", "steady" (also "on", "blink", "flashing"). -UKEY_E_USAGE otherwise. */
int ukey_led_parse(const char *s, enum ukey_led *ret);

/* Stable ids: "off"/"blinking"/"steady"/"unknown"; "pass"/"warn"/"fail"/"skipped";
 * "HEALTHY", "R-D1", "R-D2", "R-D3", "ENVIRONMENT", "LOCKED", "EXPIRED", "REVOKED". */
const char *ukey_led_id(enum ukey_led led);
const char *ukey_check_status_id(enum ukey_check_status s);
const char *ukey_verdict_id(enum ukey_verdict v);

/* ukey_verdict_text: the verdict in one sentence, both languages, naming the rule. */
const struct ukey_text *ukey_verdict_text(enum ukey_verdict v);

/*
 * ukey_warranty_until: R-D4's boundary. The warranty runs one year from the
 * first issue date: first issued 2025-11-25 → in warranty through 2026-11-24,
 * out from 2026-11-25 (the first anniversary) on. A first issue on 29 February
 * ends on 1 March of the next year. Writes the first day out of warranty as
 * YYYY-MM-DD; -UKEY_E_USAGE for a malformed date.
 */
int ukey_warranty_until(const char *first_issued, char until[static 11]);

/* ukey_date_valid: YYYY-MM-DD naming a real day (2025-02-29 is not). */
bool ukey_date_valid(const char *s);

#endif
