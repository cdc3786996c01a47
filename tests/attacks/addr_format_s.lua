-- attack: string.format %s / %10.4s / %q-adjacent of objects prints real addresses
-- expect: value "clean"
local function leak(s)
  for hex in s:gmatch("0x(%x+)") do
    if #hex > 8 then return s end
  end
  return nil
end
local probes = { {}, print, coroutine.create(print), setmetatable({}, { __name = "N" }), load("return 1") }
for _, v in ipairs(probes) do
  for _, fmt in ipairs({ "%s", "%30s", "%-30s|", "%.40s", "%s %s %s" }) do
    local text = string.format(fmt, v, v, v)
    if leak(text) then return fmt .. " -> " .. text end
  end
end
return "clean"
