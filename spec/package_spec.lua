-- Packaging: the rockspec builds with the Makefile and installs into a rocks
-- tree of its own, from which a script elsewhere requires the module with
-- no paths set by hand (only `luarocks path`'s, as a user's shell has them).
local S = require "support"

describe("netharness-scm-1.rockspec", function()
  it("luarocks make installs the module into a tree, and it loads from there", function()
    local dir = os.tmpname()
    os.remove(dir)
    local src, tree, elsewhere = dir .. "/src", dir .. "/tree", dir .. "/elsewhere"
    assert(S.execute(("mkdir -p %s %s && cp -r core bindings lua Makefile netharness-scm-1.rockspec %s")
      :format(src, elsewhere, src)))
    -- dkjson comes from Debian's lua-dkjson here (no registry to fetch it from)
    local p = S.popen(("cd %s && luarocks --lua-version=5.4 make --tree=%s --deps-mode=none "
      .. "netharness-scm-1.rockspec 2>&1"):format(src, tree))
    local out = p:read("a")
    p:close()
    assert.matches("netharness scm%-1 is now installed in " .. tree:gsub("%p", "%%%0"), out)
    p = S.popen(("cd %s && eval \"$(luarocks --lua-version=5.4 --tree=%s path)\" && %s -e '"
      .. "local net = require \"netharness\"; require \"netharness.capture\"; require \"netharness.load\"; "
      .. "require \"netharness.test\"; require \"netharness.process\"; "
      .. "print(net.version, package.searchpath(\"netharness.core\", package.cpath))' 2>&1")
      :format(elsewhere, tree, S.lua))
    out = p:read("a")
    p:close()
    assert.equal(require("netharness").version .. "\t" .. tree .. "/lib/lua/5.4/netharness/core.so\n", out)
    -- no file outside the tree: the older-Lua shims are make install's only
    assert.is_nil(io.open(tree .. "/share/lua/5.1/netharness.lua"))
    S.execute("rm -rf " .. dir)
  end)
end)
