# libFuzzer targets, built with clang outside automake (the normal build stays
# gcc-only). Used by fuzz/run.sh; by hand:
#   make -f fuzz/fuzz.mk -j2            (from the top of the source tree)
# Variables: CC (clang), BUILDDIR (where configure wrote config.h: the top of
# the tree for an in-tree build), OUT (fuzz/build).
top := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
CC := clang
BUILDDIR ?= $(top)
OUT ?= $(top)/fuzz/build

PKGS := libelf libdw libcgraph libgvc libzstd liblz4 liblzma zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

# UBSan must stop the run so that libFuzzer saves the input: no check
# recovers, except nonnull-attribute, so that fuzz/ubsan.supp can silence a
# known report of that kind (qsort(NULL, 0, ...)) until it is fixed; check.c
# sets halt_on_error=1 for it.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fsanitize-recover=nonnull-attribute
CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(SAN) \
	-I$(top) -I$(BUILDDIR) $(PKG_CFLAGS) -MMD -MP

LIB_SRCS := $(wildcard $(top)/coredump/*.c $(top)/graph/*.c $(top)/render/*.c)
LIB_OBJS := $(patsubst $(top)/%.c,$(OUT)/obj/%.o,$(LIB_SRCS))
TARGETS := fuzz_elfcore fuzz_addrspace fuzz_heap fuzz_escape fuzz_decompress
BINS := $(addprefix $(OUT)/,$(TARGETS))

all: $(BINS)

$(OUT)/obj/%.o: $(top)/%.c $(top)/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(OUT)/libpyleak-fuzz.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(OUT)/obj/fuzz/%.o: $(top)/fuzz/%.c $(top)/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -fsanitize=fuzzer-no-link -c $< -o $@

$(OUT)/%: $(OUT)/obj/fuzz/%.o $(OUT)/obj/fuzz/check.o $(OUT)/libpyleak-fuzz.a
	$(CC) $(SAN) -fsanitize=fuzzer $^ $(PKG_LIBS) -lm -o $@

clean:
	rm -rf $(OUT)/obj $(OUT)/libpyleak-fuzz.a $(BINS)

.PHONY: all clean
.SECONDARY:
-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
