# Thin wrapper over CMake + ctest. Every target installs missing Debian packages first.
#   make          release build (build/)
#   make test     sanitizer build (build/test, clang + ASan/UBSan + libFuzzer) and ctest; first
#                 installs the real models and builds the llama.cpp reference (scripts/bootstrap)
#   make bench    release build, runs bench/ and writes build/bench/results.json; first installs
#                 the real models and builds llama.cpp's tools to compare against
#   make demo     release build, runs the whole network (agora devnet) on embedded defaults,
#                 serving SmolLM2-135M-Instruct (installed by scripts/bootstrap models)
#   make fuzz     long libFuzzer runs (FUZZ_SECONDS per target, default 300)
JOBS ?= $(shell nproc)
# Tests run 1.5 per core: the system tests spend most of their time waiting for blocks and
# epochs (on 2 cores, 3 at a time kept the cores 74 % busy and no test's result changed).
TEST_JOBS ?= $(shell n=$$(nproc); echo $$((n + (n + 1) / 2)))
FUZZ_SECONDS ?= 300

.PHONY: all build test bench demo fuzz clean bootstrap format

all: build

bootstrap:
	@scripts/bootstrap corpus openai

build: bootstrap
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

test: bootstrap
	@scripts/bootstrap models ref apitest
	@cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DAGORA_SANITIZE=ON -DAGORA_FUZZ=ON -DAGORA_WERROR=ON >/dev/null
	@cmake --build build/test -j $(JOBS)
	@cd build/test && ctest --output-on-failure -j $(TEST_JOBS) --timeout 900

bench: build
	@scripts/bootstrap models llamacpp-tools apitest
	@scripts/cometbft load >/dev/null
	@scripts/bench

demo: build
	@scripts/bootstrap models
	@scripts/demo

fuzz: bootstrap
	@cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DAGORA_SANITIZE=ON -DAGORA_FUZZ=ON -DAGORA_WERROR=ON >/dev/null
	@cmake --build build/test -j $(JOBS)
	@scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build
