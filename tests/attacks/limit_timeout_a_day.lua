-- attack: lift the wall-clock limit to a day with a magic
-- expect: error UsageError /%timeout can be at most 600 s in this kernel.*max_timeout/
-- magic: timeout 86400
while true do end
