# Convenience targets around CMake. `make test` is what CI runs, then the
# sanitizer suites (see .ci/run).
BUILD ?= build
JOBS ?= $(shell nproc)

# The sanitizer build: clang, -O1, AddressSanitizer + UBSan (see CMakeLists.txt),
# in its own folder. ccache is used when installed.
ASAN_BUILD ?= build-asan
ASAN_LAUNCHER := $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# ASAN_LABELS="io text": run only these layers' tests (tests/<layer>/, each
# test is labelled with its layer) and build only their test programs.
ASAN_LABELS ?=
empty :=
space := $(empty) $(empty)
ASAN_TARGETS = $(addsuffix _tests,$(strip $(ASAN_LABELS)))
ASAN_CTEST_ARGS = $(if $(strip $(ASAN_LABELS)),-L '^($(subst $(space),|,$(strip $(ASAN_LABELS))))$$')
# A sanitizer report aborts the process, so the test fails even where it
# expects a non-zero exit from the gpt2q binary; leaks are reported at exit.
SANITIZER_ENV = \
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1:detect_invalid_pointer_pairs=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0

.PHONY: all build test bench clean asan-build asan-test

all: build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang $(ASAN_LAUNCHER) \
	  -DGPT2Q_SANITIZE=ON -DGPT2Q_BUILD_BENCH=OFF

asan-build: $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) $(if $(ASAN_TARGETS),--target $(ASAN_TARGETS))

# The whole test suite (or ASAN_LABELS's layers) under ASan + UBSan.
asan-test: asan-build
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) --timeout 1200 $(ASAN_CTEST_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
