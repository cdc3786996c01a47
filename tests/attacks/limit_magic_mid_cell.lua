-- attack: a %timeout line after the first line of code, hoping it counts
-- expect: error SyntaxError /.*/
local x = 1
%timeout 86400
while true do end
