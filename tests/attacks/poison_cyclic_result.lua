-- attack: a result that contains itself
-- expect: value {me = <cycle>}
local t = {}
t.me = t
return t
