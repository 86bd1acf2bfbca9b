# The newcomer's commands (see README.md). Each target installs what is missing first.
#   make run      set up, build, and run the main job (today: a cqlsim demo and the benchmarks)
#   make test     set up, build, and pass every test (ctest: unit, fuzz corpus replay, driver cross-check)
#   make asan     the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz     each libFuzzer target for FUZZ_SECONDS (default 60)
#   make package  the Debian package (build/tandem_VERSION_ARCH.deb)

BUILD ?= build
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := envelope envelope_reader framing messages classifier values cqlsim_statement astra_metadata admin_json journal_record

.PHONY: setup build run test asan fuzz bench ci clean package

setup:
	@./scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: setup
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE=ON -DTANDEM_BENCH=OFF > /dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

fuzz: setup
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_FUZZ=ON -DTANDEM_BENCH=OFF > /dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@./scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The benchmark bench (bench/e2e/compare.py): direct, tandem and HAProxy on the same load;
# writes bench/latest.md and bench/latency.png (copy them into bench/RESULTS.md to publish).
bench: build
	@/usr/bin/python3 bench/e2e/compare.py $(BUILD) --seconds 3 --rounds 3 --idle 10000 \
		--markdown bench/latest.md --plot bench/latency.png

# The Debian package (build/tandem_VERSION_ARCH.deb): tandem, tandemctl, tandem-migrate, man pages,
# tandem@.service, /etc/tandem/example.yml.
package: build
	@cd $(BUILD) && cpack -G DEB

ci:
	@./.ci/run

clean:
	rm -rf build build-asan build-fuzz
