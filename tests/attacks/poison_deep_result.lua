-- attack: a result nested a million levels deep
-- expect: ok
local t = {}
for i = 1, 1e6 do t = {t} end
return t
