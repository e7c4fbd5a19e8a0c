# tally — non-recursive build. Everything lands under $(BUILD)/.
#
#   make            build tallyd, tally, the libraries and the example
#   make test       install missing packages, build, run every CI test
#   make bench      micro-benchmarks, metadata commit/failover, hint drain and anti-entropy repair on real nodes
#   make cluster    start the local 6-node cluster (conf/local-cluster.toml)
#   make stop       stop it
#   make asan       the test suite under AddressSanitizer + UBSan
#   make check-long long soaks (more seeds, longer fault runs)
#   make check-faults the fault suite's long form alone (tests/cluster/faults_test.cpp; root)
#   make fuzz       build every libFuzzer target (tests/fuzz/*_fuzz.cpp) with clang and run each
#                   FUZZ_SECONDS (60) over a copy of its seed corpus; fails on a finding

BUILD    ?= build
CXX      ?= g++
OPT      ?= -O2
# Line tables only: backtraces, perf and sanitizer reports name files and
# lines, and a fresh build takes a quarter less time than with -g. For gdb's
# locals: make DBG=-g.
DBG      ?= -g1
SAN      ?=
CXXFLAGS ?= $(OPT) $(DBG)
CXXFLAGS += -std=c++20 -Wall -Wextra -Wno-missing-field-initializers -Wno-maybe-uninitialized -pthread \
            -DMSGPACK_NO_BOOST -I. -Isrc -Iinclude -MMD -MP $(SAN) $(GC_FLAGS)
# GCC collects its own garbage as a file's templates are instantiated; with
# room to grow first (up to 2 GiB before it collects) a file compiles 15-20%
# faster and peaks at about 800 MB instead of 650. Not for other compilers.
GC_FLAGS ?= $(if $(findstring clang,$(CXX)),,--param ggc-min-expand=1000 --param ggc-min-heapsize=2097152)
LDFLAGS  += -pthread $(SAN)
# libcrypto: HMAC-SHA256 and nonces of the peer handshake (src/common/auth.cpp only).
LDLIBS   := -lleveldb -lxxhash -luv -lcrypto -ldl -lrt
# tallyd allocates with jemalloc: under a put load the node spends about 20%
# of its time in glibc's malloc and free, and serves 10-20% more puts with
# jemalloc (docs/benchmarks.md). Sanitizer builds keep their own allocator.
MALLOC_LIBS ?= -ljemalloc

# Debian packages the build and the tests need (`make deps` installs missing ones).
DEB_PKGS := g++ make pkg-config libuv1-dev libmsgpack-cxx-dev libxxhash-dev \
            libleveldb-dev libbenchmark-dev catch2 libcli11-dev libtoml11-dev redis-tools \
            libjemalloc-dev libssl-dev iptables prometheus
# What `make fuzz` alone needs (it installs them itself, so `make test` does
# without clang): clang and compiler-rt, whose libclang_rt.fuzzer is libFuzzer
# (Debian's clang only recommends it).
FUZZ_PKGS := clang libclang-rt-dev

# ---- sources -----------------------------------------------------------------
# The pure protocol cores: no I/O, std (and xxHash) only. tests/check_includes.sh
# enforces that in `make test`.
CORE_SRCS   := $(wildcard ring/*.cpp quorum/*.cpp src/raft/*.cpp src/meta/*.cpp)
COMMON_SRCS := $(wildcard src/common/*.cpp)
CODEC_SRCS  := $(wildcard src/codec/*.cpp)
NET_SRCS    := $(wildcard src/net/*.cpp)
STORE_SRCS  := $(wildcard src/store/*.cpp)
NODE_SRCS   := $(filter-out src/node/tallyd_main.cpp,$(wildcard src/node/*.cpp))
SIM_SRCS    := $(wildcard src/sim/*.cpp)
CLIENT_SRCS := $(wildcard src/client/*.cpp)
WIRE_SRCS   := $(CODEC_SRCS) src/net/codec.cpp src/net/frame.cpp quorum/dvv.cpp quorum/fence.cpp quorum/paxos.cpp
BENCHLIB_SRCS := $(wildcard bench/lib/*.cpp)
TESTING_SRCS  := $(wildcard src/testing/*.cpp)

# What tallyd is made of (and every other program links).
LIB_SRCS    := $(CORE_SRCS) $(COMMON_SRCS) $(CODEC_SRCS) $(NET_SRCS) $(STORE_SRCS) $(NODE_SRCS) \
               $(CLIENT_SRCS)
# What only the tests and benchmarks link: the simulator, bench/lib's building
# blocks and the process-cluster harness (src/testing). tallyd does not.
SIMLIB_SRCS := $(SIM_SRCS) $(BENCHLIB_SRCS) $(TESTING_SRCS)
# The public client library: what a program embedding tally links.
CLIENTLIB_SRCS := $(CLIENT_SRCS) $(COMMON_SRCS) $(WIRE_SRCS) $(wildcard ring/*.cpp) src/meta/cluster_map.cpp src/meta/keyspace.cpp

UNIT_SRCS    := $(wildcard tests/unit/*.cpp)
SIMTEST_SRCS := $(wildcard tests/sim/*.cpp)
CLUSTER_SRCS := $(wildcard tests/cluster/*.cpp)
MICRO_SRCS   := $(wildcard bench/micro/*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))

LIB        := $(BUILD)/libtally.a
SIMLIB     := $(BUILD)/libtallysim.a
CLIENTLIB  := $(BUILD)/libtallyclient.a
TALLYD     := $(BUILD)/tallyd
TALLY      := $(BUILD)/tally
EXAMPLE    := $(BUILD)/example_client
ELECTION_EXAMPLE := $(BUILD)/leader_election
UNIT_BIN   := $(BUILD)/tests/unit_tests
SIM_BIN    := $(BUILD)/tests/sim_tests
CLUSTER_BIN:= $(BUILD)/tests/cluster_tests
MICRO_BIN  := $(BUILD)/bench/micro_bench
META_BENCH := $(BUILD)/bench/meta_bench
HINT_BENCH := $(BUILD)/bench/hint_bench
STREAM_BENCH := $(BUILD)/bench/stream_bench
AE_BENCH   := $(BUILD)/bench/ae_bench
CPU_BENCH  := $(BUILD)/bench/cpu_bench
TALLY_BENCH:= $(BUILD)/tally-bench

BINS := $(TALLYD) $(TALLY) $(EXAMPLE) $(ELECTION_EXAMPLE) $(TALLY_BENCH)
TEST_BINS := $(UNIT_BIN) $(SIM_BIN) $(CLUSTER_BIN)

.PHONY: all deps fuzz-deps test test-run bench cluster stop asan check-long check-faults fuzz fuzz-build fuzz-seeds clean install
.DEFAULT_GOAL := all

all: $(BINS)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# Most files include the wire messages (net/messages.hpp), whose parsing and
# templates cost every one of them seconds: the header is precompiled once
# (with the same flags) and included first. The pure cores, which do not
# include it, are built without, and so are the codecs and auth.cpp: through
# a precompiled header GCC 12 stops treating libstdc++'s std::string copies
# inlined there as system code and reports its known false positives
# (-Warray-bounds, -Wstringop-overflow). -Winvalid-pch: say so if it cannot
# be used (the file then compiles as it would without it).
WIRE_WRAP := $(BUILD)/pch/wire/tally_wire.hpp
WIRE_PCH  := $(WIRE_WRAP).gch
WIRE_PCH_OBJS := $(call obj,$(filter-out $(CORE_SRCS) $(CODEC_SRCS) src/common/auth.cpp,$(LIB_SRCS) $(SIMLIB_SRCS)) \
                 src/node/tallyd_main.cpp \
                 $(wildcard cli/*.cpp cli/examples/*.cpp bench/*.cpp))

$(WIRE_WRAP):
	@mkdir -p $(dir $@)
	echo '#include "net/messages.hpp"' > $@

$(WIRE_PCH): $(WIRE_WRAP)
	$(CXX) $(CXXFLAGS) -MF $@.d -MT $@ -x c++-header $< -o $@

$(WIRE_PCH_OBJS): $(BUILD)/obj/%.o: %.cpp $(WIRE_PCH)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -include $(WIRE_WRAP) -Winvalid-pch -c $< -o $@

# The tests' own code is built -O1 (what they exercise, the libraries, is
# -O2; nothing timed lives in tests/), with Catch2's header precompiled once
# and included first, instead of parsed again in each of ~90 files. Together
# they take about a third off a fresh `make test`. catch_main.cpp, which
# builds Catch2's implementation, keeps the plain rule.
TEST_OPT    ?= -O1
# (-Wno-stringop-overread: GCC 12 reports false positives on string compares at -O1.)
TEST_FLAGS   = $(filter-out $(OPT),$(CXXFLAGS)) $(TEST_OPT) -Wno-stringop-overread
CATCH_HEADER ?= /usr/include/catch2/catch.hpp
CATCH_WRAP  := $(BUILD)/pch/catch2/catch.hpp
CATCH_PCH   := $(CATCH_WRAP).gch
TEST_OBJS   := $(call obj,$(UNIT_SRCS) $(SIMTEST_SRCS) $(CLUSTER_SRCS))

# A header that includes Catch2's (and the wire messages, as above),
# precompiled beside it: the files' own `#include <catch2/catch.hpp>` then
# finds it and does nothing.
$(CATCH_WRAP): $(CATCH_HEADER)
	@mkdir -p $(dir $@)
	printf '#include "%s"\n#include "net/messages.hpp"\n' "$(CATCH_HEADER)" > $@

$(CATCH_PCH): $(CATCH_WRAP)
	$(CXX) $(TEST_FLAGS) -MF $@.d -MT $@ -x c++-header $< -o $@

$(TEST_OBJS): $(BUILD)/obj/%.o: %.cpp $(CATCH_PCH)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_FLAGS) -I$(BUILD)/pch -include catch2/catch.hpp -Winvalid-pch -c $< -o $@

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SIMLIB): $(call obj,$(SIMLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLIENTLIB): $(call obj,$(CLIENTLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TALLYD): $(call obj,src/node/tallyd_main.cpp) $(LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(MALLOC_LIBS)

# The CLI is a client like any other program: only the public library.
$(TALLY): $(call obj,$(wildcard cli/*.cpp)) $(CLIENTLIB)
	$(CXX) $(LDFLAGS) $^ -o $@ -lxxhash -lcrypto

$(EXAMPLE): $(call obj,cli/examples/example_client.cpp) $(CLIENTLIB)
	$(CXX) $(LDFLAGS) $^ -o $@ -lxxhash -lcrypto

$(ELECTION_EXAMPLE): $(call obj,cli/examples/leader_election.cpp) $(CLIENTLIB)
	$(CXX) $(LDFLAGS) $^ -o $@ -lxxhash -lcrypto

# Catch2 v2's main lives in its own object (tests/catch_main.cpp): slow to
# compile, so it is built once and shared.
$(UNIT_BIN): $(call obj,tests/catch_main.cpp $(UNIT_SRCS) bench/driver_core.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(SIM_BIN): $(call obj,tests/catch_main.cpp $(SIMTEST_SRCS)) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(CLUSTER_BIN): $(call obj,tests/catch_main.cpp $(CLUSTER_SRCS)) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(MICRO_BIN): $(call obj,$(MICRO_SRCS)) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ -lbenchmark_main -lbenchmark $(LDLIBS)

# Metadata commit latency and leader failover on real tallyd processes (it
# starts them with the cluster tests' harness, src/testing).
$(META_BENCH): $(call obj,bench/meta_bench.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# How fast hints drain to a node that comes back (real tallyd processes).
$(HINT_BENCH): $(call obj,bench/hint_bench.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# How fast a joining node streams its ranges in, and the foreground's
# latency meanwhile (real tallyd processes).
$(STREAM_BENCH): $(call obj,bench/stream_bench.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# How fast anti-entropy gives a wiped replica its keys back (real tallyd processes).
$(AE_BENCH): $(call obj,bench/ae_bench.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Server CPU per SET and GET under redis-benchmark (real tallyd processes).
$(CPU_BENCH): $(call obj,bench/cpu_bench.cpp) $(SIMLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The quorum benchmark: a real cluster through the client library, or the
# simulator (--sim), which is why it links the simulator's library too. It
# shares the machine with the nodes it measures, so it allocates with jemalloc too.
$(TALLY_BENCH): $(call obj,bench/tally_bench.cpp $(wildcard bench/driver_*.cpp)) $(SIMLIB) $(LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(MALLOC_LIBS)

# ---- packages ----------------------------------------------------------------
# Installs the Debian packages of $(1) that are missing.
define install_missing
missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	@$(call install_missing,$(DEB_PKGS))

fuzz-deps:
	@$(call install_missing,$(FUZZ_PKGS))

# ---- tests -------------------------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory -j2 all $(TEST_BINS)
	@$(MAKE) --no-print-directory test-run

test-run:
	@BUILD=$(BUILD) bash tests/run.sh

# The long soaks, then every fuzz target for 3 minutes (`make fuzz` installs
# clang first; the soaks' result stands whatever the fuzzing finds).
check-long: deps
	@$(MAKE) --no-print-directory -j2 all $(TEST_BINS)
	@BUILD=$(BUILD) LONG=1 bash tests/run.sh; rc=$$?; \
	  $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=180 || rc=1; exit $$rc

# Partitions, pauses, crashes and a skewed clock on real tallyd processes in
# network namespaces, with the long schedules (two 120 s flapping runs, ten
# staged heals). Needs root; skips otherwise.
check-faults: deps
	@$(MAKE) --no-print-directory -j2 all $(CLUSTER_BIN)
	BUILD=$(BUILD) TALLY_LONG=1 $(CLUSTER_BIN) '[faults]' --durations yes

asan: deps
	@$(MAKE) --no-print-directory -j2 BUILD=build-asan OPT=-O1 MALLOC_LIBS= \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" all \
	  build-asan/tests/unit_tests build-asan/tests/sim_tests build-asan/tests/cluster_tests
	@BUILD=build-asan bash tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory -j2 all $(MICRO_BIN) $(META_BENCH) $(HINT_BENCH) $(STREAM_BENCH) $(AE_BENCH) $(CPU_BENCH)
	$(MICRO_BIN)
	BUILD=$(BUILD) $(META_BENCH)
	BUILD=$(BUILD) $(HINT_BENCH)
	BUILD=$(BUILD) $(STREAM_BENCH) --mib 256
	BUILD=$(BUILD) $(AE_BENCH)
	BUILD=$(BUILD) $(CPU_BENCH) --runs 3

# ---- local cluster -----------------------------------------------------------
cluster: deps
	@$(MAKE) --no-print-directory -j2 all
	@BUILD=$(BUILD) bash conf/cluster.sh start conf/local-cluster.toml

stop:
	@BUILD=$(BUILD) bash conf/cluster.sh stop conf/local-cluster.toml

PREFIX ?= /usr/local
# systemd reads units from $(PREFIX)/lib/systemd/system for PREFIX /usr and
# /usr/local alike; the unit's ExecStart follows PREFIX.
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/tally $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)/etc/tally $(DESTDIR)$(UNITDIR)
	install -m 755 $(TALLYD) $(TALLY) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/tally/*.hpp $(DESTDIR)$(PREFIX)/include/tally/
	install -m 644 $(CLIENTLIB) $(DESTDIR)$(PREFIX)/lib/
	@# The config is the operator's once installed: a reinstall keeps it.
	@if [ -e $(DESTDIR)/etc/tally/tally.toml ]; then \
	  echo "install: kept $(DESTDIR)/etc/tally/tally.toml (the default is conf/tally.toml)"; \
	else install -m 644 conf/tally.toml $(DESTDIR)/etc/tally/tally.toml; fi
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' conf/tallyd.service > $(DESTDIR)$(UNITDIR)/tallyd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/tallyd.service

# ---- fuzzing -----------------------------------------------------------------
# Every tests/fuzz/*_fuzz.cpp is a libFuzzer target, built with clang into
# $(FUZZ_BUILD) (see tests/fuzz/README.md). The code under test is what tallyd
# is made of, built once with coverage instrumentation (fuzzer-no-link) into
# one archive: each target links the parts it calls, so a new target needs no
# change here. Each run works on a copy of tests/fuzz/corpus/<target>/ (the
# committed seeds stay as they are) and leaves what it finds in
# $(FUZZ_BUILD)/findings/.
FUZZ_BUILD   ?= build-fuzz
FUZZ_CXX     ?= clang++
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,%,$(wildcard tests/fuzz/*_fuzz.cpp))
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-missing-field-initializers \
                 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -DMSGPACK_NO_BOOST -I. -Isrc -Iinclude -MMD -MP
FUZZ_LIB     := $(FUZZ_BUILD)/libtally-fuzz.a
# Options of every run: -timeout catches a decode that hangs, -rss_limit_mb one
# that allocates without bound.
FUZZ_RUN_OPTS ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

$(FUZZ_BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(patsubst %.cpp,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRCS))
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/%_fuzz: tests/fuzz/%_fuzz.cpp $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB) -o $@ $(LDLIBS)

# The seeds: real encodings made by the code's own encoders (make_seeds.cpp).
$(FUZZ_BUILD)/make_seeds: tests/fuzz/make_seeds.cpp $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link $< $(FUZZ_LIB) -o $@ $(LDLIBS)

fuzz-seeds: fuzz-deps
	@$(MAKE) --no-print-directory -j2 $(FUZZ_BUILD)/make_seeds
	$(FUZZ_BUILD)/make_seeds tests/fuzz/corpus conf/tally.toml conf/local-cluster.toml

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory -j2 $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  work=$(FUZZ_BUILD)/run/$$t; rm -rf $$work; mkdir -p $$work/corpus $(FUZZ_BUILD)/findings; \
	  if [ -d tests/fuzz/corpus/$$t ]; then cp tests/fuzz/corpus/$$t/* $$work/corpus/; fi; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$t $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(FUZZ_BUILD)/findings/$$t- $$work/corpus >$$work/log 2>&1 || \
	    { tail -n 60 $$work/log; echo "fuzz: $$t FOUND A PROBLEM (input in $(FUZZ_BUILD)/findings/, log $$work/log)"; exit 1; }; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec)' $$work/log | tr '\n' ' '; \
	  grep -E '^#[0-9]+.*(DONE|cov:)' $$work/log | tail -n 1; \
	done; echo "fuzz: $(words $(FUZZ_TARGETS)) targets, no finding"

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj $(BUILD)/pch -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
