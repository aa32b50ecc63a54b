/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey origin add|remove|list`: which web pages may talk to the local agent (ukeyd reads it at every handshake). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cli.h"
#include "i18n.h"
#include "origin.h"

static int origin_list(struct cli *c, struct ukey_store *store)
{
	char **origins = NULL;
	int n;

	n = ukey_store_origin_list(store, &origins);
	if (n < 0)
		return cli_fail_default(c, n);
	if (c->json) {
		cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "origins");

		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(origins[i]));
		cli_print_json(doc);
	} else if (n == 0) {
		printf("%s\n", _("No web origin is allowed yet: only the agent's own page can connect. "
				 "Add the portal with 'ukey origin add https://portal.example'."));
	} else {
		for (int i = 0; i < n; i++)
			printf("%s\n", cli_safe(origins[i]));
	}
	for (int i = 0; i < n; i++)
		free(origins[i]);
	free(origins);
	return 0;
}

int cmd_origin(struct cli *c, int argc, char **argv)
{
	char origin[UKEY_ORIGIN_MAX];
	struct ukey_store *store = NULL;
	bool add;
	int r;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		if ((r = cli_store(c, &store)) < 0)
			return cli_fail_default(c, r);
		return origin_list(c, store);
	}
	if (argc != 3 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0))
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("Use 'ukey origin add URL', 'ukey origin remove URL' or 'ukey origin list'."));
	add = strcmp(argv[1], "add") == 0;
	if (ukey_origin_normalize(argv[2], origin, sizeof(origin)) < 0)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("\"%s\" is not a web origin: give scheme and host, and a port if not the default, "
				  "such as https://portal.example or http://127.0.0.1:8080."),
				argv[2]);
	if ((r = cli_store(c, &store)) < 0)
		return cli_fail_default(c, r);
	r = add ? ukey_store_origin_add(store, origin) : ukey_store_origin_remove(store, origin);
	if (r < 0)
		return cli_fail_default(c, r);
	if (c->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "origin", origin);
		cJSON_AddBoolToObject(doc, "allowed", add);
		cJSON_AddBoolToObject(doc, "changed", r > 0);
		cli_print_json(doc);
	} else if (add) {
		printf(r > 0 ? _("Allowed %s: its pages may now use the agent (no restart needed).\n")
			     : _("%s was already allowed.\n"),
		       cli_safe(origin));
	} else {
		printf(r > 0 ? _("Removed %s: its pages can no longer connect.\n") : _("%s was not on the list.\n"),
		       cli_safe(origin));
	}
	return 0;
}
