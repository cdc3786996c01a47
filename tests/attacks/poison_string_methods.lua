-- attack: overwrite string methods the host may call
-- expect: ok
-- next: ("%d"):format(7) => "7"
-- next: ("ab"):rep(2) => "abab"
-- next: "q\n" => "q\n"
string.format = function() return "pwned" end
string.rep = nil
string.gsub = function() error("pwned") end
