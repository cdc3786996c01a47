-- attack: redefine print, then check the host's own rendering
-- expect: value 7
-- next: 1 + 1 => 2
print = function() error("pwned") end
return 7
