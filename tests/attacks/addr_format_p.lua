-- attack: string.format %p (every width and flag, method form) prints real addresses
-- expect: value "clean"
local function leak(s)
  for hex in s:gmatch("0x(%x+)") do
    if #hex > 8 then return s end
  end
  return nil
end
local t, co = {}, coroutine.create(print)
local probes = { t, print, co, "a string", string.rep("long", 100), 1, true, nil }
for i = 1, #probes + 1 do
  local v = probes[i]
  for _, fmt in ipairs({ "%p", "%20p", "%-20p", "[%p|%p]", "%%p %p", "%s %p %d" }) do
    local ok, text = pcall(string.format, fmt, v, v, 1)
    if ok and leak(text) then return fmt .. " -> " .. text end
    local ok2, text2 = pcall(function() return fmt:format(v, v, 1) end)
    if ok2 and leak(text2) then return fmt .. " (method) -> " .. text2 end
  end
end
if string.format("%p", t) ~= string.format("%p", t) then return "not stable" end
if not tostring(t):find(string.format("%p", t), 1, true) then return "tostring and %p disagree" end
return "clean"
