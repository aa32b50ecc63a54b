/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The technician's diagnosis: layered checks from the computer down to the certificate, a verdict, the warranty. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "devices.h"
#include "diagnose.h"
#include "pin.h"
#include "revocation.h"
#include "validity.h"

/* Marks check titles and fixes for the message catalogue; the front end translates them. */
#define N_(s) (s)

/* Where Debian's packages put what a CCID token needs (pcscd, libccid, OpenSC). */
#define PCSCD_PATH "/usr/sbin/pcscd"
#define CCID_BUNDLE "/usr/lib/pcsc/drivers/ifd-ccid.bundle"
#define OPENSC_MODULE "opensc-pkcs11.so"
/* The data object written at issue (architecture.md; tests/fixtures/mktoken --first-issued). */
#define FIRST_ISSUED_LABEL "ukey.first-issued"

static const struct ukey_text verdict_texts[] = {
	[UKEY_VERDICT_HEALTHY] = { "The key and this computer work: no fault found.",
				   "USBKey 和本机环境均正常：未发现故障。" },
	[UKEY_VERDICT_R_D1] = { "R-D1 media fault: the light stays off and the computer sees no key at USB level, "
				"though the environment is installed correctly.",
				"R-D1 介质质量问题：插入后指示灯不亮，计算机在 USB 层面看不到 USBKey，且证书环境安装正确。" },
	[UKEY_VERDICT_R_D2] = { "R-D2 media fault: the environment is installed correctly but the key's chip does not "
				"answer (the light blinks without stopping).",
				"R-D2 介质质量问题：证书环境安装正确，但 USBKey 芯片无应答（指示灯不停闪烁）。" },
	[UKEY_VERDICT_R_D3] = { "R-D3 media fault: the key is seen and answers, but its certificate cannot be "
				"recognised.",
				"R-D3 介质质量问题：USBKey 可识别且有应答，但无法识别其中的证书。" },
	[UKEY_VERDICT_ENVIRONMENT] = { "Not the key: this computer's certificate environment is incomplete; fix the "
				       "failed checks here.",
				       "不是 USBKey 的问题：本机证书环境不完整，请按未通过的检查项修复。" },
	[UKEY_VERDICT_LOCKED] = { "Not damage: the PIN is locked after 10 wrong entries (R-P1, R-P2); unlocking is free "
				  "(R-S2, R-P3).",
				  "不是损坏：连续输错 10 次密码，USBKey 已锁死（R-P1、R-P2）；解锁免费（R-S2、R-P3）。" },
	[UKEY_VERDICT_EXPIRED] = { "Not damage: the certificate has expired (R-R1); renew it (R-R2, R-S6/R-S7).",
				   "不是损坏：证书已过期（R-R1），请办理证书更新（R-R2、R-S6/R-S7）。" },
	[UKEY_VERDICT_REVOKED] = { "Not damage: the certificate is revoked (R-V1).", "不是损坏：证书已吊销（R-V1）。" },
};

const struct ukey_text *ukey_verdict_text(enum ukey_verdict v)
{
	return &verdict_texts[v];
}

const char *ukey_verdict_id(enum ukey_verdict v)
{
	static const char *const ids[] = {
		[UKEY_VERDICT_HEALTHY] = "HEALTHY",
		[UKEY_VERDICT_R_D1] = "R-D1",
		[UKEY_VERDICT_R_D2] = "R-D2",
		[UKEY_VERDICT_R_D3] = "R-D3",
		[UKEY_VERDICT_ENVIRONMENT] = "ENVIRONMENT",
		[UKEY_VERDICT_LOCKED] = "LOCKED",
		[UKEY_VERDICT_EXPIRED] = "EXPIRED",
		[UKEY_VERDICT_REVOKED] = "REVOKED",
	};

	return ids[v];
}

const char *ukey_led_id(enum ukey_led led)
{
	static const char *const ids[] = { "unknown", "off", "blinking", "steady" };

	return ids[led];
}

const char *ukey_check_status_id(enum ukey_check_status s)
{
	static const char *const ids[] = { "pass", "warn", "fail", "skipped" };

	return ids[s];
}

int ukey_led_parse(const char *s, enum ukey_led *ret)
{
	static const struct {
		const char *word;
		enum ukey_led led;
	} words[] = {
		{ "off", UKEY_LED_OFF },	   { "blinking", UKEY_LED_BLINKING }, { "blink", UKEY_LED_BLINKING },
		{ "flashing", UKEY_LED_BLINKING }, { "steady", UKEY_LED_STEADY },     { "on", UKEY_LED_STEADY },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(s, words[i].word) == 0) {
			*ret = words[i].led;
			return 0;
		}
	return -UKEY_E_USAGE;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

static bool parse_date(const char *s, int *y, int *m, int *d)
{
	char extra;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (sscanf(s, "%4d-%2d-%2d%c", y, m, d, &extra) != 3)
		return false;
	return *y >= 1970 && *y <= 9998 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

bool ukey_date_valid(const char *s)
{
	int y, m, d;

	return parse_date(s, &y, &m, &d);
}

int ukey_warranty_until(const char *first_issued, char until[static 11])
{
	int y, m, d;

	if (!parse_date(first_issued, &y, &m, &d))
		return -UKEY_E_USAGE;
	/* R-D4: one year. The anniversary is the first day out; 29 February has none, so 1 March is. */
	if (m == 2 && d == 29) {
		m = 3;
		d = 1;
	}
	snprintf(until, 11, "%04u-%02u-%02u", (unsigned)(y + 1) % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
	return 0;
}

static struct ukey_check *check_add(struct ukey_diagnosis *dg, const char *layer, const char *id, const char *title,
				    enum ukey_check_status status, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static struct ukey_check *check_add(struct ukey_diagnosis *dg, const char *layer, const char *id, const char *title,
				    enum ukey_check_status status, const char *fix, const char *fmt, ...)
{
	struct ukey_check *c;
	va_list ap;

	if (dg->n_checks >= UKEY_DIAGNOSE_MAX_CHECKS)
		return NULL;
	c = &dg->checks[dg->n_checks++];
	c->layer = layer;
	c->id = id;
	c->title = title;
	c->status = status;
	c->fix = status == UKEY_CHECK_PASS || status == UKEY_CHECK_SKIPPED ? NULL : fix;
	va_start(ap, fmt);
	vsnprintf(c->evidence, sizeof(c->evidence), fmt, ap);
	va_end(ap);
	return c;
}

static const struct ukey_check *find(const struct ukey_diagnosis *dg, const char *id)
{
	for (size_t i = 0; i < dg->n_checks; i++)
		if (strcmp(dg->checks[i].id, id) == 0)
			return &dg->checks[i];
	return NULL;
}

static bool failed(const struct ukey_diagnosis *dg, const char *id)
{
	const struct ukey_check *c = find(dg, id);

	return c && c->status == UKEY_CHECK_FAIL;
}

/* The key the technician asked about: by --token, else the only token, else the only device that looks like one. */
static int pick_device(const struct ukey_device_list *list, const char *token, const struct ukey_device **ret)
{
	const struct ukey_device *pick = NULL;
	size_t n = 0;

	for (size_t i = 0; i < list->n; i++) {
		const struct ukey_device *d = &list->devices[i];

		if (!d->has_token)
			continue;
		if (token && strcmp(d->token.serial, token) != 0 && strcmp(d->token.label, token) != 0)
			continue;
		pick = d;
		n++;
	}
	if (n > 1)
		return -UKEY_E_TOKEN_AMBIGUOUS;
	/* A --token that is not there (a dead key) is looked for below as a device; check_token says it is missing. */
	if (!pick) {
		for (size_t i = 0; i < list->n; i++) {
			const struct ukey_device *d = &list->devices[i];

			if (d->has_usb || (d->has_reader && d->reader.state != UKEY_CARD_ABSENT)) {
				pick = d;
				n++;
			}
		}
		if (n > 1)
			return -UKEY_E_TOKEN_AMBIGUOUS;
	}
	*ret = pick;
	return 0;
}

static void check_environment(const struct ukey_diagnose_input *in, const struct ukey_device_list *list,
			      const struct ukey_device *key, struct ukey_diagnosis *dg)
{
	bool ccid = key && key->has_usb && (key->usb.classes & UKEY_USB_CLASS_CCID);
	/* pcscd matters for a smart-card key, and when nothing is seen at all (it may be why). */
	bool need_pcscd = ccid || !key;

	if (in->p11)
		check_add(dg, "environment", "module", N_("PKCS#11 module loads"), UKEY_CHECK_PASS, NULL, "%s",
			  ukey_p11_path(in->p11));
	else
		check_add(dg, "environment", "module", N_("PKCS#11 module loads"), UKEY_CHECK_FAIL,
			  N_("Install the key's PKCS#11 module, or give its path with --module"), "%s: %s",
			  in->module ? in->module : "(none)", ukey_strerror(in->module_error));
	if (list->pcsc_error == 0)
		check_add(dg, "environment", "pcscd", N_("Smart card service (pcscd) answers"), UKEY_CHECK_PASS, NULL,
			  "pcscd answers");
	else if (access(PCSCD_PATH, X_OK) != 0)
		check_add(dg, "environment", "pcscd", N_("Smart card service (pcscd) answers"),
			  need_pcscd ? UKEY_CHECK_FAIL : UKEY_CHECK_WARN,
			  N_("Install pcscd ('sudo apt install pcscd'); smart-card keys need it"),
			  "pcscd is not installed");
	else
		check_add(dg, "environment", "pcscd", N_("Smart card service (pcscd) answers"),
			  need_pcscd ? UKEY_CHECK_FAIL : UKEY_CHECK_WARN,
			  N_("Start pcscd: 'sudo systemctl start pcscd.socket'"), "pcscd is installed but not running");
	if (access(CCID_BUNDLE, R_OK) == 0)
		check_add(dg, "environment", "ccid-driver", N_("CCID driver (libccid) installed"), UKEY_CHECK_PASS,
			  NULL, "%s", CCID_BUNDLE);
	else
		check_add(dg, "environment", "ccid-driver", N_("CCID driver (libccid) installed"),
			  ccid ? UKEY_CHECK_FAIL : UKEY_CHECK_WARN,
			  N_("Install it: 'sudo apt install libccid', then plug the key in again"), "not installed");
	if (ukey_module_installed(OPENSC_MODULE))
		check_add(dg, "environment", "opensc", N_("OpenSC installed"), UKEY_CHECK_PASS, NULL, "%s",
			  OPENSC_MODULE);
	else
		check_add(dg, "environment", "opensc", N_("OpenSC installed"), UKEY_CHECK_WARN,
			  N_("Install it: 'sudo apt install opensc'"), "%s not found", OPENSC_MODULE);
	if (key && key->model && key->model->module && (key->missing & UKEY_MISSING_MODULE))
		check_add(dg, "environment", "model-module", N_("The model's PKCS#11 module installed"),
			  UKEY_CHECK_FAIL, N_("Install the key vendor's PKCS#11 module"), "%s not found",
			  key->model->module);
	if (key && key->has_usb && (key->missing & UKEY_MISSING_PERMISSION))
		check_add(dg, "environment", "permission", N_("This user may open the key"), UKEY_CHECK_FAIL,
			  N_("Install ukey's udev rule (70-ukey.rules), then plug the key in again"),
			  "%s is not readable and "
			  "writable by this user",
			  key->usb.devnode);
	/* Another program talking to the card alone (a vendor tool): the key cannot be reached from here, and that
	 * is this computer's doing, not the key's. */
	if (key && key->has_reader && key->reader.exclusive)
		check_add(dg, "environment", "exclusive", N_("No other program holds the reader"), UKEY_CHECK_FAIL,
			  N_("Close the program that holds it (a vendor tool?) or restart pcscd"),
			  "'%s' is held exclusively", key->reader.name);
}

static void check_usb(const struct ukey_device_list *list, const struct ukey_device *key, struct ukey_diagnosis *dg)
{
	if (list->usb_error < 0) {
		check_add(dg, "usb", "usb-device", N_("Key seen at USB level"), UKEY_CHECK_SKIPPED, NULL,
			  "USB cannot be listed here: %s", ukey_strerror(list->usb_error));
		return;
	}
	if (!key || !key->has_usb) {
		if (key)
			check_add(dg, "usb", "usb-device", N_("Key seen at USB level"), UKEY_CHECK_SKIPPED, NULL,
				  "the key is reached without a USB token device of its own (software token or "
				  "virtual reader)");
		else
			check_add(dg, "usb", "usb-device", N_("Key seen at USB level"), UKEY_CHECK_FAIL,
				  N_("Try another USB port and cable (no hub); if no port sees it, the key is faulty"),
				  "no token-like USB device is connected");
		return;
	}
	check_add(dg, "usb", "usb-device", N_("Key seen at USB level"), UKEY_CHECK_PASS, NULL, "%04x:%04x at %s%s%s",
		  key->usb.vid, key->usb.pid, key->usb.port_path, key->usb.product ? ": " : "",
		  key->usb.product ? key->usb.product : "");
	if (key->model)
		check_add(dg, "usb", "model", N_("Known model"), UKEY_CHECK_PASS, NULL, "%s %s (%s)",
			  key->model->vendor, key->model->name, ukey_transport_name(key->model->transport));
	else
		check_add(dg, "usb", "model", N_("Known model"), UKEY_CHECK_WARN,
			  N_("Unknown model: ask the CA which module it needs"),
			  "%04x:%04x is not in the model database%s%s", key->usb.vid, key->usb.pid,
			  key->token_vendor ? "; vendor " : "", key->token_vendor ? key->token_vendor : "");
	check_add(dg, "usb", "descriptors", N_("USB descriptors sane"),
		  key->usb.descriptors_ok ? UKEY_CHECK_PASS : UKEY_CHECK_FAIL,
		  N_("The key describes itself wrongly: a hardware fault"), "%s",
		  key->usb.descriptors_ok ? "device and configuration descriptors parse" : "malformed or truncated");
}

static void hex(const uint8_t *b, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 <= size; i++)
		o += (size_t)snprintf(out + o, size - o, "%02x", b[i]);
}

static void check_card(const struct ukey_device_list *list, const struct ukey_device *key, struct ukey_diagnosis *dg)
{
	struct ukey_pcsc_probe probe;
	char atr[2 * UKEY_PCSC_ATR_MAX + 1] = "";
	int r;

	if (list->pcsc_error < 0 || !key ||
	    (!key->has_reader && !(key->has_usb && (key->usb.classes & UKEY_USB_CLASS_CCID)))) {
		check_add(dg, "reader", "reader", N_("Reader for the key"), UKEY_CHECK_SKIPPED, NULL, "%s",
			  list->pcsc_error < 0 ? "pcscd does not answer" : "the key is not a smart-card (CCID) key");
		return;
	}
	if (!key->has_reader) {
		check_add(dg, "reader", "reader", N_("Reader for the key"), UKEY_CHECK_FAIL,
			  N_("Install the CCID driver ('sudo apt install libccid') and plug the key in again"),
			  "pcscd shows no reader for the key");
		return;
	}
	check_add(dg, "reader", "reader", N_("Reader for the key"), UKEY_CHECK_PASS, NULL, "'%s'", key->reader.name);
	if (key->reader.state != UKEY_CARD_PRESENT && key->reader.state != UKEY_CARD_MUTE) {
		check_add(dg, "reader", "card", N_("Card in the reader"), UKEY_CHECK_FAIL,
			  N_("Plug the key in again; if the chip is still not found, the key is faulty"), "%s",
			  ukey_card_state_name(key->reader.state));
		return;
	}
	hex(key->reader.atr, key->reader.atr_len, atr, sizeof(atr));
	check_add(dg, "reader", "card", N_("Card in the reader"), UKEY_CHECK_PASS, NULL, "ATR %s", atr);
	if (key->reader.state == UKEY_CARD_MUTE) {
		check_add(dg, "reader", "card-answers", N_("Card answers"), UKEY_CHECK_FAIL,
			  N_("The chip does not answer: R-D2"), "pcscd reports the card mute (no answer to reset)");
		return;
	}
	r = key->reader.exclusive ? -EBUSY : ukey_pcsc_probe(key->reader.name, UKEY_PCSC_PROBE_TIMEOUT_MS, &probe);
	if (r == -EBUSY)
		/* Held exclusively by another program: the chip cannot be asked, which says nothing about it. */
		check_add(dg, "reader", "card-answers", N_("Card answers"), UKEY_CHECK_SKIPPED, NULL,
			  "another program holds the card exclusively");
	else if (r < 0)
		check_add(dg, "reader", "card-answers", N_("Card answers"), UKEY_CHECK_FAIL,
			  N_("Plug the key in again and repeat; the chip refused the connection"), "%s",
			  ukey_strerror(r));
	else if (!probe.answered)
		check_add(dg, "reader", "card-answers", N_("Card answers"), UKEY_CHECK_FAIL,
			  N_("The chip does not answer: R-D2 when the light blinks without stopping"),
			  "no answer to SELECT within %u ms", probe.ms);
	else
		check_add(dg, "reader", "card-answers", N_("Card answers"), UKEY_CHECK_PASS, NULL,
			  "SELECT answered %04X in %u ms", probe.sw, probe.ms);
}

static void check_token(const struct ukey_diagnose_input *in, const struct ukey_device *key, struct ukey_diagnosis *dg)
{
	struct ukey_pin_state st;

	if (!in->p11) {
		check_add(dg, "pkcs11", "token", N_("Token shown by the PKCS#11 module"), UKEY_CHECK_SKIPPED, NULL,
			  "the module did not load");
		return;
	}
	if (!key || !key->has_token) {
		check_add(
			dg, "pkcs11", "token", N_("Token shown by the PKCS#11 module"), UKEY_CHECK_FAIL,
			N_("Use the model's PKCS#11 module (--module); if the card answers but no module shows it, the "
			   "token's file system is damaged"),
			"%s shows no token%s%s%s", ukey_p11_path(in->p11), in->token ? " " : "",
			in->token ? in->token : "", key ? " for this key" : "");
		return;
	}
	dg->have_token = true;
	dg->token = key->token;
	check_add(dg, "pkcs11", "token", N_("Token shown by the PKCS#11 module"), UKEY_CHECK_PASS, NULL,
		  "\"%s\" serial %s", key->token.label, key->token.serial);
	check_add(dg, "pkcs11", "initialized", N_("Token initialised with a user PIN"),
		  key->token.user_pin_initialized ? UKEY_CHECK_PASS : UKEY_CHECK_FAIL,
		  N_("The token has no user PIN: it was never issued or was wiped (R-D3 if it held a certificate)"),
		  "%s", key->token.user_pin_initialized ? "user PIN set" : "no user PIN");
	ukey_pin_state(in->store, &key->token, in->max_tries, &st);
	if (st.locked)
		check_add(dg, "pkcs11", "pin", N_("PIN not locked (R-P1)"), UKEY_CHECK_FAIL,
			  N_("Unlock the key (free, online or on site: R-S2); this is not damage"), "locked%s",
			  st.locked_by_token ? " (the token says so)" : " (10 wrong PINs counted)");
	else if (st.counted)
		check_add(dg, "pkcs11", "pin", N_("PIN not locked (R-P1)"),
			  st.final_try ? UKEY_CHECK_WARN : UKEY_CHECK_PASS, N_("One wrong PIN more locks the key"),
			  "%u of %u tries left", st.tries_left, st.max_tries);
	else
		check_add(dg, "pkcs11", "pin", N_("PIN not locked (R-P1)"),
			  st.final_try ? UKEY_CHECK_WARN : UKEY_CHECK_PASS, N_("One wrong PIN more locks the key"),
			  "not locked (tries not counted here)");
}

/* R-V: the certificate that speaks for the key, revoked or not. Unknown is never a pass: it is skipped, saying why. */
static void check_revocation(const struct ukey_diagnose_input *in, const struct ukey_cert_info *cert,
			     struct ukey_diagnosis *dg)
{
	struct ukey_revocation_config cfg = { .trust_pem = in->ca_trust,
					      .state_dir = in->state_dir,
					      .offline = in->offline };
	struct ukey_revocation_result res;
	struct ukey_revocation *rv = NULL;
	char when[32];
	struct tm tm;
	int r;

	if (!in->check_revocation) {
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_SKIPPED, NULL,
			  "not checked here: revocation status unknown (not \"good\")");
		return;
	}
	if ((r = ukey_revocation_new(&cfg, &rv)) < 0) {
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_SKIPPED, NULL,
			  "the CA trust '%s' cannot be read: revocation status unknown (not \"good\")",
			  in->ca_trust ? in->ca_trust : "(system)");
		return;
	}
	r = ukey_revocation_check(rv, cert->der, cert->der_len, in->now, &res);
	ukey_revocation_free(rv);
	if (r < 0) {
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_SKIPPED, NULL,
			  "%s: revocation status unknown (not \"good\")", ukey_strerror(r));
		return;
	}
	switch (res.status) {
	case UKEY_REVOCATION_GOOD:
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_PASS, NULL,
			  "good (%s%s)", ukey_revocation_source_id(res.source), res.cached ? ", cached" : "");
		break;
	case UKEY_REVOCATION_REVOKED:
		gmtime_r(&res.revoked_at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_FAIL,
			  N_("Revoked (R-V1): if the key was replaced (R-S3, R-S4), use the new key; otherwise apply "
			     "for a new certificate (R-S1)"),
			  "revoked at %s (reason %s; %s%s)", when,
			  ukey_revocation_reason_id(res.reason) ? ukey_revocation_reason_id(res.reason) : "not given",
			  ukey_revocation_source_id(res.source), res.cached ? ", cached" : "");
		break;
	default:
		check_add(dg, "certificate", "revocation", N_("Certificate not revoked"), UKEY_CHECK_SKIPPED, NULL,
			  "unknown (%s): not \"good\"", ukey_revocation_why_id(res.why));
		break;
	}
}

static void check_certs(const struct ukey_diagnose_input *in, struct ukey_diagnosis *dg)
{
	struct ukey_cert_info *certs = NULL;
	const struct ukey_cert_info *best = NULL;
	size_t unreadable = 0, mismatch = 0, unknown = 0;
	struct ukey_validity v;
	int n;

	if (!dg->have_token) {
		check_add(dg, "certificate", "cert-present", N_("Certificate on the key"), UKEY_CHECK_SKIPPED, NULL,
			  "no token to read");
		return;
	}
	n = ukey_p11_certs(in->p11, dg->token.serial, &certs);
	if (n < 0) {
		check_add(dg, "certificate", "cert-present", N_("Certificate on the key"), UKEY_CHECK_FAIL,
			  N_("Plug the key in again and repeat"), "the certificates cannot be listed: %s",
			  ukey_strerror(n));
		return;
	}
	if (n == 0) {
		free(certs); /* an empty list is still an allocation */
		check_add(dg, "certificate", "cert-present", N_("Certificate on the key"), UKEY_CHECK_FAIL,
			  N_("The certificate is gone from the key: R-D3"), "no certificate object");
		return;
	}
	check_add(dg, "certificate", "cert-present", N_("Certificate on the key"), UKEY_CHECK_PASS, NULL,
		  "%d certificate object%s", n, n == 1 ? "" : "s");
	for (int i = 0; i < n; i++) {
		if (!certs[i].readable) {
			unreadable++;
			continue;
		}
		if (certs[i].key_match == UKEY_KEY_MATCH_NO)
			mismatch++;
		else if (certs[i].key_match == UKEY_KEY_MATCH_UNKNOWN)
			unknown++;
		/* The one that speaks for the key: a readable certificate for its key pair, else any readable. */
		if (!best || (best->key_match != UKEY_KEY_MATCH_YES && certs[i].key_match == UKEY_KEY_MATCH_YES))
			best = &certs[i];
	}
	if (unreadable)
		check_add(dg, "certificate", "cert-parses", N_("Certificate readable (X.509 DER)"), UKEY_CHECK_FAIL,
			  N_("The certificate object is damaged: R-D3"),
			  "%zu of %d certificate objects are not valid DER", unreadable, n);
	else
		check_add(dg, "certificate", "cert-parses", N_("Certificate readable (X.509 DER)"), UKEY_CHECK_PASS,
			  NULL, "every certificate object parses");
	if (!best) {
		ukey_cert_info_free_array(certs, (size_t)n);
		return;
	}
	if (best->key_match == UKEY_KEY_MATCH_YES)
		check_add(dg, "certificate", "cert-key-match", N_("Certificate matches the key pair"), UKEY_CHECK_PASS,
			  NULL, "%s: public key equals the key pair's",
			  best->subject_cn ? best->subject_cn : best->subject);
	else if (mismatch)
		check_add(dg, "certificate", "cert-key-match", N_("Certificate matches the key pair"), UKEY_CHECK_FAIL,
			  N_("The certificate is not for the key on the token: R-D3"), "%s holds another public key",
			  best->subject_cn ? best->subject_cn : best->subject);
	else
		check_add(dg, "certificate", "cert-key-match", N_("Certificate matches the key pair"), UKEY_CHECK_WARN,
			  N_("No public key object to compare with"), "%zu certificate%s without a public key object",
			  unknown, unknown == 1 ? "" : "s");
	check_add(dg, "certificate", "cert-chain", N_("Certificate chains to the CA"), UKEY_CHECK_SKIPPED, NULL,
		  "no CA trust configured (issuer: %s)", best->issuer_cn ? best->issuer_cn : best->issuer);
	ukey_validity_eval(best->not_before, best->not_after, in->now, &v);
	if (v.status == UKEY_VALIDITY_EXPIRED)
		check_add(dg, "certificate", "cert-validity", N_("Certificate within its validity (R-R1)"),
			  UKEY_CHECK_FAIL,
			  v.renewal_open ? N_("Renew online (R-R2: up to 365 days after expiry)")
					 : N_("Expired more than 365 days: renew with documents and approval (R-R5)"),
			  "expired %ld days ago", v.days_expired);
	else if (v.status == UKEY_VALIDITY_NOT_YET_VALID)
		check_add(dg, "certificate", "cert-validity", N_("Certificate within its validity (R-R1)"),
			  UKEY_CHECK_WARN, N_("Check this computer's clock"), "not valid yet");
	else
		check_add(dg, "certificate", "cert-validity", N_("Certificate within its validity (R-R1)"),
			  v.status == UKEY_VALIDITY_EXPIRING ? UKEY_CHECK_WARN : UKEY_CHECK_PASS,
			  N_("Fewer than 90 days left: renew online now (R-R2)"), "%ld days left", v.days_left);
	check_revocation(in, best, dg);
	ukey_cert_info_free_array(certs, (size_t)n);
}

static void led_note(struct ukey_diagnosis *dg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void led_note(struct ukey_diagnosis *dg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dg->note, sizeof(dg->note), fmt, ap);
	va_end(ap);
}

static void decide(const struct ukey_device *key, struct ukey_diagnosis *dg)
{
	bool environment = false, seen = key != NULL;
	bool mute = failed(dg, "card-answers");
	bool cert_bad = failed(dg, "cert-present") || failed(dg, "cert-parses") || failed(dg, "cert-key-match");

	for (size_t i = 0; i < dg->n_checks; i++)
		if (strcmp(dg->checks[i].layer, "environment") == 0 && dg->checks[i].status == UKEY_CHECK_FAIL)
			environment = true;
	/* A CCID key with no reader, or a card no module shows: this computer lacks a piece. */
	if (failed(dg, "reader") || (seen && !mute && failed(dg, "token") && !failed(dg, "card")))
		environment = true;

	if (environment)
		dg->verdict = UKEY_VERDICT_ENVIRONMENT;
	else if (!seen)
		dg->verdict = UKEY_VERDICT_R_D1;
	else if (mute || failed(dg, "card") || failed(dg, "descriptors"))
		dg->verdict = UKEY_VERDICT_R_D2;
	else if (failed(dg, "pin"))
		dg->verdict = UKEY_VERDICT_LOCKED;
	else if (cert_bad || failed(dg, "initialized"))
		dg->verdict = UKEY_VERDICT_R_D3;
	/*
	 * R-V1: a revoked certificate. The order is the layers' again: what is
	 * wrong lower down (the computer, the chip, a locked PIN, a certificate
	 * that cannot be recognised: the key's own state, a media fault that
	 * R-D5 may replace free) is named first, and revocation is a state of the
	 * certificate, like expiry, on the top layer. Above EXPIRED: renewal
	 * cannot help a revoked certificate (the CA refuses to re-enrol it and it
	 * "can no longer be used", R-V1), so a revoked and expired certificate is
	 * sent to a new issue (R-S1), not to R-R renewal. The check only fails
	 * on a verified "revoked"; "unknown" never changes the verdict.
	 */
	else if (failed(dg, "revocation"))
		dg->verdict = UKEY_VERDICT_REVOKED;
	else if (failed(dg, "cert-validity"))
		dg->verdict = UKEY_VERDICT_EXPIRED;
	else
		dg->verdict = UKEY_VERDICT_HEALTHY;

	/* What the person saw against what the computer sees: say so when they disagree. */
	switch (dg->verdict) {
	case UKEY_VERDICT_R_D1:
		if (dg->led == UKEY_LED_UNKNOWN)
			led_note(dg,
				 "The light was not given: R-D1 needs it off. Confirm it before replacing the key.");
		else if (dg->led != UKEY_LED_OFF)
			led_note(dg,
				 "The light is said to be %s, but nothing is seen at USB level: R-D1 needs the light "
				 "off. Try another port and cable; a key with a light that no port sees is faulty.",
				 ukey_led_id(dg->led));
		break;
	case UKEY_VERDICT_R_D2:
		if (dg->led == UKEY_LED_UNKNOWN)
			led_note(dg, "The light was not given: R-D2 is a light blinking without stopping. The evidence "
				     "(the chip does not answer) fits it.");
		else if (dg->led != UKEY_LED_BLINKING)
			led_note(dg,
				 "The light is said to be %s, not blinking, but the chip does not answer: the "
				 "evidence decides (R-D2).",
				 ukey_led_id(dg->led));
		break;
	case UKEY_VERDICT_HEALTHY:
	case UKEY_VERDICT_R_D3:
	case UKEY_VERDICT_LOCKED:
	case UKEY_VERDICT_EXPIRED:
	case UKEY_VERDICT_REVOKED:
		if (dg->led == UKEY_LED_OFF)
			led_note(dg, "The light is said to be off, but the key enumerates and answers: not R-D1.");
		else if (dg->led == UKEY_LED_BLINKING && dg->verdict == UKEY_VERDICT_HEALTHY)
			led_note(dg, "The light is said to blink, but the chip answers: not R-D2 (a light blinks "
				     "while the key works).");
		else if (dg->led == UKEY_LED_UNKNOWN && dg->verdict == UKEY_VERDICT_R_D3)
			led_note(dg, "The light was not given: R-D3 needs it normal. The evidence fits R-D3.");
		break;
	default:
		break;
	}
}

static void today(time_t now, char buf[static 11])
{
	struct tm tm;

	/* The CA's dates are calendar days where the user is (Beijing for the CA's users; TZ decides). */
	localtime_r(&now, &tm);
	strftime(buf, 11, "%Y-%m-%d", &tm);
}

static void warranty(const struct ukey_diagnose_input *in, struct ukey_diagnosis *dg)
{
	char now[11];
	uint8_t *value = NULL;
	size_t len = 0;

	if (in->first_issued) {
		snprintf(dg->first_issued, sizeof(dg->first_issued), "%s", in->first_issued);
		dg->first_issued_source = "flag";
	} else if (dg->have_token &&
		   ukey_p11_data_object(in->p11, dg->token.serial, FIRST_ISSUED_LABEL, &value, &len) == 0) {
		if (len == 10) {
			memcpy(dg->first_issued, value, 10);
			dg->first_issued[10] = '\0';
			if (ukey_date_valid(dg->first_issued))
				dg->first_issued_source = "token";
			else
				dg->first_issued[0] = '\0';
		}
		free(value);
	}
	dg->media_fault = dg->verdict == UKEY_VERDICT_R_D1 || dg->verdict == UKEY_VERDICT_R_D2 ||
			  dg->verdict == UKEY_VERDICT_R_D3;
	dg->replacement = dg->media_fault;
	if (dg->first_issued_source && ukey_warranty_until(dg->first_issued, dg->warranty_until) == 0) {
		today(in->now, now);
		dg->warranty_known = true;
		dg->in_warranty = strcmp(now, dg->warranty_until) < 0; /* R-D4 */
	}
	/* R-D5: a media fault in warranty is replaced free; R-D6: anything else replaced costs the media fee. */
	dg->fee_cny = dg->media_fault && dg->in_warranty ? 0 : UKEY_MEDIA_FEE_CNY;
	switch (dg->verdict) {
	case UKEY_VERDICT_R_D1:
	case UKEY_VERDICT_R_D2:
	case UKEY_VERDICT_R_D3:
		dg->service = ukey_guide_find("R-S4");
		break;
	case UKEY_VERDICT_LOCKED:
		dg->service = ukey_guide_find("R-S2");
		dg->fee_cny = 0; /* R-P3: unlocking is free */
		break;
	case UKEY_VERDICT_EXPIRED:
		dg->service = ukey_guide_find("R-S7");
		break;
	case UKEY_VERDICT_REVOKED:
		dg->service = ukey_guide_find("R-S1");
		break;
	default:
		dg->service = NULL;
		break;
	}
}

int ukey_diagnose(const struct ukey_diagnose_input *in, struct ukey_diagnosis *ret)
{
	struct ukey_diagnosis *dg = ret;
	struct ukey_device_list *list = NULL;
	const struct ukey_device *key = NULL;
	int r;

	if (in->first_issued && !ukey_date_valid(in->first_issued))
		return -UKEY_E_USAGE;
	if ((r = ukey_devices_scan(in->models, in->p11, &list)) < 0)
		return r;
	if ((r = pick_device(list, in->token, &key)) < 0) {
		ukey_device_list_free(list);
		return r;
	}
	memset(dg, 0, sizeof(*dg));
	dg->led = in->led;
	if (key && key->model)
		snprintf(dg->model, sizeof(dg->model), "%s %s", key->model->vendor, key->model->name);
	check_environment(in, list, key, dg);
	check_usb(list, key, dg);
	check_card(list, key, dg);
	check_token(in, key, dg);
	check_certs(in, dg);
	decide(key, dg);
	warranty(in, dg);
	ukey_device_list_free(list);
	return 0;
}
