/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference CA's HTTPS listener on libwebsockets: 127.0.0.1 only, TLS 1.2+, optional client certificates. */
#ifndef REFCA_HTTP_H
#define REFCA_HTTP_H

#include "service.h"

/*
 * refca_http_serve: serve svc over HTTPS on 127.0.0.1:port (0: the kernel
 * picks) with dir/server.pem and dir/server.key, until SIGTERM or SIGINT.
 * Once listening it records the base URL in the state, prints
 * "listening on https://127.0.0.1:PORT/" on stdout and flushes it.
 * Returns 0 after a clean stop, negative errno when it cannot listen.
 */
int refca_http_serve(struct refca_service *svc, const char *dir, int port);

#endif
