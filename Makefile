# SPDX-License-Identifier: Apache-2.0
# kiln: one Makefile for the library, the binaries, tests, fuzzers and benches.

CC       ?= gcc
VERSION  := 0.1.0
B        := build
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	    -Wformat=2 -Wvla -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	    -D_GNU_SOURCE -DKILN_VERSION=\"$(VERSION)\" -Isrc -MMD -MP
LDFLAGS  ?=
# libarchive is linked statically: only its tar and decompression objects
# are pulled in, so the dynamic loader skips libxml2/ICU & co. at every start
# (kiln run's startup time); its codecs stay shared (--as-needed drops the rest).
LIBS     := -Wl,--as-needed -Wl,-Bstatic -larchive -Wl,-Bdynamic -lssl -lcrypto -ljansson -lyaml \
	    -lz -llzma -lbz2 -l:libzstd.so.1 -l:libacl.so.1 -l:liblz4.so.1 -lnettle -lxml2
# kiln itself (the CLI, kiln run's monitor) is a static PIE: loading and
# relocating shared libraries cost ~1.2 ms of every `kiln run` start
# (bench/run_sim). Rebuild it for OpenSSL fixes; kilnd, the long-running
# daemon, keeps the distribution's shared libraries. glibc's link-time notes
# about getpwuid/dlopen/getaddrinfo in static programs (local files still
# resolve; kiln loads no modules) go to build/kiln.ld.log.
KILN_LIBS := -static-pie -Wl,--start-group -larchive -lssl -lcrypto -ljansson -lyaml -lz -llzma -lbz2 \
	     -lzstd -Wl,--end-group -lpthread
# Static executables that run inside the enclave (images may have no libc).
STATIC_LIBS := -Wl,--start-group -lssl -lcrypto -ljansson -lz -Wl,--end-group -lpthread

# The library: every src/<area>/*.c except the boot area, which is only
# linked into kiln-bootstrap (it must stay tiny and dependency free).
LIB_SRC  := $(sort $(filter-out src/boot/%,$(wildcard src/*/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
BOOT_SRC := $(sort $(wildcard src/boot/*.c)) src/util/err.c
BOOT_OBJ := $(BOOT_SRC:%.c=$(B)/%.o)

BINS     := $(B)/kiln $(B)/kilnd $(B)/kiln-init $(B)/kiln-bootstrap $(B)/kiln-webhook
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
# Test-only programs (image dumpers, protocol peers) used by integration tests.
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOLS    := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

# Without the -dev packages, one line naming what is missing instead of compiler
# errors: probed once per build directory; the goals that run scripts/deps first
# install what is missing instead.
ifeq ($(filter deps check demo bench stress fuzz clean,$(MAKECMDGOALS))$(wildcard $(B)/.deps-ok),)
DEPS_MISSING := $(shell scripts/deps --probe '$(CC)' && mkdir -p $(B) && touch $(B)/.deps-ok)
$(if $(DEPS_MISSING),$(error $(DEPS_MISSING)))
endif

.PHONY: all deps check demo bench stress fuzz clean
all: $(BINS) $(TESTS) $(TOOLS)

deps:
	@scripts/deps

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR $@"
	@ar rcs $@ $^

$(B)/kiln: $(B)/cmd/kiln/main.o $(B)/libkiln.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(KILN_LIBS) 2>$(B)/kiln.ld.log || { cat $(B)/kiln.ld.log; exit 1; }

$(B)/kilnd: $(B)/cmd/kilnd/main.o $(B)/libkiln.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The Kubernetes admission webhook (HTTPS): the one binary that needs libssl.
$(B)/kiln-webhook: $(B)/cmd/kiln-webhook/main.o $(B)/libkiln.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ -lssl $(LIBS) -lpthread

# kiln-init reads kiln.parent_cid from the kernel cmdline with kiln-bootstrap's parser.
$(B)/kiln-init: $(B)/cmd/kiln-init/main.o $(B)/libkiln.a $(B)/src/boot/parse.o
	@echo "  LD $@"
	@$(CC) -static $(LDFLAGS) -o $@ $^ $(STATIC_LIBS) 2>$(B)/kiln-init.ld.log || { cat $(B)/kiln-init.ld.log; exit 1; }

$(B)/kiln-bootstrap: $(B)/cmd/kiln-bootstrap/main.o $(BOOT_OBJ)
	@echo "  LD $@"
	@$(CC) -static $(LDFLAGS) -o $@ $^

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(B)/libkiln.a
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libkiln.a $(LIBS)

$(B)/tools/%: tests/tools/%.c $(B)/libkiln.a
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(CFLAGS) -o $@ $< $(B)/libkiln.a $(LIBS)

check: deps all
	@tests/run

demo: deps all
	@scripts/demo

bench: deps all
	@bench/run

stress: deps all
	@tests/run --stress

# libFuzzer targets, built with clang and ASan/UBSan over the library sources.
# -MMD: a header change rebuilds the objects that include it (a stale object
# linked against a changed struct shows up as a false sanitizer report).
FUZZ_CFLAGS := -g -O1 -std=gnu17 -D_GNU_SOURCE -DKILN_VERSION=\"$(VERSION)\" -Isrc \
	       -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
# (kiln-init links kiln-bootstrap's cmdline parser too: see $(B)/kiln-init.)
FUZZ_OBJ := $(LIB_SRC:%.c=$(B)/fuzz-obj/%.o) $(B)/fuzz-obj/src/boot/parse.o
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
.SECONDARY: $(FUZZ_OBJ)

$(B)/fuzz-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC [fuzz] $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@echo "  FUZZ $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) -lssl $(LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@echo "fuzzers in $(B)/fuzz: run e.g. $(B)/fuzz/fuzz_eif -max_total_time=60"

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
