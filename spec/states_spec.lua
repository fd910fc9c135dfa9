-- One Lua state at a time: a C host with two states (spec/host/two_states.c).

describe("a C host with two Lua states", function()
  it("refuses the second state while the first lives, with an error that says why", function()
    local build = os.getenv("NH_BUILD") or "build"
    local p = io.popen("timeout 30 build/two_states " .. build .. "/ 2>&1")
    local out = p:read("a")
    local ok = p:close()
    assert.are.equal("ok\n", out)
    assert.is_true(ok)
  end)
end)
