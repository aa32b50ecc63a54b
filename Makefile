# SPDX-License-Identifier: LGPL-2.1-or-later
# Thin wrapper: install missing Debian packages, configure and build with CMake into build/, then run.
#   make demo            a demo token under build/demo, and ukey run on it
#   make check           every test through ctest
#   make check SANITIZE=1  the same under ASan + UBSan, in build-asan/
#   make bench           the benchmark figures

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
CMAKE_FLAGS += -DUKEY_SANITIZE=ON
else
BUILD ?= build
endif
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build check demo bench install clean format-check

all: build

deps:
	@./.ci/install-deps
	@./.ci/install-npm

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

check: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	@./tests/demo/demo $(BUILD)

bench: build
	@./tests/bench/run $(BUILD)
	@if [ "$$(id -u)" = 0 ]; then ./tests/bench/devices $(BUILD); \
	else echo "bench: device-event figures skipped: they need root (a private pcscd); run 'sudo make bench'"; fi
	@./tests/bench/renew $(BUILD)

install: build
	cmake --install $(BUILD)

format-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-clang
