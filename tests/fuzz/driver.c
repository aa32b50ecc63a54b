/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a fuzz target over files (its seed corpus) without libFuzzer, so ctest replays every seed each build. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		return -1;
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			if (run_file(argv[i]) < 0)
				return fprintf(stderr, "%s: cannot read\n", argv[i]), 1;
			files++;
			continue;
		}
		while ((e = readdir(d))) {
			char *p;

			if (e->d_name[0] == '.' || asprintf(&p, "%s/%s", argv[i], e->d_name) < 0)
				continue;
			if (run_file(p) == 0)
				files++;
			free(p);
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", files);
	return files > 0 ? 0 : 1;
}
