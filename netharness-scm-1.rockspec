-- luarocks make: builds with the Makefile and installs into a rocks tree
-- (luarocks --lua-version=5.4 make --local, or --tree DIR).
rockspec_format = "3.0"
package = "netharness"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "A Lua-scriptable network test harness in C: Go's net API on libev",
  detailed = [[
    Sockets, tasks, HTTP/1.x, fault-injecting proxies, load generation with
    corrected latencies and packet capture, for Lua 5.4 scripts and busted specs.
  ]],
  license = "MIT",
  labels = { "network", "testing", "libev", "http", "pcap" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "dkjson",
  "argparse",
}
external_dependencies = {
  LIBEV = { header = "ev.h", library = "ev" },
  LIBPCAP = { header = "pcap/pcap.h", library = "pcap" },
  ZLIB = { header = "zlib.h", library = "z" },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    LUA_INC = "-I$(LUA_INCDIR)",
  },
  install_target = "install",
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_SHARE = "$(LUADIR)",
    SHIMS = "",
  },
}
