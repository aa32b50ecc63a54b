/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token model database: a strict reader of models.conf (capped and fuzzed) and the lookups by USB id and ATR. */
#define UKEY_LOG_MODULE UKEY_LOG_MOD_DEV
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/utf8.h"
#include "base/log.h"
#include "model.h"

/*
 * Caps on single values; `source` is bounded by the line cap only. Names are
 * shown on one line of the page and the CLI; a module is a path (PATH_MAX
 * would be too generous for a file name the loader searches).
 */
#define MAX_NAME 128
#define MAX_TEXT 255
#define MAX_ID 64
#define MAX_NUMBER 255

enum key {
	K_NAME,
	K_VENDOR,
	K_TRANSPORT,
	K_USB,
	K_ATR,
	K_MODULE,
	K_PIN_RETRIES,
	K_PIN_MIN,
	K_PIN_MAX,
	K_LED_OFF,
	K_LED_BLINKING,
	K_LED_STEADY,
	K_SOURCE,
	_K_MAX
};

static const char *const key_names[_K_MAX] = {
	[K_NAME] = "name",
	[K_VENDOR] = "vendor",
	[K_TRANSPORT] = "transport",
	[K_USB] = "usb",
	[K_ATR] = "atr",
	[K_MODULE] = "module",
	[K_PIN_RETRIES] = "pin-retries",
	[K_PIN_MIN] = "pin-min",
	[K_PIN_MAX] = "pin-max",
	[K_LED_OFF] = "led-off",
	[K_LED_BLINKING] = "led-blinking",
	[K_LED_STEADY] = "led-steady",
	[K_SOURCE] = "source",
};

/* The keys a [vendor] section takes; a [model] section takes them all. */
#define VENDOR_KEYS ((1u << K_NAME) | (1u << K_SOURCE))
#define REPEATABLE_KEYS ((1u << K_USB) | (1u << K_ATR))

struct vendor {
	uint16_t vid;
	const char *name;
	const char *source;
};

/* A model plus what only the parser needs: where its usb/atr entries start in the shared arrays, and lines. */
struct slot {
	struct ukey_model m;
	size_t usb_first, atr_first;
	unsigned line; /* of the section header */
	unsigned pin_line; /* of the later of pin-min, pin-max */
};

struct ukey_model_db {
	char *text; /* a copy of the file, cut into NUL-terminated lines; every string points into it */
	struct slot *models;
	size_t n_models, cap_models;
	struct vendor *vendors;
	size_t n_vendors, cap_vendors;
	/* All models' entries, each model's contiguous (sections do not interleave). */
	struct ukey_usb_id *usb;
	size_t n_usb, cap_usb;
	struct ukey_atr_pattern *atr;
	size_t n_atr, cap_atr;
};

enum section { SECTION_NONE, SECTION_VENDOR, SECTION_MODEL };

struct parser {
	struct ukey_model_db *db;
	enum section section;
	unsigned section_line; /* of the current section's header */
	unsigned seen; /* bit per enum key given in the current section */
	unsigned line; /* the line being read */
	unsigned error_line;
	const char *reason;
	/* The line of each db->usb and db->atr entry, for the duplicate check after the last line. */
	unsigned *usb_lines, *atr_lines;
	size_t cap_usb_lines, cap_atr_lines;
	/* One bit per USB vendor id already given a [vendor] section. */
	uint8_t vendor_seen[65536 / 8];
};

static int fail(struct parser *p, unsigned line, const char *reason)
{
	p->error_line = line;
	p->reason = reason;
	return -UKEY_E_MODEL_DB;
}

/* array with room for one more element of size bytes (n used of *cap), or NULL (array unchanged) when out of memory. */
static void *grow(void *array, size_t *cap, size_t n, size_t size)
{
	size_t new_cap;
	void *a;

	if (n < *cap)
		return array;
	new_cap = *cap ? *cap * 2 : 16;
	if (new_cap > SIZE_MAX / size)
		return NULL;
	a = realloc(array, new_cap * size);
	if (a)
		*cap = new_cap;
	return a;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks from both ends of [s, end) in place; returns the start, NUL-terminated. */
static char *trim(char *s, char *end)
{
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 4 hex digits at s (the caller checked there are 4 characters). */
static bool parse_hex16(const char *s, uint16_t *ret)
{
	unsigned v = 0;

	for (size_t i = 0; i < 4; i++) {
		int d = hex_digit(s[i]);

		if (d < 0)
			return false;
		v = (v << 4) | (unsigned)d;
	}
	*ret = (uint16_t)v;
	return true;
}

/* VVVV:PPPP, exactly 4+4 hex digits. */
static bool parse_usb_id(const char *s, struct ukey_usb_id *ret)
{
	struct ukey_usb_id id;

	if (strlen(s) != 9 || s[4] != ':' || !parse_hex16(s, &id.vid) || !parse_hex16(s + 5, &id.pid))
		return false;
	*ret = id;
	return true;
}

/*
 * Hex bytes, either "3b:9f:95" (two digits per byte, single colons) or
 * "3B9F95". Returns NULL and the bytes, or a static reason. Stops before
 * writing past UKEY_ATR_MAX bytes.
 */
static const char *parse_hex(const char *s, uint8_t ret[static UKEY_ATR_MAX], size_t *ret_len)
{
	bool colons = strchr(s, ':') != NULL;
	size_t n = 0;

	if (*s == '\0')
		return "empty ATR";
	while (*s) {
		int hi = hex_digit(s[0]), lo;

		if (hi < 0)
			return "bad hex digit";
		if (s[1] == '\0' && !colons)
			return "odd number of hex digits";
		lo = hex_digit(s[1]); /* -1 for the NUL or a ':' after a single digit */
		if (lo < 0)
			return "bad hex digit";
		if (n == UKEY_ATR_MAX)
			return "ATR longer than 33 bytes";
		ret[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (colons && *s == ':') {
			s++;
			if (*s == '\0')
				return "bad hex digit";
		} else if (colons && *s != '\0') {
			return "bad hex digit";
		}
	}
	*ret_len = n;
	return NULL;
}

/* "ATR" or "ATR / MASK". */
static int parse_atr(struct parser *p, char *value, struct ukey_atr_pattern *ret)
{
	struct ukey_atr_pattern a = { .len = 0 };
	char *slash = strchr(value, '/');
	const char *atr = value, *reason;
	size_t mask_len;
	bool any = false;

	if (slash)
		atr = trim(value, slash);
	reason = parse_hex(atr, a.atr, &a.len);
	if (reason)
		return fail(p, p->line, reason);
	if (!slash) {
		memset(a.mask, 0xff, a.len);
	} else {
		char *mask = trim(slash + 1, slash + 1 + strlen(slash + 1));

		if (*mask == '\0')
			return fail(p, p->line, "empty mask");
		reason = parse_hex(mask, a.mask, &mask_len);
		if (reason)
			return fail(p, p->line, reason);
		if (mask_len != a.len)
			return fail(p, p->line, "mask length differs from ATR length");
	}
	/* Bytes outside the mask are kept as zero, so a real ATR can be pasted with a mask next to it. */
	for (size_t i = 0; i < a.len; i++) {
		a.atr[i] &= a.mask[i];
		any = any || a.mask[i];
	}
	if (!any)
		return fail(p, p->line, "mask matches every ATR");
	*ret = a;
	return 0;
}

/* A decimal 1..MAX_NUMBER without sign or leading zeros. */
static int parse_number(struct parser *p, const char *s, unsigned *ret)
{
	unsigned v = 0;
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(p, p->line, "not a decimal number");
	if (s[0] == '0' || n > 3)
		return fail(p, p->line, "number out of range");
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (v > MAX_NUMBER)
		return fail(p, p->line, "number out of range");
	*ret = v;
	return 0;
}

static struct slot *current_model(struct parser *p)
{
	return &p->db->models[p->db->n_models - 1];
}

/* The checks that need the whole section: required keys, pin-min <= pin-max. */
static int finish_section(struct parser *p)
{
	if (p->section == SECTION_VENDOR) {
		if (!(p->seen & (1u << K_NAME)))
			return fail(p, p->section_line, "vendor has no name");
		if (!(p->seen & (1u << K_SOURCE)))
			return fail(p, p->section_line, "vendor has no source");
	} else if (p->section == SECTION_MODEL) {
		struct slot *s = current_model(p);

		if (!(p->seen & (1u << K_NAME)))
			return fail(p, p->section_line, "model has no name");
		if (!(p->seen & (1u << K_TRANSPORT)))
			return fail(p, p->section_line, "model has no transport");
		if (!(p->seen & (1u << K_SOURCE)))
			return fail(p, p->section_line, "model has no source");
		if (s->m.n_usb == 0 && s->m.n_atr == 0)
			return fail(p, p->section_line, "model has no usb or atr line");
		if (s->m.pin_min && s->m.pin_max && s->m.pin_min > s->m.pin_max)
			return fail(p, s->pin_line, "pin-min is greater than pin-max");
	}
	p->section = SECTION_NONE;
	p->seen = 0;
	return 0;
}

static bool valid_model_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > MAX_ID || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

/* "[vendor XXXX]" or "[model ID]", already trimmed. */
static int parse_header(struct parser *p, char *s)
{
	struct ukey_model_db *db = p->db;
	size_t n = strlen(s);
	char *inner;
	void *a;
	int r;

	if ((r = finish_section(p)) < 0)
		return r;
	if (n < 2 || s[n - 1] != ']')
		return fail(p, p->line, "malformed section header");
	s[n - 1] = '\0';
	inner = s + 1;

	if (strncmp(inner, "vendor ", 7) == 0) {
		uint16_t vid;

		if (strlen(inner + 7) != 4 || !parse_hex16(inner + 7, &vid))
			return fail(p, p->line, "vendor id is not 4 hex digits");
		if (p->vendor_seen[vid / 8] & (1u << (vid % 8)))
			return fail(p, p->line, "vendor listed twice");
		p->vendor_seen[vid / 8] |= (uint8_t)(1u << (vid % 8));
		if (!(a = grow(db->vendors, &db->cap_vendors, db->n_vendors, sizeof(*db->vendors))))
			return -ENOMEM;
		db->vendors = a;
		db->vendors[db->n_vendors++] = (struct vendor){ .vid = vid };
		p->section = SECTION_VENDOR;
		p->section_line = p->line;
		return 0;
	}
	if (strncmp(inner, "model ", 6) == 0) {
		const char *id = inner + 6;

		if (!valid_model_id(id))
			return fail(p, p->line, "model id is not 1-64 of a-z, 0-9, '-'");
		if (!(a = grow(db->models, &db->cap_models, db->n_models, sizeof(*db->models))))
			return -ENOMEM;
		db->models = a;
		db->models[db->n_models++] = (struct slot){
			.m = { .id = id, .pin_retries = UKEY_MODEL_DEFAULT_PIN_RETRIES },
			.usb_first = db->n_usb,
			.atr_first = db->n_atr,
			.line = p->line,
		};
		p->section = SECTION_MODEL;
		p->section_line = p->line;
		return 0;
	}
	return fail(p, p->line, "unknown section type");
}

static int set_text(struct parser *p, const char **field, const char *value, size_t max)
{
	if (strlen(value) > max)
		return fail(p, p->line, "value too long");
	*field = value;
	return 0;
}

static int model_key(struct parser *p, enum key k, char *value)
{
	struct ukey_model_db *db = p->db;
	struct slot *s = current_model(p);
	struct ukey_model *m = &s->m;
	int r;

	switch (k) {
	case K_NAME:
		return set_text(p, &m->name, value, MAX_NAME);
	case K_VENDOR:
		return set_text(p, &m->vendor, value, MAX_NAME);
	case K_TRANSPORT:
		if (strcmp(value, "ccid") == 0)
			m->transport = UKEY_TRANSPORT_CCID;
		else if (strcmp(value, "hid") == 0)
			m->transport = UKEY_TRANSPORT_HID;
		else if (strcmp(value, "mass-storage") == 0)
			m->transport = UKEY_TRANSPORT_MASS_STORAGE;
		else if (strcmp(value, "vendor") == 0)
			m->transport = UKEY_TRANSPORT_VENDOR;
		else
			return fail(p, p->line, "unknown transport");
		return 0;
	case K_USB: {
		struct ukey_usb_id id;
		void *a;

		if (!parse_usb_id(value, &id))
			return fail(p, p->line, "usb is not VID:PID of 4+4 hex digits");
		if (m->n_usb == UKEY_MODEL_MAX_USB)
			return fail(p, p->line, "too many usb lines");
		if (!(a = grow(db->usb, &db->cap_usb, db->n_usb, sizeof(*db->usb))))
			return -ENOMEM;
		db->usb = a;
		if (!(a = grow(p->usb_lines, &p->cap_usb_lines, db->n_usb, sizeof(*p->usb_lines))))
			return -ENOMEM;
		p->usb_lines = a;
		p->usb_lines[db->n_usb] = p->line;
		db->usb[db->n_usb++] = id;
		m->n_usb++;
		return 0;
	}
	case K_ATR: {
		struct ukey_atr_pattern a;
		void *grown;

		if ((r = parse_atr(p, value, &a)) < 0)
			return r;
		if (m->n_atr == UKEY_MODEL_MAX_ATR)
			return fail(p, p->line, "too many atr lines");
		if (!(grown = grow(db->atr, &db->cap_atr, db->n_atr, sizeof(*db->atr))))
			return -ENOMEM;
		db->atr = grown;
		if (!(grown = grow(p->atr_lines, &p->cap_atr_lines, db->n_atr, sizeof(*p->atr_lines))))
			return -ENOMEM;
		p->atr_lines = grown;
		p->atr_lines[db->n_atr] = p->line;
		db->atr[db->n_atr++] = a;
		m->n_atr++;
		return 0;
	}
	case K_MODULE:
		/* A relative path with a directory would be resolved against whatever the working directory is. */
		if (strchr(value, '/') && value[0] != '/')
			return fail(p, p->line, "module is not a file name or an absolute path");
		return set_text(p, &m->module, value, MAX_TEXT);
	case K_PIN_RETRIES:
		return parse_number(p, value, &m->pin_retries);
	case K_PIN_MIN:
	case K_PIN_MAX:
		if ((r = parse_number(p, value, k == K_PIN_MIN ? &m->pin_min : &m->pin_max)) < 0)
			return r;
		s->pin_line = p->line;
		return 0;
	case K_LED_OFF:
		return set_text(p, &m->led_off, value, MAX_TEXT);
	case K_LED_BLINKING:
		return set_text(p, &m->led_blinking, value, MAX_TEXT);
	case K_LED_STEADY:
		return set_text(p, &m->led_steady, value, MAX_TEXT);
	case K_SOURCE:
		m->source = value;
		return 0;
	case _K_MAX:
		break;
	}
	return fail(p, p->line, "unknown key");
}

static int vendor_key(struct parser *p, enum key k, char *value)
{
	struct vendor *v = &p->db->vendors[p->db->n_vendors - 1];

	if (k == K_NAME)
		return set_text(p, &v->name, value, MAX_NAME);
	v->source = value;
	return 0;
}

static int parse_key_value(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *key, *value;
	enum key k;

	if (!eq)
		return fail(p, p->line, "expected `key = value`");
	key = trim(s, eq);
	value = trim(eq + 1, eq + 1 + strlen(eq + 1));
	if (*key == '\0')
		return fail(p, p->line, "empty key");
	if (*value == '\0')
		return fail(p, p->line, "empty value");
	if (p->section == SECTION_NONE)
		return fail(p, p->line, "key outside any section");
	for (k = 0; k < _K_MAX; k++)
		if (strcmp(key, key_names[k]) == 0)
			break;
	if (k == _K_MAX || (p->section == SECTION_VENDOR && !(VENDOR_KEYS & (1u << k))))
		return fail(p, p->line, "unknown key");
	if ((p->seen & (1u << k)) && !(REPEATABLE_KEYS & (1u << k)))
		return fail(p, p->line, "key given twice");
	p->seen |= 1u << k;
	return p->section == SECTION_VENDOR ? vendor_key(p, k, value) : model_key(p, k, value);
}

/* One physical line [line, line + len) without its '\n'; NUL-terminated in place. */
static int parse_line(struct parser *p, char *line, size_t len)
{
	char *s;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > UKEY_MODELS_MAX_LINE)
		return fail(p, p->line, "line too long");
	if (memchr(line, '\0', len))
		return fail(p, p->line, "NUL byte");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		/* Control characters would end up in JSON, in logs and in the generated udev rules. */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, p->line, "control character");
	}
	if (!ukey_utf8_valid(line, len, false))
		return fail(p, p->line, "invalid UTF-8");
	s = trim(line, line + len);
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '[')
		return parse_header(p, s);
	return parse_key_value(p, s);
}

/*
 * Duplicates: a model id, a VID:PID (which model would udev name?) or an ATR
 * pattern (the second would never match) given twice. Checked once after the
 * last line by sorting, not line by line: a 1 MiB file holds some 10^5
 * entries, and comparing each with all before it is 10^10 comparisons. The
 * error is at the earliest line that repeats something, as a line-by-line
 * check would have said had the rest of the file been valid.
 */
struct dup_ref {
	const void *key; /* model id, or ATR pattern */
	uint32_t usb; /* vid << 16 | pid */
	unsigned line;
};

static int cmp_line(const struct dup_ref *a, const struct dup_ref *b)
{
	return (a->line > b->line) - (a->line < b->line);
}

static int cmp_id(const void *x, const void *y)
{
	const struct dup_ref *a = x, *b = y;
	int c = strcmp(a->key, b->key);

	return c ? c : cmp_line(a, b);
}

static int cmp_usb(const void *x, const void *y)
{
	const struct dup_ref *a = x, *b = y;

	if (a->usb != b->usb)
		return a->usb < b->usb ? -1 : 1;
	return cmp_line(a, b);
}

static int cmp_atr_key(const struct ukey_atr_pattern *a, const struct ukey_atr_pattern *b)
{
	int c;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	c = memcmp(a->atr, b->atr, a->len);
	return c ? c : memcmp(a->mask, b->mask, a->len);
}

static int cmp_atr(const void *x, const void *y)
{
	const struct dup_ref *a = x, *b = y;
	int c = cmp_atr_key(a->key, b->key);

	return c ? c : cmp_line(a, b);
}

/* Sort refs by key, then line: where neighbours have equal keys the second repeats the first. Keeps the earliest. */
static void find_repeat(struct dup_ref *refs, size_t n, int (*cmp)(const void *, const void *), const char *reason,
			unsigned *line, const char **ret_reason)
{
	qsort(refs, n, sizeof(*refs), cmp);
	for (size_t i = 1; i < n; i++) {
		struct dup_ref a = refs[i - 1], b = refs[i];

		/* Equal keys differ only in line, and the comparator puts the earlier line first. */
		a.line = b.line;
		if (cmp(&a, &b) == 0 && (*line == 0 || b.line < *line)) {
			*line = b.line;
			*ret_reason = reason;
		}
	}
}

static int check_duplicates(struct parser *p)
{
	struct ukey_model_db *db = p->db;
	size_t n = db->n_models;
	struct dup_ref *refs;
	const char *reason = NULL;
	unsigned line = 0;

	if (db->n_usb > n)
		n = db->n_usb;
	if (db->n_atr > n)
		n = db->n_atr;
	if (n < 2)
		return 0;
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < db->n_models; i++)
		refs[i] = (struct dup_ref){ .key = db->models[i].m.id, .line = db->models[i].line };
	find_repeat(refs, db->n_models, cmp_id, "model id listed twice", &line, &reason);
	for (size_t i = 0; i < db->n_usb; i++)
		refs[i] = (struct dup_ref){ .usb = (uint32_t)db->usb[i].vid << 16 | db->usb[i].pid,
					    .line = p->usb_lines[i] };
	find_repeat(refs, db->n_usb, cmp_usb, "VID:PID listed twice", &line, &reason);
	for (size_t i = 0; i < db->n_atr; i++)
		refs[i] = (struct dup_ref){ .key = &db->atr[i], .line = p->atr_lines[i] };
	find_repeat(refs, db->n_atr, cmp_atr, "ATR pattern listed twice", &line, &reason);
	free(refs);
	return reason ? fail(p, line, reason) : 0;
}

void ukey_model_db_free(struct ukey_model_db *db)
{
	if (!db)
		return;
	free(db->models);
	free(db->vendors);
	free(db->usb);
	free(db->atr);
	free(db->text);
	free(db);
}

int ukey_model_db_parse(const char *text, size_t len, struct ukey_model_db **ret, unsigned *ret_line,
			const char **ret_reason)
{
	struct parser p = { .reason = NULL };
	struct ukey_model_db *db = NULL;
	char *line, *end;
	int r;

	if (len > UKEY_MODELS_MAX_SIZE) {
		r = fail(&p, 0, "file too large");
		goto out;
	}
	/* Notepad saves UTF-8 with a byte-order mark; it is not part of the first line. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	db = calloc(1, sizeof(*db));
	if (!db || !(db->text = malloc(len + 1))) {
		r = -ENOMEM;
		goto out;
	}
	if (len)
		memcpy(db->text, text, len);
	db->text[len] = '\0';
	p.db = db;

	line = db->text;
	end = db->text + len;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);

		p.line++;
		if ((r = parse_line(&p, line, n)) < 0)
			goto out;
		line += n + (nl ? 1 : 0);
	}
	if ((r = finish_section(&p)) < 0 || (r = check_duplicates(&p)) < 0)
		goto out;

	/* The arrays no longer move: point each model at its entries. */
	for (size_t i = 0; i < db->n_models; i++) {
		struct slot *s = &db->models[i];

		s->m.usb = s->m.n_usb ? db->usb + s->usb_first : NULL;
		s->m.atr = s->m.n_atr ? db->atr + s->atr_first : NULL;
	}
	*ret = db;
	db = NULL;
	r = 0;
out:
	if (r == -UKEY_E_MODEL_DB) {
		log_debug("Model database line %u: %s", p.error_line, p.reason);
		if (ret_line)
			*ret_line = p.error_line;
		if (ret_reason)
			*ret_reason = p.reason;
	}
	ukey_model_db_free(db);
	free(p.usb_lines);
	free(p.atr_lines);
	return r;
}

/* Read at most UKEY_MODELS_MAX_SIZE + 1 bytes: one more than allowed, so that the parser can say "too large". */
static int read_capped(const char *path, char **ret_text, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	buf = malloc(UKEY_MODELS_MAX_SIZE + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (n < UKEY_MODELS_MAX_SIZE + 1) {
		ssize_t k = read(fd, buf + n, UKEY_MODELS_MAX_SIZE + 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*ret_text = buf;
	*ret_len = n;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int ukey_model_db_load(const char *path, struct ukey_model_db **ret, char **ret_message)
{
	const char *env = getenv("UKEY_MODELS"), *reason = NULL;
	char *text = NULL, *message = NULL;
	unsigned line = 0;
	size_t len = 0;
	int r;

	if (!path)
		path = env && *env ? env : UKEY_MODELDIR "/" UKEY_MODELS_FILE;
	r = read_capped(path, &text, &len);
	if (r < 0) {
		log_debug_errno(r, "Cannot read the model database '%s'", path);
		if (r != -ENOMEM && asprintf(&message, "%s: %s", path, strerror(-r)) < 0)
			message = NULL;
	} else {
		r = ukey_model_db_parse(text, len, ret, &line, &reason);
		if (r == -UKEY_E_MODEL_DB && asprintf(&message, "%s:%u: %s", path, line, reason) < 0)
			message = NULL;
	}
	free(text);
	/* On failure the message is always written (NULL only when it could not be formed), so callers may free it. */
	if (r < 0 && ret_message)
		*ret_message = message;
	else
		free(message);
	return r;
}

size_t ukey_model_db_count(const struct ukey_model_db *db)
{
	return db ? db->n_models : 0;
}

const struct ukey_model *ukey_model_db_get(const struct ukey_model_db *db, size_t i)
{
	if (!db || i >= db->n_models)
		return NULL;
	return &db->models[i].m;
}

const struct ukey_model *ukey_model_by_usb(const struct ukey_model_db *db, uint16_t vid, uint16_t pid)
{
	if (!db)
		return NULL;
	for (size_t i = 0; i < db->n_models; i++) {
		const struct ukey_model *m = &db->models[i].m;

		for (size_t k = 0; k < m->n_usb; k++)
			if (m->usb[k].vid == vid && m->usb[k].pid == pid)
				return m;
	}
	return NULL;
}

static bool atr_matches(const struct ukey_atr_pattern *a, const uint8_t *atr, size_t len)
{
	if (a->len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((atr[i] & a->mask[i]) != a->atr[i])
			return false;
	return true;
}

const struct ukey_model *ukey_model_by_atr(const struct ukey_model_db *db, const uint8_t *atr, size_t len)
{
	if (!db || !atr || len == 0 || len > UKEY_ATR_MAX)
		return NULL;
	for (size_t i = 0; i < db->n_models; i++) {
		const struct ukey_model *m = &db->models[i].m;

		for (size_t k = 0; k < m->n_atr; k++)
			if (atr_matches(&m->atr[k], atr, len))
				return m;
	}
	return NULL;
}

const char *ukey_model_token_vendor(const struct ukey_model_db *db, uint16_t vid)
{
	if (!db)
		return NULL;
	for (size_t i = 0; i < db->n_vendors; i++)
		if (db->vendors[i].vid == vid)
			return db->vendors[i].name;
	return NULL;
}

const char *ukey_transport_name(enum ukey_transport t)
{
	switch (t) {
	case UKEY_TRANSPORT_CCID:
		return "ccid";
	case UKEY_TRANSPORT_HID:
		return "hid";
	case UKEY_TRANSPORT_MASS_STORAGE:
		return "mass-storage";
	case UKEY_TRANSPORT_VENDOR:
		return "vendor";
	case UKEY_TRANSPORT_UNKNOWN:
		break;
	}
	return "unknown";
}
