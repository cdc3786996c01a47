-- attack: redefine tostring so the host renders results wrongly
-- expect: value {1, "a", {x = 2}}
-- next: {"still", 1} => {"still", 1}
tostring = function() return "pwned" end
return {1, "a", {x = 2}}
