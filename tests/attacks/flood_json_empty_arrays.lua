-- attack: application/json of a million empty arrays (a few MB of text, a million Python objects if parsed)
-- magic: timeout 30
-- expect: value "shown"
local t = {}
for i = 1, 1000000 do t[i] = {} end
display.json(t)
return "shown"
