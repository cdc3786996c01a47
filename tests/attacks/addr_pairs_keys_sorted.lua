-- attack: the rendered value of a table keyed by functions and tables shows their addresses
-- expect: ok
-- stdout: /^clean\n$/
local function leak(s)
  for hex in s:gmatch("0x(%x+)") do
    if #hex > 8 then return s end
  end
  return nil
end
local t = { [print] = 1, [{}] = 2, [coroutine.create(print)] = 3 }
local s = ""
for k in pairs(t) do s = s .. tostring(k) .. " " end
print(leak(s) or "clean")
return t
