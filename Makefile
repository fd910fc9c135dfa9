# netharness — build, set-up, tests.
#   make          build the C module (build/netharness/core.so)
#   make demo     set up (Debian packages) and run the seed's UDP server and client
#   make test     set up, luacheck, and run every spec, then again under ASan + UBSan
#   make install  install the module for every Lua 5.4 script on this machine

CC      ?= cc
LUA     ?= lua5.4
LUA_INC ?= $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
# -flto: the bindings call the core's small functions (deadline checks,
# addresses) per datagram; inlined across files, the UDP echo server spends
# 6% fewer cycles per round trip (perf stat: 1,280 -> 1,205 user cycles).
CFLAGS  ?= -O3 -g -flto
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -fvisibility=hidden
LDLIBS   = -lev -lpthread -lm -lz -lpcap

CORE_SRC = $(wildcard core/*.c)
BIND_SRC = $(wildcard bindings/*.c)
HEADERS  = $(wildcard core/*.h bindings/*.h)
SRC      = $(CORE_SRC) $(BIND_SRC)

MODULE      = build/netharness/core.so
ASAN_MODULE = build-asan/netharness/core.so
CTEST       = build/core_test
ASAN_CTEST  = build-asan/core_test
CTEST_SRC   = $(wildcard spec/c/*.c) $(CORE_SRC)
SAN_FLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PREFIX     ?= /usr/local
SHIMS      ?= 1
LUA_LIBDIR  = $(PREFIX)/lib/lua/5.4
LUA_SHARE   = $(PREFIX)/share/lua/5.4

DEB_PKGS = lua5.4 liblua5.4-dev libev-dev zlib1g-dev libpcap-dev tshark tcpdump lua-check luarocks lua-argparse lua-busted lua-dkjson pkg-config socat python3 curl nginx-light wrk haproxy chromium

.PHONY: all deps demo test test-plain test-asan bench install uninstall clean

all: $(MODULE)

$(MODULE): $(SRC) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LUA_INC) -shared -o $@ $(SRC) $(LDLIBS)

$(ASAN_MODULE): $(SRC) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(filter-out -O2 -O3 -flto,$(CFLAGS)) $(SAN_FLAGS) $(LUA_INC) -shared -o $@ $(SRC) $(LDLIBS)

$(CTEST): $(CTEST_SRC) $(wildcard core/*.h spec/c/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(CTEST_SRC) $(LDLIBS)

$(ASAN_CTEST): $(CTEST_SRC) $(wildcard core/*.h spec/c/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(filter-out -O2 -O3 -flto,$(CFLAGS)) $(SAN_FLAGS) -o $@ $(CTEST_SRC) $(LDLIBS)

# A C host with two Lua states (spec/states_spec.lua runs it).
HOST = build/two_states
$(HOST): spec/host/two_states.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=c11 -Wall -Wextra -Werror $(LUA_INC) -o $@ $< $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)

# Real clients the specs drive us with (Toxiproxy's Node client), into a
# folder of the specs' own. Node.js from Debian only if none is installed.
NPM_SPEC = spec/npm/node_modules/.package-lock.json
$(NPM_SPEC): spec/npm/package.json spec/npm/package-lock.json
	@command -v npm >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q nodejs npm; }
	cd spec/npm && npm ci --no-audit --no-fund --loglevel=error

# Install what is missing (needs root or sudo), then make `lua` mean Lua 5.4:
# installing lua-busted may pull in Lua 5.1 and point `lua` at it. Services
# are kept from starting during the install (policy-rc.d): the specs start
# their own nginx on loopback, and nothing should take port 80.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  noservice=""; if [ ! -e /usr/sbin/policy-rc.d ]; then noservice=1; \
	    printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$SUDO chmod 755 /usr/sbin/policy-rc.d; fi; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; rc=$$?; \
	  [ -z "$$noservice" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; \
	  [ $$rc = 0 ] || exit 1; \
	fi
	@if [ "$$(readlink -f /usr/bin/lua 2>/dev/null)" != /usr/bin/lua5.4 ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO update-alternatives --set lua-interpreter /usr/bin/lua5.4 >/dev/null && \
	  echo "lua now runs Lua 5.4"; fi

demo: deps all
	@sh scripts/demo.sh

# The whole suite twice: as built, then with AddressSanitizer and
# UndefinedBehaviorSanitizer (the instrumented module loaded into lua5.4 with
# the sanitizer runtime preloaded). The last line is the total.
test: deps all $(ASAN_MODULE) $(CTEST) $(ASAN_CTEST) $(HOST) $(NPM_SPEC)
	@sh spec/run.sh

test-plain: all $(CTEST) $(HOST)
	@NH_SPEC_PASSES=plain sh spec/run.sh

test-asan: $(ASAN_MODULE) $(ASAN_CTEST) $(HOST)
	@NH_SPEC_PASSES=asan sh spec/run.sh

BENCH_REFS = build/bench/ref_udp build/bench/ref_http build/bench/ref_tcp build/bench/ref_fwd

build/bench/ref_udp: bench/ref_udp.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -o $@ $<

build/bench/ref_tcp: bench/ref_tcp.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -o $@ $<

build/bench/ref_fwd: bench/ref_fwd.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -o $@ $<

build/bench/ref_http: bench/ref_http.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -o $@ $< -lev

# Every case against its reference, in one run (a few minutes; not part of
# make test: speed targets are ratios measured here, never timed tests).
bench: deps all $(BENCH_REFS)
	@$(LUA) bench/run.lua $(REPS)

install: all
	install -d $(LUA_LIBDIR)/netharness $(LUA_SHARE)/netharness
	install -m 0755 $(MODULE) $(LUA_LIBDIR)/netharness/core.so
	install -m 0644 lua/netharness.lua $(LUA_SHARE)/netharness.lua
	install -m 0644 lua/netharness/*.lua $(LUA_SHARE)/netharness/
	# every submodule folder (http, fault, load, ...)
	for d in lua/netharness/*/; do n=$$(basename $$d); install -d $(LUA_SHARE)/netharness/$$n && \
	  install -m 0644 $$d*.lua $(LUA_SHARE)/netharness/$$n/; done
	# Under another Lua, `require "netharness"` says which Lua it needs
	# (not from luarocks: its tree is for one Lua).
	[ -z "$(SHIMS)" ] || for v in 5.1 5.2 5.3; do install -d $(PREFIX)/share/lua/$$v && \
	  install -m 0644 lua/netharness.lua $(PREFIX)/share/lua/$$v/netharness.lua; done

uninstall:
	rm -rf $(LUA_LIBDIR)/netharness $(LUA_SHARE)/netharness $(LUA_SHARE)/netharness.lua
	for v in 5.1 5.2 5.3; do rm -f $(PREFIX)/share/lua/$$v/netharness.lua; done

clean:
	rm -rf build build-asan
