-- attack: break pairs, next and ipairs before the host renders a table
-- expect: value {1, {y = 2}}
pairs = function() error("pwned") end
next = nil
ipairs = nil
return {1, {y = 2}}
