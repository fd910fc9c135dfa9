-- What a user does: `make install`, then busted in a project folder of their
-- own, with `require "netharness.test"` and no path to netharness set
-- anywhere. An example project (examples/kv_server) is copied to a
-- temporary folder and its specs run there.
--
-- make install writes to /usr/local; the spec gives it a /usr/local of its
-- own (a tmpfs in a private mount namespace), so the machine's is never
-- touched. That needs root (CAP_SYS_ADMIN), as CI has; without it the spec
-- is pending.
local S = require "support"

local function can_unshare()
  local p = S.popen("unshare --mount true 2>&1 && echo yes")
  local out = p:read("a")
  p:close()
  return out:match("yes\n$") ~= nil, out
end

describe("make install", function()
  it("lets busted run a user's project folder with no paths set", function()
    local ok, why = can_unshare()
    if not ok then
      pending("needs a private mount namespace (root, as CI runs) for a /usr/local of its own: " .. why)
      return
    end
    local installed = "/usr/local/share/lua/5.4/netharness/test.lua"
    local had = io.open(installed) ~= nil
    local dir = os.tmpname()
    os.remove(dir)
    assert(S.execute("mkdir -p " .. dir .. " && cp -r examples/kv_server " .. dir .. "/project"))
    -- Nothing of this checkout's paths, nor of the sanitizer pass, reaches busted.
    local script = table.concat({
      "mount -t tmpfs netharness-test /usr/local",
      "make -s install >" .. dir .. "/install.log 2>&1 || { cat " .. dir .. "/install.log; exit 1; }",
      "cd " .. dir .. "/project",
      "lua5.4 -e 'print(package.searchpath(\"netharness.test\", package.path))'",
      "timeout 120 busted",
    }, " && ")
    local p = S.popen("env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u NH_BUILD "
      .. "unshare --mount sh -c " .. S.quote(script) .. " 2>&1")
    local out = p:read("a")
    p:close()
    S.execute("rm -rf " .. dir)
    assert.matches("^/usr/local/share/lua/5.4/netharness/test.lua\n", out)
    assert.matches("\n6 successes / 0 failures / 0 errors / 0 pending", out)
    -- and the machine's /usr/local is as it was
    assert.are.equal(had, io.open(installed) ~= nil)
  end)
end)
