-- attack: recursion through pcall, each level swallowing the overflow of the next
-- expect: value "survived"
local function f() pcall(f) end
f()
return "survived"
