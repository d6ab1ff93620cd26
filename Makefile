# The two commands of the README:
#   make run    install missing Debian packages, build, run the quick demo
#   make test   install missing Debian packages, build, run the tests (ctest)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
OUT ?= out
CMAKE_FLAGS ?=
# Older OpenBLAS builds mis-detect some CPUs; the environment pins the kernel.
export OPENBLAS_CORETYPE ?= Haswell
EFFBENCH := $(BUILD)/effbench

.PHONY: all deps build run test test-all test-perf format format-check clean

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	scripts/quick-run $(EFFBENCH) $(OUT)

# The default test run skips the tests labelled "slow"; `make test-all` runs them
# too, except the performance goals (label "perf", also labelled slow), which
# depend on the machine and its load: `make test-perf` runs those, one at a time.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

test-all: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE perf

test-perf: build
	cd $(BUILD) && ctest --output-on-failure -L perf

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
