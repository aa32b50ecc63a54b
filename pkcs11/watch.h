/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Change notification for a module whose tokens are files and that reports no slot events (SoftHSM2). */
#ifndef UKEY_P11_WATCH_H
#define UKEY_P11_WATCH_H

struct ukey_p11;

/*
 * Change notification for a module that reports no slot events but keeps its
 * tokens in files (SoftHSM2): an fd that becomes readable when a token may
 * have come or gone (UKEY_P11_WATCH_TOKENS: re-initialise to see it) or its
 * objects changed (UKEY_P11_WATCH_OBJECTS). ukey_p11_watch_open returns
 * -ENOTSUP for other modules; then polling is the way.
 */
struct ukey_p11_watch;
#define UKEY_P11_WATCH_TOKENS 1
#define UKEY_P11_WATCH_OBJECTS 2
int ukey_p11_watch_open(struct ukey_p11 *p11, struct ukey_p11_watch **ret);
int ukey_p11_watch_fd(const struct ukey_p11_watch *w);
/* ukey_p11_watch_drain: read what happened since the last call (non-blocking): UKEY_P11_WATCH_* bits, 0 for nothing. */
int ukey_p11_watch_drain(struct ukey_p11_watch *w);
struct ukey_p11_watch *ukey_p11_watch_free(struct ukey_p11_watch *w);

#endif
