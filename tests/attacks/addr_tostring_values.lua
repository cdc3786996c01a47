-- attack: tostring of tables, Lua and C functions, threads, __name objects shows addresses
-- expect: value "clean"
local function leak(s)
  for hex in s:gmatch("0x(%x+)") do
    if #hex > 8 then return s end
  end
  return nil
end
local named = setmetatable({}, { __name = "Thing" })
local probes = { {}, print, string.format, function() end, coroutine.create(print),
  coroutine.running(), named, setmetatable({}, { __index = {} }), string, _G, math.sin }
for _, v in ipairs(probes) do
  local text = tostring(v)
  if leak(text) then return text end
  if text ~= tostring(v) then return "not stable: " .. text end
end
if tostring({}) == tostring({}) then return "two tables share an id" end
return "clean"
