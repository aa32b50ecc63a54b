/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The printable one-page diagnosis report (`ukey diagnose --report`, the API's report_html). */
#ifndef UKEY_REPORT_H
#define UKEY_REPORT_H

#include <cjson/cJSON.h>

/*
 * ukey_report_html: the report (both languages' labels) from the diagnosis
 * JSON of ukey_json_diagnosis(); every value is HTML-escaped. malloc'd, NULL
 * on ENOMEM.
 */
char *ukey_report_html(const cJSON *doc);

#endif
