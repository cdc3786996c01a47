-- attack: walk every reachable table looking for a Python object (userdata) or a thread
-- expect: value 0
local seen, found = {}, 0
local function walk(v)
  local t = type(v)
  if t == "userdata" then found = found + 1 return end
  if t ~= "table" or seen[v] then return end
  seen[v] = true
  for k, x in next, v do walk(k) walk(x) end
  local mt = getmetatable(v)
  if mt then walk(mt) end
end
walk(_G)
walk(getmetatable(""))
return found
