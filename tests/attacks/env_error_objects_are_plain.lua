-- attack: make host callbacks fail and catch what they throw (a Python exception object?)
-- expect: value "string", "string", "string"
local _, a = pcall(print, setmetatable({}, {__tostring = function() return {} end}))
local _, b = pcall(data.read, 42)
local _, c = pcall(coroutine.resume, 1)
return type(a), type(b), type(c)
