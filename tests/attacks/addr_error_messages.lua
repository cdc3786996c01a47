-- attack: error messages and chunk names that embed an object's text carry its address
-- expect: value "clean"
local function leak(s)
  for hex in s:gmatch("0x(%x+)") do
    if #hex > 8 then return s end
  end
  return nil
end
local texts = {}
local f = load("error('x')", {})
texts[#texts + 1] = select(2, pcall(f))
texts[#texts + 1] = select(2, pcall(error, tostring(print)))
texts[#texts + 1] = select(2, pcall(function() return {} .. "" end))
texts[#texts + 1] = select(2, pcall(function() return print < print end))
texts[#texts + 1] = select(2, load("x = ", setmetatable({}, { __name = "chunk" })))
texts[#texts + 1] = select(2, pcall(string.format, "%d", {}))
texts[#texts + 1] = select(2, coroutine.resume(coroutine.create(function() error(coroutine.running()) end)))
for _, text in ipairs(texts) do
  text = tostring(text)
  if leak(text) then return text end
end
return "clean"
