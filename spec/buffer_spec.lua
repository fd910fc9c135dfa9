-- netharness.buffer(): a string built from many pieces in C.
local net = require "netharness"
local S = require "support"

describe("buffer", function()
  it("appends strings and parts of strings as string.sub cuts them", function()
    local b = net.buffer()
    assert.are.equal(0, #b)
    assert.are.equal("", b:string())
    assert.are.equal(b, b:write("hello"))
    local s = "0123456789"
    local want = "hello"
    for _, ij in ipairs({ { 1, -1 }, { 3, 5 }, { -3 }, { 0, 2 }, { 5, 100 }, { 8, 3 }, { -100, 2 },
      { 11 }, { 2, -12 }, { 10, 10 } }) do
      b:write(s, ij[1], ij[2])
      want = want .. s:sub(ij[1], ij[2] or -1)
    end
    assert.are.equal(want, b:string())
    assert.are.equal(want, tostring(b))
    assert.are.equal(#want, #b)
    assert.are.equal(#want, b:len())
    b:reset()
    assert.are.equal(0, #b)
    assert.are.equal("", tostring(b:write("again")):sub(1, 0))
    assert.are.equal("again", b:string())
  end)

  it("holds binary data and large strings", function()
    local b <close> = net.buffer()
    local bin = "\0\1\2\255\r\n"
    local big = string.rep("y", 3 << 20)
    b:write(bin):write(big):write(bin)
    assert.are.equal(bin .. big .. bin, b:string())
  end)

  it("raises on misuse, naming the argument", function()
    local b = net.buffer()
    assert.matches("bad argument #1 to 'write' %(string expected, got table%)", S.error_of(function() b:write({}) end))
    assert.matches("number expected", S.error_of(function() b:write("x", "y") end))
    assert.matches("netharness.Buffer expected", S.error_of(function() b.write("x", "y") end))
    assert.matches("netharness.Buffer expected", S.error_of(function() b.string(io.stdout) end))
  end)
end)
