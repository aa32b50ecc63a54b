/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: a WebSocket handshake's path, Host, Origin, Authorization, Upgrade, version and subprotocol through ukeyd's rules. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "origin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int allowed(void *userdata, const char *origin)
{
	(void)userdata;
	return strcmp(origin, "https://portal.example") == 0;
}

/*
 * Input: one flags byte (bit 0: IPv4 listened on, bit 1: IPv6), then the
 * fields separated by '\n' in the order of struct ukey_access_handshake;
 * a missing field is an absent header. NUL bytes stay in the values, as
 * they may come on the wire.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukey_access_policy p = { .port = 24801, .api_token = TOKEN, .origin_allowed = allowed };
	struct ukey_access_handshake h;
	struct ukey_access_header *fields[] = { &h.path,    &h.host,	&h.origin,  &h.authorization,
						&h.upgrade, &h.version, &h.protocol };
	char *copy, *cursor, *end, origin[UKEY_ORIGIN_MAX], again[UKEY_ORIGIN_MAX];
	const char *why;
	int r;

	if (size < 1)
		return 0;
	p.ipv4 = data[0] & 1;
	p.ipv6 = data[0] & 2;
	memset(&h, 0, sizeof(h));
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	cursor = copy;
	end = copy + size - 1;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && cursor <= end; i++) {
		char *nl = memchr(cursor, '\n', (size_t)(end - cursor));

		if (!nl)
			nl = end;
		*nl = '\0';
		fields[i]->value = cursor;
		fields[i]->len = (size_t)(nl - cursor);
		cursor = nl + 1;
	}

	r = ukey_access_check(&p, &h, origin, sizeof(origin), &why);
	if (r < 0 && !why)
		abort();
	if (r >= 0) {
		/* What passed was whole (no NUL), and an origin that passed is canonical. */
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (fields[i]->value && strlen(fields[i]->value) != fields[i]->len)
				abort();
		if (r == UKEY_ACCESS_LOCAL &&
		    (origin[0] || !h.authorization.value || strcmp(h.authorization.value, "Bearer " TOKEN) != 0))
			abort();
		if (r != UKEY_ACCESS_LOCAL &&
		    (ukey_origin_normalize(origin, again, sizeof(again)) < 0 || strcmp(origin, again) != 0))
			abort();
		if (r == UKEY_ACCESS_OWN_PAGE && !ukey_access_own_origin(&p, origin))
			abort();
	}
	ukey_access_host_ok(&p, &h.host);
	if (size >= 4)
		ukey_access_share_ok(data[1], data[2], data[3], (enum ukey_access_client)((data[0] >> 2) % 3));
	free(copy);
	return 0;
}
