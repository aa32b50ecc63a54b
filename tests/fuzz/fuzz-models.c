/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the token model database (models.conf, or the file UKEY_MODELS names) through ukey_model_db_parse(). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reading every string into a volatile keeps the compiler from dropping the reads ASan should check. */
static volatile size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukey_model_db *db = NULL;
	const char *reason = NULL;
	unsigned line = 0;

	if (ukey_model_db_parse((const char *)data, size, &db, &line, &reason) < 0) {
		touch(reason);
		return 0;
	}
	for (size_t i = 0; i < ukey_model_db_count(db); i++) {
		const struct ukey_model *m = ukey_model_db_get(db, i);

		touch(m->id);
		touch(m->name);
		touch(m->vendor);
		touch(m->module);
		touch(m->led_off);
		touch(m->led_blinking);
		touch(m->led_steady);
		touch(m->source);
		touch(ukey_transport_name(m->transport));
		/* Every listed id and pattern must be found again: a wrong count or offset would lose one. */
		for (size_t k = 0; k < m->n_usb; k++) {
			if (!ukey_model_by_usb(db, m->usb[k].vid, m->usb[k].pid))
				__builtin_trap();
			touch(ukey_model_token_vendor(db, m->usb[k].vid));
		}
		for (size_t k = 0; k < m->n_atr; k++)
			if (!ukey_model_by_atr(db, m->atr[k].atr, m->atr[k].len))
				__builtin_trap();
	}
	ukey_model_by_atr(db, data, size < UKEY_ATR_MAX ? size : UKEY_ATR_MAX);
	ukey_model_db_free(db);
	return 0;
}
