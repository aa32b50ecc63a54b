/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the token model database: the shipped drivers/models.conf, the strict parser, and the lookups. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"
#include "model.h"

/* The vcard fixture's default ATR (tests/fixtures/pcsc): a Feitian ePass2003 as smartcard_list.txt names it. */
static const uint8_t vcard_atr[] = { 0x3b, 0x9f, 0x95, 0x81, 0x31, 0xfe, 0x9f, 0x00, 0x66, 0x46, 0x53, 0x05,
				     0x10, 0x04, 0x31, 0x71, 0xdf, 0x00, 0x00, 0x39, 0x00, 0x00, 0x1f };

static struct ukey_model_db *load_shipped(void)
{
	struct ukey_model_db *db = NULL;
	char *message = NULL;
	int r;

	r = ukey_model_db_load(UKEY_TEST_MODELS, &db, &message);
	if (r < 0)
		fprintf(stderr, "%s\n", message ? message : ukey_strerror(r));
	free(message);
	assert_int_equal(r, 0);
	assert_non_null(db);
	return db;
}

static struct ukey_model_db *parse_ok(const char *text)
{
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;
	int r;

	r = ukey_model_db_parse(text, strlen(text), &db, &line, &reason);
	if (r < 0)
		fprintf(stderr, "line %u: %s\n", line, reason ? reason : "?");
	assert_int_equal(r, 0);
	assert_non_null(db);
	return db;
}

#define MODEL_HEAD "[model t]\nname = T\ntransport = ccid\nsource = test\n"

static void shipped_loads(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = load_shipped();
	assert_true(ukey_model_db_count(db) >= 8);
	ukey_model_db_free(db);
}

static void shipped_every_model_complete(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = load_shipped();
	for (size_t i = 0; i < ukey_model_db_count(db); i++) {
		const struct ukey_model *m = ukey_model_db_get(db, i);

		/* No entry without a citation; the parser enforces it, this shows the shipped file passed through it. */
		assert_non_null(m->source);
		assert_true(strlen(m->source) > 10);
		assert_non_null(m->name);
		assert_int_not_equal(m->transport, UKEY_TRANSPORT_UNKNOWN);
		assert_true(m->n_usb + m->n_atr > 0);
		/* No source states a model's light: no entry may claim one (service-rules.md R-D1/R-D2 are generic). */
		assert_null(m->led_off);
		assert_null(m->led_blinking);
		assert_null(m->led_steady);
	}
	assert_null(ukey_model_db_get(db, ukey_model_db_count(db)));
	ukey_model_db_free(db);
}

static void shipped_usb_finds_epass2003(void **state)
{
	struct ukey_model_db *db;
	const struct ukey_model *m;

	(void)state;
	db = load_shipped();
	m = ukey_model_by_usb(db, 0x096e, 0x0807);
	assert_non_null(m);
	assert_string_equal(m->id, "feitian-epass2003");
	assert_string_equal(m->name, "ePass2003");
	assert_string_equal(m->vendor, "Feitian");
	assert_int_equal(m->transport, UKEY_TRANSPORT_CCID);
	assert_string_equal(m->module, "opensc-pkcs11.so");
	assert_null(ukey_model_by_usb(db, 0x096e, 0xffff));
	assert_null(ukey_model_by_usb(db, 0x1d6b, 0x0002));
	ukey_model_db_free(db);
}

static void shipped_atr_finds_epass2003_vcard(void **state)
{
	struct ukey_model_db *db;
	const struct ukey_model *m;
	uint8_t atr[sizeof(vcard_atr)];

	(void)state;
	db = load_shipped();
	m = ukey_model_by_atr(db, vcard_atr, sizeof(vcard_atr));
	assert_non_null(m);
	assert_string_equal(m->id, "feitian-epass2003");
	/* Another card OS version (bytes 12-14, outside OpenSC's mask) is still an ePass2003. */
	memcpy(atr, vcard_atr, sizeof(atr));
	atr[12] = 0x23;
	atr[13] = 0x00;
	atr[14] = 0x25;
	atr[22] = 0x96;
	m = ukey_model_by_atr(db, atr, sizeof(atr));
	assert_non_null(m);
	assert_string_equal(m->id, "feitian-epass2003");
	/* A masked-in byte differs: not an ePass2003. */
	atr[8] = 0x65;
	assert_null(ukey_model_by_atr(db, atr, sizeof(atr)));
	ukey_model_db_free(db);
}

static void shipped_default_pin_retries_10(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = load_shipped();
	assert_int_equal(ukey_model_by_usb(db, 0x096e, 0x0807)->pin_retries, 10);
	/* No shipped entry cites a counter of its own, so every one is the CA's R-P1. */
	for (size_t i = 0; i < ukey_model_db_count(db); i++)
		assert_int_equal(ukey_model_db_get(db, i)->pin_retries, UKEY_MODEL_DEFAULT_PIN_RETRIES);
	ukey_model_db_free(db);
}

static void shipped_token_vendors(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = load_shipped();
	assert_string_equal(ukey_model_token_vendor(db, 0x096e), "Feitian Technologies");
	assert_non_null(ukey_model_token_vendor(db, 0x163c));
	/* Linux Foundation root hubs are no token vendor. */
	assert_null(ukey_model_token_vendor(db, 0x1d6b));
	ukey_model_db_free(db);
}

static void shipped_vendor_transport_has_no_module(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = load_shipped();
	/* models.conf's rule: OpenSC only for CCID tokens, which pcscd reaches on a stock system. */
	for (size_t i = 0; i < ukey_model_db_count(db); i++) {
		const struct ukey_model *m = ukey_model_db_get(db, i);

		if (m->transport != UKEY_TRANSPORT_CCID && m->module)
			assert_string_not_equal(m->module, "opensc-pkcs11.so");
	}
	ukey_model_db_free(db);
}

static void parse_all_keys(void **state)
{
	struct ukey_model_db *db;
	const struct ukey_model *m;

	(void)state;
	db = parse_ok("# test\n"
		      "[vendor 0F0f]\n"
		      "name = Example Vendor\n"
		      "source = here\n"
		      "\n"
		      "[model ex-1]\n"
		      "  name\t=  Example 令牌  \n"
		      "vendor = Example\n"
		      "transport = hid\n"
		      "usb = 0F0F:00aB\n"
		      "usb = 0f0f:0002\n"
		      "atr = 3b00\n"
		      "module = /opt/example/lib/pkcs11.so\n"
		      "pin-retries = 6\n"
		      "pin-min = 4\n"
		      "pin-max = 16\n"
		      "led-off = no power\n"
		      "led-blinking = busy\n"
		      "led-steady = ready\n"
		      "source = a # is part of the value\n");
	assert_int_equal(ukey_model_db_count(db), 1);
	m = ukey_model_db_get(db, 0);
	assert_string_equal(m->id, "ex-1");
	assert_string_equal(m->name, "Example 令牌");
	assert_string_equal(m->vendor, "Example");
	assert_int_equal(m->transport, UKEY_TRANSPORT_HID);
	assert_int_equal(m->n_usb, 2);
	assert_int_equal(m->usb[0].vid, 0x0f0f);
	assert_int_equal(m->usb[0].pid, 0x00ab);
	assert_int_equal(m->usb[1].pid, 0x0002);
	assert_int_equal(m->n_atr, 1);
	assert_int_equal(m->atr[0].len, 2);
	assert_string_equal(m->module, "/opt/example/lib/pkcs11.so");
	assert_int_equal(m->pin_retries, 6);
	assert_int_equal(m->pin_min, 4);
	assert_int_equal(m->pin_max, 16);
	assert_string_equal(m->led_off, "no power");
	assert_string_equal(m->led_blinking, "busy");
	assert_string_equal(m->led_steady, "ready");
	/* Only whole-line comments: a '#' in a value is kept. */
	assert_string_equal(m->source, "a # is part of the value");
	assert_string_equal(ukey_model_token_vendor(db, 0x0f0f), "Example Vendor");
	ukey_model_db_free(db);
}

static void parse_defaults(void **state)
{
	struct ukey_model_db *db;
	const struct ukey_model *m;

	(void)state;
	db = parse_ok(MODEL_HEAD "usb = 0f0f:0001\n");
	m = ukey_model_db_get(db, 0);
	assert_int_equal(m->pin_retries, UKEY_MODEL_DEFAULT_PIN_RETRIES);
	assert_int_equal(m->pin_min, 0);
	assert_int_equal(m->pin_max, 0);
	assert_null(m->vendor);
	assert_null(m->module);
	assert_null(m->led_off);
	assert_int_equal(m->n_atr, 0);
	assert_null(m->atr);
	ukey_model_db_free(db);
}

static void atr_mask_matches_variant_bytes(void **state)
{
	static const uint8_t a[] = { 0x3b, 0x02, 0x14, 0x50 }, b[] = { 0x3b, 0x02, 0xff, 0x50 },
			     c[] = { 0x3b, 0x03, 0x14, 0x50 };
	struct ukey_model_db *db;

	(void)state;
	db = parse_ok(MODEL_HEAD "atr = 3b:02:14:50 / ff:ff:00:ff\n");
	assert_non_null(ukey_model_by_atr(db, a, sizeof(a)));
	assert_non_null(ukey_model_by_atr(db, b, sizeof(b)));
	assert_null(ukey_model_by_atr(db, c, sizeof(c)));
	/* The pattern keeps only masked-in bits: a real ATR may be pasted next to its mask. */
	assert_int_equal(ukey_model_db_get(db, 0)->atr[0].atr[2], 0);
	ukey_model_db_free(db);
}

static void atr_length_must_match(void **state)
{
	static const uint8_t longer[] = { 0x3b, 0x02, 0x14, 0x50, 0x00 }, shorter[] = { 0x3b, 0x02, 0x14 };
	struct ukey_model_db *db;

	(void)state;
	db = parse_ok(MODEL_HEAD "atr = 3b:02:14:50 / ff:ff:00:ff\n");
	assert_null(ukey_model_by_atr(db, longer, sizeof(longer)));
	assert_null(ukey_model_by_atr(db, shorter, sizeof(shorter)));
	assert_null(ukey_model_by_atr(db, NULL, 0));
	ukey_model_db_free(db);
}

static void atr_without_mask_is_exact(void **state)
{
	static const uint8_t a[] = { 0x3b, 0x9f, 0x95 }, b[] = { 0x3b, 0x9f, 0x94 };
	struct ukey_model_db *db;
	const struct ukey_model *m;

	(void)state;
	/* Plain and colon forms, any case, mean the same bytes. */
	db = parse_ok(MODEL_HEAD "atr = 3B9f95\n");
	m = ukey_model_db_get(db, 0);
	assert_memory_equal(m->atr[0].mask, "\xff\xff\xff", 3);
	assert_ptr_equal(ukey_model_by_atr(db, a, sizeof(a)), m);
	assert_null(ukey_model_by_atr(db, b, sizeof(b)));
	ukey_model_db_free(db);
	db = parse_ok(MODEL_HEAD "atr = 3b:9F:95\n");
	assert_non_null(ukey_model_by_atr(db, a, sizeof(a)));
	ukey_model_db_free(db);
}

static void atr_first_model_in_file_wins(void **state)
{
	static const uint8_t a[] = { 0x3b, 0x01 };
	struct ukey_model_db *db;

	(void)state;
	db = parse_ok("[model narrow]\nname = N\ntransport = ccid\natr = 3b01\nsource = s\n"
		      "[model broad]\nname = B\ntransport = ccid\natr = 3b00 / ff00\nsource = s\n");
	assert_string_equal(ukey_model_by_atr(db, a, sizeof(a))->id, "narrow");
	ukey_model_db_free(db);
}

static void atr_33_bytes_accepted(void **state)
{
	char text[256];
	uint8_t atr[UKEY_ATR_MAX];
	struct ukey_model_db *db;

	(void)state;
	memset(atr, 0x3b, sizeof(atr));
	strcpy(text, MODEL_HEAD "atr = ");
	for (size_t i = 0; i < UKEY_ATR_MAX; i++)
		strcat(text, "3b");
	strcat(text, "\n");
	db = parse_ok(text);
	assert_int_equal(ukey_model_db_get(db, 0)->atr[0].len, UKEY_ATR_MAX);
	assert_non_null(ukey_model_by_atr(db, atr, sizeof(atr)));
	ukey_model_db_free(db);
}

struct bad_case {
	const char *text;
	unsigned line;
	const char *reason;
};

static void malformed_reports_line_and_reason(void **state)
{
	static const struct bad_case cases[] = {
		{ "name = X\n", 1, "key outside any section" },
		{ "# c\n[model a]\nname = A\ntransport = ccid\nusb = 0f0f:0001\nsource = s\ncolour = red\n", 7,
		  "unknown key" },
		{ "[vendor 0f0f]\nname = V\nsource = s\ntransport = ccid\n", 4, "unknown key" },
		{ MODEL_HEAD "usb = 0f0f:0001\n[model t]\nname = U\ntransport = ccid\nusb = 0f0f:0002\nsource = s\n", 6,
		  "model id listed twice" },
		{ MODEL_HEAD "atr = 3b00\natr = 3B:00 / FF:FF\n", 6, "ATR pattern listed twice" },
		{ "\n[model a]\nname = A\ntransport = ccid\nusb = 0f0f:0001\n", 2, "model has no source" },
		{ "[model a]\ntransport = ccid\nusb = 0f0f:0001\nsource = s\n", 1, "model has no name" },
		{ "[model a]\nname = A\nusb = 0f0f:0001\nsource = s\n[model b]\n", 1, "model has no transport" },
		{ MODEL_HEAD "\n", 1, "model has no usb or atr line" },
		{ "[vendor 0f0f]\nname = V\n", 1, "vendor has no source" },
		{ MODEL_HEAD "atr = 3b:9g\n", 5, "bad hex digit" },
		{ MODEL_HEAD "atr = 3b9\n", 5, "odd number of hex digits" },
		{ MODEL_HEAD "atr = 3b:9f / ff\n", 5, "mask length differs from ATR length" },
		{ MODEL_HEAD "atr = 3b9f / 0000\n", 5, "mask matches every ATR" },
		{ MODEL_HEAD "atr = 3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b\n", 5,
		  "ATR longer than 33 bytes" },
		{ MODEL_HEAD "usb = 96e:0807\n", 5, "usb is not VID:PID of 4+4 hex digits" },
		{ MODEL_HEAD "usb = 096e-0807\n", 5, "usb is not VID:PID of 4+4 hex digits" },
		{ MODEL_HEAD "usb = 0f0f:0001\n[model u]\nname = U\ntransport = ccid\nusb = 0F0F:0001\nsource = s\n", 9,
		  "VID:PID listed twice" },
		{ MODEL_HEAD "usb = 0f0f:0001\nname = again\n", 6, "key given twice" },
		{ MODEL_HEAD "usb = 0f0f:0001\ntransport = usb\n", 6, "key given twice" },
		{ "[model a]\ntransport = serial\n", 2, "unknown transport" },
		{ MODEL_HEAD "usb = 0f0f:0001\npin-min = 8\npin-max = 6\n", 7, "pin-min is greater than pin-max" },
		{ MODEL_HEAD "pin-retries = 0\n", 5, "number out of range" },
		{ MODEL_HEAD "pin-retries = 256\n", 5, "number out of range" },
		{ MODEL_HEAD "pin-max = -1\n", 5, "not a decimal number" },
		{ MODEL_HEAD "module = lib/x.so\n", 5, "module is not a file name or an absolute path" },
		{ "[model A]\n", 1, "model id is not 1-64 of a-z, 0-9, '-'" },
		{ "[model -a]\n", 1, "model id is not 1-64 of a-z, 0-9, '-'" },
		{ "[model a b]\n", 1, "model id is not 1-64 of a-z, 0-9, '-'" },
		{ "[vendor 96e]\n", 1, "vendor id is not 4 hex digits" },
		{ "[vendor 0f0f]\nname = V\nsource = s\n[vendor 0F0F]\n", 4, "vendor listed twice" },
		{ "[reader x]\n", 1, "unknown section type" },
		{ "[model a\n", 1, "malformed section header" },
		{ "[model a]\nname\n", 2, "expected `key = value`" },
		{ "[model a]\n= A\n", 2, "empty key" },
		{ "[model a]\nname =  \n", 2, "empty value" },
		{ "[model a]\nname = A\x01\n", 2, "control character" },
		{ "[model a]\nname = A\rB\n", 2, "control character" },
		{ "[model a]\nname = \xc0\xaf\n", 2, "invalid UTF-8" },
		{ "[model a]\nname = \xed\xa0\x80\n", 2, "invalid UTF-8" },
	};

	static char sentinel;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ukey_model_db *db = (struct ukey_model_db *)&sentinel;
		const char *reason = NULL;
		unsigned line = 999;
		int r;

		r = ukey_model_db_parse(cases[i].text, strlen(cases[i].text), &db, &line, &reason);
		if (r != -UKEY_E_MODEL_DB || line != cases[i].line || !reason || strcmp(reason, cases[i].reason) != 0)
			fail_msg("case %zu: got %d, line %u, \"%s\"; want line %u, \"%s\"", i, r, line,
				 reason ? reason : "(null)", cases[i].line, cases[i].reason);
		/* Nothing is written to *ret on failure. */
		assert_ptr_equal(db, (struct ukey_model_db *)&sentinel);
	}
}

static void value_too_long(void **state)
{
	char text[1024];
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	(void)state;
	snprintf(text, sizeof(text), "[model a]\nname = %0129d\n", 0);
	assert_int_equal(ukey_model_db_parse(text, strlen(text), &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 2);
	assert_string_equal(reason, "value too long");
	assert_null(db);
}

static void line_too_long(void **state)
{
	size_t len = 10 + UKEY_MODELS_MAX_LINE + 1 + 1;
	char *text = malloc(len + 1);
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	(void)state;
	assert_non_null(text);
	/* Line 2 is one byte over the cap; a CR of CRLF does not count. */
	strcpy(text, "[model a]\n");
	memset(text + 10, '#', UKEY_MODELS_MAX_LINE + 1);
	strcpy(text + 10 + UKEY_MODELS_MAX_LINE + 1, "\n");
	assert_int_equal(ukey_model_db_parse(text, strlen(text), &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 2);
	assert_string_equal(reason, "line too long");
	text[10 + UKEY_MODELS_MAX_LINE] = '\r';
	assert_int_equal(ukey_model_db_parse(text, strlen(text), &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_string_equal(reason, "model has no name");
	assert_null(db);
	free(text);
}

static void nul_byte_reports_line(void **state)
{
	static const char text[] = "[model a]\nname = A\nsource = x\0y\n";
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	(void)state;
	assert_int_equal(ukey_model_db_parse(text, sizeof(text) - 1, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 3);
	assert_string_equal(reason, "NUL byte");
	assert_null(db);
}

static void size_cap(void **state)
{
	char *text = malloc(UKEY_MODELS_MAX_SIZE + 1);
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 999;

	(void)state;
	assert_non_null(text);
	memset(text, '\n', UKEY_MODELS_MAX_SIZE + 1);
	/* Exactly the cap: blank lines, valid. */
	assert_int_equal(ukey_model_db_parse(text, UKEY_MODELS_MAX_SIZE, &db, &line, &reason), 0);
	assert_int_equal(ukey_model_db_count(db), 0);
	ukey_model_db_free(db);
	db = NULL;
	assert_int_equal(ukey_model_db_parse(text, UKEY_MODELS_MAX_SIZE + 1, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 0);
	assert_string_equal(reason, "file too large");
	assert_null(db);
	free(text);
}

static void too_many_usb_lines(void **state)
{
	char text[2048];
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), MODEL_HEAD);
	for (unsigned i = 0; i <= UKEY_MODEL_MAX_USB; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "usb = 0f0f:%04x\n", i);
	assert_int_equal(ukey_model_db_parse(text, n, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 5 + UKEY_MODEL_MAX_USB);
	assert_string_equal(reason, "too many usb lines");
	assert_null(db);
}

static void bom_and_crlf_accepted(void **state)
{
	struct ukey_model_db *db;
	const struct ukey_model *m;

	(void)state;
	db = parse_ok(
		"\xef\xbb\xbf[model a]\r\nname = A\r\ntransport = mass-storage\r\nusb = 0f0f:0001\r\nsource = s\r\n");
	m = ukey_model_db_get(db, 0);
	assert_string_equal(m->id, "a");
	assert_string_equal(m->name, "A");
	assert_string_equal(m->source, "s");
	assert_int_equal(m->transport, UKEY_TRANSPORT_MASS_STORAGE);
	ukey_model_db_free(db);
}

static void bom_only_at_start(void **state)
{
	static const char text[] = "[model a]\n\xef\xbb\xbfname = A\n";
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	(void)state;
	/* U+FEFF is not a blank: the key then is "\ufeffname". */
	assert_int_equal(ukey_model_db_parse(text, sizeof(text) - 1, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 2);
	assert_string_equal(reason, "unknown key");
}

static void duplicates_reported_at_earliest_repeat(void **state)
{
	static const char text[] = "[model a]\nname = A\ntransport = ccid\nsource = s\nusb = 0f0f:0001\natr = 3b01\n"
				   "[model b]\nname = B\ntransport = ccid\nsource = s\natr = 3b01\nusb = 0f0f:0001\n"
				   "[model a]\nname = A\ntransport = ccid\nsource = s\nusb = 0f0f:0002\n";
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	(void)state;
	assert_int_equal(ukey_model_db_parse(text, sizeof(text) - 1, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, 11);
	assert_string_equal(reason, "ATR pattern listed twice");
	assert_null(db);
}

/* Near the size cap with ~64 000 distinct entries: parses (the duplicate check sorts), then one repeat is found. */
static void big_database_parses(void **state)
{
	size_t cap = UKEY_MODELS_MAX_SIZE, n = 0;
	char *text = malloc(cap + 1);
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0, lines = 0, models = 0, entry = 0;

	(void)state;
	assert_non_null(text);
	while (n + 2048 < cap) {
		n += (size_t)snprintf(text + n, cap - n, "[model m%u]\nname = M\ntransport = ccid\nsource = s\n",
				      models++);
		lines += 4;
		for (unsigned k = 0; k < UKEY_MODEL_MAX_USB; k++, entry++) {
			n += (size_t)snprintf(text + n, cap - n, "usb = %04x:%04x\natr = 3b%08x\n", entry >> 16,
					      entry & 0xffff, entry);
			lines += 2;
		}
	}
	assert_int_equal(ukey_model_db_parse(text, n, &db, &line, &reason), 0);
	assert_int_equal(ukey_model_db_count(db), models);
	assert_non_null(ukey_model_by_usb(db, 0, 0));
	ukey_model_db_free(db);
	db = NULL;
	n += (size_t)snprintf(text + n, cap - n,
			      "[model last]\nname = L\ntransport = ccid\nsource = s\nusb = 0000:0007\n");
	assert_int_equal(ukey_model_db_parse(text, n, &db, &line, &reason), -UKEY_E_MODEL_DB);
	assert_int_equal(line, lines + 5);
	assert_string_equal(reason, "VID:PID listed twice");
	free(text);
}

static void empty_database_is_valid(void **state)
{
	struct ukey_model_db *db;

	(void)state;
	db = parse_ok("# nothing yet\n\n");
	assert_int_equal(ukey_model_db_count(db), 0);
	assert_null(ukey_model_by_usb(db, 0x096e, 0x0807));
	assert_null(ukey_model_token_vendor(db, 0x096e));
	ukey_model_db_free(db);
}

static void load_reports_file_line_reason(void **state)
{
	char *dir = unit_mkdtemp(), *path, *message = NULL, *want = NULL;
	struct ukey_model_db *db = NULL;
	static const char text[] = "[model a]\nname = A\ncolour = red\n";

	(void)state;
	assert_non_null(dir);
	path = unit_path(dir, "models.conf");
	assert_int_equal(unit_write_file(path, text, sizeof(text) - 1), 0);
	assert_int_equal(ukey_model_db_load(path, &db, &message), -UKEY_E_MODEL_DB);
	assert_true(asprintf(&want, "%s:3: unknown key", path) >= 0);
	assert_string_equal(message, want);
	assert_null(db);
	free(want);
	free(message);
	free(path);
	unit_rm_rf(dir);
	free(dir);
}

static void load_missing_file_errno(void **state)
{
	char *dir = unit_mkdtemp(), *path, *message = NULL, *want = NULL;
	struct ukey_model_db *db = NULL;

	(void)state;
	assert_non_null(dir);
	path = unit_path(dir, "absent.conf");
	assert_int_equal(ukey_model_db_load(path, &db, &message), -ENOENT);
	assert_true(asprintf(&want, "%s: %s", path, strerror(ENOENT)) >= 0);
	assert_string_equal(message, want);
	free(message);
	message = NULL;
	assert_int_equal(ukey_model_db_load(dir, &db, &message), -EISDIR);
	assert_non_null(message);
	assert_null(db);
	free(want);
	free(message);
	free(path);
	unit_rm_rf(dir);
	free(dir);
}

static void load_env_overrides_default(void **state)
{
	char *dir = unit_mkdtemp(), *path, *old = getenv("UKEY_MODELS") ? strdup(getenv("UKEY_MODELS")) : NULL;
	struct ukey_model_db *db = NULL;
	static const char text[] = "[model from-env]\nname = E\ntransport = ccid\nusb = 0f0f:0001\nsource = s\n";

	(void)state;
	assert_non_null(dir);
	path = unit_path(dir, "models.conf");
	assert_int_equal(unit_write_file(path, text, sizeof(text) - 1), 0);
	setenv("UKEY_MODELS", path, 1);
	assert_int_equal(ukey_model_db_load(NULL, &db, NULL), 0);
	assert_string_equal(ukey_model_db_get(db, 0)->id, "from-env");
	ukey_model_db_free(db);
	/* An explicit path wins over the environment. */
	db = NULL;
	assert_int_equal(ukey_model_db_load(UKEY_TEST_MODELS, &db, NULL), 0);
	assert_non_null(ukey_model_by_usb(db, 0x096e, 0x0807));
	ukey_model_db_free(db);
	if (old)
		setenv("UKEY_MODELS", old, 1);
	else
		unsetenv("UKEY_MODELS");
	free(old);
	free(path);
	unit_rm_rf(dir);
	free(dir);
}

static void load_oversized_file_fails(void **state)
{
	char *dir = unit_mkdtemp(), *path, *message = NULL, *text = malloc(UKEY_MODELS_MAX_SIZE + 2);
	struct ukey_model_db *db = NULL;

	(void)state;
	assert_non_null(dir);
	assert_non_null(text);
	memset(text, '\n', UKEY_MODELS_MAX_SIZE + 2);
	path = unit_path(dir, "big.conf");
	assert_int_equal(unit_write_file(path, text, UKEY_MODELS_MAX_SIZE + 2), 0);
	assert_int_equal(ukey_model_db_load(path, &db, &message), -UKEY_E_MODEL_DB);
	assert_non_null(strstr(message, ":0: file too large"));
	free(message);
	free(text);
	free(path);
	unit_rm_rf(dir);
	free(dir);
}

static void transport_names(void **state)
{
	(void)state;
	assert_string_equal(ukey_transport_name(UKEY_TRANSPORT_CCID), "ccid");
	assert_string_equal(ukey_transport_name(UKEY_TRANSPORT_HID), "hid");
	assert_string_equal(ukey_transport_name(UKEY_TRANSPORT_MASS_STORAGE), "mass-storage");
	assert_string_equal(ukey_transport_name(UKEY_TRANSPORT_VENDOR), "vendor");
	assert_string_equal(ukey_transport_name(UKEY_TRANSPORT_UNKNOWN), "unknown");
	assert_string_equal(ukey_transport_name((enum ukey_transport)99), "unknown");
}

static void free_and_lookups_null_safe(void **state)
{
	(void)state;
	ukey_model_db_free(NULL);
	assert_int_equal(ukey_model_db_count(NULL), 0);
	assert_null(ukey_model_db_get(NULL, 0));
	assert_null(ukey_model_by_usb(NULL, 0x096e, 0x0807));
	assert_null(ukey_model_by_atr(NULL, vcard_atr, sizeof(vcard_atr)));
	assert_null(ukey_model_token_vendor(NULL, 0x096e));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shipped_loads),
		cmocka_unit_test(shipped_every_model_complete),
		cmocka_unit_test(shipped_usb_finds_epass2003),
		cmocka_unit_test(shipped_atr_finds_epass2003_vcard),
		cmocka_unit_test(shipped_default_pin_retries_10),
		cmocka_unit_test(shipped_token_vendors),
		cmocka_unit_test(shipped_vendor_transport_has_no_module),
		cmocka_unit_test(parse_all_keys),
		cmocka_unit_test(parse_defaults),
		cmocka_unit_test(atr_mask_matches_variant_bytes),
		cmocka_unit_test(atr_length_must_match),
		cmocka_unit_test(atr_without_mask_is_exact),
		cmocka_unit_test(atr_first_model_in_file_wins),
		cmocka_unit_test(atr_33_bytes_accepted),
		cmocka_unit_test(malformed_reports_line_and_reason),
		cmocka_unit_test(value_too_long),
		cmocka_unit_test(line_too_long),
		cmocka_unit_test(nul_byte_reports_line),
		cmocka_unit_test(size_cap),
		cmocka_unit_test(too_many_usb_lines),
		cmocka_unit_test(bom_and_crlf_accepted),
		cmocka_unit_test(bom_only_at_start),
		cmocka_unit_test(duplicates_reported_at_earliest_repeat),
		cmocka_unit_test(big_database_parses),
		cmocka_unit_test(empty_database_is_valid),
		cmocka_unit_test(load_reports_file_line_reason),
		cmocka_unit_test(load_missing_file_errno),
		cmocka_unit_test(load_env_overrides_default),
		cmocka_unit_test(load_oversized_file_fails),
		cmocka_unit_test(transport_names),
		cmocka_unit_test(free_and_lookups_null_safe),
	};

	return UNIT_MAIN("model", tests);
}
