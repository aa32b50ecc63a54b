/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The printable one-page diagnosis report handed to the customer, built from the diagnosis JSON. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Append to a growing string; on ENOMEM the string is dropped and stays NULL. */
struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (!b->s && b->cap)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap : 4096);
		char *grown;

		while (b->len + n + 1 > cap)
			cap *= 2;
		grown = realloc(b->s, cap);
		if (!grown) {
			free(b->s);
			b->s = NULL;
			b->cap = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_raw(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Text from the key or the computer (labels, subjects, evidence) is data, never markup. */
static void puts_esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			puts_raw(b, "&lt;");
			break;
		case '>':
			puts_raw(b, "&gt;");
			break;
		case '&':
			puts_raw(b, "&amp;");
			break;
		case '"':
			puts_raw(b, "&quot;");
			break;
		case '\'':
			puts_raw(b, "&#39;");
			break;
		default:
			put(b, s, 1);
		}
	}
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void row(struct buf *b, const char *label_en, const char *label_zh, const char *value)
{
	puts_raw(b, "<tr><th>");
	puts_esc(b, label_zh);
	puts_raw(b, " <span class=en>");
	puts_esc(b, label_en);
	puts_raw(b, "</span></th><td>");
	puts_esc(b, value ? value : "—");
	puts_raw(b, "</td></tr>\n");
}

/* The light in both languages, as the technician recorded it. */
static const char *led_words(const char *id)
{
	if (!id)
		return NULL;
	if (strcmp(id, "off") == 0)
		return "不亮 off";
	if (strcmp(id, "blinking") == 0)
		return "不停闪烁 blinking";
	if (strcmp(id, "steady") == 0)
		return "常亮 steady";
	return "未说明 not given";
}

char *ukey_report_html(const cJSON *doc)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "verdict");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(doc, "warranty");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(doc, "token");
	const cJSON *svc = cJSON_GetObjectItemCaseSensitive(doc, "service");
	const cJSON *c;
	struct buf b = { 0 };
	char fee[64];
	const char *code = str(v, "code");

	puts_raw(&b, "<!DOCTYPE html>\n<html lang=zh-CN><head><meta charset=utf-8>\n"
		     "<meta name=viewport content=\"width=device-width\">\n<title>USBKey 检测报告 Diagnosis report ");
	puts_esc(&b, code);
	puts_raw(&b, "</title>\n<style>\n"
		     "@page { size: A4; margin: 12mm }\n"
		     "body { font: 9pt/1.3 \"Noto Sans CJK SC\", \"Noto Sans\", sans-serif; color: #111;"
		     " max-width: 190mm; margin: 0 auto; padding: 8px }\n"
		     "h1 { font-size: 15pt; margin: 0 0 4px } h2 { font-size: 11pt; margin: 10px 0 3px;"
		     " border-bottom: 1px solid #999; break-after: avoid }\n"
		     "p { margin: 3px 0 } ul { margin: 2px 0; padding-left: 18px } .checks, ul { font-size: 9pt }\n"
		     ".en { color: #555; font-weight: normal; font-size: 0.9em }\n"
		     "table { border-collapse: collapse; width: 100% } th, td { text-align: left; vertical-align: top;"
		     " padding: 1px 6px; border-bottom: 1px solid #ddd } tr { break-inside: avoid }\n"
		     "th { width: 40%; font-weight: 600 }\n"
		     ".checks th { width: auto } .checks td:first-child { width: 36% }"
		     " .checks td:nth-child(2), .checks th:nth-child(2) { width: 1%; white-space: nowrap }\n"
		     ".verdict { border: 2px solid #333; padding: 6px 10px; margin: 8px 0; break-inside: avoid }\n"
		     ".verdict .code { font-size: 16pt; font-weight: 700 }\n"
		     ".pass { color: #1a7f37 } .warn { color: #9a6700 } .fail { color: #cf222e; font-weight: 700 }"
		     " .skipped { color: #666 }\n"
		     ".sign { margin-top: 10mm; display: flex; gap: 40px; break-inside: avoid } .sign div { flex: 1;"
		     " border-top: 1px solid #333; padding-top: 2px }\n"
		     "@media print { body { padding: 0 } }\n"
		     "</style></head><body>\n<h1>USBKey 检测报告 <span class=en>Key diagnosis report</span></h1>\n");
	puts_raw(&b, "<table>\n");
	row(&b, "Time (UTC)", "时间（UTC）", str(doc, "time"));
	row(&b, "Key", "USBKey", tok && cJSON_IsObject(tok) ? str(tok, "label") : NULL);
	row(&b, "Serial", "序列号", tok && cJSON_IsObject(tok) ? str(tok, "serial") : NULL);
	row(&b, "Model", "型号", str(doc, "model"));
	row(&b, "Indicator light (as stated)", "指示灯（据陈述）", led_words(str(doc, "led")));
	puts_raw(&b, "</table>\n<div class=verdict><div class=code>");
	puts_esc(&b, code);
	puts_raw(&b, "</div><div>");
	puts_esc(&b, str(v, "rule_text_zh_CN"));
	puts_raw(&b, "</div><div class=en>");
	puts_esc(&b, str(v, "rule_text"));
	puts_raw(&b, "</div>");
	if (str(v, "note")) {
		puts_raw(&b, "<div><b>注 Note:</b> ");
		puts_esc(&b, str(v, "note"));
		puts_raw(&b, "</div>");
	}
	puts_raw(&b, "</div>\n<h2>保修与费用 <span class=en>Warranty and fee (R-D4–R-D7)</span></h2>\n<table>\n");
	if (str(w, "first_issued")) {
		char first[96];

		snprintf(first, sizeof(first), "%s（%s）", str(w, "first_issued"),
			 str(w, "source") && strcmp(str(w, "source"), "token") == 0
				 ? "USBKey 中记录 recorded on the key"
				 : "据材料 as given");
		row(&b, "First issued", "首次签发日期", first);
	} else {
		row(&b, "First issued", "首次签发日期", NULL);
	}
	row(&b, "Warranty ends (first day out)", "保修截止（首个保修外日期）", str(w, "until"));
	row(&b, "In warranty", "在保修期内",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "in_warranty")) ? "是 yes" : "否 no");
	snprintf(fee, sizeof(fee), "%d CNY (%s)",
		 (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(w, "fee_cny")), str(w, "rule"));
	row(&b, "Media fee if replaced", "更换介质费", fee);
	row(&b, "Bring the original key (R-D7)", "须携带原 USBKey（R-D7）", "是 yes");
	puts_raw(&b, "</table>\n");
	if (svc && cJSON_IsObject(svc)) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(svc, "name");
		const cJSON *papers = cJSON_GetObjectItemCaseSensitive(svc, "paperwork");
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(svc, "address");

		puts_raw(&b, "<h2>下一步 <span class=en>Next</span></h2>\n<p><b>");
		puts_esc(&b, str(svc, "rule"));
		puts_raw(&b, "</b> ");
		puts_esc(&b, str(name, "zh_CN"));
		puts_raw(&b, " <span class=en>");
		puts_esc(&b, str(name, "en"));
		puts_raw(&b, "</span></p>\n");
		if (cJSON_GetArraySize(papers) > 0) {
			puts_raw(&b, "<p>携带材料 <span class=en>Bring</span>:</p><ul>\n");
			cJSON_ArrayForEach(c, papers)
			{
				puts_raw(&b, "<li>");
				puts_esc(&b, str(c, "zh_CN"));
				puts_raw(&b, " <span class=en>");
				puts_esc(&b, str(c, "en"));
				puts_raw(&b, "</span></li>\n");
			}
			puts_raw(&b, "</ul>\n");
		}
		if (cJSON_IsObject(addr)) {
			puts_raw(&b, "<p>服务网点 <span class=en>Service point</span>: ");
			puts_esc(&b, str(addr, "zh_CN"));
			puts_raw(&b, "</p>\n");
		}
	}
	puts_raw(&b, "<h2>检查项 <span class=en>Checks</span></h2>\n<table class=checks>\n"
		     "<tr><th>检查 <span class=en>Check</span></th><th>结果 <span class=en>Result</span></th>"
		     "<th>依据与处理 <span class=en>Evidence and fix</span></th></tr>\n");
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "checks"))
	{
		const char *status = str(c, "status");

		puts_raw(&b, "<tr><td>");
		if (str(c, "title_zh_CN")) {
			puts_esc(&b, str(c, "title_zh_CN"));
			puts_raw(&b, " <span class=en>");
			puts_esc(&b, str(c, "title"));
			puts_raw(&b, "</span>");
		} else {
			puts_esc(&b, str(c, "title"));
		}
		puts_raw(&b, "</td><td class=\"");
		puts_esc(&b, status);
		puts_raw(&b, "\">");
		puts_esc(&b, status);
		puts_raw(&b, "</td><td>");
		puts_esc(&b, str(c, "evidence"));
		if (str(c, "fix")) {
			puts_raw(&b, "<br>→ ");
			if (str(c, "fix_zh_CN")) {
				puts_esc(&b, str(c, "fix_zh_CN"));
				puts_raw(&b, " <span class=en>");
				puts_esc(&b, str(c, "fix"));
				puts_raw(&b, "</span>");
			} else {
				puts_esc(&b, str(c, "fix"));
			}
		}
		puts_raw(&b, "</td></tr>\n");
	}
	puts_raw(&b, "</table>\n<div class=sign><div>技术人员 <span class=en>Technician</span></div>"
		     "<div>用户 <span class=en>Customer</span></div><div>日期 <span class=en>Date</span></div></div>\n"
		     "<p class=en>ukey diagnose " UKEY_VERSION "</p>\n</body></html>\n");
	return b.s;
}
