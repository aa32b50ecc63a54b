/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Change notification for modules that keep their tokens in files and report no slot events (SoftHSM2). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_P11
#include "base/err.h"
#include "base/log.h"
#include "p11-internal.h"

/*
 * SoftHSM2 fixes its slot list at C_Initialize and answers
 * C_WaitForSlotEvent with CKR_FUNCTION_NOT_SUPPORTED; its tokens are
 * directories under `directories.tokendir` of its configuration file. An
 * inotify watch on that directory and on each token's directory tells when a
 * token came or went, or its objects changed, without waking up otherwise.
 */
/* A token directory younger than this may still be written (a token being created): changes there may be a new token. */
#define YOUNG_S 10

struct ukey_p11_watch {
	int fd;
	int top; /* the watch descriptor of the token directory */
	char dir[PATH_MAX];
	struct young {
		int wd;
		time_t seen;
	} young[16]; /* token directories watched recently (wd 0: free) */
	bool started; /* the first listing is done: directories found later are young */
};

#define TOP_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR | IN_DELETE_SELF)
#define TOKEN_EVENTS (IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)

/* directories.tokendir from SoftHSM2's configuration ($SOFTHSM2_CONF, else its default path). */
static int softhsm_tokendir(char *buf, size_t size)
{
	const char *conf = getenv("SOFTHSM2_CONF");
	char line[PATH_MAX + 64];
	FILE *f = fopen(conf && *conf ? conf : "/etc/softhsm/softhsm2.conf", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r == -ENOENT && fgets(line, sizeof(line), f)) {
		char *key = line + strspn(line, " \t"), *eq = strchr(key, '='), *value, *end;

		if (*key == '#' || !eq)
			continue;
		for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if ((size_t)(end - key) != strlen("directories.tokendir") ||
		    strncmp(key, "directories.tokendir", (size_t)(end - key)) != 0)
			continue;
		value = eq + 1 + strspn(eq + 1, " \t");
		value[strcspn(value, "\r\n")] = '\0';
		for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
			*--end = '\0';
		if (*value != '/' || strlen(value) >= size) {
			r = -EINVAL;
			break;
		}
		snprintf(buf, size, "%s", value);
		r = 0;
	}
	fclose(f);
	return r;
}

static bool is_young(const struct ukey_p11_watch *w, int wd)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < sizeof(w->young) / sizeof(w->young[0]); i++)
		if (w->young[i].wd == wd && w->young[i].seen && now - w->young[i].seen < YOUNG_S)
			return true;
	return false;
}

/* Watch every token directory under the top one (new ones too: called again after a creation). */
static void watch_tokens(struct ukey_p11_watch *w)
{
	DIR *d = opendir(w->dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		int wd;

		if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", w->dir, e->d_name) >= (int)sizeof(path))
			continue;
		/* Adding a watch twice returns the same descriptor: harmless. */
		wd = inotify_add_watch(w->fd, path, TOKEN_EVENTS);
		if (wd >= 0 && w->started && !is_young(w, wd)) {
			struct young *slot = &w->young[0];

			for (size_t i = 0; i < sizeof(w->young) / sizeof(w->young[0]); i++)
				if (w->young[i].seen < slot->seen)
					slot = &w->young[i];
			slot->wd = wd;
			slot->seen = time(NULL);
		}
	}
	closedir(d);
	w->started = true;
}

int ukey_p11_watch_open(struct ukey_p11 *p11, struct ukey_p11_watch **ret)
{
	struct ukey_p11_watch *w;
	int r;

	if (!ukey_p11_is_softhsm(p11))
		return -ENOTSUP;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if ((r = softhsm_tokendir(w->dir, sizeof(w->dir))) < 0)
		goto fail;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		r = -errno;
		goto fail;
	}
	w->top = inotify_add_watch(w->fd, w->dir, TOP_EVENTS);
	if (w->top < 0) {
		r = -errno;
		close(w->fd);
		goto fail;
	}
	watch_tokens(w);
	log_debug("watching SoftHSM2's token directory '%s'", w->dir);
	*ret = w;
	return 0;
fail:
	log_debug_errno(r, "no change notification for '%s'", ukey_p11_path(p11));
	free(w);
	return r;
}

int ukey_p11_watch_fd(const struct ukey_p11_watch *w)
{
	return w->fd;
}

int ukey_p11_watch_drain(struct ukey_p11_watch *w)
{
	/* inotify's own alignment for struct inotify_event. */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int what = 0;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			/*
			 * A token directory came or went, or one that came lately gets
			 * a new file (SoftHSM2 shows a token once its files are
			 * complete): the module must be re-initialised. Anything else
			 * (the module itself opening its files when re-initialised, an
			 * object of a known token changing) needs no re-initialisation.
			 */
			if (ev->wd == w->top || (is_young(w, ev->wd) && (ev->mask & (IN_CREATE | IN_MOVED_TO))))
				what |= UKEY_P11_WATCH_TOKENS;
			else
				what |= UKEY_P11_WATCH_OBJECTS;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (what & UKEY_P11_WATCH_TOKENS)
		watch_tokens(w);
	return what;
}

struct ukey_p11_watch *ukey_p11_watch_free(struct ukey_p11_watch *w)
{
	if (!w)
		return NULL;
	close(w->fd);
	free(w);
	return NULL;
}
