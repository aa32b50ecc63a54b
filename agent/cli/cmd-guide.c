/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey guide [SERVICE]`: the CA's services for a user at home or a technician at the counter (R-S1…R-S8). */
#define _GNU_SOURCE
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cli.h"
#include "guide.h"
#include "i18n.h"
#include "objects.h"

/* The guide's text comes in both languages from the manual itself; pick by the message locale. */
static bool chinese(void)
{
	const char *lc = setlocale(LC_MESSAGES, NULL), *lang = getenv("LANGUAGE");

	return (lang && strncmp(lang, "zh", 2) == 0) || (lc && strncmp(lc, "zh", 2) == 0);
}

static const char *pick(const struct ukey_text *t, bool zh)
{
	return zh ? t->zh : t->en;
}

static void service_text(const struct ukey_service *s, bool zh, bool full)
{
	const struct ukey_text *papers[8];
	size_t n = ukey_guide_paperwork(s, papers, 8);
	static const struct ukey_text where[] = { { "on site", "现场" },
						  { "online", "在线" },
						  { "online or on site", "在线或现场" } };

	printf("%s  %s (%s)\n", s->rule, pick(&s->name, zh), pick(&where[s->where], zh));
	printf(zh ? "  费用：%s\n" : "  Fee: %s\n", pick(&s->fee, zh));
	printf(zh ? "  原USBKey：%s\n" : "  Old key: %s\n", pick(&s->old_key, zh));
	printf(zh ? "  证书：%s\n" : "  Certificate: %s\n", pick(&s->effect, zh));
	if (!full)
		return;
	if (n > 0) {
		printf("%s\n", zh ? "  携带材料：" : "  Bring:");
		for (size_t i = 0; i < n; i++)
			printf("    - %s\n", pick(papers[i], zh));
	}
	if (s->where != UKEY_WHERE_ONLINE)
		printf(zh ? "  服务网点：%s\n" : "  Service point: %s\n", pick(&ukey_guide_address, zh));
}

int cmd_guide(struct cli *c, int argc, char **argv)
{
	const struct ukey_service *all, *one = NULL;
	bool zh = chinese();
	size_t n;

	all = ukey_guide_services(&n);
	if (argc > 2)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("Use 'ukey guide' or 'ukey guide SERVICE'."));
	if (argc == 2 && !(one = ukey_guide_find(argv[1])))
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL,
				_("No service \"%s\": use R-S1 to R-S8 or initial-issue, unlock, loss, damage, change, "
				  "renewal-on-site, renewal-online, revocation."),
				argv[1]);
	if (c->json) {
		cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "services");

		for (size_t i = 0; i < n; i++)
			if (!one || one == &all[i])
				cJSON_AddItemToArray(arr, ukey_json_service(&all[i]));
		cli_print_json(doc);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!one || one == &all[i]) {
			service_text(&all[i], zh, one != NULL);
			if (!one)
				putchar('\n');
		}
	if (!one)
		printf("%s\n", zh ? "详情：ukey guide R-S3（材料清单与服务网点地址）"
				  : "Details: ukey guide R-S3 (what to bring and the service point's address)");
	return 0;
}
