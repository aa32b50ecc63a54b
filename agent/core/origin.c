/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Origin canonicalisation through libcurl's URL parser: exact-match allowlists need one spelling per origin. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "base/err.h"
#include "origin.h"

int ukey_origin_normalize(const char *in, char *out, size_t size)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *fragment = NULL;
	CURLU *u;
	int r = -UKEY_E_USAGE, n;

	if (!in || strlen(in) >= UKEY_ORIGIN_MAX || strpbrk(in, " \t\r\n*"))
		return r;
	u = curl_url();
	if (!u)
		return r;
	if (curl_url_set(u, CURLUPART_URL, in, CURLU_DISALLOW_USER) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
	if ((strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) || (path && strcmp(path, "/") != 0) ||
	    query || fragment || !*host)
		goto out;
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	n = snprintf(out, size, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
	if (n > 0 && (size_t)n < size)
		r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(fragment);
	curl_url_cleanup(u);
	return r;
}
